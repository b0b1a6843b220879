"""Spark: the engine beyond one machine (local Spark here; a cluster by master URL).

pyspark is imported only when a SparkEngine is made (the ``spark`` extra installs it; Java 17
must be on the PATH). One SparkSession serves a process: Spark's driver is a JVM, and a
second session in one process would share it anyway.

Identity's linking runs on it (Splink's Spark backend), and, on a warehouse directory of
Parquet tables, the stages whose DuckDB SQL ``_spark_sql`` translates (scoring so far; see
docs/engines.md).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from openbureau.engine._base import Engine, EngineError
from openbureau.engine._capabilities import Capabilities
from openbureau.engine._spark_sql import SparkStatement, expand_stars, translate
from openbureau.engine._spark_warehouse import Journal, read_schema, table_dirs, write_schema
from openbureau.engine.sql import literal
from openbureau.errors import UserError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from openbureau.config import WarehouseSection

# A few hundred thousand records link in well under this; a cluster sets its own.
DRIVER_MEMORY = "4g"
# Spark's default of 200 shuffle partitions is for clusters: on one machine each is a task of
# its own, and a small population spends its time scheduling them.
LOCAL_SHUFFLE_PARTITIONS = 2
_EXCLUDED_RULES = "org.apache.spark.sql.catalyst.optimizer.RemoveRedundantAliases"


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
        spark.conf.set("spark.sql.optimizer.excludedRules", _EXCLUDED_RULES)
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
    # (pyspark logs each failed statement, JVM stack and all, before raising it; the engine
    # raises it as an EngineError, or a stage expects it: a table probed for is missing)
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    # Spark 4.1's RemoveRedundantAliases makes an invalid plan of the reason codes' query (a
    # window over a CTE read twice: PLAN_VALIDATION_FAILED_RULE_IN_BATCH); without the rule
    # the plan keeps a projection more, nothing else
    spark.conf.set("spark.sql.optimizer.excludedRules", _EXCLUDED_RULES)
    spark.sparkContext.setCheckpointDir(str(checkpoint_dir))
    return spark


class SparkEngine(Engine):
    """A Spark session; with ``warehouse``, a directory of Parquet tables it writes (see
    ``_spark_warehouse``). Stage SQL, in DuckDB's dialect, is translated per statement
    (``_spark_sql``); a transaction is a rollback journal of the tables it writes."""

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
        warehouse: str | Path | None = None,
        read_only: bool = False,
    ) -> None:
        self.checkpoint_dir = Path(checkpoint_dir)
        self.spark = spark_session(
            master,
            checkpoint_dir=self.checkpoint_dir,
            shuffle_partitions=shuffle_partitions,
            driver_memory=driver_memory,
        )
        self.read_only = read_only
        self._temp: set[str] = set()  # the temporary views this engine made
        self._txn_temp: set[str] | None = None  # of them, those made in the open transaction
        self.warehouse = Path(warehouse).resolve() if warehouse is not None else None
        self._journal = Journal(self.warehouse) if self.warehouse is not None else None
        if self.warehouse is not None:
            self._open_tables(self.warehouse)

    @classmethod
    def open_warehouse(
        cls, root: Path, settings: WarehouseSection, *, read_only: bool = False
    ) -> SparkEngine:
        """The warehouse directory ``[warehouse.spark] path`` (relative to ``root``) on the
        Spark ``master`` it names."""
        where = root / settings.spark.path
        return cls(
            where / "_checkpoints",
            master=settings.spark.master,
            driver_memory=settings.spark.driver_memory,
            warehouse=where,
            read_only=read_only,
        )

    # -- the warehouse's tables -------------------------------------------------------------------
    def _open_tables(self, root: Path) -> None:
        """The warehouse's database in the session (its tables' directories registered), a
        transaction a stopped process left rolled back first."""
        root.mkdir(parents=True, exist_ok=True)
        assert self._journal is not None
        if self._journal.open:
            self._journal.rollback()
        self.database = "ob_" + hashlib.sha1(str(root).encode()).hexdigest()[:12]
        self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {self.database} LOCATION {_path(root)}")
        self.spark.sql(f"USE {self.database}")
        for name, directory in table_dirs(root).items():
            self._register_table(name, directory)

    def _register_table(self, name: str, directory: Path) -> None:
        if self.spark.catalog.tableExists(f"{self.database}.{name}"):
            self.spark.catalog.refreshTable(f"{self.database}.{name}")
            return
        self.spark.sql(
            f"CREATE TABLE {self.database}.`{name}` ({read_schema(directory)}) "
            f"USING PARQUET LOCATION {_path(directory)}"
        )

    def _before_write(self, statement: SparkStatement) -> bool:
        """Journal the table ``statement`` writes (a statement outside a transaction is one of
        its own: True, commit it after). False: nothing of the warehouse's is written."""
        target = statement.target
        if target is None or target in self._temp or self._journal is None:
            return False
        if self.read_only:
            raise EngineError(f"spark: the warehouse is open read-only (writing {target})")
        own = not self._journal.open
        if own:
            self._journal.begin()
        self._journal.save(target)
        return own

    def _after_write(self, statement: SparkStatement) -> None:
        target = statement.target
        if target is None or self.warehouse is None or target in self._temp:
            return
        directory = self.warehouse / target
        if statement.drops:
            shutil.rmtree(directory, ignore_errors=True)  # (a table registered at open)
        elif statement.creates or statement.alters:
            write_schema(directory, self.spark.table(f"{self.database}.{target}").schema.toDDL())

    def _run(self, statement: SparkStatement, params: Sequence[Any] | None) -> Any:
        sql = statement.sql or str(statement.tree)
        try:
            sql = self._sql(statement)
            named = {f"p{i}": v for i, v in enumerate(params or (), start=1)} or None
            return self._run_translated(statement, sql, named)
        except Exception as exc:  # (the SQL Spark was given, after the SQL stage code wrote)
            # (pyspark's message begins with a blank line: the one line a user sees is the first)
            raise EngineError(f"{str(exc).strip()}\nSpark SQL: {sql}") from exc

    def _sql(self, statement: SparkStatement) -> str:
        if not statement.star_tables:
            return statement.sql
        columns = {
            t: {f.name: f.dataType.simpleString() for f in self.spark.table(t).schema.fields}
            for t in statement.star_tables
            if self.spark.catalog.tableExists(t)
        }
        return expand_stars(statement, columns)

    def _run_translated(
        self, statement: SparkStatement, sql: str, args: dict[str, Any] | None
    ) -> Any:
        if statement.temp_table:
            assert statement.target is not None
            # (kept, not recomputed at each read: a checkpoint in the executors' memory)
            frame = self.spark.sql(sql, args=args).localCheckpoint()
            frame.createOrReplaceTempView(statement.target)
            self._temp.add(statement.target)
            if self._txn_temp is not None:
                self._txn_temp.add(statement.target)
            return frame
        own = self._before_write(statement)
        try:
            frame = self.spark.sql(sql, args=args)
            self._after_write(statement)
        except BaseException:
            if own:
                self._rollback_tables()
            raise
        if own:
            assert self._journal is not None
            self._journal.commit()
        if statement.drops and statement.target in self._temp:
            self._temp.discard(statement.target)
        return frame

    # -- hooks ------------------------------------------------------------------------------------
    def _execute(self, sql: str, params: Sequence[Any] | None) -> None:
        # (Spark runs a DDL or DML statement when it is planned; a query does nothing until
        # collected, and nothing here wants its rows)
        for statement in translate(sql):
            self._run(statement, params)

    def _fetch_arrow(self, sql: str, params: Sequence[Any] | None) -> pa.Table:
        *before, last = translate(sql)
        for statement in before:
            self._run(statement, params)
        return _naive_times(self._run(last, params).toArrow())

    def run_spark_sql(self, sql: str) -> None:
        """Run SQL already in Spark's dialect (identity's functions for Splink)."""
        self.spark.sql(sql)

    def _register(self, name: str, table: pa.Table) -> None:
        self.spark.createDataFrame(table).createOrReplaceTempView(name)
        self._temp.add(name)

    def _unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)
        self._temp.discard(name)

    def _begin(self) -> None:
        if self._journal is None:
            raise EngineError("spark: no transactions without a warehouse directory")
        self._journal.begin()
        self._txn_temp = set()

    def _commit(self) -> None:
        assert self._journal is not None
        self._journal.commit()
        self._txn_temp = None

    def _rollback(self) -> None:
        self._rollback_tables()
        for view in self._txn_temp or ():
            self.spark.catalog.dropTempView(view)
            self._temp.discard(view)
        self._txn_temp = None

    def _rollback_tables(self) -> None:
        """Each table the transaction wrote as it was before (its files from the journal),
        registered again; tables it made, dropped."""
        assert self._journal is not None and self.warehouse is not None
        for name in self._journal.saved:
            # (the catalog's entry first: a managed table's drop removes its directory, which
            # the journal then puts back)
            self.spark.sql(f"DROP TABLE IF EXISTS {self.database}.`{name}`")
        restored = self._journal.rollback()
        for name in restored:
            directory = self.warehouse / name
            if directory.is_dir():
                self._register_table(name, directory)

    def rebuild_without_primary_key(self, table: str, ddl: str) -> None:
        """Nothing to do: a Parquet table carries no primary key (``_spark_sql`` leaves it
        out), and Spark has no ``information_schema.table_constraints`` to ask."""

    def close(self) -> None:
        """The session stays (the process's, and the next engine would pay the JVM's start);
        the warehouse's database is left, so that tables are not read by another's name."""
        if self.warehouse is not None:
            self.spark.sql("USE default")

    # -- what DuckDB's SQL does differently ----------------------------------------------------
    @contextmanager
    def registered(
        self, name: str, table: pa.Table | Mapping[str, Sequence[str | None]]
    ) -> Iterator[str]:
        if not isinstance(table, pa.Table):
            table = pa.table({c: pa.array(list(v), pa.string()) for c, v in table.items()})
        with super().registered(name, table) as registered:
            yield registered

    @property
    def catalog(self) -> str:
        return str(self.spark.catalog.currentDatabase())

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


def _path(path: Path) -> str:
    return literal(str(path), "spark")


def _naive_times(table: pa.Table) -> pa.Table:
    """Spark's TIMESTAMP columns as DuckDB's engine gives times: UTC, without a zone."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            naive = (
                table.column(i)
                .cast(pa.timestamp(field.type.unit, "UTC"))
                .cast(pa.timestamp(field.type.unit))
            )
            table = table.set_column(i, field.name, naive)
    return table
