"""``openbureau ledger``: map ingested batches onto canonical ledger events."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from openbureau.cli.app import WorkspaceOpt, app, console, handles_errors
from openbureau.workspace import Workspace


@app.command()
@handles_errors
def ledger(
    workspace: WorkspaceOpt = Path("."),
    keep_out: Annotated[
        bool,
        typer.Option(
            "--keep-out",
            help="Also empty, in the events of batches mapped before the ledger kept them "
            "out, the columns taken from a protected or purchase field",
        ),
    ] = False,
) -> None:
    """Map ingested batches onto canonical ledger events and refresh each event's person."""
    from openbureau.ledger import build_ledger, event_counts
    from openbureau.ledger.lineage import keep_out_earlier

    ws = Workspace.open(workspace)
    with ws.engine() as engine:
        report = build_ledger(engine)
        emptied = keep_out_earlier(engine) if keep_out else []
        counts = event_counts(engine)
    console.print(
        f"Ledger: {report.batches} new batch(es) mapped, "
        f"{report.persons_refreshed:,} events moved to another person, "
        f"{report.unlinked_events:,} events without a person; {report.seconds:.1f} s"
    )
    if report.chained_batches:
        console.print(
            f"Compared the rows of {report.chained_batches:,} batch(es) loaded before ingest "
            f"compared rows: {report.chained_identical:,} identical to the report before them "
            f"({report.chained_events_stopped:,} events no longer count), "
            f"{report.chained_superseding:,} superseding it (later versions of the report); "
            "`openbureau batches` shows each batch"
        )
    if report.superseded:
        console.print(
            f"{report.superseded:,} reports superseded by the furnisher's new report "
            f"of the same record (kept in the record's history), "
            f"{report.corrections_superseded:,} of them bureau corrections"
        )
    if report.deleted_by_furnisher:
        console.print(
            f"{report.deleted_by_furnisher:,} records suppressed at their furnisher's request "
            "(Metro 2 DA or DF: kept, with the request, in ledger_suppressions)"
        )
    if report.history_months or report.history_superseded:
        console.print(
            f"{report.history_months:,} months read from Metro 2 payment history profiles "
            "(months with no report of their own); "
            f"{report.history_superseded:,} such months replaced (by their own report, or "
            "no longer given by a re-sent report's corrected profile)"
        )
    if report.consumers_dropped:
        console.print(
            f"{report.consumers_dropped:,} consumers' reports of a month ended: the furnisher "
            "re-sent the month without them (a joint holder dropped, or ECOA T or Z)"
        )
    if report.history_unreadable:
        console.print(
            f"[yellow]{report.history_unreadable:,} payment history profile characters are "
            "no Metro 2 code: those months were not read (`openbureau accuracy` names the "
            "records)[/yellow]"
        )
    if report.kept_out:
        console.print(
            "Kept out of the ledger (a protected or purchase field: stored, never in an "
            f"event): {'; '.join(str(k) for k in report.kept_out)}"
        )
    if keep_out:
        console.print(
            "Taken out of the events of batches mapped before: "
            + ("; ".join(str(k) for k in emptied) or "nothing to take out")
        )
    if report.identity_only:
        console.print(
            f"Identity only (no ledger block in the spec): {', '.join(report.identity_only)}"
        )
    table = Table(title="Events that count (current, linked, not suppressed)")
    table.add_column("event")
    table.add_column("events", justify="right")
    for event, n in counts.items():
        table.add_row(event, f"{n:,}")
    console.print(table)
