"""Is a scorecard stable, and does it hold out of time? Three sections of the model report.

- **Population stability (PSI)** of the scores on comparable populations: every person
  scorable under the scorecard's minimum criteria as of the training date D, delinquent or not
  (the population a score snapshot scores), against the same definition at a later date. The
  training persons are not that population: persons already in serious delinquency on D have
  no outcome and are left out of training, and comparing them with everyone scorable later
  measured the exclusion, not a shift. Bins: deciles of the scores as of D.
- **Characteristic stability (CSI)** per factor: the same index over the factor's own bins
  (the missing bin included), with bin membership from the scorer itself
  (``NumpyScorer.factor_bins``), and the points-weighted shift ``sum((a - e) * points)``: how
  many points the factor moves the average score.
- **Out-of-time validation** (``_out_of_time.py``).

PSI and CSI: ``sum((a - e) * ln(a / e))`` over the bins, ``e`` and ``a`` the shares of the
earlier and later population, floored at 1e-4 so an empty bin stays finite. Usual reading:
below 0.1 stable, 0.1-0.25 some shift, above 0.25 significant shift.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from openbureau.config import AgeingSection
from openbureau.engine import Engine
from openbureau.ledger.features import compute_features
from openbureau.ledger.outcome import horizon_end, label_outcomes, outcome_observed
from openbureau.scoring import _out_of_time as oot
from openbureau.scoring import _report_svg as svg
from openbureau.scoring._compile import NumpyScorer
from openbureau.scoring._report import (
    PsiReport,
    _psi_reading,
    _psi_terms,
    population_stability,
)
from openbureau.scoring.factors import CustomFactor, add_custom_features
from openbureau.scoring.scorecard import MinimumCriteria, Scorecard

READING = "below 0.1 stable, 0.1\u20130.25 some shift, above 0.25 significant shift"


# -- populations ----------------------------------------------------------------------------------
def features_at(
    engine: Engine,
    as_of: dt.date,
    customs: list[CustomFactor],
    ageing: AgeingSection | None,
    into: str,
) -> str:
    """Every indexed person's features as of ``as_of`` (custom factors too) in table ``into``."""
    compute_features(engine, as_of, into=into, ageing=ageing)
    add_custom_features(engine, into, as_of, [(c.name, c.source) for c in customs], ageing=ageing)
    return into


def scorable(engine: Engine, features: str, crit: MinimumCriteria) -> pd.DataFrame:
    """The persons of ``features`` scorable under ``crit``, delinquent or not."""
    return engine.arrow(
        f"SELECT * FROM {features} f WHERE {crit.eligible_sql('f.')} ORDER BY f.person_id"
    ).to_pandas()


def labelled(
    engine: Engine, features: str, outcomes: str, crit: MinimumCriteria, extra: str = ""
) -> pd.DataFrame:
    """The persons a scorecard trains and is validated on: scorable under ``crit`` and with an
    outcome (not excluded, as those already in serious delinquency are); ``bad`` 0/1 and the
    ``extra`` select items (SQL over ``f``, the features)."""
    more = f", {extra}" if extra else ""
    return engine.arrow(f"""
        SELECT f.*, o.bad::INTEGER AS bad{more}
        FROM {features} f JOIN {outcomes} o USING (person_id)
        WHERE o.excluded_reason IS NULL AND {crit.eligible_sql("f.")}
        ORDER BY f.person_id""").to_pandas()


# -- PSI and CSI ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FactorShift:
    """A factor's bins: points, and the shares of the earlier and later population in each."""

    name: str
    code: str
    labels: list[str]
    points: np.ndarray
    expected: np.ndarray
    actual: np.ndarray

    @property
    def terms(self) -> np.ndarray:
        return _psi_terms(self.expected, self.actual)

    @property
    def csi(self) -> float:
        return float(self.terms.sum())

    @property
    def points_shift(self) -> float:
        """How many points this factor moves the average score: ``sum((a - e) * points)``."""
        return float(((self.actual - self.expected) * self.points).sum())


@dataclass(frozen=True)
class Stability:
    """PSI of the scores (decile bins) and each factor's CSI, highest first."""

    psi: PsiReport
    factors: list[FactorShift]
    mean_score_change: float


def decile_edges(scores: np.ndarray) -> np.ndarray:
    """Edges at the deciles of ``scores``, each a score of the sample (so no bin is empty for
    it); tied deciles merge, so there may be fewer than ten bins."""
    s = np.asarray(scores, dtype=float)
    edges = np.unique(np.quantile(s, np.linspace(0, 1, 11), method="inverted_cdf"))
    return edges if edges.size >= 2 else np.array([edges[0], edges[0] + 1.0])


def _shares(card: Scorecard, factor_index: int, frame: pd.DataFrame) -> np.ndarray:
    f = card.factors[factor_index]
    bins = NumpyScorer.factor_bins(f, frame[f.name])
    return np.bincount(bins, minlength=len(f.bins)) / max(len(frame), 1)


def characteristic_stability(
    card: Scorecard, expected: pd.DataFrame, actual: pd.DataFrame
) -> list[FactorShift]:
    """Each factor's bin shares in both populations, by the scorer's own bin lookup; highest
    CSI first."""
    shifts = [
        FactorShift(
            name=f.name,
            code=f.code,
            labels=[b.label for b in f.bins],
            points=np.array([b.points for b in f.bins], dtype=float),
            expected=_shares(card, i, expected),
            actual=_shares(card, i, actual),
        )
        for i, f in enumerate(card.factors)
    ]
    return sorted(shifts, key=lambda s: s.csi, reverse=True)


def stability(
    card: Scorecard,
    expected: pd.DataFrame,
    actual: pd.DataFrame,
    expected_label: str,
    actual_label: str,
) -> Stability | None:
    """PSI and CSI of ``card`` between two populations (None: either is empty)."""
    if not len(expected) or not len(actual):
        return None
    scorer = NumpyScorer(card)
    before, after = scorer.score(expected), scorer.score(actual)
    note = (
        f"Compared: every person scorable under this scorecard's minimum criteria "
        f"{expected_label} ({len(expected):,}), delinquent or not \u2013 the population a score "
        f"snapshot scores \u2013 against the same definition {actual_label} ({len(actual):,}). "
        f"Score bins: the deciles of the scores {expected_label} (tied deciles merge). "
        "PSI = \u03a3 (a \u2212 e) \u00b7 ln(a / e) over the bins, e and a the shares of the "
        "earlier and later population: how far the scores moved, in location or in shape."
    )
    psi = population_stability(
        before,
        after,
        decile_edges(before),
        expected_label=expected_label,
        actual_label=actual_label,
    )
    return Stability(
        psi=PsiReport(psi.expected_label, psi.actual_label, psi.rows, psi.psi, note),
        factors=characteristic_stability(card, expected, actual),
        mean_score_change=float(after.mean() - before.mean()),
    )


# -- rendering ------------------------------------------------------------------------------------
def render_csi(st: Stability | None) -> str:
    """The characteristic stability section: factors by CSI, then each one's bin shares."""
    head = "<section><h2>Characteristic stability</h2>"
    if st is None:
        return f"{head}<p>Not computed: nobody is scorable at the later date.</p></section>"
    exp, act = st.psi.expected_label, st.psi.actual_label
    rows = []
    for f in st.factors:
        moved = int(np.argmax(np.abs(f.actual - f.expected)))
        rows.append(
            [
                f.name,
                f.code,
                svg.num(f.csi, ".4f"),
                _psi_reading(f.csi),
                svg.points(f.points_shift),
                f"{f.labels[moved]}: {f.expected[moved]:.1%} \u2192 {f.actual[moved]:.1%}",
            ]
        )
    summary = svg.table(
        ["Factor", "Code", "CSI", "Reading", "Points shift", "Bin that moved most"],
        rows,
        text=(0, 1, 3, 5),
    )
    total = sum(f.points_shift for f in st.factors)
    details = "".join(_factor_details(f, exp, act) for f in st.factors)
    return (
        f"{head}<p>For each factor, the shares of the two populations compared above in each "
        "of its bins (the missing bin included), the bins assigned exactly as scoring assigns "
        "them. CSI = \u03a3 (a \u2212 e) \u00b7 ln(a / e) over the factor's bins, read as PSI "
        f"({READING}). Points shift = \u03a3 (a \u2212 e) \u00b7 points: how many points the "
        f"factor moves the average score. Together: {total:+.1f} points; the mean score moved "
        f"{st.mean_score_change:+.1f} (rounding and the 300\u2013850 clip make the "
        f"difference).</p>{summary}{details}</section>"
    )


def _factor_details(f: FactorShift, exp: str, act: str) -> str:
    rows = [
        [
            label,
            svg.points(float(p)),
            svg.num(float(e), ".2%"),
            svg.num(float(a), ".2%"),
            svg.num(float(t), ".4f"),
            svg.points(float((a - e) * p)),
        ]
        for label, p, e, a, t in zip(f.labels, f.points, f.expected, f.actual, f.terms, strict=True)
    ]
    table = svg.table(["Bin", "Points", exp, act, "CSI term", "Points shift"], rows)
    return (
        f"<details><summary>{svg.esc(f.name)}: CSI {svg.num(f.csi, '.4f')}, "
        f"{svg.points(f.points_shift)} points</summary>{table}</details>"
    )


# -- the checks of a training run -----------------------------------------------------------------
Variant = tuple[
    pd.DataFrame, MinimumCriteria, Scorecard, Callable[[pd.DataFrame, dt.date], Scorecard]
]


def run_checks(
    engine: Engine,
    variants: Mapping[str, Variant],
    *,
    features: str,
    as_of: dt.date,
    later: dt.date,
    horizon_months: int,
    holdout: str,
    customs: list[CustomFactor],
    ageing: AgeingSection | None,
) -> dict[str, tuple[Stability | None, list[oot.OotCheck]]]:
    """PSI and CSI between ``as_of`` and ``later`` and the out-of-time checks, per scorecard.

    Args:
        variants: per scorecard of the run: its training persons as of ``as_of`` (with
            ``bad`` and ``holdout``), its minimum criteria, the scorecard, and its fit (the
            same settings and candidates) on other training persons as of another date.
        features: the table of features as of ``as_of`` the run trained on.
        holdout: SQL, true for a held-out person (of ``f``, the features).
    """
    later_features = features_at(engine, later, customs, ageing, "later_features")
    shadow_as_of = horizon_end(as_of, -horizon_months)
    shadow_features = features_at(engine, shadow_as_of, customs, ageing, "shadow_features")
    shadow_outcomes = label_outcomes(engine, shadow_as_of, horizon_months, into="shadow_outcomes")
    validate_at = horizon_end(as_of, horizon_months)
    direct: tuple[str, str] | None = None
    if outcome_observed(engine, validate_at, horizon_months):
        direct_features = later_features
        if validate_at != later:
            direct_features = features_at(engine, validate_at, customs, ageing, "oot_features")
        direct = (
            direct_features,
            label_outcomes(engine, validate_at, horizon_months, "oot_outcomes"),
        )
    unobserved = (
        f"not yet: the outcome after {validate_at} needs the ledger to reach "
        f"{horizon_end(validate_at, horizon_months)}"
    )
    out = {}
    for variant, (part, crit, card, fit) in variants.items():
        st = stability(
            card,
            scorable(engine, features, crit),
            scorable(engine, later_features, crit),
            f"as of {as_of}",
            f"as of {later}",
        )
        shadow = oot.shadow_check(
            labelled(engine, shadow_features, shadow_outcomes, crit, f"{holdout} AS holdout"),
            part,
            fit,
            trained_as_of=shadow_as_of,
            validated_as_of=as_of,
        )
        this = oot.direct_check(
            card,
            part[part["holdout"]],
            labelled(engine, *direct, crit) if direct else None,
            trained_as_of=as_of,
            validated_as_of=validate_at,
            unobserved=unobserved,
        )
        out[variant] = (st, [shadow, this])
    return out


def key_figures(st: Stability | None, checks: list[oot.OotCheck]) -> dict[str, str]:
    """Lines for the report's key figures."""
    figures = {}
    if st is not None:
        figures[f"PSI, scorable persons {st.psi.expected_label} vs {st.psi.actual_label}"] = (
            f"{st.psi.psi:.4f} ({_psi_reading(st.psi.psi)})"
        )
        top = st.factors[0]
        figures["highest CSI"] = f"{top.csi:.4f} ({top.name}, {_psi_reading(top.csi)})"
    for c in checks:
        if c.difference is not None:
            figures[f"AUC in time / out of time, {c.scorecard} as of {c.trained_as_of}"] = (
                f"{c.auc_in_time:.4f} / {c.auc_out_of_time:.4f} ({c.difference:+.4f})"
            )
    return figures
