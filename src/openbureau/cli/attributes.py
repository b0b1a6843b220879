"""``openbureau audit-attributes``: load, derive and summarise the protected attributes kept
for fairness audits (governance/protected_attributes.py), apart from the warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from openbureau.cli.app import WorkspaceOpt, app, console, handles_errors
from openbureau.workspace import Workspace

attributes_app = typer.Typer(
    help="Protected attributes for fairness audits: kept apart from the warehouse, never a "
    "score factor, every read in the audit log.",
    no_args_is_help=True,
)
app.add_typer(attributes_app, name="audit-attributes")


@attributes_app.command("load")
@handles_errors
def attributes_load(
    file: Annotated[
        Path,
        typer.Argument(help="CSV: person_id and any of the attributes; empty for unknown."),
    ],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Replace the stored attributes with a file's (all or nothing), in the audit log as done
    by you (OS user@host)."""
    from openbureau.governance.protected_attributes import load_attributes, store_path
    from openbureau.service.audit import workspace_log
    from openbureau.service.bindings import operator

    ws = Workspace.open(workspace)
    who = operator().name
    n = load_attributes(ws, file, actor=who, log=workspace_log(ws))
    console.print(
        f"Loaded {n:,} persons' protected attributes from {file} into {store_path(ws)} "
        f"(what it held is replaced). Logged as done by {who}."
    )


@attributes_app.command("from-truth")
@handles_errors
def attributes_from_truth_cmd(
    truth_dir: Annotated[Path, typer.Argument(help="The synthetic population's truth folder.")],
    out: Annotated[Path, typer.Argument(help="CSV file to write.")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Write the attributes file a bureau would be supplied, from a synthetic population's
    truth: each linked person with the attributes of the true person behind most of their
    records."""
    from openbureau.scoring.evaluate import attributes_from_truth

    n = attributes_from_truth(Workspace.open(workspace), truth_dir, out)
    console.print(f"Wrote {out}: {n:,} persons.")


@attributes_app.command("show")
@handles_errors
def attributes_show(workspace: WorkspaceOpt = Path(".")) -> None:
    """Persons per attribute value (no person rows), and the last load."""
    from openbureau.governance.protected_attributes import attribute_counts, last_load
    from openbureau.service.audit import workspace_log
    from openbureau.service.bindings import operator

    ws = Workspace.open(workspace)
    counts = attribute_counts(ws, actor=operator().name, log=workspace_log(ws))
    load = last_load(ws)
    if not counts or load is None:
        console.print("No protected attributes loaded (openbureau audit-attributes load FILE).")
        return
    console.print(
        f"Loaded {str(load['loaded_at'])[:19]} UTC by {load['actor']} from {load['file_name']}: "
        f"{load['rows']:,} persons (sha256 {load['sha256']})"
    )
    table = Table()
    table.add_column("attribute")
    table.add_column("value")
    table.add_column("persons", justify="right")
    for attribute, value, persons in counts:
        table.add_row(
            attribute, value if value is not None else "[dim](unknown)[/]", f"{persons:,}"
        )
    console.print(table)
