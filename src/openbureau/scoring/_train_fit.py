"""Fitting one scorecard: bin, select and fit on the training persons, then version it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from openbureau.errors import UserError
from openbureau.ledger.features import FEATURES_BY_NAME
from openbureau.scoring import _out_of_time as oot
from openbureau.scoring._compile import NumpyScorer
from openbureau.scoring.factors import CustomFactor
from openbureau.scoring.fit import FactorDef, ScorecardTrainer
from openbureau.scoring.scorecard import MinimumCriteria, ProxyOverride, Scorecard

# The fewest training persons a bin may hold, whatever the share: a WoE needs some to rest on.
MIN_BIN_PERSONS = 30


def train_one(
    part: pd.DataFrame,
    candidates: list[FactorDef],
    customs: list[CustomFactor],
    crit: MinimumCriteria,
    *,
    as_of: dt.date,
    name: str,
    min_iv: float,
    min_bin_size: float,
    max_n_bins: int,
    outcome: str,
    overrides: list[ProxyOverride] | None = None,
) -> tuple[ScorecardTrainer, Scorecard, NumpyScorer, pd.DataFrame]:
    """Fit one scorecard on the training persons of ``part``; its scorer."""
    fit_part, held = part[~part["holdout"]], part[part["holdout"]]
    for rows, label in ((fit_part, "training"), (held, "held-out")):
        if rows["bad"].nunique() < 2 or len(rows) < oot.MIN_PERSONS:
            raise UserError(
                f"not enough {label} data as of {as_of} for the {name} scorecard: "
                f"{len(rows)} scorable persons, {int(rows['bad'].sum())} defaults; train on "
                "a larger population or another --as-of"
            )
    trainer, card = fit_scorecard(
        fit_part,
        candidates,
        customs,
        crit,
        as_of=as_of,
        name=name,
        min_iv=min_iv,
        min_bin_size=min_bin_size,
        max_n_bins=max_n_bins,
        outcome=outcome,
        overrides=overrides or [],
    )
    return trainer, card, NumpyScorer(card), part


def refit_scorecard(
    candidates: list[FactorDef],
    customs: list[CustomFactor],
    crit: MinimumCriteria,
    rows: pd.DataFrame,
    as_of: dt.date,
    **settings: Any,
) -> Scorecard:
    """The same fit on other training persons as of another date (the shadow scorecard)."""
    return fit_scorecard(rows, candidates, customs, crit, as_of=as_of, **settings)[1]


def fit_scorecard(
    fit_part: pd.DataFrame,
    candidates: list[FactorDef],
    customs: list[CustomFactor],
    crit: MinimumCriteria,
    *,
    as_of: dt.date,
    name: str,
    min_iv: float,
    min_bin_size: float,
    max_n_bins: int,
    outcome: str,
    overrides: list[ProxyOverride] | None = None,
) -> tuple[ScorecardTrainer, Scorecard]:
    """Bin, select and fit on the training persons; the versioned scorecard."""
    # A factor that does not vary among the training persons can say nothing (for example
    # "months since a serious delinquency" once those in serious delinquency are excluded).
    flat = [c for c in candidates if fit_part[c.name].nunique(dropna=True) < 2]
    candidates = [c for c in candidates if c not in flat]
    bin_size = max(min_bin_size, MIN_BIN_PERSONS / len(fit_part))
    trainer = ScorecardTrainer(
        candidates,
        name=name,
        min_iv=min_iv,
        minimum_criteria=crit,
        min_bin_size=bin_size,
        min_prebin_size=bin_size,
        max_n_bins=max_n_bins,
        outcome=outcome,
    )
    trainer.fit(fit_part, fit_part["bad"].to_numpy())
    kept = {f.name for f in trainer.scorecard_.factors}
    card = trainer.scorecard_.model_copy(
        update={
            "trained_as_of": as_of,
            "created_at": dt.datetime.now().isoformat(timespec="seconds"),
            "excluded": trainer.scorecard_.excluded
            + [
                {"name": c.name, "reason": "takes a single value (or none) among training persons"}
                for c in flat
            ],
            # (the proxies kept under a business necessity: sealed with the card)
            "business_necessity": [o for o in overrides or [] if o.factor in kept] or None,
        }
    )
    for f in card.factors:  # custom factors carry their source, so scoring can compute them
        custom = next((c for c in customs if c.name == f.name), None)
        if custom is not None:
            f.custom = custom.source
        elif f.name in FEATURES_BY_NAME:
            f.missing_statement = FEATURES_BY_NAME[f.name].statement_if_missing
    return trainer, card.sealed()
