"""The parts of docs/scoring.md written from the code: the score-to-odds table and the bands.

``python -m openbureau.scoring.docgen`` rewrites them in place (``--check``: exit status 1 if
they differ); a test fails when they differ. The blocks are marked as in docs/ingest.md
(``openbureau.ingest.docgen``, whose machinery this uses).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from openbureau.ingest import docgen
from openbureau.scoring._report_scale import ODDS_STEP, band_odds, odds_text
from openbureau.scoring.scorecard import DEFAULT_BANDS, Scaling


def score_to_odds() -> str:
    """The default scale's score-to-odds table, every ``ODDS_STEP`` points."""
    rows = "\n".join(
        f"| {s} | {odds_text(o)} | {p:.2%} |" for s, o, p in Scaling().odds_table(ODDS_STEP)
    )
    return f"| score | odds (good:bad) | default probability |\n|---|---|---|\n{rows}"


def bands() -> str:
    """The default bands (ranges of odds, ``BAND_ODDS``) and their scores on the default scale."""
    rows = "\n".join(
        f"| {b.name} | {b.min_score}-{b.max_score} | {' | '.join(band_odds(Scaling(), b))} |"
        for b in DEFAULT_BANDS
    )
    return f"| band | scores | odds (good:bad) | default probability |\n|---|---|---|---|\n{rows}"


BLOCKS: dict[str, Callable[[], str]] = {"score to odds": score_to_odds, "bands": bands}


def main(argv: list[str] | None = None) -> int:
    return docgen.main(
        argv, blocks=BLOCKS, doc="docs/scoring.md", module="openbureau.scoring.docgen"
    )


if __name__ == "__main__":
    sys.exit(main())
