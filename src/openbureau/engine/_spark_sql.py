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
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.optimizer.qualify_columns import qualify_columns
from sqlglot.tokens import TokenType

# DuckDB's ``?::TYPE`` (a parameter cast): sqlglot cannot parse it, ``CAST(? AS TYPE)`` it can.
_PARAM_CAST = re.compile(r"\?::([A-Za-z_]+(?:\([0-9, ]+\))?(?:\[\])?)")
# DuckDB's TIMESTAMP is without a time zone: Spark's TIMESTAMP_NTZ (sqlglot writes that), and
# ``now()`` (Spark's ``current_timestamp()``) cast to it is UTC's wall clock (the session's).

# DuckDB functions sqlglot passes through that Spark has under another name.
_RENAMED = {"error": "raise_error"}


class StageSQL(DuckDB):
    """DuckDB's dialect as stage SQL writes it: ``len()`` of a list (text's is ``length()``),
    which sqlglot would read as a string's length (Spark's ``length`` refuses an array)."""

    class Parser(DuckDB.Parser):  # type: ignore[valid-type,misc]
        FUNCTIONS: ClassVar[dict[str, Any]] = {
            **DuckDB.Parser.FUNCTIONS,
            "LEN": lambda args: exp.ArraySize(this=args[0]),
        }


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
        star_tables: the tables whose columns a ``* EXCLUDE`` / ``* REPLACE`` lists (Spark has
            neither): the engine expands the star from their columns as they stand when it
            runs (``expand_stars``), and ``sql`` is then empty.
        tree: the statement (for a temporary table, its query) as sqlglot read and rewrote it.
    """

    sql: str
    target: str | None = None
    temp_table: bool = False
    drops: bool = False
    creates: bool = False
    alters: bool = False
    star_tables: tuple[str, ...] = ()
    tree: exp.Expr | None = field(default=None, compare=False, repr=False)


def expand_stars(statement: SparkStatement, columns: dict[str, dict[str, str]]) -> str:
    """``statement``'s Spark SQL with each star listed column by column (``columns``: each of
    its ``star_tables``' columns and types, in order)."""
    assert statement.tree is not None
    tree = statement.tree.copy()
    # (a derived table without a name, which both engines allow, would leave its columns
    # with no table to qualify them with)
    unnamed = [
        s
        for s in tree.find_all(exp.Subquery)
        if not s.alias and isinstance(s.parent, exp.From | exp.Join)
    ]
    for i, sub in enumerate(unnamed):
        sub.set("alias", exp.TableAlias(this=exp.to_identifier(f"_derived{i}")))
    schema: dict[str, object] = dict(columns)
    tree = qualify_columns(tree, schema=schema, dialect=StageSQL)
    return tree.sql("spark")


def _star_tables(tree: exp.Expr) -> tuple[str, ...]:
    stars = list(tree.find_all(exp.Star))
    modified = any(star.args.get("except_") or star.args.get("replace") for star in stars)
    # (sqlglot writes QUALIFY as a filter over a subquery with the window as a column of its
    # own, which a SELECT * then passes on: listed column by column, it does not)
    if not modified and not (stars and tree.find(exp.Qualify)):
        return ()
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    names = {t.name.lower() for t in tree.find_all(exp.Table)} - ctes
    return tuple(sorted(names))


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
    text = _numbered_parameters(_PARAM_CAST.sub(r"CAST(? AS \1)", duckdb_sql))
    out = []
    for tree in sqlglot.parse(text, read=StageSQL):
        if tree is None:
            continue
        out.append(_statement(tree))
    return tuple(out)


def _numbered_parameters(text: str) -> str:
    """Each ``?`` as ``$1``, ``$2``...: written ``:p1``, ``:p2``... for Spark, which binds
    them by name (pyspark 4.1 binds a list of positional parameters out of order when their
    types differ: a date given second came first)."""
    marks = [t for t in StageSQL().tokenize(text) if t.token_type == TokenType.PLACEHOLDER]
    for n, mark in reversed(list(enumerate(marks, start=1))):
        if text[mark.start : mark.end + 1] == "?":
            text = f"{text[: mark.start]}${n}{text[mark.end + 1 :]}"
    return text


def _rewrite(tree: exp.Expr) -> None:
    """What sqlglot passes through or writes wrongly for Spark, where stages need it."""
    for mark in tree.find_all(exp.Placeholder):
        if str(mark.this).isdigit():
            mark.set("this", f"p{mark.this}")
    for table in tree.find_all(exp.Table):
        _unqualify_temp(table)
    for arg_max in tree.find_all(exp.ArgMax, exp.ArgMin):
        # DuckDB's arg_max(x, k) skips rows whose x is NULL; Spark's max_by does not (it skips
        # those whose k is)
        value, key = arg_max.this, arg_max.expression
        arg_max.set(
            "expression",
            exp.If(
                this=exp.Is(this=value.copy(), expression=exp.Null()), true=exp.Null(), false=key
            ),
        )
    for div in tree.find_all(exp.Div):
        # DuckDB's ``/`` divides in DOUBLE whatever the operands (decimals too); Spark's
        # keeps a DECIMAL's, with fewer digits
        if not (isinstance(div.this, exp.Cast) and div.this.to.is_type("double")):
            div.set("this", exp.cast(div.this.copy(), "DOUBLE"))
    for cte in tree.find_all(exp.CTE):  # (Spark has no MATERIALIZED: it plans CTEs itself)
        cte.set("materialized", None)
    for interval in tree.find_all(exp.Interval):
        _one_unit(interval)
    for call in tree.find_all(exp.Anonymous):
        renamed = _RENAMED.get(str(call.name).lower())
        if renamed:
            call.set("this", renamed)


_INTERVAL_PART = re.compile(r"(-?\d+)\s+(year|month|day)s?", re.IGNORECASE)


def _one_unit(interval: exp.Interval) -> None:
    """DuckDB's ``INTERVAL '12 months 0 days'``: Spark refuses months and days in one literal,
    so the parts that are not zero, as one unit's interval or ``make_interval``."""
    text = interval.this
    if interval.args.get("unit") is not None or not isinstance(text, exp.Literal):
        return
    parts = {u.lower(): int(n) for n, u in _INTERVAL_PART.findall(str(text.this))}
    nonzero = {u: n for u, n in parts.items() if n} or {"day": 0}
    if len(nonzero) == 1:
        ((unit, n),) = nonzero.items()
        interval.replace(exp.Interval(this=exp.Literal.string(str(n)), unit=exp.var(unit.upper())))
        return
    args = [parts.get("year", 0), parts.get("month", 0), 0, parts.get("day", 0)]
    interval.replace(exp.func("make_interval", *(exp.Literal.number(a) for a in args)))


def _statement(tree: exp.Expr) -> SparkStatement:
    _rewrite(tree)
    if isinstance(tree, exp.Create) and (tree.kind or "").upper() == "TABLE":
        name = _table_name(tree.this)
        if _is_temporary(tree):
            query = tree.expression
            if query is None:
                raise ValueError("a temporary table without AS SELECT")
            return _made(query, name, temp_table=True)
        _parquet_table(tree)
        return _made(tree, name, creates=True)
    if isinstance(tree, exp.Drop) and (tree.kind or "").upper() == "TABLE":
        return _made(tree, _table_name(tree.this), drops=True)
    if isinstance(tree, exp.Alter):
        return _made(tree, _table_name(tree.this), alters=True)
    if isinstance(tree, exp.Insert | exp.Update | exp.Delete):
        return _made(tree, _table_name(tree.this))
    return _made(tree, None)


def _made(tree: exp.Expr, target: str | None, **kind: bool) -> SparkStatement:
    stars = _star_tables(tree)
    sql = "" if stars else tree.sql("spark")
    return SparkStatement(sql, target, star_tables=stars, tree=tree, **kind)
