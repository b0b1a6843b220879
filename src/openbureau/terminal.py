"""Rich tables of stage results, shared by the ``openbureau`` command and the demo."""

from __future__ import annotations

from rich.table import Table


def score_distribution_table(dist: list[tuple[str, int, int, int]], persons: int) -> Table:
    """A snapshot's score bands (``scoring.score.score_distribution``) as a table."""
    table = Table(title="Score distribution")
    for col in ("band", "persons", "share", "scores"):
        table.add_column(col, justify="left" if col == "band" else "right")
    for band, n, lo, hi in dist:
        span = f"{lo}-{hi}" if not band.startswith("unscorable") else ""
        table.add_row(band, f"{n:,}", f"{n / max(persons, 1):.1%}", span)
    return table
