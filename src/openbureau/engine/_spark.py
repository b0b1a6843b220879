"""Spark: the engine beyond one machine (local Spark here; a cluster by master URL).

pyspark is imported only when a SparkEngine is made (the ``spark`` extra installs it; Java 17
must be on the PATH). One SparkSession serves a process: Spark's driver is a JVM, and a
second session in one process would share it anyway.

So far identity's linking runs on it (Splink's Spark backend, see docs/engines.md); the
other stages' SQL is still DuckDB's dialect.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from openbureau.engine._base import Engine, EngineError
from openbureau.engine._capabilities import Capabilities
from openbureau.errors import UserError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# A few hundred thousand records link in well under this; a cluster sets its own.
DRIVER_MEMORY = "4g"
# Spark's default of 200 shuffle partitions is for clusters: on one machine each is a task of
# its own, and a small population spends its time scheduling them.
LOCAL_SHUFFLE_PARTITIONS = 2


def java_missing() -> str | None:
    """Why Spark cannot start here (no pyspark, or no Java), or None."""
    from importlib.util import find_spec

    if find_spec("pyspark") is None:
        return "Spark needs pyspark (pip install 'openbureau[spark]'; make test installs it)"
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return None
    if shutil.which("java"):
        return None
    return "Spark needs Java 17 (Debian: apt-get install openjdk-17-jre-headless)"


def spark_session(
    master: str = "local[2]",
    *,
    checkpoint_dir: Path,
    shuffle_partitions: int = LOCAL_SHUFFLE_PARTITIONS,
    driver_memory: str = DRIVER_MEMORY,
) -> SparkSession:
    """The process's SparkSession, started on first use with Splink's similarity functions
    (its jar) and a checkpoint directory (where Splink writes its intermediate tables).

    Later calls return the running session: Spark keeps one per process, and settings such as
    the driver's memory and jars only take effect when its JVM starts."""
    problem = java_missing()
    if problem:
        raise UserError(problem)
    try:
        from pyspark.sql import SparkSession
        from splink.backends.spark import similarity_jar_location
    except ImportError:
        raise UserError("the spark engine needs pyspark: pip install 'openbureau[spark]'") from None
    # (the driver otherwise binds to the address the host name resolves to, which on many
    # machines is no interface at all, and every task then waits for a timeout)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    spark = SparkSession.getActiveSession()
    if spark is not None:  # (the checkpoint directory is the session's: the latest engine's)
        spark.sparkContext.setCheckpointDir(str(checkpoint_dir))
        return spark
    spark = (
        SparkSession.builder.master(master)
        .appName("openbureau")
        .config("spark.driver.memory", driver_memory)
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")  # (as the DuckDB engine keeps times)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(str(checkpoint_dir))
    return spark


class SparkEngine(Engine):
    """A Spark session: tables are Spark's temporary views and its catalog's tables.

    Spark has no transactions: :meth:`transaction` refuses rather than pretend."""

    name = "spark"
    # (what stage SQL needs beyond that is DuckDB's: docs/engines.md lists it)
    capabilities = Capabilities(dialect="spark", splink_backend="spark", qualify=True)

    def __init__(
        self,
        checkpoint_dir: str | Path,
        *,
        master: str = "local[2]",
        shuffle_partitions: int = LOCAL_SHUFFLE_PARTITIONS,
        driver_memory: str = DRIVER_MEMORY,
    ) -> None:
        self.checkpoint_dir = Path(checkpoint_dir)
        self.spark = spark_session(
            master,
            checkpoint_dir=self.checkpoint_dir,
            shuffle_partitions=shuffle_partitions,
            driver_memory=driver_memory,
        )

    # -- hooks ------------------------------------------------------------------------------------
    def _execute(self, sql: str, params: Sequence[Any] | None) -> None:
        # (Spark runs a DDL or DML statement when it is planned; a query does nothing until
        # collected, and nothing here wants its rows)
        self.spark.sql(sql, args=list(params) if params else None)

    def _fetch_arrow(self, sql: str, params: Sequence[Any] | None) -> pa.Table:
        return self.spark.sql(sql, args=list(params) if params else None).toArrow()

    def _register(self, name: str, table: pa.Table) -> None:
        self.spark.createDataFrame(table).createOrReplaceTempView(name)

    def _unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    def _begin(self) -> None:
        raise EngineError("spark: no transactions (this stage does not run on Spark yet)")

    def _commit(self) -> None:
        raise EngineError("spark: no transactions")

    def _rollback(self) -> None:
        raise EngineError("spark: no transactions")

    def close(self) -> None:
        """Nothing to close: the session is the process's, and outlives an engine (stopping
        it costs the next engine a JVM start of several seconds)."""

    # -- what DuckDB's SQL does differently ----------------------------------------------------
    @contextmanager
    def registered(
        self, name: str, table: pa.Table | Mapping[str, Sequence[str | None]]
    ) -> Iterator[str]:
        if not isinstance(table, pa.Table):
            table = pa.table({c: pa.array(list(v), pa.string()) for c, v in table.items()})
        with super().registered(name, table) as registered:
            yield registered

    def table_exists(self, name: str) -> bool:
        return bool(self.spark.catalog.tableExists(name))

    def columns(self, table: str) -> list[str]:
        return list(self.spark.table(table).columns)

    def drop_views(self, prefix: str) -> None:
        """Drop the session's temporary views whose names begin with ``prefix``, and the files
        behind them in the checkpoint directory. (Splink's tables are temporary views over
        Parquet files it writes there, which outlive its linker.)"""
        for table in self.spark.catalog.listTables():
            if table.isTemporary and table.name.startswith(prefix):
                self.spark.catalog.dropTempView(table.name)
                # (and the Parquet files Splink wrote for it, named alike)
                # (Spark checkpoints in a folder of its own in the directory given)
                for written in self.checkpoint_dir.glob(f"*/{table.name}"):
                    shutil.rmtree(written, ignore_errors=True)
