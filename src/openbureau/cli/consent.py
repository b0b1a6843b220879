"""``openbureau consent``: an operator records a person's consent change on their request (in
the audit log as done by the operator, OS user@host), and carries out erasures left pending."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openbureau.cli.app import (
    StoreOpt,
    WorkspaceOpt,
    app,
    console,
    handles_errors,
    open_service_store,
)
from openbureau.errors import UserError
from openbureau.workspace import Workspace

consent_app = typer.Typer(help="A person's consent to alternative data counting in their score.")
app.add_typer(consent_app, name="consent")


def _log(factory, who, action: str, pid: str, outcome: str, detail: str) -> None:
    from openbureau.service import audit

    audit.record(
        factory,
        actor=who.name,
        actor_role=who.role,
        action=action,
        subject=pid,
        purpose="consumer_request",
        outcome=outcome,
        detail=detail,
    )


@consent_app.command("set")
@handles_errors
def consent_set(
    person: Annotated[str, typer.Argument(help="The person id.")],
    given: Annotated[bool, typer.Option("--give/--withdraw", help="Opt in, or withdraw.")],
    erase: Annotated[
        bool, typer.Option("--erase", help="With --withdraw: erase the alternative data too.")
    ] = False,
    workspace: WorkspaceOpt = Path("."),
    store: StoreOpt = None,
) -> None:
    """Record a consent change the person asked for (in writing, on the phone...)."""
    from openbureau.service import bindings, consent

    if erase and given:
        raise UserError("--erase: only a withdrawal can erase the alternative data")
    person = _file_of(workspace, person)
    factory = open_service_store(workspace, store)
    who = bindings.operator()
    change = consent.record(factory, person, given, who.name, who.role, erase=erase)
    action = "give consent" if given else "withdraw consent"
    _log(factory, who, action, person, "allowed", "alternative data on the person's request")
    console.print(f"Person {person}: consent {'given' if given else 'withdrawn'}.")
    if erase:
        _erase(factory, workspace, change, person, who)


def _file_of(workspace: Path, person: str) -> str:
    """The person's file ID now in use (a retired ID gives its survivor's), refused when the
    published snapshot holds no such person: a consent on nobody would be recorded silently."""
    from openbureau.service import views
    from openbureau.service.serving import ServingStore

    pub = ServingStore(Workspace.open(workspace).root).current()
    if pub is None:
        raise UserError("no published snapshot yet: run `openbureau score` first")
    pid = views.resolve_person(pub, person)
    if pid is None:
        raise UserError(f"person {person}: not in the published snapshot {pub.snapshot_id}")
    return pid


def _ids_of(workspace: Path, person: str) -> list[str]:
    """The file's IDs (the one in use and those merged into it): its erasure covers them all."""
    from openbureau.service import views
    from openbureau.service.serving import ServingStore

    pub = ServingStore(Workspace.open(workspace).root).current()
    return views.merged_into(pub, person)


def _erase(factory, workspace: Path, change: int, person: str, who) -> None:
    from openbureau.service import consent

    root = Workspace.open(workspace).root
    done = consent.carry_out_erasure(factory, root, change, _ids_of(workspace, person))
    if done is None:
        raise UserError("the warehouse is busy: run `openbureau consent erase-pending` later")
    detail = f"erasure {done['erasure_id']}: {done['records']} records, {done['rows']} rows"
    _log(factory, who, "erase alternative data", person, "allowed", detail)
    console.print(f"Person {person}: alternative data erased ({detail}).")


@consent_app.command("erase-pending")
@handles_errors
def consent_erase_pending(workspace: WorkspaceOpt = Path("."), store: StoreOpt = None) -> None:
    """Carry out the erasures asked for while the warehouse was busy."""
    from openbureau.service import bindings, consent

    factory = open_service_store(workspace, store)
    pending = consent.pending_erasures(factory)
    for change, person, _actor in pending:
        _erase(factory, workspace, change, person, bindings.operator())
    console.print(f"{len(pending)} pending erasures carried out.")
