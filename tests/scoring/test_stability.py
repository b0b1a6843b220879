"""Stability on comparable populations (PSI, CSI) and out-of-time validation: the figures
against hand computations on a tiny population, and both checks on a trained population."""

from __future__ import annotations

import datetime as dt
import html
import math
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openbureau.errors import UserError
from openbureau.scoring import NumpyScorer
from openbureau.scoring._out_of_time import direct_check, render, shadow_check
from openbureau.scoring._stability import decile_edges, render_csi, stability
from openbureau.scoring.scorecard import Band, Bin, Factor, Scaling, Scorecard
from openbureau.workspace import Workspace
from tests.scoring.test_report import check_well_formed

FLOOR = 1e-4


def _card() -> Scorecard:
    return Scorecard(
        name="tiny",
        scaling=Scaling(min_score=0, max_score=100),
        bands=[Band(name="all", min_score=0, max_score=100)],
        factors=[
            Factor(
                name="x",
                code="X1",
                statement="x",
                bins=[
                    Bin(upper=1.0, points=10.0),
                    Bin(lower=1.0, upper=2.0, points=20.0),
                    Bin(lower=2.0, points=30.0),
                    Bin(missing=True, points=5.0),
                ],
            ),
            Factor(
                name="c",
                code="C1",
                statement="c",
                kind="categorical",
                bins=[
                    Bin(categories=["a"], points=0.0),
                    Bin(categories=["b"], points=7.0),
                    Bin(missing=True, points=3.0),
                ],
            ),
        ],
    )


# scores: 10, 27, 37, 8
EXPECTED = pd.DataFrame({"x": [0.5, 1.5, 2.5, np.nan], "c": ["a", "b", "b", None]})
# scores: 10, 10, 37, 8, 8 ("z" is an unseen category: the missing bin, as in scoring)
ACTUAL = pd.DataFrame({"x": [0.5, 0.5, 2.0, np.nan, np.nan], "c": ["a", "a", "b", "z", None]})


def _index(expected: list[float], actual: list[float]) -> float:
    return sum(
        (max(a, FLOOR) - max(e, FLOOR)) * math.log(max(a, FLOOR) / max(e, FLOOR))
        for e, a in zip(expected, actual, strict=True)
    )


def test_psi_on_decile_bins_matches_a_hand_computation() -> None:
    result = stability(_card(), EXPECTED, ACTUAL, "before", "after")
    assert result is not None
    # deciles of 8, 10, 27, 37: 8 (10-20 %), 10 (30-50 %), 27 (60-70 %), 37 (80-100 %)
    assert [r.label for r in result.psi.rows] == ["[8, 10)", "[10, 27)", "[27, 37]"]
    assert [r.share_expected for r in result.psi.rows] == [0.25, 0.25, 0.5]
    assert [r.share_actual for r in result.psi.rows] == [0.4, 0.4, 0.2]
    assert result.psi.psi == pytest.approx(_index([0.25, 0.25, 0.5], [0.4, 0.4, 0.2]))
    assert result.mean_score_change == pytest.approx((10 + 10 + 37 + 8 + 8) / 5 - 82 / 4)
    assert "(4)" in result.psi.note and "(5)" in result.psi.note


def test_csi_per_factor_matches_a_hand_computation() -> None:
    result = stability(_card(), EXPECTED, ACTUAL, "before", "after")
    assert result is not None
    by_name = {f.name: f for f in result.factors}
    x, c = by_name["x"], by_name["c"]
    assert x.labels == ["[-inf, 1)", "[1, 2)", "[2, inf)", "missing"]
    assert list(x.expected) == [0.25, 0.25, 0.25, 0.25]
    assert list(x.actual) == [0.4, 0.0, 0.2, 0.4]  # 2.0 is the next bin's lower bound
    assert x.csi == pytest.approx(_index([0.25] * 4, [0.4, 0.0, 0.2, 0.4]))
    assert x.points_shift == pytest.approx(0.15 * 10 - 0.25 * 20 - 0.05 * 30 + 0.15 * 5)
    assert list(c.expected) == [0.25, 0.5, 0.25] and list(c.actual) == [0.4, 0.2, 0.4]
    assert c.csi == pytest.approx(_index([0.25, 0.5, 0.25], [0.4, 0.2, 0.4]))
    assert c.points_shift == pytest.approx(-0.3 * 7 + 0.15 * 3)
    assert [f.csi for f in result.factors] == sorted((f.csi for f in result.factors), reverse=True)
    # the shifts add up to the change of the mean score (no rounding or clipping here)
    assert x.points_shift + c.points_shift == pytest.approx(result.mean_score_change)


def test_identical_populations_have_zero_psi_and_csi() -> None:
    result = stability(_card(), EXPECTED, EXPECTED.copy(), "a", "b")
    assert result is not None
    assert result.psi.psi == 0.0
    assert all(f.csi == 0.0 and f.points_shift == 0.0 for f in result.factors)


def test_an_empty_population_gives_no_stability() -> None:
    assert stability(_card(), EXPECTED, EXPECTED.iloc[:0], "a", "b") is None
    assert "nobody is scorable" in render_csi(None)


@given(st.lists(st.integers(300, 850), min_size=1, max_size=400))
def test_decile_bins_are_never_empty_for_the_expected_population(scores: list[int]) -> None:
    s = np.array(scores)
    edges = decile_edges(s)
    assert 2 <= edges.size <= 11
    counts, _ = np.histogram(s, bins=edges)
    assert (counts > 0).all()


def test_bins_are_the_scorers_own() -> None:
    card = _card()
    x, c = card.factors
    values = pd.Series([np.nan, -5.0, 0.999, 1.0, 1.5, 2.0, 99.0])
    assert list(NumpyScorer.factor_bins(x, values)) == [3, 0, 0, 1, 1, 2, 2]
    cats = pd.Series(["a", "b", "q", None])
    assert list(NumpyScorer.factor_bins(c, cats)) == [0, 1, 2, 2]
    assert list(NumpyScorer.factor_bins(c, cats.astype("category"))) == [0, 1, 2, 2]
    assert list(NumpyScorer.factor_points(c, cats)) == [0.0, 7.0, 3.0, 3.0]


# -- out-of-time checks on hand-made persons ------------------------------------------------------
def _persons(n: int, bad_every: int) -> pd.DataFrame:
    x = np.linspace(0, 3, n)
    bad = (np.arange(n) % bad_every == 0).astype(int) if bad_every else np.zeros(n, int)
    return pd.DataFrame({"x": x, "c": "a", "bad": bad, "holdout": np.arange(n) % 3 == 0})


def _fit(rows: pd.DataFrame, day: dt.date) -> Scorecard:
    return _card()


def _refuse(rows: pd.DataFrame, day: dt.date) -> Scorecard:
    raise UserError("no candidate factor separates goods from bads")


D0, D1, D2 = dt.date(2023, 12, 31), dt.date(2024, 12, 31), dt.date(2025, 12, 31)


@pytest.mark.parametrize(
    ("earlier", "fit", "note"),
    [
        (_persons(0, 4), _fit, "too little data as of 2023-12-31: 0 training persons"),
        (_persons(120, 4), _fit, "too little data as of 2023-12-31: 40 held-out persons, 10 of"),
        (_persons(600, 0), _fit, "0 of them defaulting"),
        (_persons(600, 4), _refuse, "no shadow scorecard as of 2023-12-31: no candidate factor"),
    ],
)
def test_a_shadow_without_enough_data_says_why(earlier: pd.DataFrame, fit: Any, note: str) -> None:
    check = shadow_check(earlier, _persons(300, 5), fit, trained_as_of=D0, validated_as_of=D1)
    assert note in check.note
    assert check.auc_in_time is None and check.difference is None
    page = render([check], 12)
    assert "<h2>Out-of-time validation" in page and html.escape(check.note) in page


def test_a_shadow_with_data_has_both_aucs_and_their_difference() -> None:
    current = _persons(300, 5)
    check = shadow_check(_persons(600, 4), current, _fit, trained_as_of=D0, validated_as_of=D1)
    assert check.persons_in_time == 200 and check.persons_out_of_time == 300
    assert check.auc_in_time is not None and check.auc_out_of_time is not None
    assert check.difference == pytest.approx(check.auc_out_of_time - check.auc_in_time)
    assert check.within_tolerance == (abs(check.difference) <= 0.02)
    one_class = shadow_check(
        _persons(600, 4), _persons(300, 0), _fit, trained_as_of=D0, validated_as_of=D1
    )
    assert one_class.auc_out_of_time is None and "0 defaults: no AUC" in one_class.note


def test_the_direct_check_waits_for_its_outcomes() -> None:
    held = _persons(200, 4)
    waiting = direct_check(
        _card(), held, None, trained_as_of=D1, validated_as_of=D2, unobserved="not yet"
    )
    assert waiting.auc_in_time is not None and waiting.auc_out_of_time is None
    assert waiting.note == "not yet" and waiting.within_tolerance is None
    page = render([waiting], 12)
    assert "not yet" in page and "\u2013" in page


# -- a trained population -------------------------------------------------------------------------
OLD_RUNS = """CREATE TABLE scorecard_runs (
    version VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, as_of DATE NOT NULL,
    trained_at TIMESTAMP NOT NULL, persons_train BIGINT NOT NULL, persons_holdout BIGINT NOT NULL,
    bad_rate DOUBLE NOT NULL, auc_holdout DOUBLE, ks_holdout DOUBLE, psi DOUBLE,
    factors INTEGER NOT NULL, excluded INTEGER NOT NULL, scorecard_path VARCHAR NOT NULL,
    report_path VARCHAR NOT NULL)"""


@pytest.fixture(scope="module")
def runs(linked_population: tuple[Path, Path], tmp_path_factory: Any) -> dict[str, Any]:
    """Train as of 2023-12-31 (nothing before 2023: no shadow; outcomes after 2024-12-31
    exist: a direct check) and as of 2024-12-31, on a warehouse with an older runs table."""
    from typer.testing import CliRunner

    from openbureau import cli as cli_module
    from openbureau.cli import app

    ws = Path(shutil.copytree(linked_population[0], tmp_path_factory.mktemp("s") / "ws"))
    with Workspace.open(ws).engine() as engine:
        engine.execute(OLD_RUNS)
        engine.execute("DROP TABLE warehouse_schema")  # (as written before versions were)
        engine.execute(
            "INSERT INTO scorecard_runs VALUES ('old', 'old', DATE '2020-01-01', now(), 1, 1, "
            "0.1, 0.7, 0.3, 0.2, 1, 0, 'x.yaml', 'x.html')"
        )
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli_module.console, "width", 400)
        for day in ("2023-12-31", "2024-12-31"):
            res = CliRunner().invoke(app, ["train", "--as-of", day, "-w", str(ws)])
            assert res.exit_code == 0, res.output
            out[day] = res.output
    with Workspace.open(ws).engine(read_only=True) as engine:
        rows = engine.arrow("SELECT * FROM scorecard_runs ORDER BY as_of, name").to_pylist()
    return {"ws": ws, "output": out, "runs": rows}


def _run(runs: dict[str, Any], day: str, name: str) -> dict[str, Any]:
    return next(r for r in runs["runs"] if str(r["as_of"]) == day and r["name"] == name)


def test_psi_on_comparable_populations_is_small(runs: dict[str, Any]) -> None:
    for name in ("openbureau", "openbureau-alternative"):
        r = _run(runs, "2024-12-31", name)
        # everyone scorable at both dates: no longer the training exclusion's artefact (0.7-1.1)
        assert 0 < r["psi"] < 0.1, name
        assert r["csi_max"] > 0 and r["csi_max_factor"]


def test_a_shadow_as_of_a_date_without_data_degrades_plainly(runs: dict[str, Any]) -> None:
    assert (
        "shadow as of 2022-12-31: too little data as of 2022-12-31" in runs["output"]["2023-12-31"]
    )
    for name in ("openbureau", "openbureau-alternative"):
        r = _run(runs, "2023-12-31", name)
        assert r["shadow_as_of"] == dt.date(2022, 12, 31)
        assert r["shadow_auc_in_time"] is None and r["shadow_auc_out_of_time"] is None
        assert 0.6 < r["auc_out_of_time"] < 1  # its outcomes after 2024-12-31 exist


def test_the_shadow_is_the_earlier_scorecard_validated_the_same_way(runs: dict[str, Any]) -> None:
    for name in ("openbureau", "openbureau-alternative"):
        earlier, later = _run(runs, "2023-12-31", name), _run(runs, "2024-12-31", name)
        assert later["shadow_as_of"] == dt.date(2023, 12, 31)
        assert later["shadow_auc_in_time"] == pytest.approx(earlier["auc_holdout"])
        assert later["shadow_auc_out_of_time"] == pytest.approx(earlier["auc_out_of_time"])
        assert later["auc_out_of_time"] is None  # the outcomes after 2025-12-31 do not exist


def test_train_prints_in_time_and_out_of_time_auc(runs: dict[str, Any]) -> None:
    lines = [x for x in runs["output"]["2024-12-31"].splitlines() if "out of time:" in x]
    assert len(lines) == 2
    for line in lines:
        m = re.search(
            r"AUC (0\.\d+) in time, (0\.\d+) as of 2024-12-31 \(([+-]0\.\d+), (\w+)", line
        )
        assert m, line
        assert float(m[3]) == pytest.approx(float(m[2]) - float(m[1]), abs=0.0015)
        assert m[4] == ("within" if abs(float(m[3])) <= 0.02 else "beyond")
        assert "not yet: the outcome after 2025-12-31 needs the ledger to reach 2026-12-31" in line


def test_every_report_has_the_stability_sections(runs: dict[str, Any]) -> None:
    for name in ("openbureau", "openbureau-alternative"):
        r = _run(runs, "2024-12-31", name)
        page = Path(r["report_path"]).read_text()
        check_well_formed(page)
        for heading in ("Population stability", "Characteristic stability", "Out-of-time"):
            assert f"<h2>{heading}" in page
        assert f"PSI = <b>{r['psi']:.4f}</b>" in page and "deciles" in page
        csi = [float(v) for v in re.findall(r"</td><td class=num>(\d\.\d{4})</td><td>", page)]
        assert csi and csi == sorted(csi, reverse=True)
        assert f"{r['shadow_auc_in_time']:.4f}" in page
        assert f"{r['shadow_auc_out_of_time']:.4f}" in page


def test_an_older_runs_table_gains_the_new_columns(runs: dict[str, Any]) -> None:
    old = next(r for r in runs["runs"] if r["version"] == "old")
    assert old["psi"] == 0.2 and old["auc_out_of_time"] is None
    assert len(runs["runs"]) == 5
