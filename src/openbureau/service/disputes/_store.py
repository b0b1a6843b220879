"""The dispute store: the Desk dispute work runs at, the steps, and the disputes as read."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openbureau.service.disputes import rules
from openbureau.service.disputes._book import DisputeBook
from openbureau.service.store import Dispute, DisputeAttachment, DisputeStep, utcnow

Audit = Callable[..., None]  # audit(actor, actor_role, action, subject=, detail=, purpose=)


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


def full_json(session: Session, rows: list[Dispute]) -> list[dict[str, Any]]:
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
        return full_json(session, rows)


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
        return full_json(session, rows)


def one(store: sessionmaker[Session], dispute_id: int) -> dict[str, Any] | None:
    with store() as session:
        d = session.get(Dispute, dispute_id)
        return full_json(session, [d])[0] if d is not None else None


def attachment(store: sessionmaker[Session], dispute_id: int, attachment_id: int) -> Any:
    with store() as session:
        a = session.get(DisputeAttachment, attachment_id)
        return a if a is not None and a.dispute_id == dispute_id else None


def of_kind(store: sessionmaker[Session], kind: str, state: str | None) -> list[dict[str, Any]]:
    """Disputes of ``kind`` (the bureau's queue: links), oldest due first."""
    with store() as session:
        query = select(Dispute).where(Dispute.kind == kind)
        if state is not None:
            query = query.where(Dispute.state == state)
        rows = list(session.execute(query.order_by(Dispute.due_at, Dispute.id)).scalars())
        return full_json(session, rows)


def add_step(
    session: Session, dispute_id: int, actor: str, role: str, step: str, detail: str
) -> None:
    """Add a step to the dispute's history (in ``session``; the caller commits)."""
    session.add(
        DisputeStep(dispute_id=dispute_id, actor=actor, actor_role=role, step=step, detail=detail)
    )
