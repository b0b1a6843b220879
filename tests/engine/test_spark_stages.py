"""Stages on a Spark warehouse: the same scores and reasons as on DuckDB, and writes that are
whole or not at all.

Needs Java 17 (the ``spark`` fixture, one session for the whole run: skipped without it,
failed under CI)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from openbureau.engine import DuckDBEngine, Engine, EngineError, SparkEngine, copy_warehouse
from openbureau.scoring import Scorecard
from openbureau.scoring.score import score_snapshot
from openbureau.warehouse import SCHEMA_VERSION
from openbureau.workspace import Workspace, init_workspace
from tests.conftest import BANK_GOOD_ROWS, BANK_HEADER
from tests.scoring.test_score import HAND_WRITTEN

pytestmark = pytest.mark.spark

AS_OF = dt.date(2025, 12, 31)


@pytest.fixture(scope="module")
def duckdb_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 synthetic persons ingested, linked and in the ledger, on DuckDB: the file."""
    from openbureau.identity import link
    from openbureau.ingest import load_spec
    from openbureau.ingest.load import ingest_file
    from openbureau.ledger import build_ledger
    from openbureau.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("spark-stages")
    result = generate(root / "incoming", SynthConfig(persons=300, seed=5))
    ws: Workspace = init_workspace(root / "ws")
    (ws.root / ws.settings.secrets.national_id_key).write_text("5a" * 32 + "\n")
    with ws.engine() as engine:
        for feed, spec_path in result.specs.items():
            ingest_file(engine, load_spec(spec_path), result.files[feed], key=ws.national_id_key())
        link(engine, model_path=root / "model.json", settings=ws.settings.identity, country="US")
        build_ledger(engine)
    return ws.warehouse_path


def _warehouse(spark: SparkEngine, where: Path) -> SparkEngine:
    return SparkEngine(spark.checkpoint_dir, warehouse=where)


def _scores(engine: Engine, snapshot_id: str) -> list[dict[str, object]]:
    rows = engine.arrow(
        "SELECT person_id, as_of, score, band, unscorable_reason, unscorable_text, reasons, "
        "scorecard_version FROM scores WHERE snapshot_id = ? ORDER BY person_id",
        [snapshot_id],
    ).to_pylist()
    for row in rows:  # (a ratio's last digits: DOUBLE on both, summed in another order)
        for reason in row["reasons"] or []:
            reason["value"] = None if reason["value"] is None else round(reason["value"], 9)
    return rows


def test_scores_and_reasons_are_the_same_on_spark(
    spark: SparkEngine, duckdb_warehouse: Path, tmp_path: Path
) -> None:
    card = Scorecard.model_validate(yaml.safe_load(HAND_WRITTEN))
    duck = DuckDBEngine(Path(shutil.copy(duckdb_warehouse, tmp_path / "w.duckdb")))
    on_spark = _warehouse(spark, tmp_path / "spark")
    copied = copy_warehouse(duck, on_spark)
    assert "ledger_account_status" in copied and "person_index" in copied
    expected = score_snapshot(duck, card, AS_OF)
    got = score_snapshot(on_spark, card, AS_OF)
    assert (got.persons, got.scored, got.unscorable) == (
        expected.persons,
        expected.scored,
        expected.unscorable,
    )
    want = _scores(duck, expected.snapshot_id)
    assert len(want) > 250 and any(r["reasons"] for r in want)
    assert _scores(on_spark, got.snapshot_id) == want
    on_spark.close()


def test_a_transaction_on_spark_is_whole_or_nothing(spark: SparkEngine, tmp_path: Path) -> None:
    engine = _warehouse(spark, tmp_path / "wh")
    engine.execute("CREATE TABLE t (k VARCHAR NOT NULL, n INTEGER, PRIMARY KEY (k))")
    engine.execute("INSERT INTO t VALUES (?, ?)", ["a", 1])
    with pytest.raises(RuntimeError), engine.transaction():
        engine.execute("INSERT INTO t VALUES ('b', 2)")
        engine.execute("CREATE TABLE u AS SELECT * FROM t")
        engine.execute("CREATE TEMP TABLE kept AS SELECT k FROM t")
        assert engine.scalar("SELECT count(*) FROM t") == 2  # (seen inside it)
        raise RuntimeError("a stage failed half way")
    assert engine.query("SELECT k, n FROM t") == [("a", 1)]
    assert not engine.table_exists("u") and not engine.table_exists("kept")
    assert not (tmp_path / "wh" / "u").exists()
    with engine.transaction():
        engine.execute("INSERT INTO t BY NAME SELECT 'c' AS k")
    assert sorted(engine.query("SELECT k, n FROM t")) == [("a", 1), ("c", None)]
    # another process finds the tables, and one stopped half way through a transaction left
    # its journal, which opening the warehouse rolls back
    with engine.transaction():
        engine.execute("INSERT INTO t VALUES ('d', 4)")
        shutil.copytree(tmp_path / "wh", tmp_path / "stopped")
    engine.close()
    reopened = _warehouse(spark, tmp_path / "stopped")
    assert sorted(reopened.query("SELECT k FROM t")) == [("a",), ("c",)]
    assert not (tmp_path / "stopped" / "_journal").exists()
    reopened.close()


def test_a_workspace_names_the_spark_engine(spark: SparkEngine, tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    (ws.root / "bureau.toml").write_text(
        '[warehouse]\nengine = "spark"\n[warehouse.spark]\npath = "tables"\n'
    )
    with Workspace.open(ws.root).engine() as engine:
        assert engine.capabilities.dialect == "spark"
        assert engine.scalar("SELECT max(version) FROM warehouse_schema") == SCHEMA_VERSION
    assert (ws.root / "tables" / "warehouse_schema").is_dir()
    with (
        Workspace.open(ws.root).engine(read_only=True) as engine,
        pytest.raises(EngineError, match="read-only"),
    ):
        engine.execute("INSERT INTO warehouse_schema VALUES (2, now())")


def test_a_stage_not_yet_on_spark_is_refused_in_one_line(
    spark: SparkEngine, tmp_path: Path, cli, bank_spec: Path
) -> None:
    """Ingest (and mapping batches onto the ledger) update rows in place, which Parquet
    tables do not: on a Spark warehouse they are refused in one line, nothing written."""
    ws = init_workspace(tmp_path / "ws")
    (ws.root / "bureau.toml").write_text(
        '[warehouse]\nengine = "spark"\n[warehouse.spark]\npath = "tables"\n'
    )
    data = tmp_path / "bank.csv"
    data.write_text(BANK_HEADER + "\n".join(BANK_GOOD_ROWS) + "\n", encoding="utf-8")
    res = cli("train", "--as-of", "2024-12-31", "-w", ws.root)
    assert res.exit_code == 2, res.output
    assert "training a scorecard runs on the duckdb engine only so far" in res.output
    assert res.output.strip().count("\n") == 0, res.output
    res = cli("ingest", bank_spec, data, "-w", ws.root)
    assert res.exit_code == 2, res.output
    assert res.output.strip().count("\n") == 0, res.output
    assert "ingest needs the engine capabilities session_variables, row_updates" in res.output
    assert not (ws.root / "tables" / "ingest_batches").exists()


def test_the_outcome_and_a_ledger_run_are_the_same_on_spark(
    spark: SparkEngine, duckdb_warehouse: Path, tmp_path: Path
) -> None:
    """The training outcome (bankruptcies reported or the court's) labels the same persons on
    Spark, and a ledger run with nothing new to map (its views made again) runs there."""
    from openbureau.ledger import build_ledger, label_outcomes

    duck = DuckDBEngine(Path(shutil.copy(duckdb_warehouse, tmp_path / "w.duckdb")))
    on_spark = _warehouse(spark, tmp_path / "spark")
    copy_warehouse(duck, on_spark)
    assert build_ledger(on_spark).batches == 0
    sql = "SELECT person_id, bad FROM o ORDER BY person_id"
    label_outcomes(duck, dt.date(2024, 12, 31), into="o", horizon_months=12)
    label_outcomes(on_spark, dt.date(2024, 12, 31), into="o", horizon_months=12)
    want = duck.query(sql)
    assert len(want) > 250 and any(bad for _, bad in want)
    assert on_spark.query(sql) == want
    on_spark.close()
    duck.close()
