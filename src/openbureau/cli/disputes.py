"""CLI commands for disputes: ``disputes expire``, ``disputes apply`` and ``disputes list``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from openbureau.cli.app import (
    StoreOpt,
    WorkspaceOpt,
    app,
    console,
    handles_errors,
    open_service_store,
)
from openbureau.cli.export import EXPORT_PURPOSES
from openbureau.errors import UserError

if TYPE_CHECKING:
    from openbureau.service.disputes import Desk
    from openbureau.service.serving import Published

#: Why an operator lists persons' disputes (each listed person sees the read): as for a file
#: export.
LIST_PURPOSES = EXPORT_PURPOSES
LIST_ACTION = "list disputes"

disputes_app = typer.Typer(
    help="Persons' disputes: expire those unanswered in time, apply resolutions, list.",
    no_args_is_help=True,
)
app.add_typer(disputes_app, name="disputes")

NowOpt = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="The time to judge the clocks by (ISO, UTC; default: now): a given now, for tests "
        "and for catching up.",
    ),
]


def _desk(workspace: Path, store: str | None, now: str | None) -> tuple[Desk, Published | None]:
    from openbureau.service import audit
    from openbureau.service.bindings import operator
    from openbureau.service.disputes import Desk
    from openbureau.service.serving import ServingStore
    from openbureau.service.store import utcnow

    factory = open_service_store(workspace, store)
    if now is not None:
        try:
            at = dt.datetime.fromisoformat(now).replace(tzinfo=None)
        except ValueError:
            raise UserError(f"--now: {now!r} is not an ISO date or time") from None
    by = operator().name

    def record(
        actor: str, role: str, action: str, *, subject: str | None = None, detail: str = ""
    ) -> None:
        # (the bureau's steps, run by an operator at the command line: named in the entry)
        audit.record(
            factory,
            actor=actor,
            actor_role=role,
            action=action,
            subject=subject,
            purpose="consumer_request" if role == "person" else "dispute_investigation",
            detail=f"{detail}; by {by}" if detail else f"by {by}",
        )

    clock = (lambda: at) if now is not None else utcnow
    desk = Desk(factory, workspace, record, None, clock)
    return desk, ServingStore(workspace).current()


@disputes_app.command("expire")
@handles_errors
def disputes_expire(
    workspace: WorkspaceOpt = Path("."), store: StoreOpt = None, now: NowOpt = None
) -> None:
    """Resolve in the person's favour every open dispute whose clock has run out (30 days,
    45 with added information): its records stop counting and the person is rescored."""
    from openbureau.service import disputes

    desk, pub = _desk(workspace, store, now)
    expired = disputes.expire_due(desk, pub)
    for did in expired:
        found = disputes.one(desk.store, did)
        assert found is not None
        console.print(
            f"dispute {did} ({found['person_id']}): expired, "
            + ("applied" if found["applied"] else "waiting for the warehouse")
            + f"; score {found['score_before']} -> {found['score_after']}"
        )
    console.print(f"{len(expired)} dispute(s) expired.")


@disputes_app.command("apply")
@handles_errors
def disputes_apply(workspace: WorkspaceOpt = Path("."), store: StoreOpt = None) -> None:
    """Apply the resolutions the warehouse was too busy to take when they were made."""
    from openbureau.service import disputes

    desk, pub = _desk(workspace, store, None)
    done = disputes.apply_waiting(desk, pub)
    console.print(f"{len(done)} resolution(s) applied.")


@disputes_app.command("list")
@handles_errors
def disputes_list(
    workspace: WorkspaceOpt = Path("."),
    store: StoreOpt = None,
    person: Annotated[str | None, typer.Option(help="Only this person's disputes.")] = None,
    purpose: Annotated[
        str | None,
        typer.Option(
            help="Why you read them (logged, and shown to each person listed): "
            f"{', '.join(LIST_PURPOSES)}."
        ),
    ] = None,
) -> None:
    """Disputes, newest first: state, due date, score before and after. A read of each person
    listed: in the audit log and their access log as yours (OS user@host), with its purpose."""
    from sqlalchemy import select

    from openbureau.service import audit, bindings
    from openbureau.service.store import Dispute

    factory = open_service_store(workspace, store)
    who = bindings.operator()
    asked = person.strip().upper() if person else None
    if purpose not in LIST_PURPOSES:
        audit.record(
            factory,
            actor=who.name,
            actor_role=who.role,
            action=LIST_ACTION,
            subject=asked,
            purpose=purpose,
            outcome="denied",
            detail="no permissible purpose stated",
        )
        raise UserError(f"--purpose: state one of {', '.join(LIST_PURPOSES)}")
    with factory() as session:
        query = select(Dispute).order_by(Dispute.id.desc())
        if asked:
            query = query.where(Dispute.person_id == asked)
        found = list(session.execute(query).scalars())
    # (logged before they are shown: one entry per person whose disputes are listed)
    for pid in sorted({d.person_id for d in found}):
        audit.record(
            factory,
            actor=who.name,
            actor_role=who.role,
            action=LIST_ACTION,
            subject=pid,
            purpose=purpose,
            detail=f"{sum(d.person_id == pid for d in found)} dispute(s) listed",
        )
    for d in found:
        console.print(
            f"{d.id}\t{d.person_id}\t{d.kind}\t{d.reason}\t{d.furnisher or ''}\t{d.state}\t"
            f"due {d.due_at:%Y-%m-%d}\t{d.score_before} -> {d.score_after}",
            highlight=False,
        )
