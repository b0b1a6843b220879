"""Formatting and inline SVG charts for the model report: escaped tables, axes, bar charts.

Every chart is a complete ``<svg>`` with a ``<title>``; every text is HTML-escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


# -- formatting -----------------------------------------------------------------------------------
def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def num(value: float | None, spec: str) -> str:
    """``value`` formatted with ``spec``, or an en dash when there is no finite value."""
    if value is None or not math.isfinite(value):
        return "\u2013"
    return format(value, spec)


def points(value: float) -> str:
    return num(round(value, 1) if math.isfinite(value) else value, "+g")


def clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def table(head: Sequence[str], rows: Sequence[Sequence[str]], text: Collection[int] = (0,)) -> str:
    """An HTML table; every cell is escaped, columns not in ``text`` are right-aligned numbers."""

    def cells(tag: str, values: Sequence[str]) -> str:
        return "".join(
            f"<{tag}{'' if i in text else ' class=num'}>{esc(v)}</{tag}>"
            for i, v in enumerate(values)
        )

    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return f"<table><thead><tr>{cells('th', head)}</tr></thead><tbody>{body}</tbody></table>"


# -- SVG charts -----------------------------------------------------------------------------------
_W, _H = 460, 310
_LEFT, _RIGHT, _TOP, _BOTTOM = 60, 16, 44, 76
BLUE, RED, GREY = "#2b6cb0", "#c53030", "#888888"
Ticks = list[tuple[float, str]]


@dataclass(frozen=True)
class Axes:
    """Maps data coordinates to SVG pixels inside the plot margins."""

    x0: float
    x1: float
    y0: float
    y1: float

    def px(self, v: float) -> float:
        return _LEFT + (v - self.x0) / (self.x1 - self.x0) * (_W - _LEFT - _RIGHT)

    def py(self, v: float) -> float:
        return _H - _BOTTOM - (v - self.y0) / (self.y1 - self.y0) * (_H - _TOP - _BOTTOM)


def nice_step(span: float, n: int = 5) -> float:
    raw = span / n if span > 0 else 1.0
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * (1 - 1e-9))


def ticks(lo: float, hi: float, pct: bool = False) -> Ticks:
    step = nice_step(hi - lo)
    vals = np.arange(math.ceil(lo / step - 1e-9) * step, hi + step * 1e-6, step)
    return [(float(v), f"{round(v * 100, 6):g}%" if pct else f"{round(v, 6):g}") for v in vals]


def chart(
    title: str,
    ax: Axes,
    body: list[str],
    labels: tuple[str, str],
    ticks: tuple[Ticks, Ticks],
    legend: Sequence[tuple[str, str]] = (),
    rotate: bool = False,
) -> str:
    """A complete chart: title, grid, ``body`` marks, axes with ticks and labels, legend."""
    xlabel, ylabel = labels
    base, top = _H - _BOTTOM, _TOP
    out = [
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{esc(title)}"><title>{esc(title)}</title>',
        f'<text x="{_W / 2}" y="16" class="ct">{esc(clip(title, 58))}</text>',
    ]
    for v, lab in ticks[1]:
        y = ax.py(v)
        out.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{_LEFT - 5}" y="{y + 4:.1f}" class="yt">{esc(lab)}</text>'
        )
    out += body
    for v, lab in ticks[0]:
        x = ax.px(v)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" class="axis"/>')
        tr = f' transform="rotate(-35 {x:.1f} {base + 15})"' if rotate else ""
        cls = "xr" if rotate else "xt"
        out.append(f'<text x="{x:.1f}" y="{base + 15}" class="{cls}"{tr}>{esc(lab)}</text>')
    out.append(
        f'<polyline points="{_LEFT},{top} {_LEFT},{base} {_W - _RIGHT},{base}" '
        'class="axis" fill="none"/>'
    )
    # rotated tick labels fill the bottom margin, so the axis label goes below them
    out.append(
        f'<text x="{(_LEFT + _W - _RIGHT) / 2}" y="{_H - 6 if rotate else base + 36}" '
        f'class="al">{esc(xlabel)}</text>'
    )
    out.append(
        f'<text x="14" y="{(top + base) / 2}" class="al" '
        f'transform="rotate(-90 14 {(top + base) / 2})">{esc(ylabel)}</text>'
    )
    x = _W - _RIGHT - sum(24 + 6 * len(name) for name, _ in legend)
    for name, colour in legend:  # one row above the plot, so it never hides data
        out.append(
            f'<rect x="{x}" y="24" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="33" class="lg">{esc(name)}</text>'
        )
        x += 24 + 6 * len(name)
    out.append("</svg>")
    return "".join(out)


def polyline(ax: Axes, xs: Floats, ys: Floats, colour: str, dash: bool = False) -> str:
    # A few hundred vertices draw the curve faithfully and keep the file small for big samples.
    idx = np.unique(np.linspace(0, xs.size - 1, min(xs.size, 400)).round().astype(int))
    pts = " ".join(f"{ax.px(float(xs[i])):.1f},{ax.py(float(ys[i])):.1f}" for i in idx)
    extra = ' stroke-dasharray="5 4"' if dash else ""
    return f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"{extra}/>'


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    labels: tuple[str, str],
    notes: Sequence[str] | None = None,
) -> str:
    """Grouped bars of shares/rates per category; NaN values draw no bar. ``notes`` go on top."""
    finite = [v for _, _, vals in series for v in vals if math.isfinite(v)]
    peak = max(finite, default=0.0)
    step = nice_step(peak) if peak > 0 else 0.25
    ax = Axes(0, max(len(categories), 1), 0, max(math.ceil(peak / step - 1e-9), 1) * step)
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
                f'height="{ax.py(0) - y:.1f}" fill="{colour}"><title>{esc(cat)} '
                f"\u00b7 {esc(name)}: {v:.2%}</title></rect>"
            )
        if notes:
            body.append(
                f'<text x="{ax.px(i + 0.5):.1f}" y="{min(tops) - 4:.1f}" class="note">'
                f"{esc(notes[i])}</text>"
            )
    every = max(1, math.ceil(len(categories) / 14))
    xt = [(i + 0.5, c) for i, c in enumerate(categories) if i % every == 0]
    rotate = any(len(c) * 6 > slot * every for _, c in xt)
    xt = [(v, clip(c, 12 if rotate else 16)) for v, c in xt]
    legend = [(n, c) for n, c, _ in series] if len(series) > 1 else []
    return chart(title, ax, body, labels, (xt, ticks(0, ax.y1, pct=True)), legend, rotate)
