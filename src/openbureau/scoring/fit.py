"""Fit a points scorecard: optimal binning with set trends, WoE, logistic regression, scaling.

``ScorecardTrainer`` follows scikit-learn's estimator conventions: ``__init__`` only stores its
arguments, ``fit`` validates and returns ``self``, learned state ends in ``_`` (``scorecard_``,
``iv_``, ``excluded_``). It imports optbinning and scikit-learn, the training-time dependencies
(the ``train`` extra); scoring never does.

Decisions the defaults of the libraries would otherwise make for us:

- every factor has an explicit monotonic trend (no ``auto``: it gave non-monotone points);
- **missing values** get the weight of evidence observed for them when at least
  ``min_missing_count`` training persons have no value (for "months since a delinquency" no
  value means "never", which is good news); with fewer, the factor's worst bin, so that having
  no data never earns more points than bad data; unseen categories are treated as missing;
- a factor whose binning finds no split (one bin for every value, and no trusted missing bin)
  would give everyone the same points and is left out; so is a factor whose information value
  is below ``min_iv`` (default 0: selection is left to the joint model, below, because a factor
  weak on its own can still add to the others, such as a guarantor); each is listed with why;
- a factor whose coefficient turns against its own evidence in the joint model (collinear with
  a stronger one) is left out and the model refitted, so every factor's points rise with its
  observed good:bad odds.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from openbureau.errors import UserError
from openbureau.governance.factor_guard import check_fields
from openbureau.scoring._compile import NumpyScorer
from openbureau.scoring.scorecard import (
    Band,
    Bin,
    Factor,
    FieldRef,
    MinimumCriteria,
    Scaling,
    Scorecard,
    bands_for,
)


@dataclass(frozen=True)
class FactorDef:
    """A candidate factor: a column of the training frame and what it means."""

    name: str
    code: str
    statement: str
    fields: list[tuple[str, str]]  # (field, data category)
    trend: str = "auto_asc_desc"
    kind: str = "numeric"  # numeric | categorical
    group: str = "other"
    description: str = ""


@dataclass
class Excluded:
    name: str
    reason: str
    iv: float | None = None


@dataclass
class _Binned:
    factor: FactorDef
    bins: list[Bin] = field(default_factory=list)  # with woe, count, event_rate; points = 0
    iv: float = 0.0


class ScorecardTrainer(BaseEstimator):
    """Optimal binning + logistic regression on WoE, scaled to points (see module docstring).

    Args:
        factors: candidate factors; None takes every column of X (object/category columns as
            categorical) with fields named after the columns and category "unknown", which
            the factor guard refuses: declare the factors to train on data.
        min_iv: information value below which a candidate is left out (0: none on that count).
        max_n_bins / min_bin_size / max_n_prebins / min_prebin_size: optbinning's binning
            limits (shares of the training rows but ``max_n_*``).
        C: inverse regularisation strength of the logistic regression.
        min_missing_count: training persons without a value needed to trust their WoE.
    """

    def __init__(
        self,
        factors: list[FactorDef] | None = None,
        *,
        name: str = "scorecard",
        min_iv: float = 0.0,
        max_n_bins: int = 6,
        min_bin_size: float = 0.03,
        max_n_prebins: int = 20,
        min_prebin_size: float = 0.05,
        C: float = 1.0,
        min_missing_count: int = 30,
        scaling: Scaling | None = None,
        bands: list[Band] | None = None,
        minimum_criteria: MinimumCriteria | None = None,
        outcome: str = "",
    ) -> None:
        self.factors = factors
        self.name = name
        self.min_iv = min_iv
        self.max_n_bins = max_n_bins
        self.min_bin_size = min_bin_size
        self.max_n_prebins = max_n_prebins
        self.min_prebin_size = min_prebin_size
        self.C = C
        self.min_missing_count = min_missing_count
        self.scaling = scaling
        self.bands = bands
        self.minimum_criteria = minimum_criteria
        self.outcome = outcome

    # -- fitting -----------------------------------------------------------------------------

    def _candidates(self, X: pd.DataFrame) -> list[FactorDef]:
        if self.factors is not None:
            missing = [f.name for f in self.factors if f.name not in X.columns]
            if missing:
                raise UserError(f"training data has no column for factor {missing[0]!r}")
            return list(self.factors)
        out = []
        for i, col in enumerate(X.columns):
            cat = X[col].dtype.name in ("object", "category", "string", "bool")
            out.append(
                FactorDef(
                    name=str(col),
                    code=f"F{i + 1:02d}",
                    statement=str(col),
                    fields=[(str(col), "unknown")],
                    kind="categorical" if cat else "numeric",
                )
            )
        return out

    def fit(self, X: pd.DataFrame, y: Any) -> ScorecardTrainer:
        """Bin, select, fit and scale. ``y``: 1 = default (bad), 0 = good."""
        from optbinning import BinningProcess

        y_arr = np.asarray(y).astype(int)
        if len(y_arr) != len(X):
            raise UserError(f"{len(X)} rows of factors but {len(y_arr)} outcomes")
        if set(np.unique(y_arr)) != {0, 1}:
            raise UserError("the outcome needs both goods (0) and bads (1) to train on")
        candidates = self._candidates(X)
        for f in candidates:  # the factor guard, before any data is looked at
            check_fields(f.name, f.fields)
        frame = _frame(X, candidates)
        names = [f.name for f in candidates]
        process = BinningProcess(
            names,
            categorical_variables=[f.name for f in candidates if f.kind == "categorical"],
            max_n_prebins=self.max_n_prebins,
            min_prebin_size=self.min_prebin_size,
            min_bin_size=self.min_bin_size,
            max_n_bins=self.max_n_bins,
            binning_fit_params={f.name: {"monotonic_trend": _trend(f)} for f in candidates},
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            process.fit(frame, y_arr)
        self.binning_process_ = process
        binned = [self._bins(process, f) for f in candidates]
        self.iv_ = {b.factor.name: b.iv for b in binned}
        self.excluded_: list[Excluded] = []
        kept = []
        for b in binned:
            if b.iv < self.min_iv:
                self.excluded_.append(
                    Excluded(
                        b.factor.name, f"information value {b.iv:.4f} is below {self.min_iv}", b.iv
                    )
                )
            elif len(b.bins) == 2 and (b.bins[-1].count or 0) < self.min_missing_count:
                self.excluded_.append(
                    Excluded(
                        b.factor.name,
                        "binning found no split: every value would get the same points",
                        b.iv,
                    )
                )
            else:
                kept.append(b)
        if not kept:
            raise UserError(
                "no candidate factor separates goods from bads"
                + (f" with information value {self.min_iv} or more" if self.min_iv > 0 else "")
            )
        kept, model = self._fit_signs(kept, frame, y_arr)
        self.estimator_ = model
        self.scorecard_ = self._scale(kept, model)
        return self

    def _bins(self, process: Any, f: FactorDef) -> _Binned:
        optb = process.get_binned_variable(f.name)
        table = optb.binning_table.build()
        rows = table.drop(index="Totals") if "Totals" in table.index else table
        n = len(rows) - 2  # last two rows are Special and Missing
        splits = optb.splits
        bins: list[Bin] = []
        for i in range(n):
            r = rows.iloc[i]
            kw: dict[str, Any]
            if f.kind == "categorical":
                kw = {"categories": [str(c) for c in splits[i]]}
            else:
                kw = {
                    "lower": None if i == 0 else float(splits[i - 1]),
                    "upper": None if i == n - 1 else float(splits[i]),
                }
            bins.append(
                Bin(
                    points=0.0,
                    count=int(r["Count"]),
                    event_rate=float(r["Event rate"]),
                    woe=float(r["WoE"]),
                    **kw,
                )
            )
        if not bins:  # a constant column: one bin over everything
            bins.append(
                Bin(
                    points=0.0, count=0, woe=0.0, categories=[] if f.kind == "categorical" else None
                )
            )
        miss = rows.iloc[n + 1]
        miss_count = int(miss["Count"])
        miss_woe = (
            float(miss["WoE"])
            if miss_count >= self.min_missing_count
            else min(b.woe or 0.0 for b in bins)
        )
        bins.append(
            Bin(
                missing=True,
                points=0.0,
                count=miss_count,
                event_rate=float(miss["Event rate"]) if miss_count else None,
                woe=miss_woe,
            )
        )
        iv = float(table.loc["Totals", "IV"]) if "Totals" in table.index else 0.0
        return _Binned(f, bins, iv if math.isfinite(iv) else 0.0)

    def _woe_matrix(self, kept: list[_Binned], frame: pd.DataFrame) -> np.ndarray:
        cols = []
        for b in kept:
            as_points = [bn.model_copy(update={"points": bn.woe or 0.0}) for bn in b.bins]
            fac = Factor(
                name=b.factor.name,
                code=b.factor.code,
                statement="-",
                kind=b.factor.kind,
                bins=as_points,
            )
            cols.append(NumpyScorer.factor_points(fac, frame[b.factor.name]))
        return np.column_stack(cols)

    def _fit_signs(
        self, kept: list[_Binned], frame: pd.DataFrame, y: np.ndarray
    ) -> tuple[list[_Binned], LogisticRegression]:
        while True:
            model = LogisticRegression(C=self.C, max_iter=2000)
            model.fit(self._woe_matrix(kept, frame), y)
            coefs = model.coef_[0]
            # WoE = ln(good share / bad share): a sound factor lowers the log-odds of default.
            worst = int(np.argmax(coefs))
            if coefs[worst] <= 0 or len(kept) == 1:
                return kept, model
            b = kept.pop(worst)
            self.excluded_.append(
                Excluded(
                    b.factor.name,
                    "its weight turned against its own evidence in the joint model "
                    "(collinear with stronger factors)",
                    b.iv,
                )
            )

    def _scale(self, kept: list[_Binned], model: LogisticRegression) -> Scorecard:
        scaling = self.scaling or Scaling()
        k = len(kept)
        shared = (scaling.offset - scaling.factor * float(model.intercept_[0])) / k
        factors = []
        for b, coef in zip(kept, model.coef_[0], strict=True):
            bins = [
                bn.model_copy(
                    update={
                        "points": round(shared - scaling.factor * float(coef) * (bn.woe or 0.0), 2)
                    }
                )
                for bn in b.bins
            ]
            f = b.factor
            factors.append(
                Factor(
                    name=f.name,
                    code=f.code,
                    group=f.group,
                    statement=f.statement,
                    description=f.description,
                    kind=f.kind,
                    trend=_trend(f),
                    fields=[FieldRef(field=n, category=c) for n, c in f.fields],
                    iv=round(b.iv, 4),
                    bins=bins,
                )
            )
        return Scorecard(
            name=self.name,
            outcome=self.outcome,
            scaling=scaling,
            bands=self.bands or bands_for(scaling),  # the same odds on any scale
            minimum_criteria=self.minimum_criteria or MinimumCriteria(),
            factors=factors,
            excluded=[
                {
                    "name": e.name,
                    "reason": e.reason,
                    **({"iv": round(e.iv, 4)} if e.iv is not None else {}),
                }
                for e in self.excluded_
            ],
        )

    # -- using the fitted scorecard ----------------------------------------------------------

    def predict_score(self, X: pd.DataFrame) -> np.ndarray:
        """Scores from the compiled scorecard (300-850 by default)."""
        check_is_fitted(self, "scorecard_")
        card: Scorecard = self.scorecard_
        frame = _frame(
            X, [f for f in self._candidates(X) if f.name in {c.name for c in card.factors}]
        )
        return NumpyScorer(card).score(frame)


def _trend(f: FactorDef) -> str:
    return f.trend if f.kind == "numeric" else "auto"


def _frame(X: pd.DataFrame, factors: list[FactorDef]) -> pd.DataFrame:
    out = {}
    for f in factors:
        col = X[f.name]
        if f.kind == "categorical":
            out[f.name] = (
                col.astype(object)
                .where(col.notna(), None)
                .map(lambda v: v if v is None else str(v))
            )
        else:
            out[f.name] = pd.to_numeric(col, errors="coerce").astype(float)
    return pd.DataFrame(out, index=X.index)
