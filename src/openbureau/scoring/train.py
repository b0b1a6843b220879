"""``openbureau train --as-of D``: fit a scorecard on the outcome after D, write it and a report.

1. the ledger is brought up to date, candidate factors pass the factor guard;
2. features as of D and the outcome in the 12 months after it are computed in the engine;
3. the population is every scorable person not already in serious delinquency on D; a fixed
   share of persons (by a hash of their ID, so the split is stable) is held out;
4. the trainer fits on the rest; the held-out persons give the report's figures, and every
   scorable person on D (those left out as already in serious delinquency too) the share
   scoring at either end of the fixed scale (``TrainResult.at_ends``; warned above 1 %);
5. stability on comparable populations and out-of-time validation (scoring/_stability.py);
6. the scorecard file (versioned YAML) and the HTML report are written; the run is recorded.

Two scorecards are fitted in one run (scoring/alternative.py): the **core** scorecard, on credit
data only (no alternative-data factor; persons with a credit account), written as
``models/scorecard.yaml``; and the scorecard **with alternative data** (every factor; persons
with a credit account or enough utility, telecom or rent history), written as
``models/scorecard-alternative.yaml``. Each has its report; the alternative one also says what
consent would do for the held-out persons: how many would score higher, by how much, and how
many would become scorable.
"""

from __future__ import annotations

import datetime as dt
import functools
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from openbureau.config import AgeingSection
from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.governance import fairness as fair
from openbureau.governance.proxies import (
    NOT_LOADED,
    ProxyGate,
    ProxyReport,
    enforce,
    measure,
    not_run,
    with_points,
)
from openbureau.ledger import build_ledger
from openbureau.ledger.features import FEATURES_BY_NAME
from openbureau.ledger.outcome import horizon_end, label_outcomes
from openbureau.scoring import _out_of_time as oot
from openbureau.scoring import _report as rpt
from openbureau.scoring import _stability as stab
from openbureau.scoring._compile import NumpyScorer
from openbureau.scoring._report_scale import Population, end_shares, odds_text
from openbureau.scoring.alternative import ALT_SCORECARD, alternative_feeds, reads_alternative
from openbureau.scoring.factors import (
    CustomFactor,
    builtin_candidates,
    custom_candidates,
)
from openbureau.scoring.fit import FactorDef, ScorecardTrainer
from openbureau.scoring.scorecard import (
    ALT_MONTHS,
    MinimumCriteria,
    ProxyOverride,
    Scorecard,
    save_scorecard,
)

OUTCOME = (
    "90+ days past due or charged off on any account, a bankruptcy filed, or a "
    "utility, telecom or rent bill 60+ days unpaid, within {h} months after the as-of date"
)

# The fewest training persons a bin may hold, whatever the share: a WoE needs some to rest on.
MIN_BIN_PERSONS = 30

RUNS = """CREATE TABLE IF NOT EXISTS scorecard_runs (
    version VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, as_of DATE NOT NULL,
    trained_at TIMESTAMP NOT NULL, persons_train BIGINT NOT NULL, persons_holdout BIGINT NOT NULL,
    bad_rate DOUBLE NOT NULL, auc_holdout DOUBLE, ks_holdout DOUBLE, psi DOUBLE,
    factors INTEGER NOT NULL, excluded INTEGER NOT NULL, scorecard_path VARCHAR NOT NULL,
    report_path VARCHAR NOT NULL)"""
# Added with the stability checks (scoring/_stability.py); NULL where not measured. ``psi``
# compares the populations scorable at training and a horizon later.
RUN_COLUMNS = {
    "csi_max": "DOUBLE",
    "csi_max_factor": "VARCHAR",
    "shadow_as_of": "DATE",
    "shadow_auc_in_time": "DOUBLE",
    "shadow_auc_out_of_time": "DOUBLE",
    "auc_out_of_time": "DOUBLE",
}


@dataclass
class TrainResult:
    scorecard: Scorecard
    scorecard_path: Path
    report_path: Path
    persons_train: int
    persons_holdout: int
    bad_rate: float
    auc_holdout: float
    ks_holdout: float
    psi: float | None
    excluded: list[dict[str, object]] = field(default_factory=list)
    seconds: float = 0.0
    # the scorecard with alternative data, fitted in the same run (the fields above: core)
    alt: TrainResult | None = None
    consent: dict[str, float] = field(default_factory=dict)  # see consent_figures
    stability: stab.Stability | None = None  # psi above is its psi.psi
    out_of_time: list[oot.OotCheck] = field(default_factory=list)  # shadow, then this one
    # shares of every person scorable on the as-of date at the lowest and the highest score
    at_ends: tuple[float, float] = (0.0, 0.0)
    proxy: ProxyReport | None = None  # the proxy test of this scorecard's candidates


def holdout_sql(person_id: str, share: float) -> str:
    """True for the persons held out: a stable hash of the person id, not a random draw."""
    return f"((('0x' || substr(md5({person_id}), 1, 8))::UBIGINT % 1000) < {round(share * 1000)})"


def _training_frame(
    engine: Engine,
    as_of: dt.date,
    horizon: int,
    holdout: float,
    customs: list[CustomFactor],
    crit: MinimumCriteria,
    ageing: AgeingSection | None = None,
) -> pd.DataFrame:
    features = stab.features_at(engine, as_of, customs, ageing, "train_features")
    outcomes = label_outcomes(engine, as_of, horizon, into="train_outcomes")
    # every scorable person; those already in serious delinquency (``left_out``: no new
    # default to predict) are not trained on, but are scored and count in the scale's use
    return engine.arrow(f"""
        SELECT f.*, o.bad::INTEGER AS bad, {holdout_sql("f.person_id", holdout)} AS holdout,
            o.excluded_reason IS NOT NULL AS left_out
        FROM {features} f JOIN {outcomes} o USING (person_id)
        WHERE {crit.eligible_sql("f.")}
        ORDER BY f.person_id""").to_pandas()


def train(
    engine: Engine,
    *,
    as_of: dt.date,
    models_dir: Path,
    reports_dir: Path,
    horizon_months: int = 12,
    holdout: float = 0.3,
    name: str = "openbureau",
    customs: list[CustomFactor] | None = None,
    psi_as_of: dt.date | None = None,
    min_iv: float = 0.02,
    min_bin_size: float = 0.002,
    max_n_bins: int = 10,
    progress: Callable[[str, int, int], None] | None = None,
    ageing: AgeingSection | None = None,
    fairness: fair.AttributeSource | None = None,
    proxy: ProxyGate | None = None,
) -> TrainResult:
    """Fit, write and record the core scorecard and the one with alternative data, both
    trained on the outcome after ``as_of``; the result is the core one's (``alt``: the other).

    Features count only items not aged off by their date under ``ageing`` (bureau.toml's
    ``[ageing]``; default: the law's periods).

    ``min_bin_size`` (a share of the training persons, never fewer than ``MIN_BIN_PERSONS``)
    also bounds optbinning's pre-binning: its default (5 %) hid small groups that are almost
    all bad, such as persons past due on two accounts or with a bill unpaid for weeks.

    Each report's Fairness section compares the held-out persons' groups, read (on record)
    from ``fairness``'s audit store; without it, or with nothing loaded, it says why not.

    ``proxy``: the workspace's protected attributes and ``[model_risk]`` settings; every
    candidate is tested on the training persons before anything is fitted (governance/
    proxies.py), and a proxy no override covers is refused (None: the test is not run, and
    the reports say so).

    Raises:
        ProxyRefused: a candidate is a proxy for a protected attribute; nothing is written.
    """
    start = time.perf_counter()
    customs = customs or []
    tick = progress or (lambda step, done, total: None)
    if proxy is not None:
        proxy.require()
    tick("ledger", 0, 6)
    build_ledger(engine)
    candidates = builtin_candidates(engine) + custom_candidates(engine, customs)
    feeds = alternative_feeds(engine)
    core_candidates = [
        c for c in candidates if not reads_alternative(c.group, [f for f, _ in c.fields], feeds)
    ]
    crit, core_crit = MinimumCriteria(alt_months=ALT_MONTHS), MinimumCriteria()
    tick("features and outcomes", 1, 6)
    scorable = _training_frame(engine, as_of, horizon_months, holdout, customs, crit, ageing)
    # (persons already in serious delinquency: no new default to predict, scored all the same)
    frame, left_out = scorable[~scorable["left_out"]], scorable[scorable["left_out"]]
    core_frame = frame[frame["tradelines"] >= core_crit.tradelines]
    outs = {
        "core": left_out[left_out["tradelines"] >= core_crit.tradelines],
        "alternative": left_out,
    }
    later = psi_as_of or horizon_end(as_of, horizon_months)
    variants = (
        ("core", core_frame, core_candidates, core_crit),
        ("alternative", frame, candidates, crit),
    )
    proxies, attrs = proxy_test(frame, {v: (p, c) for v, p, c, _ in variants}, proxy)
    models_dir.mkdir(parents=True, exist_ok=True)
    fits, checked = {}, {}
    settings: dict[str, Any] = {
        "min_iv": min_iv,
        "min_bin_size": min_bin_size,
        "max_n_bins": max_n_bins,
        "outcome": OUTCOME.format(h=horizon_months),
    }
    for step, (variant, part, cands, c_crit) in enumerate(variants):
        card_name = name if variant == "core" else f"{name}-alternative"
        tick(f"fitting the {variant} scorecard", 2 + step, 6)
        fits[variant] = _train_one(
            part,
            cands,
            customs,
            c_crit,
            as_of=as_of,
            name=card_name,
            overrides=overrides_of(proxies[variant]),
            **settings,
        )
        refit = functools.partial(_refit, cands, customs, c_crit, name=card_name, **settings)
        checked[variant] = (part, c_crit, fits[variant][1], refit)
    tick("stability and out-of-time validation", 4, 6)
    checks = stab.run_checks(
        engine,
        checked,
        features="train_features",
        as_of=as_of,
        later=later,
        horizon_months=horizon_months,
        holdout=holdout_sql("f.person_id", holdout),
        customs=customs,
        ageing=ageing,
    )
    core, alt = fits["core"], fits["alternative"]
    consent = consent_figures(frame, core[1], alt[1], core_crit)
    tick("writing scorecards and reports", 5, 6)
    # (one audited read for both reports: the alternative's held-out persons include the core's)
    groups = fairness.read(list(frame.loc[frame["holdout"], "person_id"])) if fairness else None
    results = {}
    for variant, active in (("core", "scorecard.yaml"), ("alternative", ALT_SCORECARD)):
        trainer, card, scorer, part = fits[variant]
        st, oot_checks = checks[variant]
        fit_part, held = part[~part["holdout"]], part[part["holdout"]]
        if attrs is not None and proxies[variant].overrides:
            proxies[variant] = with_points(
                proxies[variant],
                {f.name: scorer.factor_points(f, fit_part[f.name]) for f in card.factors},
                fit_part,
                attrs,
            )
        held_scores = scorer.score(held)
        outcomes = held["bad"].to_numpy()
        path = save_scorecard(card, models_dir / "scorecards" / f"{card.name}-{card.version}.yaml")
        shutil.copyfile(path, models_dir / active)  # the active scorecard of its kind
        out_scores = scorer.score(outs[variant])
        population = Population(
            np.concatenate([scorer.score(part), out_scores]),
            out_scores,
            outs[variant]["bad"].to_numpy(),
        )
        data = _report_data(
            card,
            trainer,
            held,
            held_scores,
            as_of,
            len(fit_part),
            st.psi if st else None,
            population,
            proxies[variant],
        )
        data.figures.update(stab.key_figures(st, oot_checks))
        data.sections.extend([stab.render_csi(st), oot.render(oot_checks, horizon_months)])
        if variant == "alternative":
            data.figures.update(_consent_lines(consent))
        scores = {variant: held_scores}
        if variant == "alternative":  # side by side; no core score without a credit account
            core_ok = (held["tradelines"] >= core_crit.tradelines).to_numpy()
            scores = {"core": np.where(core_ok, fits["core"][2].score(held), np.nan), **scores}
        data = replace(
            data,
            fairness=fair.report_section(
                fairness,
                groups,
                list(held["person_id"]),
                scores,
                outcomes,
                [(b.name, b.min_score, b.max_score) for b in card.bands],
                data.sample_label,
            ),
        )
        report = rpt.write_report(data, reports_dir / f"model-{card.name}-{card.version}.html")
        results[variant] = TrainResult(
            card,
            path,
            report,
            len(fit_part),
            len(held),
            float(part["bad"].mean()),
            rpt.roc_auc(held_scores, outcomes),
            rpt.ks_statistic(held_scores, outcomes),
            st.psi.psi if st else None,
            card.excluded,
            time.perf_counter() - start,
            stability=st,
            out_of_time=oot_checks,
            at_ends=end_shares(population.scores, card.scaling),
            proxy=proxies[variant],
        )
        _record(engine, results[variant], card.name, as_of)
    result = results["core"]
    result.alt = results["alternative"]
    result.consent = consent
    return result


def _train_one(
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
    trainer, card = _fit(
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


def _refit(
    candidates: list[FactorDef],
    customs: list[CustomFactor],
    crit: MinimumCriteria,
    rows: pd.DataFrame,
    as_of: dt.date,
    **settings: Any,
) -> Scorecard:
    """The same fit on other training persons as of another date (the shadow scorecard)."""
    return _fit(rows, candidates, customs, crit, as_of=as_of, **settings)[1]


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


def _consent_lines(c: dict[str, float]) -> dict[str, str]:
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


def _fit(
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


def _record(engine: Engine, r: TrainResult, name: str, as_of: dt.date) -> None:
    engine.execute(RUNS)
    have = set(engine.columns("scorecard_runs"))
    for column, sql_type in RUN_COLUMNS.items():
        if column not in have:
            engine.execute(f"ALTER TABLE scorecard_runs ADD COLUMN {column} {sql_type}")
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


def _report_data(
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
