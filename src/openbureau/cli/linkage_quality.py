"""``openbureau eval-linkage``: the person index against a truth, per feed and overall."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from openbureau.cli.app import WorkspaceOpt, app, console, handles_errors
from openbureau.workspace import Workspace

if TYPE_CHECKING:
    from openbureau.identity import LinkageQuality
    from openbureau.identity.evaluate_truth import FeedQuality, RecordQuality


@app.command("eval-linkage")
@handles_errors
def eval_linkage(
    truth: Annotated[
        Path | None,
        typer.Option(
            help="Truth folder written by `openbureau synth`, or a truth file (.csv, .parquet, "
            ".jsonl) of record keys and true persons."
        ),
    ] = None,
    truth_column: Annotated[
        str | None,
        typer.Option(
            help="The true-person column: of the truth file, or (without --truth) of the "
            "loaded feeds' tables."
        ),
    ] = None,
    truth_key: Annotated[
        str,
        typer.Option(
            help="The truth file's key column, matched to the column of that name in each "
            "feed's table (source_record_id: the feed's record key, parts |-joined)."
        ),
    ] = "source_record_id",
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Measure linkage against a truth: pairwise and file-level figures, per feed."""
    from openbureau.identity import evaluate_linkage
    from openbureau.identity.evaluate_truth import evaluate_truth, is_synth_folder

    ws = Workspace.open(workspace)
    with ws.engine() as engine:
        records = evaluate_truth(engine, truth=truth, column=truth_column, key=truth_key)
        # (a synth folder also gives the figures over identity records, as before)
        synth = truth is not None and is_synth_folder(truth, truth_column)
        identity = evaluate_linkage(engine, truth) if synth and truth is not None else None
    if identity is not None:
        console.print(linkage_table(identity))
    console.print(record_table(records))
    overall = records.overall
    console.print(
        f"Persons whose file holds another person's records: {overall.persons_mixed_share:.2%} "
        f"({overall.persons_mixed:,} of {overall.persons:,})"
    )
    for w in records.warnings():
        console.print(f"[yellow]warning:[/] {escape(w)}")


def linkage_table(q: LinkageQuality) -> Table:
    table = Table(title="Linkage against truth (identity records)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in [
        ("identity records", f"{q.records:,}"),
        ("true persons", f"{q.true_persons:,}"),
        ("persons found", f"{q.predicted_persons:,}"),
        ("pairwise precision", f"{q.precision:.4f}"),
        ("pairwise recall", f"{q.recall:.4f}"),
        ("pairwise F1", f"{q.f1:.4f}"),
        ("persons exactly one cluster", f"{q.exact_share:.2%}"),
        ("merged clusters (several persons)", f"{q.merged:,}"),
        ("split persons (several clusters)", f"{q.split:,}"),
        ("unlinked records", f"{q.unlinked:,}"),
    ]:
        table.add_row(name, value)
    return table


RECORD_COLUMNS = (
    "feed",
    "records",
    "no truth",
    "pair prec.",
    "pair recall",
    "pair F1",
    "in mixed files",
    "persons mixed",
    "merged files",
    "split persons",
    "in no file",
)


def record_table(r: RecordQuality) -> Table:
    table = Table(title=f"Linkage against truth (records; truth: {escape(r.truth.source)})")
    for i, col in enumerate(RECORD_COLUMNS):
        table.add_column(col, justify="left" if i == 0 else "right", no_wrap=i == 0)

    def row(q: FeedQuality, *, end: bool = False) -> None:
        figures = [
            *(f"{v:.4f}" for v in (q.precision, q.recall, q.f1)),
            *(f"{v:.2%}" for v in (q.mixed_share, q.persons_mixed_share)),
            *(f"{v:,}" for v in (q.merged_files, q.split_persons, q.in_no_file)),
        ]
        if not q.records:  # (no record of the feed has a truth: nothing to measure)
            figures = ["-"] * len(figures)
        name = escape(q.feed) if q.feed is not None else "all feeds"
        table.add_row(name, f"{q.records:,}", f"{q.without_truth:,}", *figures, end_section=end)

    for i, q in enumerate(r.feeds):
        row(q, end=i == len(r.feeds) - 1)
    row(r.overall)
    return table
