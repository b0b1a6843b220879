"""Adverse-action notices: a lender's decline on a score read from the bureau, and the notice
the person is owed (after FCRA s.615(a) and s.609(f)).

A lender records a decline for a person whose score it read with a permissible purpose (a
lookup, or a score read) and names the snapshot and score it relied on; the bureau then issues
the notice, kept as issued: the score and its date, the key factors (the snapshot's reason
codes: up to four, and inquiries where they are one), the bureau's name and contact, that the
bureau did not make the decision and cannot explain it, and the person's rights to a free copy
of their file within 60 days and to dispute it. The person, the lender that issued it and
auditors (with an auditor's purpose) can read it; every read but the person's own, and every
refusal, is audited with the person as its subject, so it shows in their access log.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openbureau.scoring.factors import INQUIRY_FACTORS
from openbureau.service import views
from openbureau.service.auth import Principal
from openbureau.service.context import AUDITOR_PURPOSES, LENDER_PURPOSES, ServiceContext
from openbureau.service.errors import ApiError
from openbureau.service.log_reads import ASKED
from openbureau.service.serving import Published
from openbureau.service.store import Account, AdverseActionNotice, AuditEntry, Lookup, utcnow

CREATE = "adverse action notice"
READ = "read adverse action notice"
FREE_COPY_DAYS = 60


def did_not_decide(bureau: str) -> str:
    return (
        f"{bureau} did not make this decision and cannot explain why it was made: "
        "the lender named above made it."
    )


def free_copy(bureau: str, until: dt.date) -> str:
    return (
        f"You have the right to a free copy of your file from {bureau} if you ask for it "
        f"within {FREE_COPY_DAYS} days of this notice (by {until.isoformat()})."
    )


def dispute(bureau: str) -> str:
    return (
        f"You have the right to dispute with {bureau} the accuracy or completeness of anything "
        "in your file, free of charge."
    )


def key_factors(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The key factors of a score row: its reasons as the snapshot ranked them (up to four,
    and inquiries as a fifth when they are a reason: the rule of scoring.reasons), each
    marked when it is about inquiries; for a row without a score, why there is none."""
    if row["score"] is None:
        text = row["unscorable_text"] or "Insufficient credit history"
        code = row["unscorable_reason"] or "unscorable"
        return [{"rank": 1, "code": code, "statement": text, "inquiries": False}]
    return [
        {
            "rank": r["rank"],
            "code": r["code"],
            "statement": r["statement"],
            "inquiries": r["factor"] in INQUIRY_FACTORS,
        }
        for r in sorted(row["reasons"], key=lambda r: r["rank"])
    ]


def _last_read(
    ctx: ServiceContext, who: Principal, person_ids: list[str]
) -> tuple[dt.datetime, str] | None:
    """(when, purpose) of the lender's latest read of the person's score with a lender's
    purpose: a lookup that found them, or a score read; None if it never read it."""
    purposes = list(LENDER_PURPOSES)
    with ctx.store() as session:
        looked = session.execute(
            select(Lookup.at, Lookup.purpose)
            .where(
                Lookup.account_id == who.account_id,
                Lookup.person_id.in_(person_ids),
                Lookup.purpose.in_(purposes),
            )
            .order_by(Lookup.id.desc())
            .limit(1)
        ).first()
        read = session.execute(
            select(AuditEntry.at, AuditEntry.purpose)
            .where(
                AuditEntry.actor == who.username,
                AuditEntry.actor_role == "lender",
                AuditEntry.action == "read score",
                AuditEntry.outcome == "allowed",
                AuditEntry.subject.in_(person_ids),
                AuditEntry.purpose.in_(purposes),
            )
            .order_by(AuditEntry.leaf_index.desc())
            .limit(1)
        ).first()
    found: list[tuple[dt.datetime, str]] = [
        (r[0], r[1]) for r in (looked, read) if r is not None and r[1] is not None
    ]
    return max(found) if found else None


def create(
    ctx: ServiceContext,
    pub: Published,
    who: Principal,
    person_id: str,
    snapshot_id: str,
    score: int | None,
    reference: str,
) -> dict[str, Any]:
    """Record the lender's decline and issue the notice (audited; so is a refusal).

    Raises:
        ApiError: 503 ``no_bureau_contact`` (``[bureau] contact`` unset); 404 ``no_file``;
            403 ``not_looked_up`` (this lender never read the person's score with a lender's
            purpose); 422 ``unknown_snapshot`` (that snapshot did not score the person) or
            ``score_mismatch`` (it gave another score).
    """
    asked = person_id.strip().upper()

    def refuse(status: int, code: str, message: str, field: str | None = None) -> ApiError:
        ctx.audit(who, CREATE, subject=asked or None, outcome="denied", detail=message)
        return ApiError(status, code, message, field)

    bureau, contact = ctx.config.bureau_name, ctx.config.bureau_contact
    if not contact:
        raise refuse(
            503,
            "no_bureau_contact",
            "the bureau's contact is not set ([bureau] contact in bureau.toml): a notice "
            "must give it, so none can be issued yet",
        )
    pid = views.resolve_person(pub, asked)
    if pid is None:
        raise refuse(404, "no_file", f"no file for person {asked}")
    ids = views.merged_into(pub, pid)
    read = _last_read(ctx, who, ids)
    if read is None:
        raise refuse(
            403,
            "not_looked_up",
            f"you have not read the score of person {asked} with a permissible purpose: "
            "a decline needs a lookup or score read first",
        )
    row = views.score_in(pub, ids, snapshot_id, ctx.consent(pub, pid), ctx.erased_until(pub, pid))
    if row is None:
        raise refuse(
            422,
            "unknown_snapshot",
            f"snapshot_id: snapshot {snapshot_id} holds no score of person {asked}",
            "snapshot_id",
        )
    if row["score"] != score:
        raise refuse(
            422,
            "score_mismatch",
            f"score: snapshot {snapshot_id} gave person {asked} "
            f"{row['score'] if row['score'] is not None else 'no score'}, not {score}",
            "score",
        )
    with ctx.store() as session:
        lender = session.get(Account, who.account_id)
        lender_name = (lender.organisation or lender.display_name or who.username) if lender else ""
    issued = utcnow()
    until = issued.date() + dt.timedelta(days=FREE_COPY_DAYS)
    name = views.person_name(pub, pid)
    body = {
        "issued_at": issued.isoformat(),
        "decision": "decline",
        "person_id": pid,
        "person_name": " ".join(
            str(n).title() for n in (name["first_name"], name["last_name"]) if n
        )
        or None,
        "purpose": read[1],
        "lender": {"name": lender_name, "account": who.username, "reference": reference},
        "score": {
            "value": row["score"],
            "band": row["band"],
            "as_of": row["as_of"].isoformat(),
            "snapshot_id": row["snapshot_id"],
            "scorecard_version": row["scorecard_version"],
            "lowest": pub.card.scaling.min_score,
            "highest": pub.card.scaling.max_score,
        },
        "key_factors": key_factors(row),
        "bureau": {"name": bureau, "contact": contact},
        "bureau_did_not_decide": did_not_decide(bureau),
        "free_copy": free_copy(bureau, until),
        "free_copy_until": until.isoformat(),
        "dispute": dispute(bureau),
    }
    notice = AdverseActionNotice(
        created_at=issued,
        account_id=who.account_id,
        person_id=pid,
        reference=reference,
        purpose=read[1],
        snapshot_id=row["snapshot_id"],
        score=row["score"],
        body=json.dumps(body, sort_keys=True),
    )
    with ctx.store() as session:
        session.add(notice)
        session.commit()
    ctx.audit(
        who,
        CREATE,
        subject=pid,
        purpose=read[1],
        detail=f"notice {notice.id}: decline on snapshot {row['snapshot_id']}, score "
        f"{row['score']}, lender's reference {reference}"
        + (f"; {ASKED}{asked}" if asked != pid else ""),
    )
    return notice_json(notice)


def notice_json(notice: AdverseActionNotice) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(notice.body)
    return {
        "notice_id": notice.id,
        **body,
        "issued_at": notice.created_at,
        "url": f"/notices/{notice.id}",
        "print_url": f"/notices/{notice.id}/print",
        "api_url": f"/api/v1/notices/{notice.id}",
    }


def summary_json(notice: AdverseActionNotice) -> dict[str, Any]:
    full = notice_json(notice)
    return {
        k: full[k] for k in ("notice_id", "issued_at", "person_id", "url", "print_url", "api_url")
    } | {
        "lender": full["lender"]["name"],
        "reference": full["lender"]["reference"],
        "score": full["score"]["value"],
        "as_of": full["score"]["as_of"],
    }


def read(
    ctx: ServiceContext, pub: Published | None, who: Principal, notice_id: int, purpose: str | None
) -> dict[str, Any]:
    """A notice for the person it is for, the lender that issued it, or an auditor with an
    auditor's purpose; audited (a refusal too, with the person as its subject).

    Raises:
        ApiError: 404 ``not_found``; 403 ``forbidden``; 422 ``purpose_required``.
    """
    with ctx.store() as session:
        notice = session.get(AdverseActionNotice, notice_id)
    if notice is None:
        ctx.audit(who, READ, outcome="not_found", detail=f"notice {notice_id}")
        raise ApiError(404, "not_found", f"no notice {notice_id}")
    subject = views.own_id(pub, notice.person_id)
    detail = f"notice {notice.id}"
    if who.role == "person":
        if views.own_id(pub, who.person_id) != subject:
            ctx.audit(who, READ, subject=subject, outcome="denied", detail=detail)
            raise ApiError(403, "forbidden", "this notice is not about you")
        purpose = "consumer_request"
    elif who.role == "lender":
        if notice.account_id != who.account_id:
            ctx.audit(who, READ, subject=subject, outcome="denied", detail=detail)
            raise ApiError(403, "forbidden", "another lender issued this notice")
        purpose = notice.purpose
    elif who.role not in ("auditor", "admin"):  # (a furnisher, or any role added later)
        ctx.audit(who, READ, subject=subject, purpose=purpose, outcome="denied", detail=detail)
        raise ApiError(403, "forbidden", "only the person, the lender that issued it and auditors")
    elif purpose not in AUDITOR_PURPOSES:
        ctx.audit(who, READ, subject=subject, purpose=purpose, outcome="denied", detail=detail)
        raise ApiError(
            422,
            "purpose_required",
            f"purpose: state one of {', '.join(AUDITOR_PURPOSES)}",
            "purpose",
        )
    ctx.audit(who, READ, subject=subject, purpose=purpose, detail=detail)
    return notice_json(notice)


def of_person(
    ctx: ServiceContext, person_ids: list[str], *, full: bool = False
) -> list[dict[str, Any]]:
    """The notices on a file (under any of its IDs), newest first: in full, or their summaries
    (not audited: the caller's read of the file is)."""
    return on_file(ctx.store, person_ids, full=full)


def on_file(
    store: sessionmaker[Session], person_ids: list[str], *, full: bool = False
) -> list[dict[str, Any]]:
    """:func:`of_person` on a store (the command line has no service context)."""
    with store() as session:
        rows = session.execute(
            select(AdverseActionNotice)
            .where(AdverseActionNotice.person_id.in_(person_ids))
            .order_by(AdverseActionNotice.id.desc())
        ).scalars()
        return [notice_json(n) if full else summary_json(n) for n in rows]


def of_lender(ctx: ServiceContext, who: Principal, limit: int) -> list[dict[str, Any]]:
    """The notices this lender's account issued, newest first; each one's read audited."""
    with ctx.store() as session:
        rows = list(
            session.execute(
                select(AdverseActionNotice)
                .where(AdverseActionNotice.account_id == who.account_id)
                .order_by(AdverseActionNotice.id.desc())
                .limit(limit)
            ).scalars()
        )
    if rows:
        ctx.audit_many(
            who, "list adverse action notices", [(n.person_id, f"notice {n.id}") for n in rows]
        )
    return [summary_json(n) for n in rows]
