"""German Credit's protected attributes and the proxy test of its columns (``scoring.py german``).

The attributes are derived from German Credit's own columns: sex from ``personal_status_and_sex``
("male : single" -> male), national origin from ``foreign_worker``, and the age band (the bands
of the synthetic population's attributes) from ``age_in_years``. The test is
``governance.proxies``' ``measure`` over every guarded column against each attribute, then
``enforce`` with bureau.toml's default ``[model_risk]`` (no override), which refuses what is
over the threshold; age stays only under a business-necessity override, whose ECOA condition
(the elderly are not scored down) is checked on each fitted scorecard.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from openbureau.config import BusinessNecessity, ModelRiskSection
from openbureau.governance.factor_guard import FactorRefused, check_fields
from openbureau.governance.proxies import (
    ProxyRefused,
    ProxyReport,
    enforce,
    measure,
    with_points,
)
from openbureau.scoring._compile import NumpyScorer
from openbureau.scoring.scorecard import Scorecard
from openbureau.synth._protected import AGE_BAND_FLOORS, AGE_BANDS

AGE = "age_in_years"
# 12 CFR 1002.2(o): an elderly applicant is 62 or older. 1002.6(b)(2)(ii): an empirically
# derived, demonstrably and statistically sound system may use age if an elderly applicant's
# age is not assigned a negative factor or value, i.e. (1002.2(v)) points no lower than those
# of the most favoured non-elderly applicants.
ELDERLY_FROM = 62
AGE_OVERRIDE = BusinessNecessity(
    factor=AGE,
    attribute="age_band",
    justification="ECOA 12 CFR 1002.6(b)(2)(ii): age in an empirically derived scorecard, "
    f"declared trend descending in risk, so applicants {ELDERLY_FROM}+ are never scored down",
    approved_by="bench/scoring.py german (a demonstration, not a bureau's approval)",
)


def person_ids(n: int) -> np.ndarray:
    return np.array([f"g{i:04d}" for i in range(n)], dtype=object)


def german_attributes(X: pd.DataFrame) -> pd.DataFrame:
    """Sex, age band and national origin of each applicant, indexed by ``person_ids``."""
    age_band = np.array(AGE_BANDS, dtype=object)[np.digitize(X[AGE], AGE_BAND_FLOORS[1:])]
    return pd.DataFrame(
        {
            "sex": X["personal_status_and_sex"].astype(str).str.partition(" : ")[0].to_numpy(),
            "age_band": age_band,
            "national_origin": np.where(
                X["foreign_worker"].astype(str) == "yes", "foreign", "domestic"
            ),
        },
        index=pd.Index(person_ids(len(X)), name="person_id"),
    )


def proxy_report(X: pd.DataFrame, kinds: dict[str, str], attributes: pd.DataFrame) -> ProxyReport:
    """``measure`` of the columns of ``X`` (kind per column) at bureau.toml's default threshold."""
    frame = X.assign(person_id=person_ids(len(X)))
    threshold = ModelRiskSection().proxy_max_cramers_v
    return measure(frame, [(c, kinds[c]) for c in X.columns], attributes, threshold)


def show_matrix(report: ProxyReport) -> list[str]:
    """Print the V / AUC matrix and the refusals; return the columns refused without override."""
    attrs = list(dict.fromkeys(m.attribute for m in report.measures))
    by = {(m.factor, m.attribute): m for m in report.measures}
    print(
        f"Proxy test (governance.proxies.measure; {report.persons:,} persons): bias-corrected "
        f"Cramér's V / AUC per column and protected attribute; * = V above "
        f"{report.threshold:.2f} ([model_risk] proxy_max_cramers_v default)"
    )
    print(f"  {'column':57}" + "".join(f"{a:>18}" for a in attrs))
    for factor in dict.fromkeys(m.factor for m in report.measures):
        cells = []
        for a in attrs:
            m = by[(factor, a)]
            star = "*" if m.cramers_v > report.threshold else " "
            cells.append(f"{m.cramers_v:>9.3f} / {m.auc:.3f}{star}")
        print(f"  {factor:57}" + "".join(f"{c:>18}" for c in cells))
    print("  " + report.summary())
    try:
        enforce(report, ModelRiskSection())
    except ProxyRefused as exc:
        print(f"  without an override: ProxyRefused: {exc}")
    return sorted({m.factor for m in report.over()})


def show_age_under_guard() -> None:
    """What the factor guard does with age: it reads the declared category, not the column."""
    print(
        f"  {AGE}: age is no protected data category; declared as this bench declares every "
        "applicant attribute ('credit') the guard lets it through"
    )
    try:
        check_fields(AGE, [(AGE, "identity")])
    except FactorRefused as exc:
        print(f"  declared for what it derives from (date of birth, 'identity'): {exc}")
    else:
        raise SystemExit("the factor guard let identity data through")


def elderly_not_scored_down(card: Scorecard, X: pd.DataFrame) -> bool | None:
    """Whether every applicant 62+ gets at least the age points of every younger one (None: age
    is not in the scorecard)."""
    factor = next((f for f in card.factors if f.name == AGE), None)
    if factor is None:
        return None
    points = NumpyScorer.factor_points(factor, X[AGE])
    elderly = X[AGE].to_numpy() >= ELDERLY_FROM
    return bool(points[elderly].min() >= points[~elderly].max())


def show_age_override(
    report: ProxyReport, card: Scorecard, X: pd.DataFrame, attributes: pd.DataFrame
) -> None:
    """The override applied (``enforce``) and whom the age factor moves (``with_points``) in
    ``card``, fitted on ``X``."""
    kept = enforce(report, ModelRiskSection(business_necessity=[AGE_OVERRIDE]))
    factor = next((f for f in card.factors if f.name == AGE), None)
    if factor is None:
        print(f"  {AGE} not selected by the scorecard fitted on all persons")
        return
    frame = X.assign(person_id=person_ids(len(X)))
    points = {AGE: NumpyScorer.factor_points(factor, X[AGE])}
    (override,) = with_points(kept, points, frame, attributes).overrides
    order = {band: i for i, band in enumerate(AGE_BANDS)}
    rows = sorted(override.points, key=lambda r: order[r[0]])
    print(
        f"  kept under a business-necessity override ({override.justification}); mean points "
        f"of {AGE} by age band, scorecard fitted on all {len(X):,}: "
        + ", ".join(f"{band} {mean:+.1f} ({n})" for band, n, mean in rows)
    )
    verdict = elderly_not_scored_down(card, X)
    print(
        f"  applicants {ELDERLY_FROM}+ get at least the age points of every younger applicant: "
        f"{'yes' if verdict else 'NO'}; bins: "
        + ", ".join(f"{b.label} {b.points:+.1f}" for b in factor.bins)
    )


def tally(verdicts: Iterable[bool | None]) -> str:
    """'k of n' fold scorecards where the elderly are not scored down (and where age was not
    selected)."""
    found = list(verdicts)
    held = sum(v is True for v in found)
    absent = sum(v is None for v in found)
    return f"{held} of {len(found)}" + (f" ({absent} without age)" if absent else "")
