"""A DuckDB warehouse's tables copied into another engine's warehouse (Spark's).

Each table is made again from DuckDB's own ``CREATE TABLE`` (translated like any stage SQL, so
its columns keep their declared types) and filled from its rows as Arrow, one table at a time
and all in one transaction. Views are not copied: the stages make theirs again.
"""

from __future__ import annotations

from openbureau.engine._base import Engine
from openbureau.engine._duckdb import DuckDBEngine
from openbureau.engine.sql import ident


def copy_warehouse(source: DuckDBEngine, dest: Engine) -> list[str]:
    """Copy every table of ``source``'s warehouse into ``dest`` (tables of those names there
    are replaced); returns their names, in the order copied."""
    tables = source.query(
        "SELECT table_name, sql FROM duckdb_tables() WHERE NOT temporary "
        "AND database_name = current_database() AND schema_name = current_schema() "
        "ORDER BY table_name"
    )
    with dest.transaction():
        for name, ddl in tables:
            rows = source.arrow(f"SELECT * FROM {ident(name)}")
            dest.execute(f"DROP TABLE IF EXISTS {ident(name)}")
            dest.execute(ddl)
            with dest.registered("_copied_rows", rows):
                dest.execute(f"INSERT INTO {ident(name)} SELECT * FROM _copied_rows")
    return [str(n) for n, _ in tables]
