"""``openbureau export-file``: a person's copy of everything held on them, from the warehouse."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from openbureau.cli.app import StoreOpt, WorkspaceOpt, app, console, handles_errors
from openbureau.errors import UserError
from openbureau.workspace import Workspace

#: Why an operator exports a file: the person asked for it (by post, at the counter), or an
#: auditor's purpose.
EXPORT_PURPOSES = (
    "consumer_request",
    "dispute_investigation",
    "regulatory_examination",
    "legal_order",
)
FORMATS = ("json", "html")


@app.command("export-file")
@handles_errors
def export_file(
    person: Annotated[
        str | None, typer.Argument(help="Person ID (P...); a retired one leads to its file.")
    ] = None,
    purpose: Annotated[
        str | None,
        typer.Option(
            help="Why you read the file (logged, and shown to the person): "
            f"{', '.join(EXPORT_PURPOSES)}."
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="json or html (a printable page).")] = "json",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default: standard output)."),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    store: StoreOpt = None,
) -> None:
    """Everything the bureau holds on a person, as JSON (docs/export.schema.json) or a printable
    HTML page: every record from every furnisher with its versions and batches, the links that
    joined the file and why, every score with its reasons, statements, adverse-action notices,
    and every read of the file. Read from the warehouse; in the audit log and the person's
    access log as your read (OS user@host) with its purpose."""
    from openbureau.service import audit, bindings
    from openbureau.service.api_export import render_export
    from openbureau.service.app import service_config
    from openbureau.service.export import EXPORT_ACTION, Held, build_export, find_person
    from openbureau.service.store import open_store

    if not person or not person.strip():
        raise UserError("export-file: give the person ID whose file to export (P...)")
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: use json or html")
    if output is not None and not output.parent.is_dir():
        raise UserError(f"{output}: folder {output.parent} does not exist")
    ws = Workspace.open(workspace)
    config = service_config(ws, store)
    factory = open_store(config.store_url)
    who = bindings.operator()
    asked = person.strip().upper()

    def log(subject: str, outcome: str, detail: str) -> None:
        audit.record(
            factory,
            actor=who.name,
            actor_role=who.role,
            action=EXPORT_ACTION,
            subject=subject,
            purpose=purpose,
            outcome=outcome,
            detail=detail,
        )

    if purpose not in EXPORT_PURPOSES:
        log(asked, "denied", "no permissible purpose stated")
        raise UserError(f"--purpose: state one of {', '.join(EXPORT_PURPOSES)}")
    with ws.engine(read_only=True) as engine:
        try:
            found = find_person(engine, asked)
        except UserError:
            log(asked, "not_found", f"as {fmt}")
            raise
        pid = str(found["person_id"])
        log(pid, "allowed", (f"asked for {asked}; " if pid != asked else "") + f"as {fmt}")
        export = build_export(
            Held(engine, factory, found),
            source={"kind": "warehouse", "snapshot_id": None, "as_of": None},
            bureau={"name": config.bureau_name, "contact": config.bureau_contact},
        )
    text = (
        json.dumps(export, indent=2, ensure_ascii=False) + "\n"
        if fmt == "json"
        else render_export(export, standalone=True)
    )
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    c = export["counts"]
    console.print(
        f"Wrote {output}: {pid}, {c['records']:,} records ({c['versions']:,} versions), "
        f"{c['scores']:,} scores, {c['reads']:,} reads. Logged as your read ({who.name})."
    )
