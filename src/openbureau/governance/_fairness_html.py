"""HTML of a fairness analysis (governance/fairness.py): the model report's Fairness section
and the body of the auditor's fairness page. Every text is escaped; styles are inline, so the
same fragment reads alike in the standalone report and on the service's page."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from openbureau.governance.fairness import (
    ALL,
    AUC,
    FOUR_FIFTHS,
    PERSONS,
    SCORED,
    SMALL,
    UNKNOWN,
    Fairness,
    GroupMetrics,
    air_column,
    approval_column,
    band_persons_column,
    band_rate_column,
    flag_column,
)

_FLAG = ' style="background:#fde2e2;font-weight:600"'
_NUM = ' class="num" style="text-align:right;white-space:nowrap"'


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pct(v: float) -> str:
    return "\u2013" if not math.isfinite(v) else f"{v:.1%}"


def _ratio(v: float) -> str:
    return "\u2013" if not math.isfinite(v) else f"{v:.3f}"


def _air(v: float) -> str:
    """Rounded down (but for float noise): a ratio just under 0.8 never shows as 0.800."""
    return "\u2013" if not math.isfinite(v) else f"{math.floor(v * 1000 + 1e-6) / 1000:.3f}"


def meaning(f: Fairness) -> str:
    """What each figure means, and where the groups come from."""
    cuts = ", ".join(str(c) for c in f.cutoffs)
    items = [
        "<b>Groups</b> come from the protected-attribute store (audit/attributes.duckdb), "
        "read for this with the purpose \u201cmodel risk: fairness\u201d, which the audit log "
        "records. They are never features: no scorecard factor reads them. "
        f"{_e(UNKNOWN)}: persons whose value is unknown or who are not in the store.",
        f"<b>Approval</b> at a cut-off ({_e(cuts)}): the share of the group's persons scoring "
        "at or above it. A person the scorecard cannot score counts as not approved.",
        "<b>AIR</b>, the adverse impact ratio: the group's approval rate divided by that of "
        f"the most favoured group (the highest approval rate among groups of at least "
        f"{f.min_persons} persons; its ratio is marked ref). Under {FOUR_FIFTHS:g} fails the "
        "four-fifths rule and is flagged \u26a0. Smaller groups and unknown values are shown "
        "but never flagged nor the reference: their rates are too noisy to act on.",
    ]
    if f.with_outcomes:
        items += [
            "<b>AUC</b> within the group, among those scored: the chance that a member who did "
            "not default scores higher than one who did (0.5: no better than chance). A lower "
            "AUC means the score ranks that group's risk less well.",
            "<b>Default rate by band</b>: the share of the group's persons in each score band "
            "who defaulted. Within one band, a group that defaults less than the others is "
            "scored lower than its risk warrants; one that defaults more, higher.",
        ]
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _summary(f: Fairness) -> str:
    flags = f.flagged()
    if not flags:
        return (
            f"<p><b>No group of {f.min_persons} persons or more fails the four-fifths rule</b> "
            f"at any cut-off ({', '.join(map(str, f.cutoffs))}).</p>"
        )
    items = "".join(
        f"<li>{_e(m.attribute)} = {_e(g)}: AIR {_air(air)} at {c} ({_e(m.scorecard)} scorecard;"
        f" most favoured: {_e(m.reference[c])})</li>"
        for m, g, c, air in flags
    )
    return f"<p><b>\u26a0 {len(flags)} fail(s) the four-fifths rule:</b></p><ul>{items}</ul>"


def _note(m: GroupMetrics, group: str, min_persons: int) -> str:
    if group == UNKNOWN:
        return "not a group: never flagged"
    if group != ALL and bool(m.table.at[group, SMALL]):
        return f"under {min_persons} persons: shown, not flagged"
    return ""


def _approval_table(ms: Sequence[GroupMetrics], f: Fairness) -> str:
    """Groups by rows (one row per scorecard within a group, side by side when there are
    several); approval and AIR at each cut-off."""
    several = len(ms) > 1
    top = '<th rowspan="2">Group</th><th rowspan="2">Persons</th>'
    top += '<th rowspan="2">Scorecard</th>' if several else ""
    top += '<th rowspan="2">Scored</th>'
    top += "".join(f'<th colspan="2">Score \u2265 {c}</th>' for c in f.cutoffs)
    top += '<th rowspan="2">AUC</th>' if f.with_outcomes else ""
    top += '<th rowspan="2">Note</th>'
    sub = "<th>approval</th><th>AIR</th>" * len(f.cutoffs)
    rows = []
    for g in ms[0].table.index:
        for i, m in enumerate(ms):
            cells = []
            if i == 0:
                span = f' rowspan="{len(ms)}"' if several else ""
                n = int(m.table.at[g, PERSONS])
                cells += [f"<td{span}>{_e(g)}</td>", f"<td{span}{_NUM}>{n:,}</td>"]
            if several:
                cells.append(f"<td>{_e(m.scorecard)}</td>")
            cells.append(f"<td{_NUM}>{int(m.table.at[g, SCORED]):,}</td>")
            for c in f.cutoffs:
                flagged = bool(m.table.at[g, flag_column(c)])
                air = _air(m.table.at[g, air_column(c)]) + (" \u26a0" if flagged else "")
                air += " ref" if m.reference[c] == g else ""
                cells.append(f"<td{_NUM}>{_pct(m.table.at[g, approval_column(c)])}</td>")
                cells.append(f"<td{_NUM}{_FLAG if flagged else ''}>{air}</td>")
            if f.with_outcomes:
                cells.append(f"<td{_NUM}>{_ratio(m.table.at[g, AUC])}</td>")
            if i == 0:
                span = f' rowspan="{len(ms)}"' if several else ""
                cells.append(f"<td{span}>{_e(_note(m, str(g), f.min_persons))}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="fairness"><thead><tr>{top}</tr><tr>{sub}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _band_table(m: GroupMetrics) -> str:
    """Default rate (and persons) per score band, per group, under one scorecard."""
    bands = [c.split(":", 1)[1] for c in m.table.columns if c.startswith("bad_rate:")]
    if not bands:
        return ""
    head = "".join(f"<th>{_e(b)}</th>" for b in bands)
    rows = "".join(
        f"<tr><td>{_e(g)}</td>"
        + "".join(
            f"<td{_NUM}>{_pct(m.table.at[g, band_rate_column(b)])} "
            f"<small>(n {int(m.table.at[g, band_persons_column(b)]):,})</small></td>"
            for b in bands
        )
        + "</tr>"
        for g in m.table.index
    )
    return (
        f"<p>Default rate by score band, {_e(m.scorecard)} scorecard:</p>"
        f'<table class="fairness"><thead><tr><th>Group</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def body_html(f: Fairness, heading: str = "h3") -> str:
    """The analysis: meanings, the flags, then one block per attribute."""
    if f.why_not:
        return f"<p><b>The fairness analysis was not run</b>: {_e(f.why_not)}.</p>"
    parts = [f"<p>On {_e(f.sample)}.</p>" if f.sample else "", meaning(f), _summary(f)]
    if f.unsupplied:
        parts.append(
            f"<p>Not supplied for any of these persons: {_e(', '.join(f.unsupplied))}.</p>"
        )
    by_attribute: dict[str, list[GroupMetrics]] = {}
    for m in f.metrics:
        by_attribute.setdefault(m.attribute, []).append(m)
    for attribute, ms in by_attribute.items():
        parts.append(f"<{heading}>{_e(attribute)}</{heading}>{_approval_table(ms, f)}")
        if f.with_outcomes:
            parts += [_band_table(m) for m in ms]
    return "".join(parts)


def report_html(f: Fairness) -> str:
    """The model report's Fairness section."""
    return f'<section id="fairness"><h2>Fairness</h2>{body_html(f)}</section>'
