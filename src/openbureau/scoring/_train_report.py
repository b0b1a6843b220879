"""A training run's report glue: the report's data, the consent figures, the scorecard_runs row."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from openbureau.engine import Engine
from openbureau.governance.proxies import ProxyReport
from openbureau.scoring import _report as rpt
from openbureau.scoring._compile import NumpyScorer
from openbureau.scoring._report_scale import Population, odds_text
from openbureau.scoring.fit import ScorecardTrainer
from openbureau.scoring.scorecard import MinimumCriteria, Scorecard
from openbureau.warehouse import scoring as tables

if TYPE_CHECKING:
    from openbureau.scoring.train import TrainResult

RUNS = tables.SCORECARD_RUNS.create_sql()


def consent_figures(
    frame: pd.DataFrame,
    core: Scorecard,
    alt: Scorecard,
    core_crit: MinimumCriteria,
) -> dict[str, float]:
    """What consent does for the held-out persons with alternative data (``alt_months`` > 0),
    if they all opted in: the share whose served score (the better of core and alternative)
    is above their core score, the rise (median, mean, 90th percentile, points), the share
    newly scorable, and the AUC of the served score among all held-out persons scorable
    either way, against the core score's among the same persons (persons unscorable without
    consent count at the lowest score for that one)."""
    held = frame[frame["holdout"]]
    core_s = NumpyScorer(core).score(held).astype(float)
    alt_s = NumpyScorer(alt).score(held).astype(float)
    core_ok = (held["tradelines"] >= core_crit.tradelines).to_numpy()
    core_s = np.where(core_ok, core_s, np.nan)
    served = np.where(np.isnan(core_s), alt_s, np.maximum(core_s, alt_s))
    with_alt = (held["alt_months"] > 0).to_numpy()
    rises = with_alt & core_ok & (served > core_s)
    newly = with_alt & ~core_ok
    gain = (served - core_s)[rises]
    floor = float(core.scaling.min_score)
    outcomes = held["bad"].to_numpy()
    return {
        "persons_with_alternative_data": float(with_alt.sum()),
        "share_rising": float(rises.sum() / max(1, (with_alt & core_ok).sum())),
        "median_rise": float(np.median(gain)) if len(gain) else 0.0,
        "mean_rise": float(np.mean(gain)) if len(gain) else 0.0,
        "p90_rise": float(np.percentile(gain, 90)) if len(gain) else 0.0,
        "share_newly_scorable": float(newly.sum() / max(1, with_alt.sum())),
        "auc_core": rpt.roc_auc(np.where(core_ok, core_s, floor), outcomes),
        "auc_served": rpt.roc_auc(served, outcomes),
    }


def consent_lines(c: dict[str, float]) -> dict[str, str]:
    return {
        "if every held-out person with alternative data consented": (
            f"{c['persons_with_alternative_data']:,.0f} persons: "
            f"{c['share_rising']:.1%} of those with a core score score higher (median "
            f"+{c['median_rise']:.0f}, mean +{c['mean_rise']:.1f}, 90th percentile "
            f"+{c['p90_rise']:.0f} points); {c['share_newly_scorable']:.1%} become scorable"
        ),
        "AUC, all held-out persons: core score / better of core and alternative": (
            f"{c['auc_core']:.3f} / {c['auc_served']:.3f}"
        ),
    }


def record_run(engine: Engine, r: TrainResult, name: str, as_of: dt.date) -> None:
    engine.execute(RUNS)
    top = r.stability.factors[0] if r.stability else None
    shadow, this = r.out_of_time if r.out_of_time else (None, None)
    row = {
        "version": r.scorecard.version,
        "name": name,
        "as_of": as_of,
        "persons_train": r.persons_train,
        "persons_holdout": r.persons_holdout,
        "bad_rate": r.bad_rate,
        "auc_holdout": r.auc_holdout,
        "ks_holdout": r.ks_holdout,
        "psi": r.psi,
        "factors": len(r.scorecard.factors),
        "excluded": len(r.scorecard.excluded),
        "scorecard_path": str(r.scorecard_path),
        "report_path": str(r.report_path),
        "csi_max": top.csi if top else None,
        "csi_max_factor": top.name if top else None,
        "shadow_as_of": shadow.trained_as_of if shadow else None,
        "shadow_auc_in_time": shadow.auc_in_time if shadow else None,
        "shadow_auc_out_of_time": shadow.auc_out_of_time if shadow else None,
        "auc_out_of_time": this.auc_out_of_time if this else None,
    }
    with engine.transaction():
        engine.execute("DELETE FROM scorecard_runs WHERE version = ?", [r.scorecard.version])
        engine.execute(
            f"INSERT INTO scorecard_runs ({', '.join(row)}, trained_at) "
            f"VALUES ({', '.join('?' for _ in row)}, now())",
            list(row.values()),
        )


def report_data(
    card: Scorecard,
    trainer: ScorecardTrainer,
    held: pd.DataFrame,
    scores: np.ndarray,
    as_of: dt.date,
    n_train: int,
    psi: rpt.PsiReport | None,
    population: Population | None = None,
    proxy: ProxyReport | None = None,
) -> rpt.ReportData:
    s = card.scaling
    factors = [
        rpt.FactorReport(
            name=f.name,
            code=f.code,
            group=f.group,
            statement=f.statement,
            iv=f.iv or 0.0,
            trend=f.trend or "",
            bins=[
                rpt.BinRow(
                    label=b.label,
                    count=b.count or 0,
                    event_rate=b.event_rate if b.event_rate is not None else float("nan"),
                    woe=b.woe or 0.0,
                    points=b.points,
                )
                for b in f.bins
            ],
        )
        for f in card.factors
    ]
    excluded = [
        rpt.ExcludedFactor(
            name=str(e["name"]),
            reason=str(e["reason"]),
            iv=float(e["iv"]) if e.get("iv") is not None else None,
        )
        for e in card.excluded
    ]
    return rpt.ReportData(
        title=f"Scorecard {card.name} {card.version}",
        scorecard_name=card.name,
        scorecard_version=card.version,
        as_of=as_of,
        outcome=card.outcome,
        created_at=dt.datetime.now(),
        sample_label=f"held-out persons ({len(held):,}; trained on {n_train:,})",
        scores=scores,
        outcomes=held["bad"].to_numpy(),
        scaling=card.scaling,
        bands=list(card.bands),
        factors=factors,
        excluded=excluded,
        psi=psi,
        population=population,
        proxy=proxy,
        figures={
            "factors": str(len(card.factors)),
            "candidate factors": str(len(card.factors) + len(card.excluded)),
            "scaling": f"{s.base_score:g} points at odds {odds_text(s.base_odds)}, "
            f"{s.pdo:g} points to double the odds",
            **({"proxy test": proxy.summary()} if proxy is not None else {}),
        },
    )
