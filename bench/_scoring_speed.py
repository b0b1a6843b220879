"""Scorer speed beside optbinning's ``Scorecard.score()`` (``bench/scoring.py speed``; see its
docstring).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
from optbinning import BinningProcess
from optbinning import Scorecard as OptbScorecard
from sklearn.linear_model import LogisticRegression

from openbureau.scoring._compile import NumpyScorer, factor_points_sql, round_clip_sql
from openbureau.scoring.fit import ScorecardTrainer
from openbureau.scoring.scorecard import load_scorecard, save_scorecard
from scoring import PROTECTED_COLUMNS, as_text, german_credit, german_factors


def _median_seconds(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def speed(args: argparse.Namespace) -> None:
    X, y = german_credit()
    X = X.drop(columns=list(PROTECTED_COLUMNS))
    factors = german_factors(X)
    trainer = ScorecardTrainer(factors).fit(X, y)
    with tempfile.TemporaryDirectory() as tmp:  # score from the file, as production does
        card = load_scorecard(save_scorecard(trainer.scorecard_, Path(tmp) / "german.yaml"))
    # optbinning's equivalent: the same factors, binning limits, trends, C and scaling.
    used = [f for f in factors if f.name in {c.name for c in card.factors}]
    process = BinningProcess(
        [f.name for f in used],
        max_n_prebins=trainer.max_n_prebins,
        categorical_variables=[f.name for f in used if f.kind == "categorical"],
        min_bin_size=trainer.min_bin_size,
        max_n_bins=trainer.max_n_bins,
        binning_fit_params={
            f.name: {"monotonic_trend": f.trend} for f in used if f.kind == "numeric"
        },
    )
    optb = OptbScorecard(
        binning_process=process,
        estimator=LogisticRegression(C=trainer.C),
        scaling_method="pdo_odds",
        scaling_method_params={
            "pdo": card.scaling.pdo,
            "odds": card.scaling.base_odds,
            "scorecard_points": card.scaling.base_score,
        },
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optb.fit(as_text(X[[f.name for f in used]]), y)

    rng = np.random.default_rng(args.seed)
    sample = X.iloc[rng.integers(0, len(X), args.rows)].reset_index(drop=True)
    n = len(sample)
    inputs = {"text": as_text(sample), "pandas categorical": sample}
    n_cat = sum(f.kind == "categorical" for f in card.factors)
    print(
        f"scorecard: {len(card.factors)} factors ({n_cat} categorical), "
        f"{sum(len(f.bins) for f in card.factors)} bins; {n:,} rows"
    )

    con = duckdb.connect()
    con.execute("SET threads = 1")  # one core, like the numpy and optbinning scorers
    con.register("sample_df", inputs["text"].assign(rid=np.arange(n)))
    con.execute("CREATE TABLE sample AS SELECT * FROM sample_df")  # VARCHAR and numbers
    con.unregister("sample_df")
    total = " + ".join(factor_points_sql(f, f'"{f.name}"') for f in card.factors)
    sql = f"SELECT {round_clip_sql(f'({total})', card)} AS score FROM sample"

    scorer = NumpyScorer(card)
    rows: list[tuple[str, str, float, float]] = []  # scorer, input, seconds, optbinning's
    for kind, frame in inputs.items():
        base = _median_seconds(lambda frame=frame: optb.score(frame), args.repeat)
        ours = _median_seconds(lambda frame=frame: scorer.score(frame), args.repeat)
        rows += [
            ("optbinning Scorecard.score()", kind, base, base),
            ("openbureau NumpyScorer", kind, ours, base),
        ]
    base_text = rows[0][2]
    rows.append(
        (
            "DuckDB, compiled CASE SQL",
            "VARCHAR table",
            _median_seconds(lambda: con.execute(sql).fetchnumpy(), args.repeat),
            base_text,
        )
    )
    con.execute("RESET threads")  # for reference: DuckDB as the engine runs it, on every core
    rows.append(
        (
            f"DuckDB, {con.execute('SELECT current_setting(?)', ['threads']).fetchone()[0]}"
            " threads (reference)",
            "VARCHAR table",
            _median_seconds(lambda: con.execute(sql).fetchnumpy(), args.repeat),
            base_text,
        )
    )

    numpy_scores = scorer.score(inputs["text"])
    sql_scores = con.execute(f"{sql} ORDER BY rid").fetchnumpy()["score"]
    differ = int(np.count_nonzero(numpy_scores != np.asarray(sql_scores, dtype=np.int64)))
    assert differ == 0, f"NumpyScorer and the DuckDB SQL disagree on {differ:,} of {n:,} rows"
    assert np.array_equal(numpy_scores, scorer.score(inputs["pandas categorical"]))
    print(f"NumpyScorer and DuckDB SQL scores identical on all {n:,} rows")
    # Points have two decimals, so the exact total is a whole number of hundredths; where it
    # ends in exactly .50, floor(total + 0.5) in floating point depends on the summation order.
    cents = sum(
        np.rint(scorer.factor_points(f, inputs["text"][f.name]) * 100).astype(np.int64)
        for f in card.factors
    )
    s = card.scaling
    exact = np.clip((cents + 50) // 100, s.min_score, s.max_score)
    halves = int(np.count_nonzero(np.asarray(cents) % 100 == 50))
    print(
        f"rows whose exact total ends in .50 (the integer depends on float summation order): "
        f"{halves:,}; scores differing from exact decimal arithmetic: "
        f"{int(np.count_nonzero(exact != numpy_scores)):,}"
    )

    print(
        f"\nmedian of {args.repeat}, one thread each unless said; ratio = optbinning's time "
        "on the same input (text for DuckDB) / this scorer's"
    )
    print(f"{'scorer':30} {'input':20} {'seconds':>8} {'rows/s':>11} {'ratio':>6}")
    for label, kind, secs, base in rows:
        print(f"{label:30} {kind:20} {secs:8.3f} {n / secs:11,.0f} {base / secs:6.1f}")
    best = max(
        base / secs
        for label, _, secs, base in rows
        if not label.startswith("optb") and "reference" not in label
    )
    print(
        f"Goal: a compiled scorer >= 8x optbinning's score(): "
        f"{'met' if best >= 8 else 'NOT met'} (best {best:.1f}x)"
    )
