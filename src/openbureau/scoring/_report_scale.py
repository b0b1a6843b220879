"""The model report's scale and calibration sections.

The scale: the score-to-odds table, the bands as ranges of odds, and how much of 300-850 the
scorable persons use (the share at either end, against ``END_SHARE_LIMIT``), persons left out of
training included. Calibration: observed default rate against the default probability the
scaling implies, by band and by decile of the evaluation sample's scores.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from openbureau.scoring import _report_svg as svg
from openbureau.scoring.scorecard import END_SHARE_LIMIT, Band, Scaling

_PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
ODDS_STEP = 50  # points between rows of the score-to-odds table


@dataclass(frozen=True)
class Population:
    """Every person scorable on the as-of date, scored: those the scorecard was fitted on, those
    held out, and those left out of training (already in serious delinquency, so their outcome
    is no new default). ``left_out_*``: the last group's scores and outcomes (1 = bad)."""

    scores: np.ndarray
    left_out_scores: np.ndarray
    left_out_outcomes: np.ndarray


@dataclass(frozen=True)
class DecileRow:
    """One score decile of the evaluation sample: its score range, persons and rates."""

    lo: float
    hi: float
    persons: int
    observed: float
    predicted: float


def odds_text(odds: float) -> str:
    """Good:bad odds as a person reads them: ``128:1``, ``4:1``, ``1:2.52``, ``1:2,580``."""
    v = odds if odds >= 1 else 1 / odds
    n = f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
    return f"{n}:1" if odds >= 1 else f"1:{n}"


def end_shares(scores: np.ndarray, scaling: Scaling) -> tuple[float, float]:
    """Shares of ``scores`` at (or beyond) the scale's lowest and highest score."""
    s = np.asarray(scores, dtype=float)
    if s.size == 0:
        return 0.0, 0.0
    return float(np.mean(s <= scaling.min_score)), float(np.mean(s >= scaling.max_score))


def score_deciles(
    scores: np.ndarray, bad: np.ndarray, scaling: Scaling, groups: int = 10
) -> list[DecileRow]:
    """The sample cut by score rank into ``groups`` groups of equal size (give or take one
    person), lowest scores first: none is empty, whatever the ties (persons with the score at a
    boundary are split between the two groups, in their order in the sample). ``bad``: 1 for a
    bad, 0 for a good, or each person's probability of being bad (``observed``: its mean).

    Raises:
        ValueError: lengths differ or the sample is empty.
    """
    s = np.asarray(scores, dtype=float).ravel()
    b = np.asarray(bad, dtype=float).ravel()
    if s.size != b.size or s.size == 0:
        raise ValueError(f"need as many outcomes as scores, at least one ({s.size}, {b.size})")
    pd = scaling.default_probability(s)
    parts = np.array_split(np.argsort(s, kind="stable"), min(groups, s.size))
    return [
        DecileRow(
            float(s[i].min()),
            float(s[i].max()),
            int(i.size),
            float(b[i].mean()),
            float(pd[i].mean()),
        )
        for i in parts
    ]


def monotone_breaks(rows: list[DecileRow]) -> list[int]:
    """Indices of the deciles whose observed default rate is above the one before (a lower
    score range), compared as the report shows them (to 0.01 %, so that the same number of
    bads among one person fewer is no rise): none when the rate falls or stays as scores rise."""
    return [
        i
        for i, (a, b) in enumerate(itertools.pairwise(rows), 1)
        if round(b.observed, 4) > round(a.observed, 4)
    ]


def band_odds(scaling: Scaling, band: Band) -> tuple[str, str]:
    """A band's odds and PD as ranges, as text: from its lowest score's to the next band's
    lowest (the scale's ends open)."""
    lo, hi = scaling.odds(band.min_score), scaling.odds(band.max_score + 1)
    pd_lo, pd_hi = 1 / (1 + hi), 1 / (1 + lo)
    if band.min_score <= scaling.min_score:
        return f"below {odds_text(hi)}", f"above {pd_lo:.1%}"
    if band.max_score >= scaling.max_score:
        return f"{odds_text(lo)} and above", f"{pd_hi:.1%} or less"
    return f"{odds_text(lo)} to {odds_text(hi)}", f"{pd_lo:.1%}\u2013{pd_hi:.1%}"


def _use(scaling: Scaling, sample: npt.NDArray[np.float64], pop: Population | None) -> str:
    scores = np.asarray(pop.scores if pop is not None else sample, dtype=float)
    low, high = end_shares(scores, scaling)
    who = (
        "persons scorable on the as-of date (fitted on, held out, and left out of training)"
        if pop is not None
        else "persons of the evaluation sample"
    )
    pct = np.percentile(scores, _PERCENTILES) if scores.size else np.full(len(_PERCENTILES), 0.0)
    rows = [
        [f"at {scaling.min_score}", f"{low:.2%}"],
        [f"at {scaling.max_score}", f"{high:.2%}"],
        ["lowest / highest", f"{scores.min():g} / {scores.max():g}" if scores.size else "\u2013"],
        *[[f"percentile {p}", f"{v:g}"] for p, v in zip(_PERCENTILES, pct, strict=True)],
    ]
    text = (
        f"<p>The {scores.size:,} {who}: a fixed scale leaves fewer than "
        f"{END_SHARE_LIMIT:.0%} of them at either end.</p>"
    )
    for share, end in ((low, scaling.min_score), (high, scaling.max_score)):
        if share > END_SHARE_LIMIT:
            text += (
                f'<p class="warn"><b>Warning:</b> {share:.1%} of them score {end}, more than '
                f"{END_SHARE_LIMIT:.0%}: the scale does not fit this population, and the "
                "differences between them are hidden.</p>"
            )
    if pop is not None and pop.left_out_scores.size:
        lq = np.percentile(pop.left_out_scores, (5, 50, 95))
        text += (
            f"<p>{pop.left_out_scores.size:,} of them were left out of training, already in "
            "serious delinquency on the as-of date (the scorecard predicts new defaults); "
            f"scored all the same, their median score is {lq[1]:g} (5th\u201395th percentile "
            f"{lq[0]:g}\u2013{lq[2]:g}), and {np.mean(pop.left_out_outcomes):.1%} of them "
            "were bad in the outcome window.</p>"
        )
    return text + svg.table(["Scores", "Value"], rows)


def scale_section(
    scaling: Scaling, bands: list[Band], sample: npt.NDArray[np.float64], pop: Population | None
) -> str:
    """The scale: its formula, the score-to-odds table, the bands' odds, and its use."""
    odds = svg.table(
        ["Score", "Odds (good:bad)", "Default probability"],
        [[f"{s}", odds_text(o), f"{p:.2%}"] for s, o, p in scaling.odds_table(ODDS_STEP)],
        text=(),
    )
    band_rows = [
        [b.name, f"{b.min_score}\u2013{b.max_score}", *band_odds(scaling, b)]
        for b in sorted(bands, key=lambda b: b.min_score)
    ]
    band_table = svg.table(["Band", "Scores", "Odds (good:bad)", "Default probability"], band_rows)
    return (
        "<section><h2>Scale</h2><p>Score = "
        f"{scaling.base_score:g} + {scaling.pdo:g} \u00d7 log2(odds / {scaling.base_odds:g}), "
        f"odds = good:bad, rounded and clipped to {scaling.min_score}\u2013"
        f"{scaling.max_score}: {scaling.base_score:g} points at odds "
        f"{odds_text(scaling.base_odds)}, every {scaling.pdo:g} points double the odds.</p>"
        f'<div class="charts">{odds}{band_table}</div>{_use(scaling, sample, pop)}</section>'
    )


def calibration_section(
    scaling: Scaling, bands: list[Band], s: npt.NDArray[np.float64], bad: npt.NDArray[np.bool_]
) -> str:
    """Observed bad rate against the scaling's PD, by band and by score decile, and whether the
    bad rate falls from each decile to the next."""
    return (
        "<section><h2>Calibration</h2><p>Predicted PD follows the scaling: odds = "
        f"{scaling.base_odds:g} \u00d7 2^((score \u2212 {scaling.base_score:g}) / "
        f"{scaling.pdo:g}), PD = 1 / (1 + odds).</p>"
        f"{_by_band(scaling, bands, s, bad)}{_by_decile(scaling, s, bad)}</section>"
    )


def _by_band(
    scaling: Scaling, bands: list[Band], s: npt.NDArray[np.float64], bad: npt.NDArray[np.bool_]
) -> str:
    rounded = np.rint(s)  # bands have integer bounds; a score is reported as an integer
    pd = scaling.default_probability(s)
    groups = [
        (
            b.name,
            f"{b.min_score}\u2013{b.max_score}",
            (rounded >= b.min_score) & (rounded <= b.max_score),
        )
        for b in bands
    ]
    outside = ~np.logical_or.reduce([m for *_, m in groups]) if groups else np.ones_like(bad)
    if outside.any():
        groups.append(("outside all bands", "", outside))
    rows, obs, pred, notes = [], [], [], []
    for name, span, m in groups:
        n = int(m.sum())
        notes.append(f"n={n:,}")
        obs.append(float(bad[m].mean()) if n else float("nan"))
        pred.append(float(pd[m].mean()) if n else float("nan"))
        rows.append(
            [
                name,
                span,
                f"{n:,}",
                svg.num(n / s.size, ".1%"),
                svg.num(obs[-1], ".2%"),
                svg.num(pred[-1], ".2%"),
            ]
        )
    table = svg.table(
        ["Band", "Scores", "Persons", "Share", "Observed bad rate", "Mean predicted PD"],
        rows,
        text=(0, 1),
    )
    chart = svg.bar_chart(
        "Observed bad rate vs predicted PD by band",
        [g[0] for g in groups],
        [("observed", svg.RED, obs), ("predicted", svg.BLUE, pred)],
        ("band", "rate"),
        notes,
    )
    return f'<h3>By band</h3><div class="charts">{table}{chart}</div>'


def _bads(d: DecileRow) -> str:
    return f"{round(d.observed * d.persons):,} bad of {d.persons:,}, {d.observed:.2%}"


def _by_decile(scaling: Scaling, s: npt.NDArray[np.float64], bad: npt.NDArray[np.bool_]) -> str:
    deciles = score_deciles(s, bad, scaling)
    rows = [
        [
            f"{i}",
            f"{d.lo:g}\u2013{d.hi:g}",
            f"{d.persons:,}",
            svg.num(d.observed, ".2%"),
            svg.num(d.predicted, ".2%"),
        ]
        for i, d in enumerate(deciles, 1)
    ]
    table = svg.table(
        ["Decile", "Scores", "Persons", "Observed bad rate", "Mean predicted PD"],
        rows,
        text=(0, 1),
    )
    chart = svg.bar_chart(
        "Observed bad rate vs predicted PD by score decile",
        [f"{i}" for i in range(1, len(deciles) + 1)],
        [
            ("observed", svg.RED, [d.observed for d in deciles]),
            ("predicted", svg.BLUE, [d.predicted for d in deciles]),
        ],
        ("score decile (1 = lowest scores)", "rate"),
    )
    breaks = monotone_breaks(deciles)
    if not breaks:
        verdict = (
            '<p id="monotone">The observed bad rate is <b>monotone</b>: it falls (or stays) '
            f"from each score decile to the next, from {deciles[0].observed:.2%} in the lowest "
            f"to {deciles[-1].observed:.2%} in the highest.</p>"
        )
    else:
        where = "; ".join(
            f"decile {i + 1} ({_bads(deciles[i])}) above decile {i} ({_bads(deciles[i - 1])})"
            for i in breaks
        )
        verdict = (
            f'<p id="monotone">The observed bad rate is <b>not monotone</b> by score decile: '
            f"{svg.esc(where)}.</p>"
        )
    return (
        f"<h3>By score decile</h3><p>The evaluation sample in {len(deciles)} groups of equal "
        "size by score (persons with the score at a boundary split between two).</p>"
        f'{verdict}<div class="charts">{table}{chart}</div>'
    )
