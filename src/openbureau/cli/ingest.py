"""Ingest commands: ``ingest`` loads furnisher files as batches; ``batches`` and
``quarantine`` show what was loaded and what was not."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from openbureau.cli.app import WorkspaceOpt, app, console, handles_errors, progress_bar
from openbureau.errors import UserError
from openbureau.ingest import store
from openbureau.ingest.load import BatchReport, ingest_files
from openbureau.ingest.reasons import REASONS
from openbureau.workspace import Workspace


def _print_reports(reports: list[BatchReport]) -> None:
    for r in reports:
        if r.status == "already_loaded":
            console.print(
                f"[yellow]{r.file}[/]: already loaded as batch {r.batch_id}; nothing to do"
            )
            continue
        mark = "[green]ok[/]" if r.reconciled else "[red]MISMATCH[/]"
        reverting = (
            f" ({r.reverting:,} of them reverting: equal to an earlier version of the report)"
            if r.reverting
            else ""
        )
        console.print(
            f"{r.file}: batch [bold]{r.batch_id}[/] read {r.read:,} = loaded {r.loaded:,} + "
            f"quarantined {r.quarantined:,} {mark} (loaded: {r.new:,} new, {r.identical:,} "
            f"identical to the current report, {r.superseding:,} superseding it{reverting}, "
            f"{r.stale:,} stale: reported before it)"
        )
        if r.control_records:
            matched = f"; trailer totals match: {', '.join(r.totals)}" if r.totals else ""
            console.print(
                f"  + {r.control_records:,} header and trailer records (counted, not rows)"
                + matched
            )
        for reason, count, first in r.reasons:  # every reason: a rare one may matter most
            console.print(f"  quarantined {count:,} x {reason} (first at line {first})")
        if r.several_reasons:
            console.print(
                f"  ({r.several_reasons:,} of the {r.quarantined:,} quarantined rows have more "
                "than one reason and are counted under each, so these counts add up to more)"
            )
        for w in r.warnings:
            console.print(f"  [yellow]warning:[/] {w}")
        if r.accuracy is not None:
            console.print(f"  {r.accuracy.line()}", highlight=False)


@app.command()
@handles_errors
def ingest(
    spec: Annotated[str, typer.Argument(help="Spec file, or name of a spec in specs/.")],
    files: Annotated[list[Path], typer.Argument(help="Furnisher files, one batch each.")],
    again: Annotated[
        bool,
        typer.Option(
            "--again",
            help="Load a file even if its exact bytes were loaded for the feed before "
            "(recorded on the batch); its rows are compared like any re-send's.",
        ),
    ] = False,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Load furnisher files as batches: every row loaded or quarantined with a reason."""
    ws = Workspace.open(workspace)
    source = ws.resolve_spec(spec)
    with ws.engine() as engine, progress_bar(transient=True) as tick:
        reports = ingest_files(
            engine,
            source,
            files,
            key=ws.national_id_key(),
            max_quarantine_share=ws.settings.ingest.max_quarantine_share,
            progress=tick,
            again=again,
            memory_limit=ws.settings.ingest.memory_limit,
        )
    _print_reports(reports)


@app.command()
@handles_errors
def batches(
    feed: Annotated[str | None, typer.Option(help="Only this feed.")] = None,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """List loaded batches with their reconciliation: of the loaded rows, how many were new
    reports, identical to the feed's current report of their key, superseding it (reverting:
    of those, equal to an earlier version of the report), or stale (reported before it), and
    when they were compared."""
    ws = Workspace.open(workspace)
    with ws.engine(read_only=True) as engine:
        rows = store.batches(engine, feed) if engine.table_exists("ingest_batches") else []
    table = Table(title=f"Batches in {ws.warehouse_path}")
    # store.REPORTS, and the superseding rows that revert to an earlier version next to them
    reports_shown = ("new", "identical", "superseding", "reverting", "stale")
    counts = ("read", "loaded", *reports_shown, "quarantined")
    for col in ("batch", "feed", "file", "loaded at", *counts, "compared"):
        table.add_column(col, justify="right" if col in counts else "left")
    for b in rows:
        reports = (
            b.rows_new,
            b.rows_identical,
            b.rows_superseding,
            b.rows_reverting,
            b.rows_stale,
        )
        if not b.compared:
            compared = "not yet"
        elif b.chained_at is not None:
            compared = f"by ledger {b.chained_at:%Y-%m-%d}"
        else:
            compared = "at ingest" + (f" (--again: {b.again_of})" if b.again_of else "")
        table.add_row(
            b.batch_id,
            b.feed,
            b.file_name,
            f"{b.loaded_at:%Y-%m-%d %H:%M}",
            f"{b.rows_read:,}",
            f"{b.rows_loaded:,}",
            *(f"{n:,}" if b.compared and n is not None else "?" for n in reports),
            f"{b.rows_quarantined:,}",
            compared,
        )
    console.print(table)
    if any(not b.compared for b in rows):
        console.print(
            "not yet: loaded before ingest compared rows (the counts are unknown); the next "
            "`openbureau ledger` compares them, chaining re-sent reports"
        )
    if any(b.compared and b.rows_reverting is None for b in rows):
        console.print(
            "reverting ?: not counted for the batch (compared by the ledger, or at ingest "
            "before superseding rows equal to an earlier version of their report were counted)"
        )


@app.command()
@handles_errors
def quarantine(
    batch: Annotated[str | None, typer.Option(help="Only this batch.")] = None,
    reason: Annotated[
        str | None,
        typer.Option(
            help="Only rows with this reason among theirs: a code (bad_amount) or a code and "
            "its field (bad_amount:balance)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Show quarantined rows: line, every reason, the column and value of the first, and the
    raw line (national IDs masked)."""
    ws = Workspace.open(workspace)
    where, params = [], []
    if batch:
        where.append("batch_id = ?")
        params.append(batch)
    if reason:
        if reason.split(":")[0] not in REASONS:
            raise UserError(
                f"--reason: {reason.split(':')[0]!r} is not a quarantine reason code; one of "
                + ", ".join(REASONS)
            )
        where.append(
            "(list_contains(reasons, ?) "
            "OR list_contains(list_transform(reasons, lambda r: split_part(r, ':', 1)), ?))"
        )
        params += [reason, reason]
    sql = (
        "SELECT batch_id, feed, line_no, array_to_string(reasons, ', '), "
        "coalesce(source_column, ''), coalesce(value, ''), raw FROM quarantine"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY batch_id, line_no LIMIT {int(limit)}"
    )
    with ws.engine(read_only=True) as engine:
        rows = engine.query(sql, params) if engine.table_exists("quarantine") else []
    table = Table(title="Quarantined rows")
    for col in ("batch", "feed", "line", "reasons", "column", "value", "raw"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*[str(v) for v in r])
    console.print(table)
