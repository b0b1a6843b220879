"""The proxy test of a run's candidate factors, before fitting, and the overrides it applied."""

from __future__ import annotations

import pandas as pd

from openbureau.governance.proxies import (
    NOT_LOADED,
    ProxyGate,
    ProxyReport,
    enforce,
    measure,
    not_run,
)
from openbureau.scoring.fit import FactorDef
from openbureau.scoring.scorecard import ProxyOverride

PROXY_PURPOSE = "proxy test of candidate factors at training"


def proxy_test(
    frame: pd.DataFrame,
    variants: dict[str, tuple[pd.DataFrame, list[FactorDef]]],
    gate: ProxyGate | None,
) -> tuple[dict[str, ProxyReport], pd.DataFrame | None]:
    """Each variant's candidates tested on its training persons (``holdout`` false), the
    attributes read once for all of them (``frame``; returned, None when none are loaded);
    refused before anything is fitted.

    Raises:
        ProxyRefused: a candidate is a proxy that no override in bureau.toml covers.
    """
    from openbureau.config import ModelRiskSection

    policy = gate.policy if gate is not None else ModelRiskSection()
    fit = frame[~frame["holdout"]]
    attrs = gate.attributes(fit, PROXY_PURPOSE) if gate is not None else None
    if attrs is None:
        why = NOT_LOADED if gate else "no workspace was given to read protected attributes from"
        return {v: not_run(policy, why) for v in variants}, None
    reports = {}
    for variant, (part, cands) in variants.items():
        tested = measure(
            part.loc[~part["holdout"], ["person_id", *(c.name for c in cands)]],
            [(c.name, c.kind) for c in cands],
            attrs,
            policy.proxy_max_cramers_v,
            policy.proxy_min_persons,
        )
        reports[variant] = enforce(tested, policy)
    return reports, attrs


def overrides_of(report: ProxyReport) -> list[ProxyOverride]:
    """The overrides a test applied, as the scorecard records them."""
    return [
        ProxyOverride(
            factor=o.measure.factor,
            attribute=o.measure.attribute,
            cramers_v=round(o.measure.cramers_v, 4),
            threshold=report.threshold,
            justification=o.justification,
            approved_by=o.approved_by,
        )
        for o in report.overrides
    ]
