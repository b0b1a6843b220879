"""A link model trained and applied on any engine: DuckDB's or Spark's (Splink's backends).

What a saved model does to standardised identity records on its own: Splink scores the
candidate pairs and joins those above a threshold into persons (connected components). The
workspace's ``link`` does more around it on DuckDB (national-ID edges, the rules that split a
cluster, persistent person IDs, incremental runs); this is the part that runs on Spark today,
and the check that one model file means the same persons on both engines (docs/engines.md).

``records`` is a table in the engine with link.INPUT_COLUMNS: ``unique_id`` and the compared
columns of :data:`_splink.COLUMNS`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
from splink.internals.database_api import DatabaseAPI

from openbureau.engine import Engine, SparkEngine
from openbureau.identity import _splink
from openbureau.identity._dialect import functions

# Splink's tables on Spark are temporary views named so (see SparkEngine.drop_views).
_SPLINK_VIEWS = "__splink__"
# Pairs sampled for the u values (bureau.toml's identity.u_max_pairs by default).
MAX_PAIRS = 5e6


@contextmanager
def _splink_api(engine: Engine, records: str) -> Iterator[tuple[DatabaseAPI[Any], str]]:
    """Splink's backend for ``engine``, and the name ``records`` has there."""
    backend = engine.capabilities.splink_backend
    if backend == "duckdb":
        with _splink.scratch(engine) as (db_api, warehouse):
            engine.execute(f"CREATE VIEW link_records AS SELECT * FROM {warehouse}.{records}")
            yield db_api, "link_records"
        return
    if backend != "spark" or not isinstance(engine, SparkEngine):
        engine.require("linking records", "splink_backend")
        raise ValueError(f"no Splink backend for the {engine.name} engine here")
    from splink.backends.spark import SparkAPI

    spark_api = SparkAPI(spark_session=engine.spark)
    for statement in functions("spark"):
        engine.run_spark_sql(statement)  # (already Spark's SQL)
    try:
        yield spark_api, records
    finally:
        # (Splink's views outlive its linker: the session would keep them, and their data)
        engine.drop_views(_SPLINK_VIEWS)


def cluster_records(
    engine: Engine, records: str, model: _splink.LinkageModel, threshold: float
) -> pa.Table:
    """The persons of ``records`` under ``model``: columns ``unique_id`` and ``cluster_id``
    (the smallest unique_id of the person's records), one row per record."""
    with _splink_api(engine, records) as (db_api, table):
        linker = _splink.linker_for(db_api, table, model.settings)
        edges = _splink.predict_all(linker, threshold)
        clusters = _splink.cluster(db_api, table, edges, threshold)
        return engine.arrow(
            f"SELECT CAST(unique_id AS STRING) AS unique_id, "
            f"CAST(cluster_id AS STRING) AS cluster_id FROM {clusters} ORDER BY unique_id"
        )


def train_model(
    engine: Engine, records: str, path: Path, *, seed: int = 1, max_pairs: float = MAX_PAIRS
) -> None:
    """Estimate a model on ``records`` with Splink on ``engine`` and save it at ``path``.

    The same estimation as a workspace's training (u by sampling, m by EM on its blocks, the
    prior from the deterministic rule), less what that counts in DuckDB's SQL: u of the exact
    levels counted over all pairs, and the checks that let birth dates and national IDs split
    a cluster (both off here). ``max_pairs`` random pairs estimate the u values (all pairs
    of a smaller population)."""
    present = ", ".join(f"count({c}) / count(*) AS {c}" for c in _splink.COLUMNS)
    shares = engine.arrow(f"SELECT {present} FROM {records}").to_pylist()[0]
    completeness = {c: float(v or 0.0) for c, v in shares.items()}
    shared_token = engine.scalar(
        f"SELECT count(*) FROM (SELECT national_id_token FROM {records} "
        "WHERE national_id_token IS NOT NULL GROUP BY 1 HAVING count(*) > 1) t"
    )
    fields = _splink.DETERMINISTIC_FIELDS
    rule_pairs = engine.scalar(
        f"SELECT count(*) FROM (SELECT 1 FROM {records} "
        f"WHERE {' AND '.join(f'{c} IS NOT NULL' for c in fields)} "
        f"GROUP BY {', '.join(fields)} HAVING count(*) > 1) t"
    )
    n = int(engine.scalar(f"SELECT count(*) FROM {records}") or 0)
    with _splink_api(engine, records) as (db_api, table):
        trained = _splink.train(
            db_api,
            table,
            seed=seed,
            max_pairs=float(min(max(n * (n - 1) // 2, 1), max_pairs)),
            national_id_pairs=bool(shared_token),
            deterministic_pairs=bool(rule_pairs),
            completeness=completeness,
            agreement={},
        )
    _splink.save_model(trained.model, path, 1)


def load_model(path: Path) -> _splink.LinkageModel:
    """The model saved at ``path`` (as a workspace's link reads it).

    Raises:
        UserError: one line naming the file, when it is no model a link run can use.
    """
    return _splink.load_model(path)


def model_dialect(path: Path) -> str:
    """The SQL dialect a saved model is written in (DuckDB's, whichever engine trained it)."""
    return _splink.dialect_of(json.loads(path.read_text(encoding="utf-8")))


__all__ = ["cluster_records", "load_model", "model_dialect", "train_model"]
