"""Stage SQL, written once in DuckDB's dialect, as Spark runs it.

sqlglot (read ``duckdb``, write ``spark``) translates most of it; the rewrites here are for
what it passes through or writes wrongly where a stage needs it (``engine/_dialect.py`` lists
the constructs). Each statement text is translated once per process (``translate`` is cached):
stage SQL repeats the same text with different parameters.

A translation also says what the statement writes, which the Spark engine needs for what SQL
cannot say on Spark: a ``TEMP TABLE`` is a materialised temporary view (``temp_query``), and a
write to a warehouse table is journaled first when a transaction is open (``target``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp

# DuckDB's ``?::TYPE`` (a parameter cast): sqlglot cannot parse it, ``CAST(? AS TYPE)`` it can.
_PARAM_CAST = re.compile(r"\?::([A-Za-z_]+(?:\([0-9, ]+\))?(?:\[\])?)")
# DuckDB's TIMESTAMP is without a time zone: Spark's TIMESTAMP_NTZ (sqlglot writes that), and
# ``now()`` (Spark's ``current_timestamp()``) cast to it is UTC's wall clock (the session's).


@dataclass(frozen=True)
class SparkStatement:
    """One statement of stage SQL as Spark runs it.

    Attributes:
        sql: the Spark SQL (for a temporary table: its query).
        target: the table it creates, writes, alters or drops (None: a query).
        temp_table: a ``CREATE [OR REPLACE] TEMP TABLE ... AS``: run ``sql`` and keep its rows
            (materialised, not recomputed at each read) as the temporary view ``target``.
        drops: a ``DROP TABLE`` (the engine removes the table's files too).
        creates: a ``CREATE TABLE`` of a warehouse table (the engine records its schema).
        alters: an ``ALTER TABLE`` (likewise).
    """

    sql: str
    target: str | None = None
    temp_table: bool = False
    drops: bool = False
    creates: bool = False
    alters: bool = False


def _table_name(node: exp.Expr | None) -> str | None:
    table = node.find(exp.Table) if node is not None and not isinstance(node, exp.Table) else node
    return table.name.lower() if isinstance(table, exp.Table) else None


def _is_temporary(create: exp.Create) -> bool:
    props = create.args.get("properties")
    return props is not None and any(
        isinstance(p, exp.TemporaryProperty) for p in props.expressions
    )


def _parquet_table(create: exp.Create) -> None:
    """A warehouse table as Spark keeps it: Parquet files, without the constraints Spark does
    not enforce on them (a primary key, CHECK): stages never rely on a constraint to refuse
    rows (docs/engines.md)."""
    schema = create.this
    if isinstance(schema, exp.Schema):
        kept = [
            c
            for c in schema.expressions
            if not isinstance(c, exp.PrimaryKey | exp.CheckColumnConstraint | exp.Constraint)
        ]
        for column in kept:
            if isinstance(column, exp.ColumnDef):
                column.set(
                    "constraints",
                    [
                        k
                        for k in column.args.get("constraints") or []
                        if not isinstance(
                            k.kind, exp.PrimaryKeyColumnConstraint | exp.CheckColumnConstraint
                        )
                    ],
                )
        schema.set("expressions", kept)
    props = create.args.get("properties") or exp.Properties(expressions=[])
    props.set(
        "expressions",
        [p for p in props.expressions if not isinstance(p, exp.FileFormatProperty)]
        + [exp.FileFormatProperty(this=exp.var("PARQUET"))],
    )
    create.set("properties", props)


def _unqualify_temp(table: exp.Table) -> None:
    """``temp.x`` (DuckDB's temporary schema): Spark's temporary views have no schema."""
    if table.db.lower() == "temp":
        table.set("db", None)


@lru_cache(maxsize=4096)
def translate(duckdb_sql: str) -> tuple[SparkStatement, ...]:
    """The statements of ``duckdb_sql`` as Spark runs them (cached per text).

    Raises:
        sqlglot.errors.ParseError: sqlglot cannot read it (the engine reports it with the SQL).
    """
    text = _PARAM_CAST.sub(r"CAST(? AS \1)", duckdb_sql)
    out = []
    for tree in sqlglot.parse(text, read="duckdb"):
        if tree is None:
            continue
        out.append(_statement(tree))
    return tuple(out)


def _statement(tree: exp.Expr) -> SparkStatement:
    for table in tree.find_all(exp.Table):
        _unqualify_temp(table)
    if isinstance(tree, exp.Create) and (tree.kind or "").upper() == "TABLE":
        name = _table_name(tree.this)
        if _is_temporary(tree):
            query = tree.expression
            if query is None:
                raise ValueError("a temporary table without AS SELECT")
            return SparkStatement(query.sql("spark"), name, temp_table=True)
        _parquet_table(tree)
        return SparkStatement(tree.sql("spark"), name, creates=True)
    if isinstance(tree, exp.Drop) and (tree.kind or "").upper() == "TABLE":
        return SparkStatement(tree.sql("spark"), _table_name(tree.this), drops=True)
    if isinstance(tree, exp.Alter):
        return SparkStatement(tree.sql("spark"), _table_name(tree.this), alters=True)
    if isinstance(tree, exp.Insert | exp.Update | exp.Delete):
        return SparkStatement(tree.sql("spark"), _table_name(tree.this))
    return SparkStatement(tree.sql("spark"))
