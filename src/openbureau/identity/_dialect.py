"""The link model's SQL in the dialect of the engine that applies it.

A saved model holds its comparisons and blocking rules as DuckDB SQL (Splink's settings, as
DuckDB renders them). Any other engine gets them translated here, with sqlglot, plus what
sqlglot cannot know: the names of Splink's similarity functions on that engine (Spark's come
from Splink's jar) and our own address-words function. So one model file applies on either
engine, whichever trained it (a model trained elsewhere is first rendered in DuckDB's SQL
from the declared comparisons: ``_splink.canonical``).
"""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp

from openbureau.identity._address import DIRECTIONALS, STREET_TYPES, WORDS_MACRO, words_macro

DUCKDB = "duckdb"
# The engines a model's SQL is translated for: Splink's dialect name -> sqlglot's.
DIALECTS = {DUCKDB: "duckdb", "spark": "spark"}
# Splink's similarity functions on Spark (registered from its jar by SparkAPI), by the
# function DuckDB has built in.
_SPARK_FUNCTIONS = {
    "jaro_winkler_similarity": "jaro_winkler",
    "damerau_levenshtein": "damerau_levenshtein",
}


class UnknownDialect(ValueError):
    """A dialect no model SQL is translated for."""


@lru_cache(maxsize=4096)
def to_dialect(sql: str, dialect: str) -> str:
    """DuckDB SQL (a comparison level's condition or a blocking rule) in ``dialect``."""
    if dialect == DUCKDB or sql.strip().upper() == "ELSE":  # (Splink's last level)
        return sql
    if dialect not in DIALECTS:
        raise UnknownDialect(f"no link model SQL for the {dialect!r} engine")
    tree = sqlglot.parse_one(sql, read="duckdb").transform(_for_spark)
    return tree.sql(dialect=DIALECTS[dialect])


def _for_spark(node: exp.Expression) -> exp.Expression:
    """What sqlglot does not translate, or translates to a function Spark lacks."""
    if isinstance(node, exp.JarowinklerSimilarity):
        return exp.Anonymous(
            this=_SPARK_FUNCTIONS["jaro_winkler_similarity"],
            expressions=[node.this, node.expression],
        )
    name = node.name.lower() if isinstance(node, exp.Anonymous) else ""
    if name in _SPARK_FUNCTIONS:
        return exp.Anonymous(this=_SPARK_FUNCTIONS[name], expressions=node.expressions)
    if name == "list_has_all" or type(node).__name__ == "ArrayContainsAll":
        # every element of the second list in the first: none left when the first is taken out
        whole, part = _arguments(node)
        return exp.EQ(
            this=exp.Anonymous(
                this="size",
                expressions=[exp.Anonymous(this="array_except", expressions=[part, whole])],
            ),
            expression=exp.Literal.number(0),
        )
    return node


def _arguments(node: exp.Expression) -> tuple[exp.Expression, exp.Expression]:
    if isinstance(node, exp.Anonymous):
        first, second = node.expressions
        return first, second
    return node.this, node.expression


def functions(dialect: str) -> list[str]:
    """Statements that define the functions model SQL calls beyond the engine's own (the
    address words), to run once in a session before linking."""
    if dialect == DUCKDB:
        return [words_macro()]
    # DuckDB's macro, written for Spark 4 (which has SQL functions of its own)
    pairs = ", ".join(f"'{k}', '{v}'" for k, v in {**STREET_TYPES, **DIRECTIONALS}.items())
    return [
        f"CREATE OR REPLACE TEMPORARY FUNCTION {WORDS_MACRO}(line STRING) "
        f"RETURNS ARRAY<STRING> RETURN "
        f"transform(split(line, ' '), w -> coalesce(map({pairs})[w], w))"
    ]
