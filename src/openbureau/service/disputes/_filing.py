"""Filing a dispute (of a record or of links), adding information, and checks on uploads."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openbureau.service.disputes import rules
from openbureau.service.disputes._store import Desk, add_step, one
from openbureau.service.errors import ApiError
from openbureau.service.serving import Published
from openbureau.service.store import Dispute, DisputeAttachment

MAX_ATTACHMENT = 2 * 1024 * 1024
MEDIA_TYPES = {  # magic bytes -> the media type stored (from the content, never the sender)
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}
MAX_TEXT = 2000


def check_text(text: str, what: str = "statement") -> str:
    """A dispute's statement or added information: plain text, 1 to 2000 characters."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()
    if not text:
        raise ValueError(f"{what}: say in a few words what is wrong")
    if len(text) > MAX_TEXT:
        raise ValueError(f"{what}: {len(text)} characters, at most {MAX_TEXT}")
    for i, ch in enumerate(text):
        if ch != "\n" and unicodedata.category(ch).startswith("C"):
            raise ValueError(
                f"{what}: a control character (U+{ord(ch):04X}) at position {i + 1}: use plain text"
            )
    return text


def check_attachment(filename: str, data: bytes) -> tuple[str, str]:
    """(cleaned file name, media type by content) of an attachment.

    Raises:
        ApiError: 413 over 2 MB, 422 empty or not a PDF, PNG or JPEG by its content.
    """
    if len(data) > MAX_ATTACHMENT:
        raise ApiError(
            413,
            "attachment_too_large",
            f"attachment: {len(data)} bytes, at most 2 MB",
            "attachment",
        )
    media = next((m for magic, m in MEDIA_TYPES.items() if data.startswith(magic)), None)
    if not data or media is None:
        raise ApiError(
            422,
            "attachment_type",
            "attachment: not a PDF, PNG or JPEG file (judged by its content)",
            "attachment",
        )
    name = re.sub(r"[^\w.-]", "_", Path(filename.replace("\\", "/")).name)[:128] or "attachment"
    return name, media


def decode_attachment(content: str) -> bytes:
    """An attachment sent in JSON as base64 (at most 2 MB once decoded)."""
    if len(content) > MAX_ATTACHMENT * 4 // 3 + 8:
        raise ApiError(413, "attachment_too_large", "attachment: at most 2 MB", "attachment")
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "attachment_base64", "attachment: not base64", "attachment") from None


def _attach(session: Session, dispute_id: int, upload: tuple[str, bytes] | None) -> str:
    if upload is None:
        return ""
    name, media = check_attachment(*upload)
    data = upload[1]
    session.add(
        DisputeAttachment(
            dispute_id=dispute_id,
            filename=name,
            media_type=media,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
        )
    )
    return f"; attached {name} ({media}, {len(data)} bytes)"


def file_record_dispute(
    desk: Desk,
    pub: Published,
    person_ids: list[str],
    actor: str,
    reason: str,
    statement: str,
    record_id: str,
    upload: tuple[str, bytes] | None = None,
) -> dict[str, Any]:
    """File a dispute of a record on the person's file (``person_ids[0]`` is the file's ID).

    "not mine" covers every record of the record's item (the whole account); "wrong amount or
    status" and "paid" the record named.

    Raises:
        ApiError: 422 unknown reason or record not on the file, 409 already disputed, and
            the attachment's refusals.
    """
    if reason not in rules.RECORD_REASONS:
        raise ApiError(
            422, "unknown_reason", f"reason: one of {', '.join(rules.RECORD_REASONS)}", "reason"
        )
    cur = pub.cursor()
    try:
        found = cur.execute(
            """SELECT furnisher, kind, item_id, title, record_ids FROM file_items
               WHERE list_contains(?, person_id) AND list_contains(record_ids, ?) LIMIT 1""",
            [person_ids, record_id],
        ).fetchone()
    finally:
        cur.close()
    if found is None:
        raise ApiError(
            422, "unknown_record", f"record_id: {record_id!r} is not on your file", "record_id"
        )
    furnisher, item_kind, item_id, title, item_records = found
    covered = sorted(item_records) if reason == "not_mine" else [record_id]
    now = desk.clock()
    with desk.store() as session:
        open_ones = session.execute(
            select(Dispute.id, Dispute.record_ids).where(
                Dispute.person_id.in_(person_ids), Dispute.state == "open"
            )
        ).all()
        for did, rids in open_ones:
            if set(json.loads(rids)) & set(covered):
                raise ApiError(
                    409,
                    "already_disputed",
                    f"record_id: {record_id} is in your open dispute {did}; add information "
                    "to it instead",
                    "record_id",
                )
        d = Dispute(
            person_id=person_ids[0],
            kind="record",
            reason=reason,
            statement=statement,
            furnisher=furnisher,
            item_kind=item_kind,
            item_id=str(item_id),
            item_title=(title or "")[:128],
            record_id=record_id,
            record_ids=json.dumps(covered),
            snapshot_id=pub.snapshot_id,
            filed_at=now,
            due_at=rules.due_at(now, False),
            extended=False,
            state="open",
        )
        session.add(d)
        session.flush()
        attached = _attach(session, d.id, upload)
        detail = f"{rules.REASONS[reason]}: {len(covered)} record(s) of {furnisher}{attached}"
        add_step(session, d.id, actor, "person", "filed", detail)
        session.commit()
        did = d.id
    desk.audit(actor, "person", "file dispute", subject=person_ids[0], detail=f"dispute {did}")
    if desk.book is not None:
        desk.book.refresh()
    found_now = one(desk.store, did)
    assert found_now is not None
    return found_now


def file_link_dispute(
    desk: Desk,
    pub: Published,
    person_ids: list[str],
    actor: str,
    statement: str,
    identity_ids: list[str],
    upload: tuple[str, bytes] | None = None,
) -> dict[str, Any]:
    """File a dispute of the file's links: the identity records ``identity_ids`` (as the
    person's file page lists them) are not the person's. The bureau answers (split or
    verified); unanswered in time, the file is split.

    Raises:
        ApiError: 422 a record not on the file, or every record of it named; 409 one already
            in an open link dispute.
    """
    from openbureau.identity.person import PERSON_IDENTITY_TABLE

    wanted = sorted(set(identity_ids))
    if not wanted:
        raise ApiError(
            422, "no_records", "identity_ids: name the records that are not yours", "identity_ids"
        )
    if PERSON_IDENTITY_TABLE not in pub.tables:
        raise ApiError(503, "no_identity", "this snapshot was published without identity records")
    cur = pub.cursor()
    try:
        held = {
            r[0]
            for r in cur.execute(
                f"SELECT identity_id FROM {PERSON_IDENTITY_TABLE} "
                "WHERE list_contains(?, person_id)",
                [person_ids],
            ).fetchall()
        }
    finally:
        cur.close()
    unknown = [i for i in wanted if i not in held]
    if unknown:
        raise ApiError(
            422,
            "unknown_record",
            f"identity_ids: {unknown[0]!r} is not on your file",
            "identity_ids",
        )
    if set(wanted) == held:
        raise ApiError(
            422,
            "whole_file",
            "identity_ids: that is every record on your file; leave at least one that is yours",
            "identity_ids",
        )
    now = desk.clock()
    with desk.store() as session:
        for did, rids in session.execute(
            select(Dispute.id, Dispute.record_ids).where(
                Dispute.person_id.in_(person_ids), Dispute.state == "open", Dispute.kind == "link"
            )
        ).all():
            if set(json.loads(rids)) & set(wanted):
                raise ApiError(
                    409,
                    "already_disputed",
                    f"identity_ids: a record is in your open dispute {did} already",
                    "identity_ids",
                )
        d = Dispute(
            person_id=person_ids[0],
            kind="link",
            reason="not_my_accounts",
            statement=statement,
            furnisher=None,
            item_kind="identity",
            item_id=None,
            item_title=f"{len(wanted)} identity record(s)",
            record_id=wanted[0],
            record_ids=json.dumps(wanted),
            snapshot_id=pub.snapshot_id,
            filed_at=now,
            due_at=rules.due_at(now, False),
            extended=False,
            state="open",
        )
        session.add(d)
        session.flush()
        attached = _attach(session, d.id, upload)
        add_step(
            session,
            d.id,
            actor,
            "person",
            "filed",
            f"{rules.REASONS['not_my_accounts']}: {', '.join(wanted)}{attached}",
        )
        session.commit()
        did = d.id
    desk.audit(actor, "person", "file link dispute", subject=person_ids[0], detail=f"dispute {did}")
    found = one(desk.store, did)
    assert found is not None
    return found


def add_information(
    desk: Desk,
    person_ids: list[str],
    actor: str,
    dispute_id: int,
    text: str,
    upload: tuple[str, bytes] | None = None,
) -> dict[str, Any]:
    """The person adds information to their open dispute: its clock becomes 45 days.

    Raises:
        ApiError: 404 not the person's dispute, 409 no longer open.
    """
    now = desk.clock()
    with desk.store() as session:
        d = session.get(Dispute, dispute_id)
        if d is None or d.person_id not in person_ids:
            raise ApiError(404, "no_dispute", f"you have no dispute {dispute_id}")
        if d.state != "open" or d.due_at <= now:
            raise ApiError(409, "dispute_closed", f"dispute {dispute_id} is no longer open")
        attached = _attach(session, d.id, upload)
        if not d.extended:
            d.extended = True
            d.due_at = rules.due_at(d.filed_at, True)
        add_step(
            session,
            d.id,
            actor,
            "person",
            "information_added",
            f"{len(text)} characters{attached}; answer due by {d.due_at:%Y-%m-%d}: {text}",
        )
        session.commit()
    desk.audit(
        actor,
        "person",
        "add dispute information",
        subject=person_ids[0],
        detail=f"dispute {dispute_id}",
    )
    found = one(desk.store, dispute_id)
    assert found is not None
    return found
