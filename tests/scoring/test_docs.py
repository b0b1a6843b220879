"""docs/scoring.md shows the score-to-odds table and the bands as the code declares them."""

from __future__ import annotations

from pathlib import Path

import pytest

from openbureau.scoring import docgen
from openbureau.scoring.scorecard import DEFAULT_BANDS, Scaling

DOC = Path(__file__).resolve().parents[2] / "docs" / "scoring.md"


def test_the_generated_blocks_match_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert docgen.main(["--check", str(DOC)]) == 0, (
        "docs/scoring.md differs from the code: run python -m openbureau.scoring.docgen"
    )
    for score, _, pd in Scaling().odds_table(50):
        assert f"| {score} | " in text and f" | {pd:.2%} |" in text
    for b in DEFAULT_BANDS:
        assert f"| {b.name} | {b.min_score}-{b.max_score} |" in text


def test_a_drifted_table_is_caught_and_rewritten(tmp_path: Path) -> None:
    doc = tmp_path / "scoring.md"
    text = DOC.read_text(encoding="utf-8")
    doc.write_text(text.replace("| 700 | 4:1 | 20.00% |", "| 700 | 30:1 | 3.23% |"), "utf-8")
    assert docgen.main(["--check", str(doc)]) == 1
    assert docgen.main([str(doc)]) == 0
    assert doc.read_text(encoding="utf-8") == text
    doc.write_text(text.replace("<!-- generated: bands -->\n", ""), "utf-8")
    with pytest.raises(ValueError, match="no generated block 'bands'"):
        docgen.main(["--check", str(doc)])
