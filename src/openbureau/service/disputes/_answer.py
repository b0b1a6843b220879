"""Answers that close a dispute: the furnisher's, the bureau's (links), the clock's."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from sqlalchemy import select, update

from openbureau.errors import UserError
from openbureau.service.disputes import rules
from openbureau.service.disputes._apply import apply
from openbureau.service.disputes._store import Desk, add_step, one
from openbureau.service.errors import ApiError
from openbureau.service.serving import Published
from openbureau.service.store import Dispute


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
        add_step(
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
