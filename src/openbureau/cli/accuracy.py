"""``openbureau accuracy``: what the accuracy rules found in loaded batches (ingest/accuracy.py).

Ingest runs the rules on every batch it loads; this command shows the findings per batch, the
lines a rule flagged, and writes the JSON report a furnisher is sent. ``--recheck`` runs the
rules again on a batch (one loaded before the checks existed, or checked by an earlier
version's rules).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.table import Table

from openbureau.cli.app import WorkspaceOpt, app, console, handles_errors, write_whole
from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.ingest import accuracy
from openbureau.ingest.accuracy import AccuracyReport
from openbureau.workspace import Workspace


@app.command("accuracy")
@handles_errors
def accuracy_cmd(
    batch: Annotated[
        str | None, typer.Argument(help="A batch (B000001); without one, every checked batch.")
    ] = None,
    feed: Annotated[str | None, typer.Option(help="Only this feed's batches.")] = None,
    rule: Annotated[
        str | None, typer.Option(help="List the lines of the batch this rule flagged.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Lines to list with --rule.")] = 20,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write the batch's report, as sent to its furnisher."),
    ] = None,
    recheck: Annotated[
        bool, typer.Option(help="Run the rules on the batch again, replacing its findings.")
    ] = False,
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Accuracy checks on what furnishers send: per batch, each rule's rows checked and rows
    offending, with example lines; rules the feed's fields cannot feed are not applicable.
    Findings only report: no row is changed or dropped."""
    if batch is None and (rule or json_out or recheck):
        raise UserError("--rule, --json and --recheck need a batch: openbureau accuracy B000001")
    if rule is not None and rule not in accuracy.BY_ID:
        raise UserError(f"--rule: no rule {rule!r}; one of {', '.join(accuracy.BY_ID)}")
    ws = Workspace.open(workspace)
    with ws.engine(read_only=not recheck) as engine:
        if batch is None:
            _summary(engine, feed)
            return
        report = (
            accuracy.check_batch(engine, batch) if recheck else accuracy.read_report(engine, batch)
        )
        if report is None:
            _never_checked(engine, batch)
        lines = accuracy.flagged_lines(engine, batch, rule, limit) if rule else []
    if json_out is not None:
        write_whole(json_out, json.dumps(report.to_json(), indent=2, default=str) + "\n")
        console.print(f"Wrote {json_out}.")
    if rule:
        _lines(report, rule, lines)
    else:
        _show(report)


def _never_checked(engine: Engine, batch: str) -> NoReturn:
    exists = engine.table_exists("ingest_batches") and engine.scalar(
        "SELECT count(*) FROM ingest_batches WHERE batch_id = ?", [batch]
    )
    if not exists:
        raise UserError(f"no batch {batch}: `openbureau batches` lists them")
    raise UserError(
        f"batch {batch} was loaded before accuracy checks ran at ingest: "
        f"`openbureau accuracy {batch} --recheck` checks it"
    )


def _summary(engine: Engine, feed: str | None) -> None:
    rows = accuracy.batch_summaries(engine, feed)
    table = Table(title="Accuracy checks per batch")
    cols = ("batch", "feed", "furnisher", "rows", "rules checked", "not applicable")
    counts = ("rules finding rows", "rows flagged", "of high severity")
    for col in (*cols, *counts):
        table.add_column(col, justify="left" if col in cols[:3] else "right")
    for r in rows:
        table.add_row(*[str(v) for v in r[:3]], *(f"{int(n):,}" for n in r[3:]))
    console.print(table)
    console.print(
        "A row is counted once however many rules flag it. `openbureau accuracy BATCH` shows "
        "a batch's findings."
    )


def _show(report: AccuracyReport) -> None:
    table = Table(
        title=f"Accuracy of batch {report.batch_id} ({report.feed}, {report.furnisher}): "
        f"{report.rows:,} rows, checked {report.checked_at:%Y-%m-%d %H:%M}"
    )
    for col in ("rule", "severity", "checked", "offending", "share", "first lines"):
        table.add_column(
            col, justify="right" if col in ("checked", "offending", "share") else "left"
        )
    for f in report.offending:
        share = f"{(f.offending or 0) / f.checked:.1%}" if f.checked else ""
        lines = "; ".join(
            f"{e.line_no}: {e.shown}" if e.shown else str(e.line_no) for e in f.examples
        )
        table.add_row(
            f.rule.id, f.rule.severity, f"{f.checked:,}", f"{f.offending:,}", share, lines
        )
    console.print(table)
    clean = [f.rule.id for f in report.findings if f.applicable and not f.offending]
    if clean:
        console.print(f"Nothing found by {len(clean)} rules: {', '.join(clean)}.")
    skipped = [f for f in report.findings if not f.applicable]
    if skipped:
        console.print(
            f"Not applicable to the feed's fields ({len(skipped)}): "
            + "; ".join(f"{f.rule.id} ({f.not_applicable})" for f in skipped)
            + "."
        )


def _lines(report: AccuracyReport, rule_id: str, lines: list[tuple[str, int]]) -> None:
    f = next(f for f in report.findings if f.rule.id == rule_id)
    console.print(f"[bold]{rule_id}[/] ({f.rule.severity}): {f.rule.description}")
    console.print(f"Harm: {f.rule.harm}")
    if not f.applicable:
        console.print(f"Not applicable to batch {report.batch_id}: {f.not_applicable}.")
        return
    console.print(f"{f.offending:,} of {f.checked:,} rows checked offend.")
    if lines:
        table = Table()
        table.add_column("record")
        table.add_column("line", justify="right")
        for record, line in lines:
            table.add_row(record, str(line))
        console.print(table)
    if (f.offending or 0) > len(lines):
        console.print(f"(the first {len(lines)}; --limit shows more)")
