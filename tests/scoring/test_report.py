"""The model report: its metrics against hand cases and references, and the HTML it renders."""

from __future__ import annotations

import datetime as dt
import html
import itertools
import math
import os
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score, roc_curve

from openbureau.scoring._report import (
    BinRow,
    ExcludedFactor,
    FactorReport,
    PsiReport,
    ReportData,
    ks_statistic,
    population_stability,
    render_report,
    roc_auc,
    write_report,
)
from openbureau.scoring._report_scale import (
    DecileRow,
    Population,
    end_shares,
    monotone_breaks,
    odds_text,
    score_deciles,
)
from openbureau.scoring.scorecard import (
    BAND_ODDS,
    DEFAULT_BANDS,
    Band,
    Scaling,
    Scorecard,
    bands_for,
)

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "source", "wbr"}
STATEMENT = 'High utilisation <script>alert("x")</script> raises risk & "more"'


# -- roc_auc --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scores", "outcomes", "expected"),
    [
        ([300, 400, 700, 800], [1, 1, 0, 0], 1.0),  # bads all score lower: perfect
        ([300, 400, 700, 800], [0, 0, 1, 1], 0.0),  # reversed
        ([600, 600, 600, 600], [1, 0, 1, 0], 0.5),  # all ties count 1/2
        ([500, 600, 600, 700], [1, 1, 0, 0], 0.875),  # 3 of 4 pairs won, one tie
    ],
)
def test_roc_auc_hand_cases(scores: list[int], outcomes: list[int], expected: float) -> None:
    assert roc_auc(np.array(scores), np.array(outcomes)) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rounded", [False, True])
def test_roc_auc_matches_sklearn(seed: int, rounded: bool) -> None:
    rng = np.random.default_rng(seed)
    outcomes = rng.integers(0, 2, 5000)
    scores = rng.normal(650, 60, 5000) - 40 * outcomes
    if rounded:  # many ties
        scores = np.round(scores / 10) * 10
    assert roc_auc(scores, outcomes) == pytest.approx(roc_auc_score(outcomes, -scores), abs=1e-12)


@pytest.mark.parametrize(
    ("scores", "outcomes", "message"),
    [
        ([1.0, 2.0], [0, 0], "both goods and bads"),
        ([1.0, 2.0], [1, 1], "both goods and bads"),
        ([1.0, 2.0, 3.0], [0, 1], "differ in length"),
        ([1.0, 2.0], [0, 2], "0 \\(good\\) or 1"),
        ([1.0, float("nan")], [0, 1], "NaN"),
    ],
)
def test_roc_auc_rejects_bad_input(scores: list[float], outcomes: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        roc_auc(np.array(scores), np.array(outcomes))


# -- ks_statistic ---------------------------------------------------------------------------------
def test_ks_statistic_known_cases() -> None:
    assert ks_statistic(np.array([1, 2, 3, 4]), np.array([1, 1, 0, 0])) == 1.0
    # bads at 1 and 3, goods at 2 and 4: CDF gaps 0.5, 0, 0.5, 0
    assert ks_statistic(np.array([1, 2, 3, 4]), np.array([1, 0, 1, 0])) == 0.5
    assert ks_statistic(np.array([5, 5, 5, 5]), np.array([1, 0, 1, 0])) == 0.0


def test_ks_statistic_matches_scipy() -> None:
    rng = np.random.default_rng(7)
    outcomes = rng.integers(0, 2, 3000)
    scores = np.round(rng.normal(650, 60, 3000) - 50 * outcomes)
    expected = ks_2samp(scores[outcomes == 0], scores[outcomes == 1]).statistic
    assert ks_statistic(scores, outcomes) == pytest.approx(expected, abs=1e-12)


def _former_auc(scores: np.ndarray, outcomes: np.ndarray) -> float:
    """The hand-written AUC the report used before scikit-learn's: Mann-Whitney U from
    mid-ranks."""
    bad = outcomes == 1
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    mid_rank = np.cumsum(counts) - (counts - 1) / 2.0
    n_bad, n_good = float(bad.sum()), float((~bad).sum())
    return float((mid_rank[inverse][~bad].sum() - n_good * (n_good + 1) / 2.0) / (n_good * n_bad))


def _former_ks(scores: np.ndarray, outcomes: np.ndarray) -> float:
    """The hand-written KS before: the largest gap of the cumulative shares by distinct score."""
    bad = outcomes == 1
    _, inverse = np.unique(scores, return_inverse=True)
    bads = np.cumsum(np.bincount(inverse, weights=bad.astype(float)))
    goods = np.cumsum(np.bincount(inverse, weights=(~bad).astype(float)))
    return float(np.max(np.abs(bads / bads[-1] - goods / goods[-1])))


@pytest.mark.parametrize("ties", [False, True])
def test_auc_and_ks_are_scikit_learns_and_the_former_figures(ties: bool) -> None:
    """On a test population, the report's AUC and KS equal scikit-learn's (and scipy's KS)
    and the figures the hand-written versions gave, to 1e-9."""
    data = make_data()
    scores, outcomes = data.scores.astype(float), data.outcomes
    if ties:  # (a scorecard's integer scores, in 10-point steps: many ties)
        scores = np.round(scores / 10) * 10
    assert len(np.unique(scores)) < len(scores)
    auc, ks = roc_auc(scores, outcomes), ks_statistic(scores, outcomes)
    fpr, tpr, _ = roc_curve(outcomes, -scores)  # (a lower score is riskier)
    assert abs(auc - roc_auc_score(outcomes, -scores)) <= 1e-9
    assert abs(ks - np.max(tpr - fpr)) <= 1e-9
    assert abs(ks - ks_2samp(scores[outcomes == 0], scores[outcomes == 1]).statistic) <= 1e-9
    assert abs(auc - _former_auc(scores, outcomes)) <= 1e-9
    assert abs(ks - _former_ks(scores, outcomes)) <= 1e-9
    assert 0.6 < auc < 0.95 and 0.1 < ks < 0.9  # (a population that discriminates)


# -- population_stability -------------------------------------------------------------------------
EDGES = [300, 500, 600, 700, 850]


def test_psi_identical_samples_is_zero() -> None:
    scores = np.random.default_rng(1).normal(640, 70, 4000)
    report = population_stability(scores, scores.copy(), EDGES)
    assert report.psi == pytest.approx(0.0, abs=1e-12)
    labels = [r.label for r in report.rows]
    assert labels == ["[300, 500)", "[500, 600)", "[600, 700)", "[700, 850]"]
    assert sum(r.share_expected for r in report.rows) == pytest.approx(1.0)


def test_psi_shifted_sample_is_significant() -> None:
    rng = np.random.default_rng(2)
    report = population_stability(rng.normal(640, 70, 4000), rng.normal(560, 70, 4000), EDGES)
    assert report.psi > 0.25


def test_psi_hand_value_and_labels() -> None:
    # shares 1/2, 1/2 against 1/4, 3/4: PSI = -1/4 ln(1/2) + 1/4 ln(3/2)
    report = population_stability(
        np.array([1, 1, 3, 3]),
        np.array([1, 3, 3, 3]),
        [0, 2, 4],
        labels=["low", "high"],
        expected_label="dev",
        actual_label="now",
    )
    assert report.psi == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5), abs=1e-12)
    assert (report.expected_label, report.actual_label) == ("dev", "now")
    assert [(r.label, r.share_actual) for r in report.rows] == [("low", 0.25), ("high", 0.75)]


def test_psi_empty_bins_and_out_of_range_scores_stay_finite() -> None:
    expected = np.array([310, 320, 650, 660])  # nothing in [500, 600) or [700, 850]
    actual = np.array([550, 560, 800, 900])  # 900 beyond the last edge counts in the last bin
    report = population_stability(expected, actual, EDGES)
    assert math.isfinite(report.psi) and report.psi > 0.25
    assert report.rows[-1].share_actual == 0.5
    assert report.rows[1].share_expected == 0.0


@pytest.mark.parametrize(
    ("edges", "labels"), [([300], None), ([300, 300, 400], None), ([300, 400], ["a", "b"])]
)
def test_psi_rejects_bad_edges_and_labels(edges: list[float], labels: list[str] | None) -> None:
    with pytest.raises(ValueError):
        population_stability(np.array([350.0]), np.array([350.0]), edges, labels)


SCALING = Scaling(base_score=600, base_odds=30, pdo=40)  # scores near 600: PD about 3 %


def test_scaling_default_probability() -> None:
    pd = SCALING.default_probability(np.array([600.0, 640.0, 560.0]))
    np.testing.assert_allclose(pd, [1 / 31, 1 / 61, 1 / 16])


# -- render_report --------------------------------------------------------------------------------
class StrictParser(HTMLParser):
    """Fails on any element closed out of order or left open, which html.parser itself allows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def check_well_formed(text: str) -> None:
    parser = StrictParser()
    parser.feed(text)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []


def make_data(n: int = 4000, seed: int = 3, **overrides: object) -> ReportData:
    rng = np.random.default_rng(seed)
    # outcomes drawn from the PD the scaling implies, so the calibration section looks real
    scores = np.round(rng.normal(630, 70, n))
    outcomes = (rng.random(n) < SCALING.default_probability(scores)).astype(int)
    scores[:3] = [250, 880, 900]  # outside 300-850: clipped in the histogram
    bins = [
        BinRow("[0.00, 0.30)", 1800, 0.05, -0.95, 35.0),
        BinRow("[0.30, 0.60)", 1400, 0.11, -0.10, 12.4),
        BinRow("[0.60, +inf)", 780, 0.31, 1.20, -20.0),
        BinRow("missing", 0, float("nan"), 0.0, 0.0),
    ]
    factors = [
        FactorReport(
            "Utilisation & limits", "UTIL_01", "utilisation", STATEMENT, 0.312, "increasing", bins
        ),
        FactorReport(
            "Months since delinquency",
            "DELQ_02",
            "delinquency",
            "Recent delinquency raises risk.",
            0.201,
            "decreasing",
            bins[:2],
        ),
        FactorReport("Empty factor", "EMPTY_03", "misc", "No bins yet.", 0.0, "flat", []),
    ]
    psi = population_stability(
        scores,
        scores + 15,
        [300, 550, 650, 700, 750, 850],
        expected_label="as of 2023-12-31",
        actual_label="as of 2024-06-30",
    )
    values: dict[str, object] = dict(
        title="Consumer scorecard <v1> report",
        scorecard_name="consumer-risk",
        scorecard_version="1.0.0",
        as_of=dt.date(2024, 6, 30),
        outcome="90+ days past due, charge-off or bankruptcy within 12 months",
        created_at=dt.datetime(2024, 7, 1, 9, 30, 5),
        sample_label=f"held-out 30% ({n:,})",
        scores=scores,
        outcomes=outcomes,
        scaling=SCALING,
        bands=[
            Band(name="A", min_score=750, max_score=850),
            Band(name="B", min_score=650, max_score=749),
            Band(name="C", min_score=300, max_score=649),
            Band(name="Ghost", min_score=1000, max_score=1100),
        ],
        factors=factors,
        excluded=[
            ExcludedFactor("Postcode", "proxy for a protected attribute", 0.08),
            ExcludedFactor("Shoe size", "IV below 0.02", None),
        ],
        psi=psi,
        figures={"Development sample": "14,003 persons", "Bins": "quantile"},
    )
    values.update(overrides)
    return ReportData(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def data() -> ReportData:
    return make_data()


@pytest.fixture(scope="module")
def page(data: ReportData) -> str:
    return render_report(data)


def test_report_is_well_formed_html5(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    check_well_formed(page)


def test_report_has_charts_with_titles(page: str) -> None:
    n_svg = page.count("<svg")
    assert n_svg >= 4
    # every chart carries a <title> right after its opening tag, and axis labels
    assert page.count("><title>") >= n_svg
    assert "share of goods at or below cutoff" in page and "score (bin start)" in page


def test_report_shows_key_figures(data: ReportData, page: str) -> None:
    auc = roc_auc(data.scores, data.outcomes)
    assert f"{auc:.4f}" in page
    assert f"{2 * auc - 1:.4f}" in page
    assert f"{ks_statistic(data.scores, data.outcomes):.4f}" in page
    assert f"{len(data.scores):,}" in page
    assert "Development sample" in page and "14,003 persons" in page
    assert "90+ days past due" in page and "2024-06-30" in page


def test_report_shows_every_factor_and_exclusion(data: ReportData, page: str) -> None:
    for factor in data.factors:
        assert html.escape(factor.name) in page
        assert factor.code in page
    for item in data.excluded:
        assert html.escape(item.reason) in page
    assert "<td class=num>+12.4</td>" in page and "-20 pts" in page  # table and chart
    assert "No bins." in page


def test_report_escapes_user_text(page: str) -> None:
    assert "<script" not in page.lower()
    assert html.escape(STATEMENT) in page
    assert "Consumer scorecard &lt;v1&gt; report" in page
    assert "Utilisation &amp; limits" in page


def test_report_is_self_contained(page: str) -> None:
    lowered = page.lower()
    assert "http://" not in lowered and "https://" not in lowered
    assert "<link" not in lowered and "<img" not in lowered and "@import" not in lowered


def test_report_edge_cases(data: ReportData, page: str) -> None:
    # NaN event rate and the empty band show as a dash; out-of-range scores are mentioned
    assert "<td class=num>\u2013</td>" in page
    assert "<tr><td>Ghost</td><td>1000\u20131100</td><td class=num>0</td>" in page
    n_out = int(((data.scores < 300) | (data.scores > 850)).sum())
    assert n_out >= 3 and f"{n_out:,} scores outside 300\u2013850" in page
    assert "<h2>Population stability</h2>" in page and "as of 2024-06-30" in page


def test_report_without_psi_and_exclusions() -> None:
    page = render_report(make_data(n=500, psi=None, excluded=[], factors=[], figures={}))
    check_well_formed(page)
    assert "Population stability" not in page
    assert "<h2>Excluded factors</h2><p>none</p>" in page


def test_report_psi_reading() -> None:
    scores = make_data().scores
    shifted = population_stability(scores, scores - 80, [300, 550, 650, 700, 750, 850])
    page = render_report(make_data(psi=shifted))
    assert f"PSI = <b>{shifted.psi:.4f}</b>: significant shift" in page


def test_report_psi_note_and_further_sections() -> None:
    scores = make_data().scores
    psi = population_stability(scores, scores, [300, 600, 850])
    noted = PsiReport(psi.expected_label, psi.actual_label, psi.rows, psi.psi, "Compared: <a & b>")
    page = render_report(make_data(psi=noted, sections=["<section><h2>More</h2></section>"]))
    check_well_formed(page)
    assert "<p>Compared: &lt;a &amp; b&gt;</p>" in page
    assert page.index("Population stability") < page.index("<h2>More") < page.index("Excluded")


def test_report_scores_outside_all_bands() -> None:
    page = render_report(make_data(bands=[Band(name="A", min_score=700, max_score=850)]))
    check_well_formed(page)
    assert "outside all bands" in page


def test_report_rejects_one_class_sample() -> None:
    data = make_data(n=100)
    with pytest.raises(ValueError, match="both goods and bads"):
        render_report(make_data(n=100, outcomes=np.zeros_like(data.outcomes)))


def test_write_report_is_atomic(tmp_path: Path, data: ReportData, page: str) -> None:
    target = tmp_path / "reports" / "nested" / "model.html"
    assert write_report(data, target) == target
    assert target.read_text(encoding="utf-8") == page
    target.write_text("stale", encoding="utf-8")
    write_report(data, str(target))  # replaces an existing report
    assert target.read_text(encoding="utf-8") == page
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.html"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_write_report_leaves_nothing_on_failure(tmp_path: Path) -> None:
    data = make_data(n=100)
    bad = make_data(n=100, outcomes=np.ones_like(data.outcomes))
    with pytest.raises(ValueError):
        write_report(bad, tmp_path / "model.html")
    assert list(tmp_path.iterdir()) == []


# -- the scale and calibration by decile ----------------------------------------------------------
def test_the_default_scale_is_the_documented_one() -> None:
    s = Scaling()
    assert (s.base_score, s.base_odds, s.pdo, s.min_score, s.max_score) == (640, 1, 30, 300, 850)
    table = s.odds_table(50)
    assert [row[0] for row in table] == list(range(300, 851, 50))
    for score, odds, pd in table:
        assert odds == pytest.approx(2 ** ((score - 640) / 30))
        assert pd == pytest.approx(1 / (1 + odds))
        assert s.score_at_odds(odds) == pytest.approx(score)
    assert table[-1][1] == pytest.approx(128) and table[0][2] > 0.9995


def test_bands_are_ranges_of_odds_on_the_scale() -> None:
    for scaling in (Scaling(), SCALING, Scaling(base_score=500, base_odds=4, pdo=25)):
        bands = bands_for(scaling)
        assert [b.name for b in bands] == [name for name, _ in BAND_ODDS]
        assert bands[0].min_score == scaling.min_score and bands[-1].max_score == 850
        for b, (_, floor) in zip(bands[1:], BAND_ODDS[1:], strict=True):
            # a band starts at the first score whose odds reach its floor
            assert scaling.odds(b.min_score) >= floor * (1 - 1e-12)
            assert scaling.odds(b.min_score - 1) < floor
    assert bands_for(Scaling()) == DEFAULT_BANDS
    assert [(b.min_score, b.max_score) for b in DEFAULT_BANDS] == [
        (300, 669),
        (670, 729),
        (730, 759),
        (760, 789),
        (790, 850),
    ]
    with pytest.raises(ValueError, match="start at 0 and increase"):
        bands_for(Scaling(), (("a", 0.0), ("b", 4.0), ("c", 2.0)))
    for too_fine in ((("a", 0.0), ("b", 2.01), ("c", 2.02)), (("a", 0.0), ("b", 1e6))):
        with pytest.raises(ValueError, match="no score"):
            bands_for(Scaling(), too_fine)


@pytest.mark.parametrize("n", [10, 11, 57, 1000])
def test_deciles_are_ten_groups_none_empty_whatever_the_ties(n: int) -> None:
    rng = np.random.default_rng(n)
    for scores in (np.full(n, 700.0), rng.integers(690, 700, n).astype(float)):
        bad = rng.random(n) < 0.2
        rows = score_deciles(scores, bad, Scaling())
        sizes = [r.persons for r in rows]
        assert len(rows) == 10 and min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
        assert sum(sizes) == n and sum(r.observed * r.persons for r in rows) == pytest.approx(
            bad.sum()
        )
        assert all(a.hi <= b.lo for a, b in itertools.pairwise(rows))


def test_deciles_of_a_small_sample_and_bad_input() -> None:
    rows = score_deciles(np.array([600.0, 700.0, 800.0]), np.array([1, 0, 0]), Scaling())
    assert [(r.lo, r.persons, r.observed) for r in rows] == [(600, 1, 1), (700, 1, 0), (800, 1, 0)]
    with pytest.raises(ValueError, match="as many outcomes as scores"):
        score_deciles(np.array([600.0, 700.0]), np.array([1]), Scaling())
    with pytest.raises(ValueError, match="as many outcomes as scores"):
        score_deciles(np.array([]), np.array([]), Scaling())


def test_the_report_says_whether_the_bad_rate_by_decile_is_monotone(data: ReportData) -> None:
    rows = score_deciles(data.scores, data.outcomes, data.scaling)
    page = render_report(data)
    assert page.count("<h3>By score decile</h3>") == 1
    for i, r in enumerate(rows, 1):
        assert f"<tr><td>{i}</td><td>{r.lo:g}\u2013{r.hi:g}</td><td class=num>{r.persons:,}" in page
    assert ("<b>monotone</b>" in page) == (monotone_breaks(rows) == [])
    # the best-scoring tenth made the worst: the decile that breaks the order is named
    top = data.scores >= np.quantile(data.scores, 0.9)
    reversed_ = render_report(make_data(outcomes=np.where(top, 1, data.outcomes)))
    assert "<b>not monotone</b> by score decile: " in reversed_
    assert f"decile 10 ({rows[-1].persons} bad of {rows[-1].persons}, 100.00%) above decile 9" in (
        reversed_
    )
    check_well_formed(reversed_)


def test_monotone_breaks_names_each_rise() -> None:
    rows = [DecileRow(i, i, 10, rate, 0.1) for i, rate in enumerate([0.5, 0.3, 0.4, 0.4, 0.1])]
    assert monotone_breaks(rows) == [2]
    # 15 bads among 443 then among 442: the same rate as shown (3.39 %), no rise
    assert (
        monotone_breaks([DecileRow(1, 1, 443, 15 / 443, 0), DecileRow(2, 2, 442, 15 / 442, 0)])
        == []
    )
    assert monotone_breaks(
        [DecileRow(1, 1, 443, 15 / 443, 0), DecileRow(2, 2, 442, 16 / 442, 0)]
    ) == [1]
    assert monotone_breaks(rows[:2]) == [] and monotone_breaks([]) == []


def test_the_report_shows_the_score_to_odds_table_and_warns_at_the_ends(data: ReportData) -> None:
    page = render_report(data)
    for score, odds, pd in SCALING.odds_table(50):
        assert f"<td class=num>{score}</td><td class=num>{odds_text(odds)}</td>" in page
        assert f"<td class=num>{pd:.2%}</td>" in page
    assert "Warning" not in page
    scores = np.r_[np.full(98, 700.0), 300.0, 300.0, 850.0]  # 2 % at the floor, 1 % at the top
    pop = Population(scores, np.array([300.0, 300.0]), np.array([1, 1]))
    warned = render_report(make_data(population=pop))
    check_well_formed(warned)
    assert "The 101 persons scorable on the as-of date" in warned
    assert "<b>Warning:</b> 2.0% of them score 300, more than 1%" in warned
    assert "score 850, more than" not in warned  # exactly 1 % is within the limit
    assert "2 of them were left out of training" in warned and "100.0% of them were bad" in warned
    assert end_shares(scores, SCALING) == (pytest.approx(2 / 101), pytest.approx(1 / 101))


@pytest.mark.parametrize(
    ("odds", "text"),
    [
        (128, "128:1"),
        (4, "4:1"),
        (12.699, "12.7:1"),
        (1, "1:1"),
        (1 / 2.52, "1:2.52"),
        (1 / 2580.3, "1:2,580"),
    ],
)
def test_odds_text(odds: float, text: str) -> None:
    assert odds_text(odds) == text


def test_a_scorecard_without_bands_gets_the_band_odds_on_its_own_scale() -> None:
    bins = [{"points": 1.0}, {"missing": True, "points": 0.0}]
    factor = {"name": "f", "code": "F1", "statement": "s", "bins": bins}
    old = {"base_score": 700, "base_odds": 30, "pdo": 40}
    card = Scorecard.model_validate({"name": "c", "scaling": old, "factors": [factor]})
    assert card.bands == bands_for(Scaling(**old)) != DEFAULT_BANDS
    assert Scorecard.model_validate({"name": "c", "factors": [factor]}).bands == DEFAULT_BANDS
    with pytest.raises(ValidationError, match=r"scaling\.pdo"):
        Scorecard.model_validate({"name": "c", "scaling": {"pdo": -1}, "factors": [factor]})
