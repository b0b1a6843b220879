"""``openbureau demo``: the whole system, end to end, on a synthetic population.

Each stage adds its step here, so one command keeps showing everything working.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from openbureau.ingest import load_spec
from openbureau.ingest.load import BatchReport, ingest_file
from openbureau.synth import SynthConfig, generate
from openbureau.workspace import init_workspace

ProgressFactory = Callable[..., AbstractContextManager[Callable[[str, int, int], None]]]

INCOMING = "incoming"


def run_demo(directory: Path, *, persons: int, seed: int, console: Console,
             progress: ProgressFactory) -> list[BatchReport]:
    """Create a workspace, generate furnisher files into it, ingest them all, summarise."""
    ws = init_workspace(directory)
    console.print(f"[bold]1. Workspace[/] {ws.root}")

    with progress() as tick:
        result = generate(ws.root / INCOMING, SynthConfig(persons=persons, seed=seed),
                          progress=tick)
    console.print(f"[bold]2. Synthetic population[/] {persons:,} persons, "
                  f"{sum(result.rows.values()):,} furnisher rows in {len(result.files)} feeds "
                  f"(oracle AUC {result.oracle_auc:.3f})")

    reports: list[BatchReport] = []
    key = ws.national_id_key()
    with ws.engine() as engine, progress(transient=True) as tick:
        for feed, spec_path in result.specs.items():
            spec_file = ws.specs_dir / spec_path.name
            shutil.copyfile(spec_path, spec_file)
            spec = load_spec(spec_file)
            reports.append(ingest_file(engine, spec, result.files[feed], key=key,
                                       max_quarantine_share=ws.settings.ingest
                                       .max_quarantine_share, progress=tick))
    console.print("[bold]3. Ingest[/]")
    console.print(summary_table(reports))

    from openbureau.identity import evaluate_linkage, link

    with ws.engine() as engine, progress(transient=True) as tick:
        linked = link(engine, model_path=ws.root / "models" / "linkage-model.json",
                      settings=ws.settings.identity, progress=tick)
        quality = evaluate_linkage(engine, result.truth_dir)
    console.print(f"[bold]4. Identity[/] {linked.records:,} identity records -> "
                  f"{linked.persons:,} persons ({linked.unlinked:,} unlinked) in "
                  f"{linked.seconds:.1f} s; against the truth's {quality.true_persons:,} persons: "
                  f"pairwise precision {quality.precision:.4f}, recall {quality.recall:.4f}, "
                  f"F1 [bold]{quality.f1:.4f}[/]; {quality.exact_share:.1%} of persons exactly "
                  f"one file ({quality.merged} merged, {quality.split} split)")
    return reports


def summary_table(reports: list[BatchReport]) -> Table:
    """Per feed: batch, read = loaded + quarantined, and the most common reason."""
    table = Table()
    table.add_column("feed")
    table.add_column("batch")
    for col in ("read", "loaded", "quarantined"):
        table.add_column(col, justify="right")
    table.add_column("reconciled", justify="center")
    table.add_column("top quarantine reason")
    for r in reports:
        top = f"{r.reasons[0][0]} ({r.reasons[0][1]:,})" if r.reasons else ""
        table.add_row(r.feed, r.batch_id, f"{r.read:,}", f"{r.loaded:,}", f"{r.quarantined:,}",
                      "[green]yes[/]" if r.reconciled else "[red]NO[/]", top)
    read, loaded, quarantined = (sum(getattr(r, a) for r in reports)
                                 for a in ("read", "loaded", "quarantined"))
    table.add_row("[bold]all feeds[/]", "", f"[bold]{read:,}[/]", f"[bold]{loaded:,}[/]",
                  f"[bold]{quarantined:,}[/]",
                  "[green]yes[/]" if read == loaded + quarantined else "[red]NO[/]", "")
    return table
