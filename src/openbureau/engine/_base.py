"""The engine interface: template methods here, backend hooks in subclasses."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from openbureau.engine._capabilities import Capabilities, EngineUnsupported
from openbureau.errors import BureauError

if TYPE_CHECKING:
    from openbureau.config import WarehouseSection

log = logging.getLogger(__name__)


class EngineError(BureauError):
    """The engine failed on SQL that openbureau generated: a bug, not a user mistake."""


class Engine(ABC):
    """A SQL engine holding the warehouse. Subclasses fill the ``_`` hooks and state their
    :class:`Capabilities`; stage code asks those, never which class it holds."""

    name: str = "engine"
    capabilities: ClassVar[Capabilities]

    # -- hooks ------------------------------------------------------------------------------------
    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] | None) -> Any: ...

    @abstractmethod
    def _fetch_arrow(self, sql: str, params: Sequence[Any] | None) -> pa.Table: ...

    @abstractmethod
    def _register(self, name: str, table: pa.Table) -> None: ...

    @abstractmethod
    def _unregister(self, name: str) -> None: ...

    @abstractmethod
    def _begin(self) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _rollback(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    # -- optional hooks: a backend with the capability overrides them -----------------------------
    @classmethod
    def open_warehouse(
        cls, root: Path, settings: WarehouseSection, *, read_only: bool = False
    ) -> Engine:
        """Open the warehouse of the workspace in ``root`` as ``[warehouse]`` describes it."""
        raise EngineUnsupported(cls.name, "opening a workspace's warehouse", ["open_warehouse"])

    @property
    def connection(self) -> Any:
        """The backend's own connection in this process, for libraries that drive it
        themselves (the identity lookup's index)."""
        raise EngineUnsupported(self.name, "a connection in this process", ["duckdb_connection"])

    def splink_api(self) -> Any:
        """Splink's database API over this engine's session (``capabilities.splink_backend``)."""
        raise EngineUnsupported(self.name, "identity linking", ["splink_backend"])

    def free_share(self) -> float:
        """The share of the warehouse file that is free space (``capabilities.single_file``);
        0.0 for an engine whose warehouse is not one file."""
        return 0.0

    # -- template methods -------------------------------------------------------------------------
    def require(self, needed_for: str, *capabilities: str) -> None:
        """Refuse, with one line naming what is missing, unless the engine has every one of
        ``capabilities`` (names of :class:`Capabilities` fields).

        Raises:
            EngineUnsupported: a capability is missing (a UserError: the setting is the fix).
        """
        missing = self.capabilities.lacking(*capabilities)
        if missing:
            raise EngineUnsupported(self.name, needed_for, missing)

    @property
    def catalog(self) -> str:
        """The warehouse's catalog name, to qualify tables while another one is in use."""
        return str(self.scalar("SELECT current_database()"))

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        log.debug("%s: %s", self.name, sql)
        try:
            self._execute(sql, params)
        except Exception as exc:  # backend errors differ; wrap them once, here
            raise EngineError(f"{self.name}: {exc}\nSQL: {sql}") from exc

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and return its rows as tuples (for small results)."""
        table = self.arrow(sql, params)
        columns = [c.to_pylist() for c in table.columns]
        return list(zip(*columns, strict=True)) if columns else []

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        log.debug("%s: %s", self.name, sql)
        try:
            return self._fetch_arrow(sql, params)
        except Exception as exc:
            raise EngineError(f"{self.name}: {exc}\nSQL: {sql}") from exc

    @contextmanager
    def registered(
        self, name: str, table: pa.Table | Mapping[str, Sequence[str | None]]
    ) -> Iterator[str]:
        """Expose a table to SQL under ``name`` for the duration of the block: an Arrow table,
        or text columns given as Python lists.

        (Lists are bound as query parameters into a temporary table. Arrow arrays built from
        Python objects would import pandas, 0.4-0.6 s the first time in a process, which
        ``openbureau link`` would pay for a few thousand values.)"""
        if isinstance(table, pa.Table):
            self._register(name, table)
        else:
            columns = ", ".join(
                f'unnest(${i}::VARCHAR[]) AS "{c}"' for i, c in enumerate(table, start=1)
            )
            self.execute(
                f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {columns}",
                [list(v) for v in table.values()],
            )
        try:
            yield name
        finally:
            if isinstance(table, pa.Table):
                self._unregister(name)
            else:
                # (in a transaction that failed, DuckDB refuses it; the rollback drops it then)
                with suppress(EngineError):
                    self.execute(f"DROP TABLE IF EXISTS temp.{name}")

    @contextmanager
    def memory_limited(self, limit: str | None) -> Iterator[None]:
        """Hold the engine's memory to ``limit`` (e.g. '2GB') for the duration of the block,
        where it can spill to disk; None, or an engine without the setting: as it was."""
        yield

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: commit when the block ends normally, roll back on any exception."""
        self._begin()
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        self._commit()

    def table_exists(self, name: str) -> bool:
        return bool(
            self.scalar(
                "select count(*) from information_schema.tables where table_name = ?", [name]
            )
        )

    def columns(self, table: str) -> list[str]:
        rows = self.query(
            "select column_name from information_schema.columns where table_name = ? "
            "order by ordinal_position",
            [table],
        )
        return [r[0] for r in rows]

    def rebuild_without_primary_key(self, table: str, ddl: str) -> None:
        """If ``table`` was made with a primary key (by an earlier openbureau), make it again
        from ``ddl`` (its ``CREATE TABLE IF NOT EXISTS``, without one), rows kept.

        Large tables whose rows are unique by construction carry none: a key is an index
        checked and kept up at every insert and delete."""
        if not self.scalar(
            "select count(*) from information_schema.table_constraints "
            "where table_name = ? and constraint_type = 'PRIMARY KEY' "
            "and table_catalog = current_database() and table_schema = current_schema()",
            [table],
        ):
            return
        with self.transaction():
            self.execute(f"ALTER TABLE {table} RENAME TO {table}__old")
            self.execute(ddl)
            self.execute(f"INSERT INTO {table} SELECT * FROM {table}__old")
            self.execute(f"DROP TABLE {table}__old")

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
