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

The fitting is in ``_train_fit.py``, the proxy test in ``_train_proxy.py``, the reports' data,
the consent figures and the ``scorecard_runs`` row in ``_train_report.py``.
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
from openbureau.governance.proxies import ProxyGate, ProxyReport, with_points
from openbureau.ledger import build_ledger
from openbureau.ledger.outcome import horizon_end, label_outcomes
from openbureau.scoring import _out_of_time as oot
from openbureau.scoring import _report as rpt
from openbureau.scoring import _stability as stab
from openbureau.scoring._report_scale import Population, end_shares
from openbureau.scoring._train_fit import refit_scorecard, train_one
from openbureau.scoring._train_proxy import overrides_of, proxy_test
from openbureau.scoring._train_report import consent_figures, consent_lines, record_run, report_data
from openbureau.scoring.alternative import ALT_SCORECARD, alternative_feeds, reads_alternative
from openbureau.scoring.factors import CustomFactor, builtin_candidates, custom_candidates
from openbureau.scoring.scorecard import ALT_MONTHS, MinimumCriteria, Scorecard, save_scorecard

OUTCOME = (
    "90+ days past due or charged off on any account, a bankruptcy filed, or a "
    "utility, telecom or rent bill 60+ days unpaid, within {h} months after the as-of date"
)


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
    if engine.capabilities.dialect != "duckdb":  # (its SQL is not yet run through Spark's)
        raise UserError(
            f"training a scorecard runs on the duckdb engine only so far, not on "
            f"{engine.name}: train on a DuckDB copy of the warehouse (docs/engines.md)"
        )
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
        fits[variant] = train_one(
            part,
            cands,
            customs,
            c_crit,
            as_of=as_of,
            name=card_name,
            overrides=overrides_of(proxies[variant]),
            **settings,
        )
        refit = functools.partial(
            refit_scorecard, cands, customs, c_crit, name=card_name, **settings
        )
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
        data = report_data(
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
            data.figures.update(consent_lines(consent))
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
        record_run(engine, results[variant], card.name, as_of)
    result = results["core"]
    result.alt = results["alternative"]
    result.consent = consent
    return result
