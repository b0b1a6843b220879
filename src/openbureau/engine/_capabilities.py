"""What an engine can do, as data: stage code asks ``engine.capabilities``, never the class.

Each backend states its capabilities once, on its class. Code that needs one the engine
lacks calls :meth:`Engine.require`, which refuses with one line naming the capability.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from openbureau.errors import UserError


@dataclass(frozen=True)
class Capabilities:
    """What one engine supports beyond portable SQL.

    Attributes:
        dialect: sqlglot's name for the engine's SQL dialect (stage SQL is written in
            DuckDB's and transpiled to this one).
        splink_backend: Splink's name for the engine's database API (``"duckdb"``,
            ``"spark"``); None when Splink cannot run on it.
        recursive_using_key: ``WITH RECURSIVE ... USING KEY`` (DuckDB 1.3), which keeps one
            row per key across iterations (identity's connected components).
        qualify: ``QUALIFY`` filters on window functions.
        list_functions: DuckDB's ``list_*`` functions and lambdas over lists.
        attach: ``ATTACH`` another database file (or an in-memory catalog) to the session.
        session_variables: ``SET VARIABLE`` / ``getvariable`` (the HMAC key for national-ID
            tokens stays out of the SQL text).
        duckdb_connection: a DuckDB connection in this process, read directly from Python
            (the identity lookup's in-memory index; the service's serving copy has one).
        single_file: the warehouse is one file, which reports its free space and can be
            compacted (``openbureau compact``).
        row_updates: ``UPDATE`` and ``DELETE`` change a table's rows in place (Parquet
            tables on Spark are written whole: the stages that update rows refuse there).
    """

    dialect: str
    splink_backend: str | None = None
    recursive_using_key: bool = False
    qualify: bool = False
    list_functions: bool = False
    attach: bool = False
    session_variables: bool = False
    duckdb_connection: bool = False
    single_file: bool = False
    row_updates: bool = False

    def lacking(self, *names: str) -> list[str]:
        """The capabilities among ``names`` this engine does not have (in the order given)."""
        known = {f.name for f in fields(self)}
        unknown = [n for n in names if n not in known]
        if unknown:  # (a misspelt capability would otherwise always be missing)
            raise ValueError(f"unknown engine capabilities: {', '.join(unknown)}")
        return [n for n in names if not getattr(self, n)]


class EngineUnsupported(UserError):
    """The workspace's engine lacks a capability that a command needs."""

    def __init__(self, engine: str, needed_for: str, missing: list[str]) -> None:
        names = ("capabilities " if len(missing) > 1 else "capability ") + ", ".join(missing)
        super().__init__(
            f"{needed_for} needs the engine {names}, which the {engine} engine "
            'does not have; set warehouse.engine = "duckdb" in bureau.toml to use it'
        )
        self.engine = engine
        self.missing = missing
