"""The DuckDB-only constructs in stage SQL, and what sqlglot makes of each for Spark.

Stage SQL is written in DuckDB's dialect. sqlglot transpiles much of it to Spark SQL; the
constructs below it passes through unchanged, refuses, or writes wrongly, so each needs a
rewrite (or a hook on the engine) before a stage runs on Spark. ``tests/engine/
test_transpile.py`` checks every outcome against sqlglot and that stage SQL uses no DuckDB
function missing here; ``python -m openbureau.engine._dialect`` counts where they are
(docs/engines.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Outcome = Literal["translated", "passed through", "refused", "wrong"]


@dataclass(frozen=True)
class Construct:
    name: str
    pattern: str  # a regular expression finding it in SQL (and in the source that writes it)
    outcome: Outcome  # what sqlglot (read duckdb, write spark) makes of ``example``
    example: str
    note: str = ""
    wrong_as: str = ""  # for "wrong": what sqlglot writes instead

    def found(self, text: str) -> bool:
        return re.search(self.pattern, text, re.IGNORECASE) is not None


CONSTRUCTS = (
    Construct(
        "ATTACH / DETACH",
        r"\b(ATTACH|DETACH)\b\s+(DATABASE\b|'|\{|:)",
        "passed through",
        "ATTACH 'x.duckdb' AS pub (READ_ONLY)",
        "another database file in the session",
    ),
    Construct(
        "SET VARIABLE / getvariable",
        r"\bSET VARIABLE\b|\bgetvariable\(",
        "passed through",
        "SELECT getvariable('v')",
        "the HMAC key outside the SQL text",
    ),
    Construct(
        "WITH RECURSIVE ... USING KEY",
        r"\bUSING KEY\b",
        "passed through",
        "WITH RECURSIVE r(a) USING KEY (a) AS (SELECT 1 UNION SELECT a FROM r) SELECT * FROM r",
        "identity's connected components",
    ),
    Construct(
        "MACRO", r"\bMACRO\b", "passed through", "CREATE OR REPLACE TEMP MACRO m(x) AS x || 'a'"
    ),
    Construct(
        "MAP {...} literal",
        r"\bMAP \{",
        "wrong",
        "SELECT MAP {'A': 'B'}['A']",
        "written as MAP STRUCT(...)",
        "MAP STRUCT(",
    ),
    Construct(
        "?::TYPE (a parameter cast with ::)",
        r"\?::",
        "refused",
        "SELECT ?::VARCHAR AS v",
        "sqlglot cannot parse it; CAST(? AS TYPE) transpiles",
    ),
    Construct(
        "unnest of a bound list",
        r"unnest\(\$\d|unnest\(\?",
        "refused",
        "SELECT unnest(?::VARCHAR[])",
        "Engine.registered() with Python lists",
    ),
    Construct(
        "COPY ... TO",
        r"\bCOPY\b[^;]*\bTO\b",
        "wrong",
        "COPY (SELECT 1) TO 'x.parquet' (FORMAT parquet)",
        "written as Databricks' COPY INTO",
        "COPY INTO (",
    ),
    Construct(
        "INSERT ... BY NAME / OR REPLACE",
        r"\bBY NAME\b|\bINSERT OR REPLACE\b",
        "passed through",
        "INSERT INTO t BY NAME SELECT 1 AS a",
    ),
    Construct(
        "file readers with options",
        r"\b(read_csv|read_json|read_text|sniff_csv)\(|read_parquet\([^)]*,",
        "passed through",
        "SELECT * FROM read_csv('a.csv', header = true)",
        "read_parquet(path) alone becomes parquet.`path`",
    ),
    Construct(
        "catalog functions and settings",
        r"\bduckdb_\w+\(|\bpragma_\w+\(|\bcurrent_setting\(|\bcheckpoint_threshold\b",
        "passed through",
        "SELECT * FROM duckdb_tables()",
    ),
    Construct(
        "DuckDB text functions",
        r"\b(regexp_full_match|strip_accents|try_strptime|md5_number_lower"
        r"|damerau_levenshtein|parse_filename)\(",
        "passed through",
        "SELECT strip_accents(x), regexp_full_match(x, 'a')",
    ),
    Construct(
        "other DuckDB functions",
        r"\b(to_months|generate_subscripts|nextval|error)\(",
        "passed through",
        "SELECT to_months(3), error('x')",
    ),
    Construct(
        "TEMP TABLE",
        r"\bTEMP(ORARY)? TABLE\b",
        "translated",
        "CREATE OR REPLACE TEMP TABLE t AS SELECT 1 AS a",
        "a TEMPORARY VIEW: recomputed at each read, not kept",
    ),
    Construct(
        "QUALIFY",
        r"\bQUALIFY\b",
        "translated",
        "SELECT a FROM t QUALIFY row_number() OVER (ORDER BY a) = 1",
    ),
    Construct(
        "list functions and lambdas",
        r"\blist_\w+\(|\blambda \w+:",
        "translated",
        "SELECT list_filter([1, NULL], lambda x: x IS NOT NULL)",
        "len() of a list becomes LENGTH, not SIZE",
    ),
    Construct(":: casts", r"[\w)\]]::\w", "translated", "SELECT x::DATE"),
)

# Functions sqlglot does not know in DuckDB's dialect that Spark has under the same name.
# (``hash``: another function of the values on each, which is all ingest's grouping of
# candidate duplicates asks of it within one run)
PORTABLE_UNKNOWN = frozenset({"now", "to_json", "hash"})


def inventory(root: Path) -> list[tuple[Construct, int, dict[str, int]]]:
    """Per construct: lines of ``root``'s modules that hold it, and how many per module."""
    found = []
    for c in CONSTRUCTS:
        per: dict[str, int] = {}
        for path in sorted(root.rglob("*.py")):
            if path.parent.name == "engine":  # (the engine states them; stages use them)
                continue
            n = sum(c.found(line) for line in path.read_text(encoding="utf-8").splitlines())
            if n:
                per[str(path.relative_to(root))] = n
        found.append((c, sum(per.values()), per))
    return found


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    print("| construct | sqlglot to Spark | lines | modules (lines) |")
    print("|---|---|---:|---|")
    for c, lines, per in inventory(root):
        top = sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{m} ({n})" for m, n in top[:6])
        more = f", +{len(top) - 6} more" if len(top) > 6 else ""
        outcome = c.outcome + (f": {c.note}" if c.note else "")
        print(f"| {c.name} | {outcome} | {lines} | {len(per)}: {shown}{more} |")


if __name__ == "__main__":
    main()
