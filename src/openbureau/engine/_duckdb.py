"""DuckDB: the embedded default engine."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from openbureau.engine._base import Engine
from openbureau.engine._capabilities import Capabilities
from openbureau.engine.sql import ident, path_literal
from openbureau.errors import UserError

if TYPE_CHECKING:
    from openbureau.config import WarehouseSection


class DuckDBEngine(Engine):
    """A DuckDB database file (or ``:memory:``)."""

    name = "duckdb"
    capabilities = Capabilities(
        dialect="duckdb",
        splink_backend="duckdb",
        recursive_using_key=True,
        qualify=True,
        list_functions=True,
        attach=True,
        session_variables=True,
        duckdb_connection=True,
        single_file=True,
        row_updates=True,
    )

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        read_only: bool = False,
    ) -> None:
        try:
            self._con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            raise _open_error(path, str(exc)) from None
        # times are stored in UTC (``now()::TIMESTAMP`` is otherwise the machine's local
        # time), as the service's audit log keeps them: a person's access log compares the two
        self._con.execute("SET TimeZone = 'UTC'")
        if threads:
            self._con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            self._con.execute("SET memory_limit = ?", [memory_limit])
        self._memory_limit = memory_limit
        self.path = str(path)

    @classmethod
    def open_warehouse(
        cls, root: Path, settings: WarehouseSection, *, read_only: bool = False
    ) -> DuckDBEngine:
        """The warehouse file ``[warehouse] path`` (relative to the workspace ``root``)."""
        return cls(
            root / settings.path,
            threads=settings.threads,
            memory_limit=settings.memory_limit,
            read_only=read_only,
        )

    @classmethod
    def wrap(
        cls, connection: duckdb.DuckDBPyConnection, name: str = "<connection>"
    ) -> DuckDBEngine:
        """An engine over a connection someone else opened (the service's read-only copy)."""
        engine = cls.__new__(cls)
        engine._con = connection
        engine._memory_limit = None
        engine.path = name
        return engine

    def _execute(self, sql: str, params: Sequence[Any] | None) -> None:
        self._con.execute(sql, params) if params else self._con.execute(sql)
        # DuckDB 2 keeps a statement's result pending until fetched; statements run here
        # return nothing we need, so finish them before the next one.
        self._con.complete()

    def _fetch_arrow(self, sql: str, params: Sequence[Any] | None) -> pa.Table:
        return self._con.sql(sql, params=params).to_arrow_table()

    def _register(self, name: str, table: pa.Table) -> None:
        self._con.register(name, table)

    def _unregister(self, name: str) -> None:
        self._con.unregister(name)

    @contextmanager
    def memory_limited(self, limit: str | None) -> Iterator[None]:
        # (a database file spills to its temp_directory, '<file>.tmp'; an in-memory one cannot)
        if limit is None:
            yield
            return
        self._con.execute("SET memory_limit = ?", [limit])
        try:
            yield
        finally:  # (the engine's own limit, or DuckDB's default)
            if self._memory_limit:
                self._con.execute("SET memory_limit = ?", [self._memory_limit])
            else:
                self._con.execute("RESET memory_limit")

    def _begin(self) -> None:
        self._con.execute("BEGIN TRANSACTION")

    def _commit(self) -> None:
        self._con.execute("COMMIT")

    def _rollback(self) -> None:
        self._con.execute("ROLLBACK")

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection, for libraries that drive DuckDB themselves (Splink)."""
        return self._con

    def splink_api(self) -> Any:
        from splink import DuckDBAPI  # (only when linking: Splink takes a second to import)

        return DuckDBAPI(connection=self._con)

    def close(self) -> None:
        self._con.close()

    def free_share(self) -> float:
        """The share of the database file's blocks that are free (see ``compact``)."""
        total, free = self.query(
            "SELECT total_blocks, free_blocks FROM pragma_database_size() "
            "WHERE database_name = current_database()"
        )[0]
        return float(free) / total if total else 0.0


# DuckDB's words when another process holds the file: 'Could not set lock on file "...":
# Conflicting lock is held in /usr/bin/python3 (PID 1234) by user ...'
_LOCK_HELD = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")


class WarehouseBusy(UserError):
    """Another process has the warehouse open (DuckDB lets one process write a file, or
    several read it)."""


def _open_error(path: str | Path, message: str) -> UserError:
    """The one line for a warehouse DuckDB cannot open: busy (with the holder's PID), or why."""
    held = _LOCK_HELD.search(message)
    if held is None:
        return UserError(f"{path}: cannot open warehouse: {message.splitlines()[0]}")
    program, pid = held.groups()
    # (openbureau runs as python, or as its own script; anything else is named)
    who = (
        "another openbureau process"
        if re.search(r"python|openbureau", Path(program).name)
        else f"another process ({Path(program).name})"
    )
    return WarehouseBusy(
        f"workspace busy: {who} (PID {pid}) holds it ({path}); try again once it has finished"
    )


def compact(path: Path) -> tuple[int, int]:
    """Rewrite a DuckDB database file without its free blocks; return its size before and
    after in bytes.

    Dropped tables and deleted rows leave free blocks, which DuckDB reuses but never gives
    back; with many of them (half the file, after a feed was taken back out) the first
    checkpoint in each process takes most of a second. The rewritten file replaces the old
    one only once it is complete. Nothing else may use the file meanwhile: DuckDB's lock
    refuses to open it while another process writes it, and a process that opened it after
    that would lose its writes.
    """
    rewritten = path.with_name(path.name + ".compact")
    rewritten.unlink(missing_ok=True)  # (left by a run that was stopped)
    engine = DuckDBEngine(path)
    try:
        engine.execute("CHECKPOINT")
        engine.execute(f"ATTACH {path_literal(rewritten)} AS compacted")
        engine.execute(f"COPY FROM DATABASE {ident(engine.catalog)} TO compacted")
        engine.execute("DETACH compacted")
    except BaseException:
        rewritten.unlink(missing_ok=True)
        raise
    finally:
        engine.close()
    before = path.stat().st_size
    os.replace(rewritten, path)
    return before, path.stat().st_size
