"""The proxy test: a factor may not stand in for a protected attribute, whatever its label says.

The factor guard (``factor_guard.py``) reads what a source spec *says* a field is; a spec can
say anything (a salutation filed as ``payment`` data is still the person's sex). This test
reads what the data says: for every factor and every protected attribute of
``config.ATTRIBUTES``, over the persons whose value of the attribute is known,

- **Cramér's V**, bias-corrected (Bergsma 2013, J. Korean Stat. Soc. 42:323), between the
  factor's levels and the attribute's values: 0 for no association, 1 when either determines
  the other. The correction removes the upward bias of the plain V in finite samples (a factor
  with ten levels shows V ~ 0.03 against an attribute it is independent of at 20,000 persons,
  more at fewer); the noise remains, hence ``proxy_min_persons`` below. A numeric factor's
  levels are up to ten quantile bins of its values plus one for no value; a categorical
  factor's, its values plus one for no value.
- **AUC**: how well the factor predicts the attribute. For each value of the attribute, the
  AUC of "share of persons with that value among those at the person's factor level" as a
  score of having it (one against the rest), the best value's. The score is the best any
  model reading the factor's levels could do, so the AUC is at least 0.5 (no information)
  and is already max(AUC, 1 - AUC); 1 means the factor names the value.

Both come from one contingency table per (factor, attribute), counted with numpy: no loop over
persons. The attributes are read from their store for the persons tested (the read is in the
audit log, with its purpose) and joined in memory only: they never reach the warehouse,
features or scores.

A factor whose V with an attribute is above ``[model_risk] proxy_max_cramers_v`` (bureau.toml),
measured on at least ``[model_risk] proxy_min_persons`` persons with a known value, is refused,
at training before anything is fitted and at scoring before anything is published, unless a
business-necessity override covers that (factor, attribute) pair: declared in bureau.toml
(``[[model_risk.business_necessity]]``) and, at scoring, also recorded in the
scorecard (training records the overrides it applied). See docs/scoring.md "Proxy test".

On fewer persons a V above the threshold is noise as often as not (a ten-level factor against
an attribute it is independent of reaches V 0.3 on about a hundred persons): such a pair is
*not judged*, shown as such in the report and in a warning line, never silently passed.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from openbureau.errors import UserError
from openbureau.governance.factor_guard import FactorRefused
from openbureau.governance.protected_attributes import ATTRIBUTES, AuditLog, attributes_loaded

if TYPE_CHECKING:
    import pandas as pd

    from openbureau.config import ModelRiskSection
    from openbureau.workspace import Workspace

MAX_BINS = 10  # quantile bins of a numeric factor (plus one for no value)
SETTING = "[model_risk] proxy_max_cramers_v"
DECLARE = "[[model_risk.business_necessity]]: factor, attribute, justification, approved_by"


class ProxyRefused(FactorRefused):
    """A factor is a proxy for a protected attribute and no override covers it."""


@dataclass(frozen=True)
class ProxyMeasure:
    """How far one factor's values tell one protected attribute, over ``persons`` with a known
    value of it. ``cramers_v`` is NaN when the attribute has fewer than two known values."""

    factor: str
    attribute: str
    persons: int
    cramers_v: float
    auc: float
    auc_value: str | None  # the attribute value the factor predicts best


@dataclass(frozen=True)
class AppliedOverride:
    """A pair over the threshold, kept under a business-necessity override; ``points``: once
    the factor is in a scorecard, (attribute value, persons, mean points of the factor) on
    the training persons, so a reader sees whom it moves (ECOA: are the elderly scored down?).
    """

    measure: ProxyMeasure
    justification: str
    approved_by: str
    points: tuple[tuple[str, int, float], ...] = ()


@dataclass(frozen=True)
class ProxyReport:
    """The proxy test of a set of factors (``ran``: False, and ``note`` says why, when it could
    not run)."""

    ran: bool
    threshold: float
    persons: int = 0
    measures: tuple[ProxyMeasure, ...] = ()
    overrides: tuple[AppliedOverride, ...] = ()
    note: str = ""
    attributes: tuple[str, ...] = ATTRIBUTES
    min_persons: int = 0  # a pair measured on fewer persons is not judged
    # (attribute, persons tested with a known value, distinct known values): an attribute the
    # store holds that the test could not judge (fewer than two values, or than min_persons)
    incomplete: tuple[tuple[str, int, int], ...] = ()

    def incomplete_why(self) -> str:
        """Why the test is incomplete, naming the first attribute and its count ('' if not)."""
        if not self.incomplete:
            return ""
        attribute, known, distinct = self.incomplete[0]
        short = (
            f"{distinct} known value(s), fewer than two"
            if distinct < 2
            else f"fewer than {self.min_persons:,} ([model_risk] proxy_min_persons)"
        )
        more = f" (and {len(self.incomplete) - 1} more)" if len(self.incomplete) > 1 else ""
        return (
            f"{attribute} is known for {known:,} of the persons tested: {short}, so no factor "
            f"was judged against it{more}"
        )

    def _above(self) -> list[ProxyMeasure]:
        found = [m for m in self.measures if m.cramers_v > self.threshold]
        return sorted(found, key=lambda m: (-m.cramers_v, m.factor, m.attribute))

    def over(self) -> list[ProxyMeasure]:
        """The pairs above the threshold on enough persons to judge, the most associated
        first."""
        return [m for m in self._above() if m.persons >= self.min_persons]

    def not_judged(self) -> list[ProxyMeasure]:
        """The pairs above the threshold on too few persons to judge (``min_persons``)."""
        return [m for m in self._above() if m.persons < self.min_persons]

    def maxima(self) -> dict[str, ProxyMeasure]:
        """Per attribute, the factor most associated with it (attributes never measured left
        out)."""
        best: dict[str, ProxyMeasure] = {}
        for m in self.measures:
            if math.isfinite(m.cramers_v) and (
                m.attribute not in best or m.cramers_v > best[m.attribute].cramers_v
            ):
                best[m.attribute] = m
        return best

    def summary(self) -> str:
        """One line (after "Proxy test: "): the result, or why the test did not run."""
        if not self.ran:
            return f"NOT RUN: {self.note}"
        top = ", ".join(
            f"{a} {m.cramers_v:.2f} ({m.factor})" for a, m in sorted(self.maxima().items())
        )
        factors = len({m.factor for m in self.measures})
        kept = f"; {len(self.overrides)} kept under a business necessity" if self.overrides else ""
        few = self.not_judged()
        unjudged = (
            f"; NOT JUDGED: {len(few)} pair(s) above the threshold on fewer than "
            f"{self.min_persons:,} persons with a known value (first: {few[0].factor} / "
            f"{few[0].attribute}, V {few[0].cramers_v:.2f} on {few[0].persons:,})"
            if few
            else ""
        )
        incomplete = f"; INCOMPLETE: {self.incomplete_why()}" if self.incomplete else ""
        return (
            f"{factors} factors on {self.persons:,} persons, highest Cramér's V "
            f"per attribute {top or 'none measurable'} (threshold {self.threshold:.2f})"
            f"{kept}{unjudged}{incomplete}"
        )


# -- the measures -------------------------------------------------------------------------------
def factor_levels(values: np.ndarray, kind: str = "numeric") -> np.ndarray:
    """Level codes 0..L of a factor's values: up to ``MAX_BINS`` quantile bins of a numeric
    factor (categorical: its values), and one more code for no value."""
    if kind == "numeric":
        x = np.asarray(values, dtype=float)
        known = ~np.isnan(x)
        if not known.any():
            return np.zeros(x.size, dtype=np.int64)
        cuts = np.quantile(x[known], np.linspace(0, 1, MAX_BINS + 1)[1:-1], method="lower")
        edges = np.unique(cuts)
        codes = np.searchsorted(edges, x, side="left").astype(np.int64)  # (x <= edge: its bin)
        codes[~known] = edges.size + 1
        return codes
    import pandas as pd

    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return np.where(codes < 0, len(uniques), codes).astype(np.int64)


def contingency(levels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Persons per (factor level, attribute value) of two code arrays (non-negative ints),
    empty rows and columns left out."""
    rows, cols = int(levels.max(initial=0)) + 1, int(values.max(initial=0)) + 1
    table = np.bincount(levels * cols + values, minlength=rows * cols).reshape(rows, cols)
    return table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]


def cramers_v(table: np.ndarray) -> float:
    """Bias-corrected Cramér's V (Bergsma 2013) of a contingency table: NaN with fewer than two
    columns (nothing to tell apart), 0 with fewer than two rows."""
    t = np.asarray(table, dtype=float)
    n = t.sum()
    r, k = t.shape
    if k < 2 or n < 2:
        return math.nan
    if r < 2:
        return 0.0
    expected = np.outer(t.sum(axis=1), t.sum(axis=0)) / n
    phi2 = float(((t - expected) ** 2 / expected).sum()) / n
    phi2 = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    r_c, k_c = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    denom = min(r_c - 1, k_c - 1)
    return math.sqrt(phi2 / denom) if denom > 0 else 0.0


def level_aucs(table: np.ndarray) -> np.ndarray:
    """Per column (attribute value), the AUC of the column's share in a person's row (factor
    level) as the score of having that value, ties counting 1/2: scikit-learn's, on the rows
    weighted by their counts (holders and non-holders of the value), not on one row per
    person. NaN for a column that holds everybody or nobody."""
    from sklearn.metrics import roc_auc_score

    t = np.asarray(table, dtype=float)
    t = t[t.sum(axis=1) > 0]
    size = t.sum(axis=1)
    holds = np.r_[np.ones(len(t)), np.zeros(len(t))]
    out = np.full(t.shape[1], math.nan)
    for j in range(t.shape[1]):  # (a handful of attribute values; the persons are counted)
        pos, neg = t[:, j], size - t[:, j]
        if pos.sum() == 0 or neg.sum() == 0:
            continue
        share = pos / size
        out[j] = roc_auc_score(holds, np.r_[share, share], sample_weight=np.r_[pos, neg])
    return out


def measure(
    frame: pd.DataFrame,
    factors: Sequence[tuple[str, str]],
    attributes: pd.DataFrame,
    threshold: float,
    min_persons: int = 0,
) -> ProxyReport:
    """The proxy test of ``factors`` ((name, kind) pairs, columns of ``frame``, which also has
    ``person_id``) against ``attributes`` (indexed by person_id, one column per attribute);
    a pair measured on fewer than ``min_persons`` persons is not judged."""
    import pandas as pd

    aligned = attributes.reindex(pd.Index(frame["person_id"]))
    levels = {
        name: factor_levels(
            frame[name].to_numpy(dtype=float, na_value=np.nan)
            if kind == "numeric"
            else frame[name].to_numpy(),
            kind,
        )
        for name, kind in factors
    }
    measures = []
    incomplete = []
    # an attribute the store holds for someone (a column of the loaded file): judged or said
    held = [a for a in ATTRIBUTES if a in attributes.columns and attributes[a].notna().any()]
    if not held:
        incomplete.append(("every attribute", 0, 0))
    for attribute in (a for a in ATTRIBUTES if a in aligned.columns):
        codes, uniques = pd.factorize(aligned[attribute], use_na_sentinel=True)
        known = codes >= 0
        distinct = len(np.unique(codes[known]))
        if attribute in held and (distinct < 2 or known.sum() < min_persons):
            incomplete.append((attribute, int(known.sum()), distinct))
        for name, _ in factors:
            table = contingency(levels[name][known], codes[known])
            aucs = level_aucs(table)
            best = int(np.nanargmax(aucs)) if np.isfinite(aucs).any() else None
            present = [v for v, c in zip(uniques, np.bincount(codes[known]), strict=False) if c]
            measures.append(
                ProxyMeasure(
                    name,
                    attribute,
                    int(known.sum()),
                    cramers_v(table),
                    float(aucs[best]) if best is not None else math.nan,
                    str(present[best]) if best is not None else None,
                )
            )
    return ProxyReport(
        True,
        threshold,
        len(frame),
        tuple(measures),
        min_persons=min_persons,
        incomplete=tuple(incomplete),
    )


def with_points(
    report: ProxyReport,
    points: dict[str, np.ndarray],
    frame: pd.DataFrame,
    attributes: pd.DataFrame,
) -> ProxyReport:
    """``report`` with each override's mean points by attribute value: ``points`` holds the
    per-person points of the factors kept in the scorecard, aligned with ``frame``'s
    ``person_id``."""
    import pandas as pd

    aligned = attributes.reindex(pd.Index(frame["person_id"]))
    done = []
    for o in report.overrides:
        if o.measure.factor not in points:
            done.append(o)
            continue
        by = (
            pd.Series(points[o.measure.factor], index=aligned.index)
            .groupby(aligned[o.measure.attribute].to_numpy(), dropna=True)
            .agg(["size", "mean"])
        )
        rows = tuple((str(v), int(n), float(m)) for v, (n, m) in by.iterrows())
        done.append(replace(o, points=rows))
    return replace(report, overrides=tuple(done))


# -- the gate -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProxyGate:
    """What the test needs from a workspace: its protected attributes (read on record, as
    ``actor``, through ``log``) and its ``[model_risk]`` settings."""

    ws: Workspace
    actor: str
    log: AuditLog

    @property
    def policy(self) -> ModelRiskSection:
        return self.ws.settings.model_risk

    def require(self) -> None:
        """Refuse at once (before any work) when bureau.toml requires the test and no
        attributes are loaded."""
        if self.policy.require_proxy_test and not attributes_loaded(self.ws):
            not_run(self.policy, NOT_LOADED, self.ws)

    def attributes(self, frame: pd.DataFrame, purpose: str) -> pd.DataFrame | None:
        """The protected attributes of ``frame``'s persons (``person_id``), read on record for
        ``purpose``; None when none are loaded.

        Raises:
            UserError: none are loaded and bureau.toml requires the test.
        """
        from openbureau.governance.protected_attributes import read_attributes

        if not attributes_loaded(self.ws):
            not_run(self.policy, NOT_LOADED, self.ws)
            return None
        return read_attributes(
            self.ws, frame["person_id"].tolist(), actor=self.actor, purpose=purpose, log=self.log
        )


NOT_LOADED = "no protected attributes are loaded"


def not_run(policy: ModelRiskSection, why: str, ws: Workspace | None = None) -> ProxyReport:
    """The report of a test that could not run; refused when bureau.toml requires it."""
    if policy.require_proxy_test:
        where = f"{ws.root / 'bureau.toml'}: " if ws is not None else ""
        raise UserError(
            f"{where}[model_risk] require_proxy_test is set and the proxy test cannot run: "
            f"{why}; load them with `openbureau audit-attributes load FILE`"
        )
    return ProxyReport(False, policy.proxy_max_cramers_v, note=why)


def _refusal(m: ProxyMeasure, threshold: float, rest: list[ProxyMeasure], why: str) -> str:
    more = (
        f" (and {len(rest)} more pairs over it: "
        + ", ".join(f"{x.factor}/{x.attribute} {x.cramers_v:.2f}" for x in rest[:3])
        + (" ..." if len(rest) > 3 else "")
        + ")"
        if rest
        else ""
    )
    return (
        f"factor {m.factor!r} is refused as a proxy for {m.attribute}: Cramér's V "
        f"{m.cramers_v:.2f} (AUC {m.auc:.2f} for {m.auc_value}) over {m.persons:,} persons "
        f"is above the threshold {threshold:.2f} ({SETTING} in bureau.toml); {why}{more}"
    )


def enforce(
    report: ProxyReport,
    policy: ModelRiskSection,
    recorded: Callable[[tuple[str, str]], bool] | None = None,
    *,
    where: str = "",
) -> ProxyReport:
    """Refuse the pairs over the threshold that no override covers: one declared in bureau.toml
    and, when ``recorded`` is given (at scoring), recorded in the scorecard too; ``where``
    prefixes the refusal (the scorecard's name).

    Returns:
        The report with the overrides applied.

    Raises:
        ProxyRefused: one line naming the most associated uncovered pair, its measures and the
            threshold (and how many more there are).
        UserError: bureau.toml requires the test and it is incomplete (an attribute with
            fewer than two known values, or known for fewer than proxy_min_persons persons).
    """
    if policy.require_proxy_test and report.incomplete:
        raise UserError(
            f"{where}[model_risk] require_proxy_test is set and the proxy test is incomplete: "
            f"{report.incomplete_why()}; load attributes covering the persons scored with "
            "`openbureau audit-attributes load FILE`"
        )
    applied, refused = [], []
    for m in report.over():
        declared = policy.override(m.factor, m.attribute)
        if declared is None:
            refused.append((m, "bureau.toml declares no business-necessity override for it"))
        elif recorded is not None and not recorded((m.factor, m.attribute)):
            refused.append((m, "the scorecard records no business-necessity override for it"))
        else:
            applied.append(AppliedOverride(m, declared.justification, declared.approved_by))
    if refused:
        (first, why), rest = refused[0], [m for m, _ in refused[1:]]
        if why.startswith("bureau.toml"):
            why += f" ({DECLARE})"
        raise ProxyRefused(where + _refusal(first, report.threshold, rest, why))
    return replace(report, overrides=tuple(applied))


# -- the model report's section -----------------------------------------------------------------
_OVER = ' style="background:#fde2e2;font-weight:600"'
_WARN = ' style="border:2px solid #c53030;padding:.5em;font-weight:600"'


def _cell(m: ProxyMeasure | None, threshold: float) -> str:
    if m is None or not math.isfinite(m.cramers_v):
        return "<td class=num>\u2013</td>"
    style = _OVER if m.cramers_v > threshold else ""
    auc = f"{m.auc:.2f}" if math.isfinite(m.auc) else "\u2013"
    return f"<td class=num{style}>{m.cramers_v:.2f} / {auc}</td>"


def render_section(report: ProxyReport | None, kept: Collection[str] = ()) -> str:
    """The model report's "Proxy test" section: the factor x attribute matrix of Cramér's V and
    AUC, the threshold and the overrides (``kept``: the factors in the scorecard)."""
    if report is None:
        return ""
    e = html.escape
    head = "<section><h2>Proxy test (factors against protected attributes)</h2>"
    if not report.ran:
        return (
            f"{head}<p{_WARN}>The proxy test was NOT RUN: {e(report.note)}. No factor of this "
            "scorecard was checked for standing in for sex, age, ethnicity, national origin or "
            "political engagement.</p></section>"
        )
    by = {(m.factor, m.attribute): m for m in report.measures}
    factors = list(dict.fromkeys(m.factor for m in report.measures))
    attrs = [a for a in report.attributes if any(m.attribute == a for m in report.measures)]
    known = {a: next(m.persons for m in report.measures if m.attribute == a) for a in attrs}
    cols = "".join(f"<th>{e(a)} ({known[a]:,})</th>" for a in attrs)
    rows = "".join(
        f"<tr><td>{e(f)}{' (in the scorecard)' if f in kept else ''}</td>"
        + "".join(_cell(by.get((f, a)), report.threshold) for a in attrs)
        + "</tr>"
        for f in factors
    )
    table = f"<table><thead><tr><th>Factor</th>{cols}</tr></thead><tbody>{rows}</tbody></table>"
    overrides = "".join(
        f"<li>{e(o.measure.factor)} / {e(o.measure.attribute)}: V {o.measure.cramers_v:.2f}"
        f"{'' if o.measure.factor in kept else ' (not selected)'}; approved by "
        f"{e(o.approved_by)}: {e(o.justification)}"
        + (
            "<br>mean points of the factor by value: "
            + ", ".join(f"{e(v)} {m:+.1f} ({n:,})" for v, n, m in o.points)
            if o.points
            else ""
        )
        + "</li>"
        for o in report.overrides
    )
    return (
        f"{head}<p>Each cell: bias-corrected Cramér's V / AUC (how well the factor predicts "
        f"the attribute's best-predicted value, 0.5 = not at all) over the training persons "
        f"with a known value (in the column head; {report.persons:,} persons tested). "
        f"Threshold: V above <b>{report.threshold:.2f}</b> ({SETTING}) is refused unless a "
        f"business-necessity override covers the pair; such cells are shaded. A pair measured "
        f"on fewer than {report.min_persons:,} persons ([model_risk] proxy_min_persons) is not "
        f"judged: too few to tell an association from chance.</p>"
        + (
            f"<p{_WARN}>NOT JUDGED (too few persons): "
            + "; ".join(
                f"{e(m.factor)} / {e(m.attribute)} V {m.cramers_v:.2f} on {m.persons:,}"
                for m in report.not_judged()
            )
            + "</p>"
            if report.not_judged()
            else ""
        )
        + f"{table}<h3>Business-necessity overrides</h3>"
        + (f"<ul>{overrides}</ul>" if overrides else "<p>none</p>")
        + "</section>"
    )
