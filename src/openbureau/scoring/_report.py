"""HTML model report for a scorecard: discrimination, scale, calibration, factors and stability.

The report is one standalone HTML5 file: the CSS is embedded and every chart is inline SVG
(``_report_svg``; the scale and calibration sections: ``_report_scale``), so it opens
offline, prints, and can be archived next to the model as validation evidence. It needs no
JavaScript. All metrics follow the bureau convention that a LOWER score is riskier.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import secrets
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score, roc_curve

from openbureau.governance.proxies import ProxyReport, render_section
from openbureau.scoring import _report_svg as svg
from openbureau.scoring._report_scale import Population, calibration_section, scale_section
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
    note: str = ""  # what was compared, shown under the figure


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
    sections: list[str] = field(default_factory=list)  # rendered HTML, after stability
    # every person scorable on the as-of date, for the scale's use (None: the sample only)
    population: Population | None = None
    fairness: str = ""  # the Fairness section's HTML (governance/fairness.py report_section)
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


def _roc(s: _Floats, bad: _Bools) -> tuple[_Floats, _Floats, _Floats]:
    """scikit-learn's ROC curve with a lower score riskier, at every distinct score: the scores
    ascending, and the shares of bads (true positive rate) and of goods (false positive rate)
    scoring at or below each."""
    fpr, tpr, thresholds = roc_curve(bad, -s, drop_intermediate=False)
    return -thresholds[1:], tpr[1:], fpr[1:]  # (the first point is the curve's origin)


def roc_auc(scores: np.ndarray, outcomes: np.ndarray) -> float:
    """Area under the ROC curve, with a lower score meaning riskier (scikit-learn's).

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
    return float(roc_auc_score(bad, -s))


def ks_statistic(scores: np.ndarray, outcomes: np.ndarray) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the score CDFs of goods and bads
    (on scikit-learn's ROC curve: the largest gap between its two rates).

    Args:
        scores: Scores of the sample.
        outcomes: 0/1 per score, 1 = default (bad).

    Returns:
        max over scores s of |P(bad score <= s) - P(good score <= s)|.

    Raises:
        ValueError: As for :func:`roc_auc`.
    """
    _, cum_bad, cum_good = _roc(*_checked(scores, outcomes))
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


# -- report sections ------------------------------------------------------------------------------
def _header(d: ReportData, s: _Floats, bad: _Bools, auc: float, ks: float) -> str:
    meta = [
        ("Scorecard", f"{d.scorecard_name} (version {d.scorecard_version})"),
        ("As of", d.as_of.isoformat()),
        ("Outcome (bad)", d.outcome),
        ("Evaluation sample", d.sample_label),
        ("Created", d.created_at.isoformat(sep=" ", timespec="seconds")),
    ]
    dl = "".join(f"<dt>{svg.esc(k)}</dt><dd>{svg.esc(v)}</dd>" for k, v in meta)
    figures = [
        ("AUC", f"{auc:.4f}"),
        ("Gini", f"{2 * auc - 1:.4f}"),
        ("KS", f"{ks:.4f}"),
        ("Persons (n)", f"{s.size:,}"),
        ("Bad rate", f"{bad.mean():.2%}"),
        *d.figures.items(),
    ]
    return (
        f"<header><h1>{svg.esc(d.title)}</h1><dl>{dl}</dl></header>"
        f"<section><h2>Key figures</h2>{svg.table(['Figure', 'Value'], figures)}</section>"
    )


def _discrimination(d: ReportData, s: _Floats, bad: _Bools, auc: float) -> str:
    values, cum_bad, cum_good = _roc(s, bad)
    unit = svg.Axes(0, 1, 0, 1)
    ticks01 = (svg.ticks(0, 1), svg.ticks(0, 1))
    roc = svg.chart(
        f"ROC curve (AUC {auc:.4f})",
        unit,
        [
            svg.polyline(unit, np.array([0.0, 1.0]), np.array([0.0, 1.0]), svg.GREY, dash=True),
            svg.polyline(unit, np.r_[0.0, cum_good], np.r_[0.0, cum_bad], svg.BLUE),
        ],
        ("share of goods at or below cutoff", "share of bads at or below cutoff"),
        ticks01,
        [("scorecard", svg.BLUE), ("random", svg.GREY)],
    )
    gap = np.abs(cum_bad - cum_good)
    k = int(np.argmax(gap))
    lo = min(float(values[0]), d.scaling.min_score)
    hi = max(float(values[-1]), d.scaling.max_score)
    ax = svg.Axes(lo, hi, 0, 1)
    x, y_b, y_g = ax.px(float(values[k])), ax.py(float(cum_bad[k])), ax.py(float(cum_good[k]))
    mark = (
        f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y_b:.1f}" y2="{y_g:.1f}" stroke="#222" '
        f'stroke-width="2"/><text x="{x + 5:.1f}" y="{ax.py(0.04):.1f}" class="lg">'
        f"KS {gap[k]:.3f} at {values[k]:g}</text>"
    )
    ks = svg.chart(
        "KS: cumulative share by score",
        ax,
        [
            svg.polyline(ax, values, cum_bad, svg.RED),
            svg.polyline(ax, values, cum_good, svg.BLUE),
            mark,
        ],
        ("score", "cumulative share"),
        (svg.ticks(lo, hi), svg.ticks(0, 1, pct=True)),
        [("bads", svg.RED), ("goods", svg.BLUE)],
    )
    return f'<section><h2>Discrimination</h2><div class="charts">{roc}{ks}</div></section>'


def _distribution(d: ReportData, s: _Floats, bad: _Bools) -> str:
    lo, hi = d.scaling.min_score, d.scaling.max_score
    edges = np.append(np.arange(lo, hi, _HIST_STEP), hi).astype(float)
    clipped = np.clip(s, lo, hi)  # out-of-range scores land in the outer bins
    shares = [np.histogram(clipped[m], bins=edges)[0] / m.sum() for m in (~bad, bad)]
    cats = [f"{v:g}" for v in edges[:-1]]
    chart = svg.bar_chart(
        f"Score distribution by outcome ({_HIST_STEP}-point bins)",
        cats,
        [("goods", svg.BLUE, list(shares[0])), ("bads", svg.RED, list(shares[1]))],
        ("score (bin start)", "share of class"),
    )
    n_out = int(((s < lo) | (s > hi)).sum())
    note = f"<p>{n_out:,} scores outside {lo}\u2013{hi} are counted in the outer bins.</p>"
    return f"<section><h2>Score distribution</h2>{chart}{note if n_out else ''}</section>"


def _factor(i: int, f: FactorReport) -> str:
    facts = svg.table(
        ["Code", "Group", "IV", "Trend"],
        [[f.code, f.group, svg.num(f.iv, ".3f"), f.trend]],
        text=(0, 1, 3),
    )
    head = (
        f'<section class="factor" id="factor-{i}"><h3>{svg.esc(f.name)}</h3>'
        f"<p>{svg.esc(f.statement)}</p>"
    )
    if not f.bins:
        return f"{head}{facts}<p>No bins.</p></section>"
    rows = [
        [
            b.label,
            f"{b.count:,}",
            svg.num(b.event_rate, ".2%"),
            svg.num(b.woe, "+.3f"),
            svg.points(b.points),
        ]
        for b in f.bins
    ]
    table = svg.table(["Bin", "Persons", "Event rate", "WoE", "Points"], rows)
    chart = svg.bar_chart(
        f"{f.name}: event rate by bin",
        [b.label for b in f.bins],
        [("event rate", svg.RED, [b.event_rate for b in f.bins])],
        ("bin (points on top)", "event rate"),
        notes=[f"{svg.points(b.points)} pts" for b in f.bins],
    )
    return f'{head}{facts}<div class="charts">{table}{chart}</div></section>'


def _factors(factors: list[FactorReport]) -> str:
    if not factors:
        return "<section><h2>Factors</h2><p>none</p></section>"
    links = "".join(
        f'<li><a href="#factor-{i}">{svg.esc(f.name)}</a> '
        f"({svg.esc(f.code)}, IV {svg.num(f.iv, '.3f')})</li>"
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
        [
            r.label,
            svg.num(r.share_expected, ".2%"),
            svg.num(r.share_actual, ".2%"),
            svg.num(float(t), ".4f"),
        ]
        for r, t in zip(p.rows, terms, strict=True)
    ]
    table = svg.table(["Scores", p.expected_label, p.actual_label, "PSI term"], rows)
    chart = svg.bar_chart(
        "Score shares: expected vs actual",
        [r.label for r in p.rows],
        [(p.expected_label, svg.GREY, list(exp)), (p.actual_label, svg.BLUE, list(act))],
        ("score bin", "share"),
    )
    return (
        f"<section><h2>Population stability</h2><p>PSI = <b>{p.psi:.4f}</b>: "
        f"{_psi_reading(p.psi)} (below 0.1 stable, 0.1\u20130.25 some shift, above 0.25 "
        f"significant shift).</p>{f'<p>{svg.esc(p.note)}</p>' if p.note else ''}"
        f'<div class="charts">{table}{chart}</div></section>'
    )


def _excluded(items: list[ExcludedFactor]) -> str:
    if not items:
        return "<section><h2>Excluded factors</h2><p>none</p></section>"
    rows = [[x.name, svg.num(x.iv, ".3f"), x.reason] for x in items]
    table = svg.table(["Factor", "IV", "Reason"], rows, text=(0, 2))
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
svg .grid{stroke:#e5e5e5}.warn{color:#c53030}svg .axis{stroke:#444;stroke-width:1}
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
            scale_section(data.scaling, data.bands, s, data.population),
            calibration_section(data.scaling, data.bands, s, bad),
            _factors(data.factors),
            _stability(data.psi),
            *data.sections,
            data.fairness,
            _excluded(data.excluded),
            render_section(data.proxy, kept={f.name for f in data.factors}),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{svg.esc(data.title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n"
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
