"""Disputes in the service: filing, adding information, a furnisher's answer, expiry, and the
person-level rescore each resolution brings (rules in governance/disputes.py).

A dispute lives in the store (``disputes``, its ``dispute_steps`` and attachments). Its
resolution changes the warehouse (a correction or a ``disputed`` suppression) and rescores the
person at once: the served snapshot's scorecard and as-of date, as known now, by the snapshot's
own SQL restricted to the person. The new row goes to ``person_rescores``; while that snapshot is
served, it is the person's score (:class:`DisputeBook` lays it over the snapshot's row). A later
snapshot, computed from the changed ledger, holds it anyway.

The warehouse is one writer at a time: when it is busy (a ``score`` running), the answer is
kept and marked waiting, and ``openbureau disputes apply`` (or the next resolution) applies it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import json
import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from openbureau.errors import UserError
from openbureau.governance import disputes as rules
from openbureau.scoring.alternative import served
from openbureau.service import consent
from openbureau.service.errors import ApiError
from openbureau.service.serving import Published
from openbureau.service.store import (
    Dispute,
    DisputeAttachment,
    DisputeStep,
    PersonRescore,
    utcnow,
)

MAX_ATTACHMENT = 2 * 1024 * 1024
MEDIA_TYPES = {  # magic bytes -> the media type stored (from the content, never the sender)
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}
MAX_TEXT = 2000
log = logging.getLogger(__name__)
# (a single lock: two resolutions in one process do not open the warehouse at once)
_WAREHOUSE = threading.Lock()

Audit = Callable[..., None]  # audit(actor, actor_role, action, subject=, detail=, purpose=)


class WarehouseBusy(Exception):
    """Another process holds the warehouse (a ``score`` or ``link`` running)."""


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


@dataclass
class Desk:
    """What dispute work needs, in the service or at the command line."""

    store: sessionmaker[Session]
    workspace: Path
    audit: Audit
    book: DisputeBook | None = None
    clock: Callable[[], dt.datetime] = utcnow


# -- the disputes a reader sees ---------------------------------------------------------------
def dispute_json(d: Dispute, steps: list[DisputeStep], files: list[DisputeAttachment]) -> dict:
    return {
        "dispute_id": d.id,
        "person_id": d.person_id,
        "kind": d.kind,
        "reason": d.reason,
        "reason_text": rules.REASONS.get(d.reason, d.reason),
        "statement": d.statement,
        "furnisher": d.furnisher,
        "item": {"kind": d.item_kind, "item_id": d.item_id, "title": d.item_title},
        "record_id": d.record_id,
        "record_ids": json.loads(d.record_ids),
        "filed_at": d.filed_at,
        "due_at": d.due_at,
        "extended": d.extended,
        "state": d.state,
        "outcome_text": rules.OUTCOMES.get(d.state, "open: the furnisher has been asked"),
        "resolved_at": d.resolved_at,
        "answer_note": d.answer_note,
        "changes": json.loads(d.changes) if d.changes else None,
        "applied": d.applied_at is not None,
        "score_before": d.score_before,
        "score_after": d.score_after,
        "steps": [
            {"at": s.at, "step": s.step, "by": s.actor_role, "detail": s.detail} for s in steps
        ],
        "attachments": [
            {
                "attachment_id": a.id,
                "filename": a.filename,
                "media_type": a.media_type,
                "size": a.size,
                "sha256": a.sha256,
                "url": f"/api/v1/disputes/{d.id}/attachments/{a.id}",
            }
            for a in files
        ],
    }


def _full(session: Session, rows: list[Dispute]) -> list[dict[str, Any]]:
    ids = [d.id for d in rows]
    steps: dict[int, list[DisputeStep]] = {i: [] for i in ids}
    files: dict[int, list[DisputeAttachment]] = {i: [] for i in ids}
    if ids:
        for s in session.execute(
            select(DisputeStep).where(DisputeStep.dispute_id.in_(ids)).order_by(DisputeStep.id)
        ).scalars():
            steps[s.dispute_id].append(s)
        for a in session.execute(
            select(DisputeAttachment)
            .where(DisputeAttachment.dispute_id.in_(ids))
            .order_by(DisputeAttachment.id)
        ).scalars():
            files[a.dispute_id].append(a)
    return [dispute_json(d, steps[d.id], files[d.id]) for d in rows]


def of_person(store: sessionmaker[Session], person_ids: list[str]) -> list[dict[str, Any]]:
    """The file's disputes (under any of its IDs), newest first."""
    with store() as session:
        rows = list(
            session.execute(
                select(Dispute).where(Dispute.person_id.in_(person_ids)).order_by(Dispute.id.desc())
            ).scalars()
        )
        return _full(session, rows)


def furnishers_of(organisation: str | None) -> list[str]:
    """The furnishers a furnisher account answers for (its organisation, comma-separated)."""
    return [f.strip() for f in (organisation or "").split(",") if f.strip()]


def of_furnishers(
    store: sessionmaker[Session], furnishers: list[str], state: str | None
) -> list[dict[str, Any]]:
    """Disputes of records these furnishers reported, oldest due first."""
    with store() as session:
        query = select(Dispute).where(Dispute.furnisher.in_(furnishers))
        if state is not None:
            query = query.where(Dispute.state == state)
        rows = list(session.execute(query.order_by(Dispute.due_at, Dispute.id)).scalars())
        return _full(session, rows)


def one(store: sessionmaker[Session], dispute_id: int) -> dict[str, Any] | None:
    with store() as session:
        d = session.get(Dispute, dispute_id)
        return _full(session, [d])[0] if d is not None else None


def attachment(store: sessionmaker[Session], dispute_id: int, attachment_id: int) -> Any:
    with store() as session:
        a = session.get(DisputeAttachment, attachment_id)
        return a if a is not None and a.dispute_id == dispute_id else None


# -- filing -----------------------------------------------------------------------------------
def _step(session: Session, dispute_id: int, actor: str, role: str, step: str, detail: str) -> None:
    session.add(
        DisputeStep(dispute_id=dispute_id, actor=actor, actor_role=role, step=step, detail=detail)
    )


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
        _step(session, d.id, actor, "person", "filed", detail)
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
        _step(
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


def of_kind(store: sessionmaker[Session], kind: str, state: str | None) -> list[dict[str, Any]]:
    """Disputes of ``kind`` (the bureau's queue: links), oldest due first."""
    with store() as session:
        query = select(Dispute).where(Dispute.kind == kind)
        if state is not None:
            query = query.where(Dispute.state == state)
        rows = list(session.execute(query.order_by(Dispute.due_at, Dispute.id)).scalars())
        return _full(session, rows)


def answer_link(
    desk: Desk,
    pub: Published | None,
    actor: str,
    role: str,
    dispute_id: int,
    outcome: str,
    note: str,
) -> dict[str, Any]:
    """The bureau answers a link dispute: ``split`` (the file is split) or ``verified``.

    Raises:
        ApiError: 404 no such link dispute, 409 no longer open, 422 another outcome.
    """
    if outcome not in rules.LINK_ANSWERS:
        raise ApiError(
            422, "unknown_outcome", f"outcome: one of {', '.join(rules.LINK_ANSWERS)}", "outcome"
        )
    found = one(desk.store, dispute_id)
    if found is None or found["kind"] != "link":
        raise ApiError(404, "no_dispute", f"no link dispute {dispute_id}")
    expire_due(desk, pub)
    return resolve(desk, pub, dispute_id, outcome, actor, role, None, note)


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
        _step(
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


# -- resolution -------------------------------------------------------------------------------
@contextmanager
def warehouse(workspace: Path) -> Iterator[Any]:
    """The warehouse, open for writing (one at a time in this process).

    Raises:
        WarehouseBusy: another process holds it.
    """
    import duckdb

    from openbureau.workspace import Workspace

    with _WAREHOUSE:
        try:
            engine = Workspace.open(workspace).engine()
        except duckdb.IOException as exc:
            raise WarehouseBusy(str(exc).splitlines()[0]) from None
        with engine:
            yield engine


def answer(
    desk: Desk,
    pub: Published | None,
    furnishers: list[str],
    actor: str,
    dispute_id: int,
    outcome: str,
    changes: dict[str, Any] | None,
    note: str,
) -> dict[str, Any]:
    """A furnisher answers a dispute about its own record; the answer is applied and the
    person rescored at once (or as soon as the warehouse is free).

    Raises:
        ApiError: 404 not this furnisher's dispute, 409 no longer open (expired, answered),
            422 a correction that fails its checks or lacks changes.
    """
    if outcome not in rules.ANSWERS:
        raise ApiError(422, "unknown_outcome", f"outcome: one of {', '.join(rules.ANSWERS)}")
    with desk.store() as session:
        d = session.get(Dispute, dispute_id)
        if d is None or d.furnisher not in furnishers:
            raise ApiError(404, "no_dispute", f"no dispute {dispute_id} about your records")
        item_kind = d.item_kind or ""
    checked: dict[str, Any] | None = None
    if outcome == "corrected":
        try:
            checked = rules.check_item_changes(item_kind, changes or {})
        except UserError as exc:
            raise ApiError(422, "invalid_correction", str(exc), "changes") from None
    elif changes:
        raise ApiError(
            422, "invalid_correction", "changes: only a correction changes fields", "changes"
        )
    expire_due(desk, pub)  # (an answer after the clock ran out comes too late)
    return resolve(desk, pub, dispute_id, outcome, actor, "furnisher", checked, note)


def resolve(
    desk: Desk,
    pub: Published | None,
    dispute_id: int,
    outcome: str,
    actor: str,
    role: str,
    changes: dict[str, Any] | None,
    note: str = "",
) -> dict[str, Any]:
    """Close an open dispute with ``outcome``, then apply it (:func:`apply`).

    Raises:
        ApiError: 409 when it is no longer open.
    """
    now = desk.clock()
    with desk.store() as session:
        done = session.execute(  # type: ignore[attr-defined]
            update(Dispute)
            .where(Dispute.id == dispute_id, Dispute.state == "open")
            .values(
                state=outcome,
                resolved_at=now,
                resolved_by=actor,
                answer_note=note or None,
                changes=json.dumps(changes, default=str) if changes else None,
            )
        ).rowcount
        if not done:
            state = session.get(Dispute, dispute_id)
            raise ApiError(
                409,
                "dispute_closed",
                f"dispute {dispute_id} is no longer open ({state.state if state else 'gone'})",
            )
        what = rules.OUTCOMES[outcome]
        detail = what + (f": {json.dumps(changes, default=str)}" if changes else "")
        _step(
            session, dispute_id, actor, role, outcome, detail + (f"; note: {note}" if note else "")
        )
        person = session.get(Dispute, dispute_id)
        assert person is not None
        subject = person.person_id
        session.commit()
    desk.audit(actor, role, f"dispute {outcome}", subject=subject, detail=f"dispute {dispute_id}")
    apply(desk, pub, dispute_id)
    found = one(desk.store, dispute_id)
    assert found is not None
    return found


def expire_due(desk: Desk, pub: Published | None) -> list[int]:
    """Resolve, in the person's favour, every open dispute whose clock has run out."""
    now = desk.clock()
    with desk.store() as session:
        due = list(
            session.execute(
                select(Dispute.id).where(Dispute.state == "open", Dispute.due_at <= now)
            ).scalars()
        )
    for did in due:
        with contextlib.suppress(ApiError):  # (answered in the meantime)
            resolve(desk, pub, did, "expired", "bureau clock", "bureau", None)
    return due


def apply(desk: Desk, pub: Published | None, dispute_id: int) -> bool:
    """Make a resolved dispute's outcome true in the warehouse and rescore the person; False
    (and a step saying so) when the warehouse is busy, no snapshot is served or a step fails.

    The ledger change is made once, all or nothing, and recorded at once (``ledger_change``
    and the ``applied`` step); a retry (``openbureau disputes apply``) then only rescores."""
    with desk.store() as session:
        d = session.get(Dispute, dispute_id)
        if d is None or d.state == "open" or d.applied_at is not None:
            return True
        person_id, record_id, record_ids = d.person_id, d.record_id, json.loads(d.record_ids)
        kind, done = d.kind, d.ledger_change  # (done: the ledger change, once made)
        outcome, changes = d.state, json.loads(d.changes) if d.changes else None
    if pub is None:
        _wait(desk, dispute_id, "no score snapshot is published yet")
        return False
    before = pub.score_row(person_id)
    pid = pub.moved.get(person_id, person_id)
    split = kind == "link" and outcome in ("split", "expired")
    try:
        with warehouse(desk.workspace) as engine:
            if done is None:
                if split:
                    rules.split_file(engine, desk.workspace, pid, record_ids)
                    done = f"split off the file: {', '.join(record_ids)} (now in another file)"
                elif kind == "link":
                    done = "nothing changed: the file stands"
                else:
                    done = rules.apply_outcome(
                        engine, dispute_id, outcome, record_id, record_ids, changes, pid
                    )
                _changed(desk, dispute_id, done)
            others: list[str] = []
            if split:
                now_in = rules.files_of(engine, record_ids)
                others = sorted({now_in[i] for i in record_ids if now_in.get(i, pid) != pid})
            started = time.perf_counter()
            known_at, rows = rules.rescore_persons(
                engine, pub.card, pub.as_of, pub.snapshot_id, [pid, *others], with_features=True
            )
            took = time.perf_counter() - started
            if split:  # (the identity tables served, and with them the access log, follow)
                from openbureau.service.serving import republish

                republish(engine, desk.workspace, pub.snapshot_id)
    except WarehouseBusy as exc:
        _wait(desk, dispute_id, f"the warehouse is busy ({exc})")
        return False
    except UserError as exc:
        _wait(desk, dispute_id, f"not applied: {exc}")
        return False
    except Exception as exc:  # (the resolution stands: `disputes apply` finishes it later)
        log.exception("dispute %s: applying it failed", dispute_id)
        first = (str(exc).splitlines() or [""])[0]
        _wait(desk, dispute_id, f"not applied: {type(exc).__name__}: {first}")
        return False
    rescored = {r["person_id"]: r for r in rows}
    rows = [rescored[p] for p in [pid, *others] if p in rescored]
    row = rows[0] if rows else None
    # (the scores served to the person: with consent, the better of core and alternative)
    allowed = consent.serves_alternative(desk.store, [pid, *pub.merged.get(pid, [])], pub.made_at)
    score_before = served(before, allowed)["score"] if before else None
    score_after = served(row, allowed)["score"] if row else None
    with desk.store() as session:
        d = session.get(Dispute, dispute_id)
        assert d is not None
        d.applied_at = utcnow()
        d.score_before, d.score_after = score_before, score_after
        for r in rows:  # (a split: the person's file and the part split off)
            session.add(
                PersonRescore(
                    person_id=r["person_id"],
                    snapshot_id=pub.snapshot_id,
                    dispute_id=dispute_id,
                    known_at=known_at,
                    row=json.dumps(r, default=_json_value),
                )
            )
        _step(
            session,
            dispute_id,
            "bureau",
            "bureau",
            "rescored",
            f"score before {_shown(score_before)}, after {_shown(score_after)} "
            f"(scorecard {pub.card.version}, as of {pub.as_of}, in {took:.2f} s)",
        )
        session.commit()
    desk.audit(
        "bureau",
        "bureau",
        "rescore person",
        subject=pid,
        detail=f"dispute {dispute_id}: {_shown(score_before)} -> {_shown(score_after)}",
    )
    if desk.book is not None:
        desk.book.refresh()
    return True


def apply_waiting(desk: Desk, pub: Published | None) -> list[int]:
    """Apply every resolved dispute the warehouse has not taken yet; the ids applied."""
    with desk.store() as session:
        waiting = list(
            session.execute(
                select(Dispute.id)
                .where(Dispute.state != "open", Dispute.applied_at.is_(None))
                .order_by(Dispute.id)
            ).scalars()
        )
    return [d for d in waiting if apply(desk, pub, d)]


def _changed(desk: Desk, dispute_id: int, done: str) -> None:
    """Record that the dispute's ledger change is made (a retry does not make it again)."""
    with desk.store() as session:
        d = session.get(Dispute, dispute_id)
        assert d is not None
        d.ledger_change = done
        _step(session, dispute_id, "bureau", "bureau", "applied", done)
        session.commit()


def _wait(desk: Desk, dispute_id: int, why: str) -> None:
    with desk.store() as session:
        _step(
            session,
            dispute_id,
            "bureau",
            "bureau",
            "waiting",
            f"{why}: applied by `openbureau disputes apply` or the next resolution",
        )
        session.commit()


def _shown(score: int | None) -> str:
    return "no score" if score is None else str(score)


# -- what readers of the served snapshot see --------------------------------------------------
def _json_value(value: Any) -> Any:
    """A scores row's value in JSON: a decimal as a number, a date as its ISO text."""
    if isinstance(value, Decimal):
        return float(value)
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def row_from_json(text: str) -> dict[str, Any]:
    """A rescored row (``person_rescores.row``) as the ``scores`` row it was."""
    row: dict[str, Any] = json.loads(text)
    row["as_of"] = dt.date.fromisoformat(str(row["as_of"])[:10])
    return row


@dataclass
class DisputeBook:
    """In memory, for the score reads: persons' rescores (per snapshot) and the records under
    an open dispute. Rescores are only added, read after the last one seen; open disputes are
    read whole. At most every ``ttl`` seconds, and at once after a change in this process."""

    store: sessionmaker[Session]
    ttl: float = 2.0
    rescores: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # per snapshot, person -> the features their rescore used (None: not kept, an older one)
    features: dict[str, dict[str, dict[str, Any] | None]] = field(default_factory=dict)
    open_records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _last_id: int = 0
    _checked: float = -float("inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def stale(self) -> bool:
        return time.monotonic() - self._checked > self.ttl

    def overlay(self, snapshot_id: str) -> dict[str, dict[str, Any]]:
        """The rescored rows laid over ``snapshot_id`` (updated in place by refresh)."""
        return self.rescores.setdefault(snapshot_id, {})

    def refresh(self) -> None:
        with self._lock:
            checked = time.monotonic()
            with self.store() as session:
                for r in session.execute(
                    select(PersonRescore)
                    .where(PersonRescore.id > self._last_id)
                    .order_by(PersonRescore.id)
                ).scalars():
                    row = row_from_json(r.row)
                    used = row.pop(rules.RESCORE_FEATURES, None)
                    self.features.setdefault(r.snapshot_id, {})[r.person_id] = used
                    self.overlay(r.snapshot_id)[r.person_id] = row
                    self._last_id = r.id
                opened: dict[str, dict[str, dict[str, Any]]] = {}
                for d in session.execute(select(Dispute).where(Dispute.state == "open")).scalars():
                    note = {
                        "dispute_id": d.id,
                        "furnisher": d.furnisher,
                        "item_kind": d.item_kind,
                        "item_title": d.item_title,
                        "reason": d.reason,
                        "filed_at": d.filed_at,
                    }
                    for rid in json.loads(d.record_ids):
                        opened.setdefault(d.person_id, {})[rid] = note
                self.open_records = opened
            self._checked = checked

    def rescored_features(self, snapshot_id: str, person_id: str) -> tuple[bool, Any]:
        """Whether the person was rescored on ``snapshot_id``, and the features the newest
        rescore used (None: not kept, a rescore stored before they were)."""
        used = self.features.get(snapshot_id, {})
        return person_id in used, used.get(person_id)

    def fresh(self) -> DisputeBook:
        if self.stale():
            self.refresh()
        return self

    def disputed(self, person_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Record id -> its open dispute, over the file's IDs."""
        out: dict[str, dict[str, Any]] = {}
        for p in person_ids:
            out.update(self.open_records.get(p, {}))
        return out


def mark_disputed(row: dict[str, Any], disputed: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A score row with each reason marked when a record behind it is disputed, and the
    file's open disputes listed (``disputes``): what every reader of the score is told."""
    for r in row.get("reasons") or []:
        r["disputed"] = any(rid in disputed for rid in r.get("record_ids") or [])
    seen: dict[int, dict[str, Any]] = {}
    for note in disputed.values():
        seen.setdefault(
            note["dispute_id"],
            {**note, "text": f"disputed by the consumer: {rules.REASONS[note['reason']]}"},
        )
    row["disputes"] = sorted(seen.values(), key=lambda n: n["dispute_id"])
    return row
