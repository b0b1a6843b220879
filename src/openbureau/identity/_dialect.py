"""The link model's SQL in the dialect of the engine that applies it.

A saved model holds its comparisons and blocking rules as DuckDB SQL (Splink's settings, as
DuckDB renders them). Any other engine gets them translated here, with sqlglot, plus what
sqlglot cannot know: the names of Splink's similarity functions on that engine (Spark's come
from Splink's jar) and our own address-words function. So one model file applies on either
engine, whichever trained it (a model trained elsewhere is saved in DuckDB's SQL, from the
declared comparisons: :func:`in_duckdb_sql`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp

from openbureau.errors import UserError
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


def rule_sql(rule: dict[str, Any] | str) -> str:
    """A saved blocking rule's SQL condition (saved as a dict, or as the bare string)."""
    return str(rule["blocking_rule"]) if isinstance(rule, dict) else str(rule)


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


def dialect_of(model: dict[str, Any]) -> str:
    """The SQL dialect a model's settings are written in (Splink records it; DuckDB's if not)."""
    return str(model.get("sql_dialect") or DUCKDB)


def translated(model: dict[str, Any], dialect: str) -> dict[str, Any]:
    """A model's settings in DuckDB's SQL with their SQL in ``dialect``: comparison levels and
    blocking rules translated, every estimate (m, u, term frequencies, the prior) as it was."""
    if dialect == DUCKDB:
        return model

    def rule(r: dict[str, Any] | str) -> dict[str, Any] | str:
        if isinstance(r, str):
            return to_dialect(r, dialect)
        return {
            **r,
            "blocking_rule": to_dialect(r["blocking_rule"], dialect),
            "sql_dialect": dialect,
        }

    return {
        **model,
        "sql_dialect": dialect,
        "comparisons": [
            {
                **c,
                "comparison_levels": [
                    {**lv, "sql_condition": to_dialect(lv["sql_condition"], dialect)}
                    for lv in c["comparison_levels"]
                ],
            }
            for c in model["comparisons"]
        ],
        "blocking_rules_to_generate_predictions": [
            rule(r) for r in model.get("blocking_rules_to_generate_predictions") or []
        ],
    }


def in_duckdb_sql(
    model: dict[str, Any], declared: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    """A model with its SQL in DuckDB's dialect. A model trained on another engine has the
    structure of the declared settings (training starts from them; ``declared(dialect)``
    renders them), so each of its levels and blocking rules is the declared one rendered for
    DuckDB, with the estimates it holds.

    Raises:
        UserError: the model's comparisons or rules are not the declared ones.
    """
    dialect = dialect_of(model)
    if dialect == DUCKDB:
        return model
    theirs, ours = declared(dialect), declared(DUCKDB)
    by_name = {c["output_column_name"]: c for c in ours["comparisons"]}
    rendered = {
        rule_sql(a): b
        for a, b in zip(
            theirs["blocking_rules_to_generate_predictions"],
            ours["blocking_rules_to_generate_predictions"],
            strict=True,
        )
    }
    comparisons = []
    for c in model["comparisons"]:
        mine = by_name.get(c["output_column_name"])
        if mine is None or len(mine["comparison_levels"]) != len(c["comparison_levels"]):
            raise UserError(
                f"a {dialect} linkage model whose comparison {c['output_column_name']!r} is not "
                "this openbureau's: train it again"
            )
        levels = [
            {**lv, "sql_condition": m["sql_condition"]}
            for lv, m in zip(c["comparison_levels"], mine["comparison_levels"], strict=True)
        ]
        comparisons.append({**c, "comparison_levels": levels})
    rules = []
    for r in model.get("blocking_rules_to_generate_predictions") or []:
        if rule_sql(r) not in rendered:
            raise UserError(
                f"a {dialect} linkage model with a blocking rule that is not this openbureau's "
                f"({rule_sql(r)}): train it again"
            )
        rules.append(rendered[rule_sql(r)])
    return {
        **model,
        "sql_dialect": DUCKDB,
        "comparisons": comparisons,
        "blocking_rules_to_generate_predictions": rules,
    }
