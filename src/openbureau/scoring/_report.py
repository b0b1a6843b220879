"""HTML model report for a scorecard: discrimination, calibration, factors and stability.

The report is one standalone HTML5 file: the CSS is embedded and every chart is inline SVG drawn
here, so it opens offline, prints, and can be archived next to the model as validation evidence.
It needs no JavaScript. All metrics follow the bureau convention that a LOWER score is riskier.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import os
import pathlib
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from openbureau.governance.proxies import ProxyReport, render_section
from openbureau.scoring.scorecard import Band, Scaling

_Floats = npt.NDArray[np.float64]
_Bools = npt.NDArray[np.bool_]

_PSI_FLOOR = 1e-4  # share floor so an empty bin adds a large but finite PSI term
_HIST_STEP = 20  # points per bin in the score distribution chart


@dataclass(frozen=True)
class BinRow:
    """One bin of a factor: its persons, bad rate (NaN if empty), WoE and points."""

    label: str
    count: int
    event_rate: float
    woe: float
    points: float


@dataclass(frozen=True)
class FactorReport:
    """A factor in the scorecard, as the report shows it."""

    name: str
    code: str
    group: str
    statement: str
    iv: float
    trend: str
    bins: list[BinRow]


@dataclass(frozen=True)
class ExcludedFactor:
    """A candidate factor left out of the scorecard, and why."""

    name: str
    reason: str
    iv: float | None = None


@dataclass(frozen=True)
class PsiRow:
    """Shares of the expected and actual samples in one score bin."""

    label: str
    share_expected: float
    share_actual: float


@dataclass(frozen=True)
class PsiReport:
    """Population stability between two score samples."""

    expected_label: str
    actual_label: str
    rows: list[PsiRow]
    psi: float


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows; ``scores``/``outcomes`` are the evaluation sample."""

    title: str
    scorecard_name: str
    scorecard_version: str
    as_of: dt.date
    outcome: str
    created_at: dt.datetime
    sample_label: str
    scores: np.ndarray
    outcomes: np.ndarray
    scaling: Scaling
    bands: list[Band]
    factors: list[FactorReport]
    excluded: list[ExcludedFactor]
    psi: PsiReport | None = None
    figures: dict[str, str] = field(default_factory=dict)
    proxy: ProxyReport | None = None  # the proxy test of the candidates (None: no section)


# -- metrics --------------------------------------------------------------------------------------
def _checked(scores: np.ndarray, outcomes: np.ndarray) -> tuple[_Floats, _Bools]:
    """Scores as floats and a bad mask, after the checks every metric needs."""
    s = np.asarray(scores, dtype=float).ravel()
    y = np.asarray(outcomes).ravel()
    if s.size != y.size:
        raise ValueError(f"scores and outcomes differ in length ({s.size} vs {y.size})")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinite values")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("outcomes must be 0 (good) or 1 (bad)")
    bad = np.asarray(y == 1, dtype=bool)
    n_bad = int(bad.sum())
    if n_bad in (0, y.size):
        raise ValueError(
            f"need both goods and bads to measure discrimination; got {n_bad} bads of {y.size}"
        )
    return s, bad


def _cumulative(s: _Floats, bad: _Bools) -> tuple[_Floats, _Floats, _Floats]:
    """Distinct scores and the shares of bads and of goods scoring at or below each."""
    values, inverse = np.unique(s, return_inverse=True)
    bads = np.bincount(inverse, weights=bad.astype(float), minlength=values.size)
    goods = np.bincount(inverse, weights=(~bad).astype(float), minlength=values.size)
    return values, np.cumsum(bads) / bads.sum(), np.cumsum(goods) / goods.sum()


def roc_auc(scores: np.ndarray, outcomes: np.ndarray) -> float:
    """Area under the ROC curve, with a lower score meaning riskier.

    Args:
        scores: Scores of the sample.
        outcomes: 0/1 per score, 1 = default (bad).

    Returns:
        P(score of a good > score of a bad), ties counting 1/2.

    Raises:
        ValueError: Lengths differ, scores are not finite, outcomes are not 0/1, or only one
            class is present.
    """
    s, bad = _checked(scores, outcomes)
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    # Mann-Whitney U from mid-ranks: a good tied with a bad then counts exactly 1/2.
    mid_rank = np.cumsum(counts) - (counts - 1) / 2.0
    n_bad = float(bad.sum())
    n_good = bad.size - n_bad
    u = mid_rank[inverse][~bad].sum() - n_good * (n_good + 1) / 2.0
    return float(u / (n_good * n_bad))


def ks_statistic(scores: np.ndarray, outcomes: np.ndarray) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the score CDFs of goods and bads.

    Args:
        scores: Scores of the sample.
        outcomes: 0/1 per score, 1 = default (bad).

    Returns:
        max over scores s of |P(bad score <= s) - P(good score <= s)|.

    Raises:
        ValueError: As for :func:`roc_auc`.
    """
    _, cum_bad, cum_good = _cumulative(*_checked(scores, outcomes))
    return float(np.max(np.abs(cum_bad - cum_good)))


def _shares(sample: np.ndarray, edges: _Floats, what: str) -> _Floats:
    x = np.asarray(sample, dtype=float).ravel()
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError(f"the {what} sample is empty or has NaN/infinite scores")
    # Scores beyond the outer edges count in the outer bins, so the shares always sum to 1.
    counts, _ = np.histogram(np.clip(x, edges[0], edges[-1]), bins=edges)
    return counts / x.size


def _psi_terms(expected: _Floats, actual: _Floats) -> _Floats:
    e, a = np.maximum(expected, _PSI_FLOOR), np.maximum(actual, _PSI_FLOOR)
    return np.asarray((a - e) * np.log(a / e))


def population_stability(
    expected: np.ndarray,
    actual: np.ndarray,
    edges: list[float] | np.ndarray,
    labels: list[str] | None = None,
    expected_label: str = "expected",
    actual_label: str = "actual",
) -> PsiReport:
    """Population stability index of two score samples binned on the same edges.

    Bins are ``[e_i, e_{i+1})``, the last one closed; scores beyond the outer edges count in the
    outer bins. Shares are floored at 1e-4 inside the sum so that empty bins stay finite.

    Args:
        expected: Reference scores (e.g. the development sample).
        actual: Scores to compare (e.g. a recent month).
        edges: Strictly increasing bin edges, at least two.
        labels: One label per bin; ``"[lo, hi)"`` by default.
        expected_label: How the report names the reference sample.
        actual_label: How the report names the compared sample.

    Returns:
        The per-bin shares and ``PSI = sum((a - e) * ln(a / e))``.

    Raises:
        ValueError: Bad edges, wrong number of labels, or an empty or non-finite sample.
    """
    e = np.asarray(edges, dtype=float)
    if e.ndim != 1 or e.size < 2 or not (np.diff(e) > 0).all():
        raise ValueError("edges must be at least two strictly increasing numbers")
    n_bins = e.size - 1
    if labels is None:
        ends = [")"] * (n_bins - 1) + ["]"]
        labels = [f"[{e[i]:g}, {e[i + 1]:g}{ends[i]}" for i in range(n_bins)]
    if len(labels) != n_bins:
        raise ValueError(f"{len(labels)} labels for {n_bins} bins")
    exp, act = _shares(expected, e, "expected"), _shares(actual, e, "actual")
    rows = [
        PsiRow(str(lab), float(x), float(y)) for lab, x, y in zip(labels, exp, act, strict=True)
    ]
    return PsiReport(expected_label, actual_label, rows, float(_psi_terms(exp, act).sum()))


def _psi_reading(psi: float) -> str:
    """The usual reading of a PSI value (<0.1 stable, 0.1-0.25 some shift, >0.25 significant)."""
    if psi < 0.1:
        return "stable"
    return "some shift" if psi <= 0.25 else "significant shift"


# -- formatting -----------------------------------------------------------------------------------
def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | None, spec: str) -> str:
    """``value`` formatted with ``spec``, or an en dash when there is no finite value."""
    if value is None or not math.isfinite(value):
        return "\u2013"
    return format(value, spec)


def _points(value: float) -> str:
    return _num(round(value, 1) if math.isfinite(value) else value, "+g")


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], text: Collection[int] = (0,)) -> str:
    """An HTML table; every cell is escaped, columns not in ``text`` are right-aligned numbers."""

    def cells(tag: str, values: Sequence[str]) -> str:
        return "".join(
            f"<{tag}{'' if i in text else ' class=num'}>{_e(v)}</{tag}>"
            for i, v in enumerate(values)
        )

    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return f"<table><thead><tr>{cells('th', head)}</tr></thead><tbody>{body}</tbody></table>"


# -- SVG charts -----------------------------------------------------------------------------------
_W, _H = 460, 310
_LEFT, _RIGHT, _TOP, _BOTTOM = 60, 16, 44, 76
_BLUE, _RED, _GREY = "#2b6cb0", "#c53030", "#888888"
_Ticks = list[tuple[float, str]]


@dataclass(frozen=True)
class _Axes:
    """Maps data coordinates to SVG pixels inside the plot margins."""

    x0: float
    x1: float
    y0: float
    y1: float

    def px(self, v: float) -> float:
        return _LEFT + (v - self.x0) / (self.x1 - self.x0) * (_W - _LEFT - _RIGHT)

    def py(self, v: float) -> float:
        return _H - _BOTTOM - (v - self.y0) / (self.y1 - self.y0) * (_H - _TOP - _BOTTOM)


def _nice_step(span: float, n: int = 5) -> float:
    raw = span / n if span > 0 else 1.0
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))


def _ticks(lo: float, hi: float, pct: bool = False) -> _Ticks:
    step = _nice_step(hi - lo)
    vals = np.arange(math.ceil(lo / step - 1e-9) * step, hi + step * 1e-6, step)
    return [(float(v), f"{round(v * 100, 6):g}%" if pct else f"{round(v, 6):g}") for v in vals]


def _svg(
    title: str,
    ax: _Axes,
    body: list[str],
    labels: tuple[str, str],
    ticks: tuple[_Ticks, _Ticks],
    legend: Sequence[tuple[str, str]] = (),
    rotate: bool = False,
) -> str:
    """A complete chart: title, grid, ``body`` marks, axes with ticks and labels, legend."""
    xlabel, ylabel = labels
    base, top = _H - _BOTTOM, _TOP
    out = [
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{_e(title)}"><title>{_e(title)}</title>',
        f'<text x="{_W / 2}" y="16" class="ct">{_e(_clip(title, 58))}</text>',
    ]
    for v, lab in ticks[1]:
        y = ax.py(v)
        out.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{_LEFT - 5}" y="{y + 4:.1f}" class="yt">{_e(lab)}</text>'
        )
    out += body
    for v, lab in ticks[0]:
        x = ax.px(v)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" class="axis"/>')
        tr = f' transform="rotate(-35 {x:.1f} {base + 15})"' if rotate else ""
        cls = "xr" if rotate else "xt"
        out.append(f'<text x="{x:.1f}" y="{base + 15}" class="{cls}"{tr}>{_e(lab)}</text>')
    out.append(
        f'<polyline points="{_LEFT},{top} {_LEFT},{base} {_W - _RIGHT},{base}" '
        'class="axis" fill="none"/>'
    )
    # rotated tick labels fill the bottom margin, so the axis label goes below them
    out.append(
        f'<text x="{(_LEFT + _W - _RIGHT) / 2}" y="{_H - 6 if rotate else base + 36}" '
        f'class="al">{_e(xlabel)}</text>'
    )
    out.append(
        f'<text x="14" y="{(top + base) / 2}" class="al" '
        f'transform="rotate(-90 14 {(top + base) / 2})">{_e(ylabel)}</text>'
    )
    x = _W - _RIGHT - sum(24 + 6 * len(name) for name, _ in legend)
    for name, colour in legend:  # one row above the plot, so it never hides data
        out.append(
            f'<rect x="{x}" y="24" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="33" class="lg">{_e(name)}</text>'
        )
        x += 24 + 6 * len(name)
    out.append("</svg>")
    return "".join(out)


def _polyline(ax: _Axes, xs: _Floats, ys: _Floats, colour: str, dash: bool = False) -> str:
    # A few hundred vertices draw the curve faithfully and keep the file small for big samples.
    idx = np.unique(np.linspace(0, xs.size - 1, min(xs.size, 400)).round().astype(int))
    pts = " ".join(f"{ax.px(float(xs[i])):.1f},{ax.py(float(ys[i])):.1f}" for i in idx)
    extra = ' stroke-dasharray="5 4"' if dash else ""
    return f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"{extra}/>'


def _bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    labels: tuple[str, str],
    notes: Sequence[str] | None = None,
) -> str:
    """Grouped bars of shares/rates per category; NaN values draw no bar. ``notes`` go on top."""
    finite = [v for _, _, vals in series for v in vals if math.isfinite(v)]
    peak = max(finite, default=0.0)
    step = _nice_step(peak) if peak > 0 else 0.25
    ax = _Axes(0, max(len(categories), 1), 0, max(math.ceil(peak / step - 1e-9), 1) * step)
    slot = ax.px(1) - ax.px(0)
    width = slot * 0.8 / max(len(series), 1)
    body = []
    for i, cat in enumerate(categories):
        tops = [ax.py(0)]
        for j, (name, colour, vals) in enumerate(series):
            v = vals[i]
            if not math.isfinite(v):
                continue
            x, y = ax.px(i) + slot * 0.1 + j * width, ax.py(v)
            tops.append(y)
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
                f'height="{ax.py(0) - y:.1f}" fill="{colour}"><title>{_e(cat)} '
                f"\u00b7 {_e(name)}: {v:.2%}</title></rect>"
            )
        if notes:
            body.append(
                f'<text x="{ax.px(i + 0.5):.1f}" y="{min(tops) - 4:.1f}" class="note">'
                f"{_e(notes[i])}</text>"
            )
    every = max(1, math.ceil(len(categories) / 14))
    xt = [(i + 0.5, c) for i, c in enumerate(categories) if i % every == 0]
    rotate = any(len(c) * 6 > slot * every for _, c in xt)
    xt = [(v, _clip(c, 12 if rotate else 16)) for v, c in xt]
    legend = [(n, c) for n, c, _ in series] if len(series) > 1 else []
    return _svg(title, ax, body, labels, (xt, _ticks(0, ax.y1, pct=True)), legend, rotate)


# -- report sections ------------------------------------------------------------------------------
def _header(d: ReportData, s: _Floats, bad: _Bools, auc: float, ks: float) -> str:
    meta = [
        ("Scorecard", f"{d.scorecard_name} (version {d.scorecard_version})"),
        ("As of", d.as_of.isoformat()),
        ("Outcome (bad)", d.outcome),
        ("Evaluation sample", d.sample_label),
        ("Created", d.created_at.isoformat(sep=" ", timespec="seconds")),
    ]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta)
    figures = [
        ("AUC", f"{auc:.4f}"),
        ("Gini", f"{2 * auc - 1:.4f}"),
        ("KS", f"{ks:.4f}"),
        ("Persons (n)", f"{s.size:,}"),
        ("Bad rate", f"{bad.mean():.2%}"),
        *d.figures.items(),
    ]
    return (
        f"<header><h1>{_e(d.title)}</h1><dl>{dl}</dl></header>"
        f"<section><h2>Key figures</h2>{_table(['Figure', 'Value'], figures)}</section>"
    )


def _discrimination(d: ReportData, s: _Floats, bad: _Bools, auc: float) -> str:
    values, cum_bad, cum_good = _cumulative(s, bad)
    unit = _Axes(0, 1, 0, 1)
    ticks01 = (_ticks(0, 1), _ticks(0, 1))
    roc = _svg(
        f"ROC curve (AUC {auc:.4f})",
        unit,
        [
            _polyline(unit, np.array([0.0, 1.0]), np.array([0.0, 1.0]), _GREY, dash=True),
            _polyline(unit, np.r_[0.0, cum_good], np.r_[0.0, cum_bad], _BLUE),
        ],
        ("share of goods at or below cutoff", "share of bads at or below cutoff"),
        ticks01,
        [("scorecard", _BLUE), ("random", _GREY)],
    )
    gap = np.abs(cum_bad - cum_good)
    k = int(np.argmax(gap))
    lo = min(float(values[0]), d.scaling.min_score)
    hi = max(float(values[-1]), d.scaling.max_score)
    ax = _Axes(lo, hi, 0, 1)
    x, y_b, y_g = ax.px(float(values[k])), ax.py(float(cum_bad[k])), ax.py(float(cum_good[k]))
    mark = (
        f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y_b:.1f}" y2="{y_g:.1f}" stroke="#222" '
        f'stroke-width="2"/><text x="{x + 5:.1f}" y="{ax.py(0.04):.1f}" class="lg">'
        f"KS {gap[k]:.3f} at {values[k]:g}</text>"
    )
    ks = _svg(
        "KS: cumulative share by score",
        ax,
        [_polyline(ax, values, cum_bad, _RED), _polyline(ax, values, cum_good, _BLUE), mark],
        ("score", "cumulative share"),
        (_ticks(lo, hi), _ticks(0, 1, pct=True)),
        [("bads", _RED), ("goods", _BLUE)],
    )
    return f'<section><h2>Discrimination</h2><div class="charts">{roc}{ks}</div></section>'


def _distribution(d: ReportData, s: _Floats, bad: _Bools) -> str:
    lo, hi = d.scaling.min_score, d.scaling.max_score
    edges = np.append(np.arange(lo, hi, _HIST_STEP), hi).astype(float)
    clipped = np.clip(s, lo, hi)  # out-of-range scores land in the outer bins
    shares = [np.histogram(clipped[m], bins=edges)[0] / m.sum() for m in (~bad, bad)]
    cats = [f"{v:g}" for v in edges[:-1]]
    chart = _bar_chart(
        f"Score distribution by outcome ({_HIST_STEP}-point bins)",
        cats,
        [("goods", _BLUE, list(shares[0])), ("bads", _RED, list(shares[1]))],
        ("score (bin start)", "share of class"),
    )
    n_out = int(((s < lo) | (s > hi)).sum())
    note = f"<p>{n_out:,} scores outside {lo}\u2013{hi} are counted in the outer bins.</p>"
    return f"<section><h2>Score distribution</h2>{chart}{note if n_out else ''}</section>"


def _calibration(d: ReportData, s: _Floats, bad: _Bools) -> str:
    rounded = np.rint(s)  # bands have integer bounds; a score is reported as an integer
    pd = d.scaling.default_probability(s)
    groups = [
        (
            b.name,
            f"{b.min_score}\u2013{b.max_score}",
            (rounded >= b.min_score) & (rounded <= b.max_score),
        )
        for b in d.bands
    ]
    outside = ~np.logical_or.reduce([m for *_, m in groups]) if groups else np.ones_like(bad)
    if outside.any():
        groups.append(("outside all bands", "", outside))
    rows, obs, pred, notes = [], [], [], []
    for name, span, m in groups:
        n = int(m.sum())
        notes.append(f"n={n:,}")
        obs.append(float(bad[m].mean()) if n else math.nan)
        pred.append(float(pd[m].mean()) if n else math.nan)
        rows.append(
            [
                name,
                span,
                f"{n:,}",
                _num(n / s.size, ".1%"),
                _num(obs[-1], ".2%"),
                _num(pred[-1], ".2%"),
            ]
        )
    table = _table(
        ["Band", "Scores", "Persons", "Share", "Observed bad rate", "Mean predicted PD"],
        rows,
        text=(0, 1),
    )
    chart = _bar_chart(
        "Observed bad rate vs predicted PD by band",
        [g[0] for g in groups],
        [("observed", _RED, obs), ("predicted", _BLUE, pred)],
        ("band", "rate"),
        notes,
    )
    return (
        f'<section><h2>Calibration by band</h2><div class="charts">{table}{chart}</div>'
        "<p>Predicted PD follows the scaling: odds = "
        f"{d.scaling.base_odds:g} \u00d7 2^((score \u2212 {d.scaling.base_score:g}) / "
        f"{d.scaling.pdo:g}), PD = 1 / (1 + odds).</p></section>"
    )


def _factor(i: int, f: FactorReport) -> str:
    facts = _table(
        ["Code", "Group", "IV", "Trend"],
        [[f.code, f.group, _num(f.iv, ".3f"), f.trend]],
        text=(0, 1, 3),
    )
    head = f'<section class="factor" id="factor-{i}"><h3>{_e(f.name)}</h3><p>{_e(f.statement)}</p>'
    if not f.bins:
        return f"{head}{facts}<p>No bins.</p></section>"
    rows = [
        [b.label, f"{b.count:,}", _num(b.event_rate, ".2%"), _num(b.woe, "+.3f"), _points(b.points)]
        for b in f.bins
    ]
    table = _table(["Bin", "Persons", "Event rate", "WoE", "Points"], rows)
    chart = _bar_chart(
        f"{f.name}: event rate by bin",
        [b.label for b in f.bins],
        [("event rate", _RED, [b.event_rate for b in f.bins])],
        ("bin (points on top)", "event rate"),
        notes=[f"{_points(b.points)} pts" for b in f.bins],
    )
    return f'{head}{facts}<div class="charts">{table}{chart}</div></section>'


def _factors(factors: list[FactorReport]) -> str:
    if not factors:
        return "<section><h2>Factors</h2><p>none</p></section>"
    links = "".join(
        f'<li><a href="#factor-{i}">{_e(f.name)}</a> ({_e(f.code)}, IV {_num(f.iv, ".3f")})</li>'
        for i, f in enumerate(factors, 1)
    )
    body = "".join(_factor(i, f) for i, f in enumerate(factors, 1))
    return f"<section><h2>Factors</h2><ol>{links}</ol>{body}</section>"


def _stability(p: PsiReport | None) -> str:
    if p is None:
        return ""
    exp = np.array([r.share_expected for r in p.rows])
    act = np.array([r.share_actual for r in p.rows])
    terms = _psi_terms(exp, act)
    rows = [
        [r.label, _num(r.share_expected, ".2%"), _num(r.share_actual, ".2%"), _num(float(t), ".4f")]
        for r, t in zip(p.rows, terms, strict=True)
    ]
    table = _table(["Scores", p.expected_label, p.actual_label, "PSI term"], rows)
    chart = _bar_chart(
        "Score shares: expected vs actual",
        [r.label for r in p.rows],
        [(p.expected_label, _GREY, list(exp)), (p.actual_label, _BLUE, list(act))],
        ("score bin", "share"),
    )
    return (
        f"<section><h2>Population stability</h2><p>PSI = <b>{p.psi:.4f}</b>: "
        f"{_psi_reading(p.psi)} (below 0.1 stable, 0.1\u20130.25 some shift, above 0.25 "
        f'significant shift).</p><div class="charts">{table}{chart}</div></section>'
    )


def _excluded(items: list[ExcludedFactor]) -> str:
    if not items:
        return "<section><h2>Excluded factors</h2><p>none</p></section>"
    rows = [[x.name, _num(x.iv, ".3f"), x.reason] for x in items]
    table = _table(["Factor", "IV", "Reason"], rows, text=(0, 2))
    return f"<section><h2>Excluded factors</h2>{table}</section>"


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;
max-width:1000px;margin:1.5em auto;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.3em}h2{border-bottom:2px solid #ccc;padding-bottom:.2em}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;margin:.5em 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f2f2f2}
.num{text-align:right}.charts{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
.factor{border-top:1px dashed #bbb;margin-top:1.2em}
svg text{font-family:sans-serif;font-size:10px;fill:#333}svg .ct{font-size:12px;
font-weight:600;text-anchor:middle}svg .yt{text-anchor:end}svg .xt,svg .al,svg .note{
text-anchor:middle}svg .xr{text-anchor:end}svg .al{font-size:11px}
svg .grid{stroke:#e5e5e5}svg .axis{stroke:#444;stroke-width:1}
@media print{body{margin:0;max-width:none}section{break-inside:avoid}}
"""


def render_report(data: ReportData) -> str:
    """Render the model report as one standalone HTML5 document (no scripts, no external files).

    Args:
        data: What to report; every text in it is HTML-escaped.

    Returns:
        The HTML document.

    Raises:
        ValueError: The evaluation sample is unusable (see :func:`roc_auc`).
    """
    s, bad = _checked(data.scores, data.outcomes)
    auc, ks = roc_auc(s, bad), ks_statistic(s, bad)
    body = "\n".join(
        [
            _header(data, s, bad, auc, ks),
            _discrimination(data, s, bad, auc),
            _distribution(data, s, bad),
            _calibration(data, s, bad),
            _factors(data.factors),
            _stability(data.psi),
            _excluded(data.excluded),
            render_section(data.proxy, kept={f.name for f in data.factors}),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(data.title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n"
        "</body></html>\n"
    )


def write_report(data: ReportData, path: str | os.PathLike[str]) -> pathlib.Path:
    """Render the report and write it atomically, so a reader never sees half a file.

    Args:
        data: What to report.
        path: Where to write; missing parent directories are created.

    Returns:
        The path written.
    """
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(data)  # render first: a failure must not leave a temp file behind
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # os.open rather than mkstemp: mkstemp forces mode 0600, the report should follow the umask.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
