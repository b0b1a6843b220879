"""Small inline SVG charts for the pages (no JavaScript, no chart library)."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

LO, HI = 300, 850


def history_svg(points: list[dict[str, Any]], width: int = 640, height: int = 200) -> Markup:
    """Score over snapshot dates; unscorable dates are marked on the axis."""
    left, right, top, bottom = 44, 34, 12, 28
    scored = [p for p in points if p["score"] is not None]
    if not points:
        return Markup("")
    n = len(points)

    def x(i: int) -> float:
        return left + (width - left - right) * (i / (n - 1) if n > 1 else 0.5)

    def y(score: float) -> float:
        return top + (height - top - bottom) * (1 - (score - LO) / (HI - LO))

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="Score history">'
    ]
    for tick in (300, 450, 600, 750, 850):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" class="axis" '
            f'text-anchor="end">{tick}</text>'
        )
    coords = [(x(i), y(p["score"])) for i, p in enumerate(points) if p["score"] is not None]
    if len(coords) > 1:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{cx:.1f},{cy:.1f}" for i, (cx, cy) in enumerate(coords)
        )
        parts.append(f'<path d="{path}" class="line"/>')
    for i, p in enumerate(points):
        label = escape(f"{p['as_of']}: {p['score'] if p['score'] is not None else 'no score'}")
        if p["score"] is not None:
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(p["score"]):.1f}" r="4" '
                f'class="dot"><title>{label}</title></circle>'
            )
        else:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - bottom - 4}" class="axis" '
                f'text-anchor="middle">-<title>{label}</title></text>'
            )
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - 8}" class="axis" '
            f'text-anchor="middle">{escape(str(p["as_of"])[:7])}</text>'
        )
    if scored:
        last = scored[-1]
        parts.append(
            f'<text x="{width - right}" y="{top + 10}" class="axis" '
            f'text-anchor="end">latest {last["score"]}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
