"""Scoring on the synthetic population: quality against truth, and scale (bench/scoring.py).

``synthetic``: generate, ingest, link, build the ledger; train as of 2024-12-31 on the ledger's
12-month outcome; score as of 2024-12-31; then, on the held-out persons (not defaulted before
the as-of date in truth), the AUC of our score against the generator's true 12-month default,
next to the oracle AUC (the generator's own default probability, on the same persons) and
LightGBM trained on the same features and the same labels. Then what moved the ratio: the
trainer refitted without the latest feature and with the previous binning limits, scored on the
held-out persons and on 3 folds inside the training part (where the settings were chosen).

``scale``: the ledger of a population copied N times under new person ids (e.g. 100,000 x 10 =
1,000,000 persons): point-in-time features and a full score snapshot, in persons per second.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"
TRAIN_AS_OF = dt.date(2024, 12, 31)
EVENT_TABLES = (
    "ledger_account_status",
    "ledger_inquiries",
    "ledger_payments",
    "ledger_public_records",
)


def population(persons: int, seed: int) -> tuple[Path, Path, dict[str, float]]:
    """Generate, ingest, link and build the ledger; reuse an earlier run's workspace."""
    from openbureau.identity import link
    from openbureau.ingest import load_spec
    from openbureau.ingest.load import ingest_file
    from openbureau.ledger import build_ledger
    from openbureau.synth import SynthConfig, generate
    from openbureau.workspace import init_workspace

    root = OUT / f"scoring_{persons}_s{seed}"
    ws_dir, pop = root / "ws", root / "incoming"
    timings: dict[str, float] = {}
    if (ws_dir / "warehouse.duckdb").exists() and (pop / "truth" / "persons.parquet").exists():
        print(f"reusing {root}")
        return ws_dir, pop, timings
    shutil.rmtree(root, ignore_errors=True)
    t = time.perf_counter()
    result = generate(pop, SynthConfig(persons=persons, seed=seed))
    timings["synth"] = time.perf_counter() - t
    ws = init_workspace(ws_dir)
    with ws.engine() as engine:
        t = time.perf_counter()
        for feed, spec in result.specs.items():
            ingest_file(engine, load_spec(spec), result.files[feed], key=ws.national_id_key())
        timings["ingest"] = time.perf_counter() - t
        t = time.perf_counter()
        link(
            engine,
            model_path=ws.root / "models" / "linkage-model.json",
            settings=ws.settings.identity,
            country=ws.settings.bureau.country,
        )
        timings["link"] = time.perf_counter() - t
        t = time.perf_counter()
        build_ledger(engine)
        timings["ledger"] = time.perf_counter() - t
    return ws_dir, pop, timings


def _auc(scores: np.ndarray, bad: np.ndarray) -> float:
    from openbureau.scoring._report import roc_auc

    return roc_auc(scores, bad)


def synthetic(persons: int, seed: int) -> dict[str, float]:
    import lightgbm as lgb

    from openbureau.ledger.features import FEATURES
    from openbureau.scoring import score_snapshot
    from openbureau.scoring.evaluate import truth_outcomes
    from openbureau.scoring.factors import builtin_candidates
    from openbureau.scoring.train import holdout_sql, train
    from openbureau.workspace import Workspace

    ws_dir, pop, timings = population(persons, seed)
    ws = Workspace.open(ws_dir)
    with ws.engine() as engine:
        t = time.perf_counter()
        trained = train(
            engine,
            as_of=TRAIN_AS_OF,
            models_dir=ws.root / "models",
            reports_dir=ws.root / "reports",
        )
        timings["train"] = time.perf_counter() - t
        t = time.perf_counter()
        snap = score_snapshot(engine, trained.scorecard, TRAIN_AS_OF)
        timings["score"] = time.perf_counter() - t
        truth_outcomes(engine, pop / "truth")
        names = [f.name for f in FEATURES]
        candidates = builtin_candidates(engine)
        # train_features / train_outcomes are the training run's temp tables (same session).
        frame = engine.arrow(
            f"""
            SELECT f.person_id, {", ".join("f." + n for n in names)}, o.bad::INTEGER AS bad,
                o.excluded_reason IS NULL AND (f.tradelines >= 1 OR f.alt_months >= 6)
                    AS trainable,
                {holdout_sql("f.person_id", 0.3)} AS holdout,
                ('0x' || substr(md5(f.person_id), 9, 8))::UBIGINT % 3 AS inner_fold,
                s.score, t.default_12m::INTEGER AS true_default, t.pd_12m,
                t.defaulted_before_as_of AS true_defaulted_before
            FROM train_features f JOIN train_outcomes o USING (person_id)
            JOIN scores s ON s.person_id = f.person_id AND s.snapshot_id = ?
            LEFT JOIN person_truth t ON t.person_id = f.person_id""",
            [snap.snapshot_id],
        ).to_pandas()
    fit = frame[frame.trainable & ~frame.holdout]
    held = frame[
        frame.holdout
        & frame.score.notna()
        & frame.true_default.notna()
        & ~frame.true_defaulted_before.fillna(True).astype(bool)
    ]
    truth = held.true_default.to_numpy()
    ours = _auc(held.score.to_numpy(float), truth)
    oracle = _auc(-held.pd_12m.to_numpy(float), truth)
    gbm_aucs = {}
    for label, params in (
        ("defaults", {}),
        (
            "300 trees, 7 leaves, lr 0.03",
            {"n_estimators": 300, "num_leaves": 7, "learning_rate": 0.03},
        ),
    ):
        model = lgb.LGBMClassifier(n_jobs=1, verbose=-1, random_state=42, **params)
        model.fit(fit[names], fit.bad)
        gbm_aucs[label] = _auc(-model.predict_proba(held[names])[:, 1], truth)
    print(f"\n## synthetic population, {persons:,} persons (seed {seed})")
    for k, v in timings.items():
        print(f"  {k:<8} {v:8.1f} s")
    print(
        f"  scorecard {trained.scorecard.version}: {len(trained.scorecard.factors)} factors, "
        f"trained on {trained.persons_train:,} persons, ledger-outcome held-out AUC "
        f"{trained.auc_holdout:.4f}"
    )
    print(
        f"  held-out persons not defaulted before {TRAIN_AS_OF} (truth): {len(held):,}, "
        f"true 12-month default rate {truth.mean():.2%}"
    )
    print(
        f"  AUC against the true 12-month default: ours {ours:.4f}; oracle {oracle:.4f}; "
        f"ours / oracle {ours / oracle:.3f}"
    )
    for label, auc in gbm_aucs.items():
        print(f"  LightGBM ({label}) on the same features and labels: {auc:.4f}")
    print(
        f"  score snapshot: {snap.persons:,} persons in {timings['score']:.1f} s "
        f"({snap.persons / timings['score']:,.0f} persons/s)"
    )
    _what_moved(candidates, fit, held)
    return {"ours": ours, "oracle": oracle, **gbm_aucs}


# What the trainer's binning was before the pre-bins followed the bins (see docs/benchmarks.md).
PREVIOUS_BINNING = {"min_bin_size": 0.01, "min_prebin_size": 0.05, "max_n_bins": 6}
NEW_FEATURE = "alt_past_due_days"


def _fit_and_score(candidates: list, fit, scored, binning: dict | None) -> np.ndarray:
    """The trainer as ``train`` sets it up (or with ``binning``), scores for ``scored``."""
    from openbureau.scoring._compile import NumpyScorer
    from openbureau.scoring._train_fit import MIN_BIN_PERSONS
    from openbureau.scoring.fit import ScorecardTrainer

    varying = [c for c in candidates if fit[c.name].nunique(dropna=True) >= 2]
    size = max(0.002, MIN_BIN_PERSONS / len(fit))
    kw = binning or {"min_bin_size": size, "min_prebin_size": size, "max_n_bins": 10}
    trainer = ScorecardTrainer(varying, min_iv=0.02, **kw).fit(fit, fit["bad"].to_numpy())
    return NumpyScorer(trainer.scorecard_).score(scored)


def _what_moved(candidates: list, fit, held) -> None:
    """Ratio to the oracle of the trainer without the latest feature and with the previous
    binning: on the held-out persons, and on 3 folds inside the training part alone (where the
    settings were chosen; the held-out persons play no part there)."""
    without = [c for c in candidates if c.name != NEW_FEATURE]
    variants = {
        "previous binning, without " + NEW_FEATURE: (without, PREVIOUS_BINNING),
        "current binning, without " + NEW_FEATURE: (without, None),
        "current binning, all features": (candidates, None),
    }
    fold = fit["inner_fold"].to_numpy()
    alive = fit["true_default"].notna() & ~fit["true_defaulted_before"].fillna(True).astype(bool)
    print("  what moved the ratio (ours / oracle): held-out; 3 folds inside the training part")
    for label, (cands, binning) in variants.items():
        truth = held["true_default"].to_numpy()
        held_ratio = _auc(_fit_and_score(cands, fit, held, binning), truth) / _auc(
            -held["pd_12m"].to_numpy(float), truth
        )
        inner = []
        for k in range(3):
            val = fit[(fold == k) & alive]
            y = val["true_default"].to_numpy()
            inner.append(
                _auc(_fit_and_score(cands, fit[fold != k], val, binning), y)
                / _auc(-val["pd_12m"].to_numpy(float), y)
            )
        print(f"    {label:<45} {held_ratio:.3f}; {np.mean(inner):.3f}")


def scaled_workspace(base: int, copies: int, seed: int) -> Path:
    """The ledger of a ``base``-person population copied ``copies`` times under new person
    ids, with a scorecard trained on the base (reused when it exists)."""
    from openbureau.scoring import seal_scorecard
    from openbureau.scoring.train import train
    from openbureau.workspace import Workspace

    ws_dir, _, _ = population(base, seed)
    card_path = ws_dir / "models" / "scorecard.yaml"
    if not card_path.exists():
        with Workspace.open(ws_dir).engine() as engine:
            train(
                engine,
                as_of=TRAIN_AS_OF,
                models_dir=ws_dir / "models",
                reports_dir=ws_dir / "reports",
            )
    big = OUT / f"scoring_scale_{base}x{copies}"
    if not (big / "warehouse.duckdb").exists():
        shutil.rmtree(big, ignore_errors=True)
        shutil.copytree(ws_dir, big)
        t = time.perf_counter()
        with Workspace.open(big).engine() as engine:
            for k in range(1, copies):
                for table in EVENT_TABLES:
                    engine.execute(f"""INSERT INTO {table} SELECT * REPLACE (
                        event_id || '.{k}' AS event_id, record_id || '.{k}' AS record_id,
                        person_id || '.{k}' AS person_id, identity_id || '.{k}' AS identity_id)
                        FROM {table} WHERE person_id NOT LIKE '%.%' ORDER BY person_id""")
                engine.execute(f"""INSERT INTO person_index SELECT * REPLACE (
                    identity_id || '.{k}' AS identity_id, person_id || '.{k}' AS person_id)
                    FROM person_index WHERE person_id NOT LIKE '%.%'""")
        print(f"copied the ledger {copies} times in {time.perf_counter() - t:.0f} s")
    # (a card kept from before cards were sealed is sealed as it is; a sealed one is left alone)
    seal_scorecard(big / "models" / "scorecard.yaml")
    return big


def scale(base: int, copies: int, seed: int) -> None:
    """Copy a population's ledger ``copies`` times and time features and a full snapshot."""
    from openbureau.ledger import compute_features
    from openbureau.scoring import load_scorecard, score_snapshot
    from openbureau.workspace import Workspace

    big = scaled_workspace(base, copies, seed)
    card_path = big / "models" / "scorecard.yaml"
    card = load_scorecard(card_path)
    with Workspace.open(big).engine() as engine:
        persons = engine.scalar("SELECT count(DISTINCT person_id) FROM person_index")
        events = sum(engine.scalar(f"SELECT count(*) FROM {t}") for t in EVENT_TABLES)
        feats, snaps = [], []
        for _ in range(2):
            t = time.perf_counter()
            compute_features(engine, TRAIN_AS_OF, into="bench_features")
            feats.append(time.perf_counter() - t)
            t = time.perf_counter()
            snap = score_snapshot(engine, card, TRAIN_AS_OF)
            snaps.append(time.perf_counter() - t)
    print(f"\n## scale: {persons:,} persons, {events:,} ledger events ({base:,} x {copies})")
    runs = ", ".join(f"{x:.1f}" for x in feats)
    print(
        f"  point-in-time features: {min(feats):.1f} s (runs {runs}) = "
        f"{persons / min(feats):,.0f} persons/s"
    )
    print(
        f"  score snapshot (features, points, reasons with records, publish): "
        f"{min(snaps):.1f} s (runs {', '.join(f'{x:.1f}' for x in snaps)}) = "
        f"{persons / min(snaps):,.0f} persons/s; last: {snap.scored:,} scored"
    )
