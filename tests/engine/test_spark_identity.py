"""One link model, two engines: the same persons on DuckDB and on local Spark.

Needs Java 17 (CI installs Debian's openjdk-17-jre-headless); skipped, saying so, without it
(failed in CI: the ``spark`` fixture, one session for the whole run, in tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from openbureau.engine import DuckDBEngine, Engine, EngineError, SparkEngine
from openbureau.identity import on_engine
from openbureau.identity.link import INPUT_COLUMNS
from openbureau.workspace import Workspace, init_workspace

pytestmark = pytest.mark.spark

# The match probability at which a workspace joins two records (identity.link_threshold).
THRESHOLD = 0.9
DEFAULT_MODEL = Path(on_engine.__file__).parent / "data" / "default-linkage-model.json"


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, Path]:
    """300 synthetic persons' standardised identity records (link's input) and the model a
    workspace trained on them (on DuckDB)."""
    from openbureau.identity import link
    from openbureau.ingest import load_spec
    from openbureau.ingest.load import ingest_file
    from openbureau.synth import SynthConfig, generate

    root = tmp_path_factory.mktemp("spark-population")
    result = generate(root / "incoming", SynthConfig(persons=300, seed=5))
    ws: Workspace = init_workspace(root / "ws")
    (ws.root / ws.settings.secrets.national_id_key).write_text("5a" * 32 + "\n")
    model = ws.root / "models" / "linkage-model.json"
    with ws.engine() as engine:
        for feed, spec_path in result.specs.items():
            ingest_file(engine, load_spec(spec_path), result.files[feed], key=ws.national_id_key())
        link(engine, model_path=model, settings=ws.settings.identity, country="US")
        records = engine.arrow(
            f"SELECT {INPUT_COLUMNS} FROM identity_records WHERE usable ORDER BY identity_id"
        )
    return records, model


def _duckdb_with(records: pa.Table) -> DuckDBEngine:
    engine = DuckDBEngine()
    with engine.registered("arrow_records", records):
        engine.execute("CREATE TABLE records AS SELECT * FROM arrow_records")
    return engine


def _persons(engine: Engine, model: Path) -> dict[str, str]:
    clusters = on_engine.cluster_records(engine, "records", on_engine.load_model(model), THRESHOLD)
    return dict(zip(*(clusters[c].to_pylist() for c in ("unique_id", "cluster_id")), strict=True))


def _same_person_share(a: dict[str, str], b: dict[str, str]) -> float:
    """The share of records whose person (the set of records clustered with them) is the same
    under both clusterings."""
    assert a.keys() == b.keys()

    def members(c: dict[str, str]) -> dict[str, frozenset[str]]:
        groups: dict[str, set[str]] = {}
        for record, cluster in c.items():
            groups.setdefault(cluster, set()).add(record)
        return {r: frozenset(groups[c[r]]) for r in c}

    ma, mb = members(a), members(b)
    return sum(ma[r] == mb[r] for r in a) / len(a)


@pytest.fixture(scope="module")
def on_spark(spark: SparkEngine, population: tuple[pa.Table, Path]) -> SparkEngine:
    records, _ = population
    spark.spark.createDataFrame(records).createOrReplaceTempView("records")
    return spark


@pytest.mark.parametrize("model_of", ["workspace", "default"])
def test_a_model_trained_on_duckdb_finds_the_same_persons_on_spark(
    on_spark: SparkEngine, population: tuple[pa.Table, Path], model_of: str
) -> None:
    records, trained = population
    model = trained if model_of == "workspace" else DEFAULT_MODEL
    on_duckdb = _persons(_duckdb_with(records), model)
    spark_persons = _persons(on_spark, model)
    share = _same_person_share(on_duckdb, spark_persons)
    print(f"{model_of} model: {len(records)} records, same person for {share:.2%}")
    assert share >= 0.999
    # (and the model does link: records of one person are joined, not left alone)
    assert len(set(spark_persons.values())) < 0.8 * len(records)
    # Splink's views, and the Parquet files behind them, do not outlive the run
    views = [t.name for t in on_spark.spark.catalog.listTables() if t.name.startswith("__splink")]
    assert views == []
    assert not list(on_spark.checkpoint_dir.glob("*/__splink*"))


def test_a_model_trained_on_spark_finds_the_same_persons_on_duckdb(
    on_spark: SparkEngine, population: tuple[pa.Table, Path], tmp_path: Path
) -> None:
    records, _ = population
    model = tmp_path / "spark-model.json"
    # (u from 100,000 random pairs rather than all 1.7 million: 90 s less on local Spark)
    on_engine.train_model(on_spark, "records", model, max_pairs=1e5)
    assert on_engine.model_dialect(model) == "duckdb"  # (saved as every engine reads it)
    saved = json.loads(model.read_text())
    assert "jaro_winkler(" not in json.dumps(saved)  # (Spark's name of the function)
    spark_persons = _persons(on_spark, model)
    share = _same_person_share(_persons(_duckdb_with(records), model), spark_persons)
    print(f"spark-trained model: same person for {share:.2%}")
    assert share >= 0.999
    assert len(set(spark_persons.values())) < 0.8 * len(records)


def test_the_spark_engine_has_no_transactions(spark: SparkEngine) -> None:
    with pytest.raises(EngineError, match="no transactions"), spark.transaction():
        pass
