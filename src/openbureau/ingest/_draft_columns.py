"""What each sampled column holds: its type, date formats and code values, judged as ingest
would read them.

The engine's reading (DuckDB's sniffer for CSV, the JSON structure, the Parquet schema) says
which columns are numbers, dates or booleans. Each is then checked with ingest's own reading
(``_values.read_sql``: syntax, decimals, bounds) on every sampled value, and text columns are
tried as amounts (``1,234.00``, ``42,21``) and as dates in the formats below: a type is kept only
when every non-empty sampled value reads. When several date formats read every value but
disagree (``%d/%m/%Y`` and ``%m/%d/%Y`` while no day is past the 12th), none is chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openbureau.engine import DuckDBEngine
from openbureau.engine.sql import ident
from openbureau.ingest import bounds
from openbureau.ingest._draft_sample import SAMPLE_TABLE, SourceColumn
from openbureau.ingest._values import read_sql
from openbureau.ingest.categories import DataCategory
from openbureau.ingest.spec import PLACEHOLDER, FieldSpec, FieldType

# strptime formats tried on a column's text, in order of preference (the first of several
# that read every value alike is taken). Declared here: the formats a draft may propose.
DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y%m%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%d/%m/%y",
    "%m/%d/%y",
    "%d-%b-%Y",
    "%d %b %Y",
    "%b %d, %Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
)
MONTH_FORMATS = ("%Y-%m", "%Y/%m", "%Y%m", "%m/%Y", "%m-%Y", "%b %Y", "%b-%Y")
MAX_CODES = 20  # a column with at most this many distinct values may be a code
_ENGINE_KINDS = {
    "integer": ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                "UINTEGER", "UBIGINT", "UHUGEINT"),
    "amount": ("FLOAT", "DOUBLE", "DECIMAL"),
    "date": ("DATE", "TIMESTAMP"),
    "boolean": ("BOOLEAN",),
}  # fmt: skip


@dataclass
class Profile:
    """One column as sampled, and how a spec should read it."""

    column: SourceColumn
    filled: int = 0  # non-empty sampled values
    distinct: int = 0  # distinct values, case and surrounding spaces ignored
    longest: int = 0
    leading_zero: bool = False  # a number written with a leading zero (an identifier)
    values: list[tuple[str, int]] = field(default_factory=list)  # low cardinality: (value, n)
    type: FieldType = "string"
    formats: list[str] | None = None
    decimal_comma: bool | str = False  # PLACEHOLDER when both readings fit
    max_length: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def low_cardinality(self) -> bool:
        """Few values, each seen often: a code rather than free text or an identifier."""
        return 0 < self.distinct <= MAX_CODES and self.filled >= 5 * self.distinct


def engine_kind(engine_type: str) -> str:
    """integer, amount, date, boolean or string: what the engine read a column as."""
    base = engine_type.split("(")[0].split(" ")[0].upper()
    return next((k for k, names in _ENGINE_KINDS.items() if base in names), "string")


def _candidate(kind: FieldType, fmt: str | None = None, comma: bool = False) -> FieldSpec:
    return FieldSpec(
        column="sample",
        target="sample_value",
        type=kind,
        category=DataCategory.unknown,
        formats=[fmt] if fmt else None,
        decimal_comma=comma,
    )


_CANDIDATES: dict[str, FieldSpec] = {
    "integer": _candidate("integer"),
    "amount": _candidate("amount"),
    "amount,": _candidate("amount", comma=True),
    **{f: _candidate("date", f) for f in DATE_FORMATS},
    **{f: _candidate("month", f) for f in MONTH_FORMATS},
}
_READINGS = list(_CANDIDATES)  # what each column is tried as
_CANDIDATES["boolean"] = _candidate("boolean")  # (for its default codes only)


def profile_columns(engine: DuckDBEngine, columns: list[SourceColumn]) -> list[Profile]:
    """Profile every sampled column (a few set-based queries over ``draft_sample``)."""
    profiles = [Profile(c) for c in columns]
    _stats(engine, profiles)
    _code_values(engine, [p for p in profiles if 0 < p.distinct <= MAX_CODES])
    filled = [p for p in profiles if p.filled]
    failures = _failures(engine, filled)
    for p in profiles:
        if not p.filled:
            p.notes.append("empty in every sampled row: type unknown, left string")
            continue
        _decide(engine, p, {name for name, bad in failures[p.column.sql].items() if not bad})
    return profiles


def _stats(engine: DuckDBEngine, profiles: list[Profile]) -> None:
    parts = []
    for p in profiles:
        s = f"nullif(trim({ident(p.column.sql)}), '')"
        parts += [
            f"count({s})",
            f"count(DISTINCT lower({s}))",
            f"coalesce(max(length({s})), 0)",
            f"coalesce(bool_or(regexp_matches({s}, '^[+-]?0[0-9]')), false)",
        ]
    row = engine.query(f"SELECT {', '.join(parts)} FROM {SAMPLE_TABLE}")[0]
    for i, p in enumerate(profiles):
        p.filled, p.distinct, p.longest, p.leading_zero = row[4 * i : 4 * i + 4]


def _code_values(engine: DuckDBEngine, profiles: list[Profile]) -> None:
    """The values of the columns with few distinct ones, most frequent first: one spelling
    per code as ingest matches codes (case and surrounding spaces ignored)."""
    if not profiles:
        return
    union = " UNION ALL ".join(
        f"SELECT {i} AS i, lower(v) AS k, min(v) AS v, count(*) AS n FROM "
        f"(SELECT nullif(trim({ident(p.column.sql)}), '') AS v FROM {SAMPLE_TABLE}) "
        "WHERE v IS NOT NULL GROUP BY lower(v)"
        for i, p in enumerate(profiles)
    )
    for i, _, value, n in engine.query(f"SELECT * FROM ({union}) ORDER BY i, n DESC, k"):
        profiles[i].values.append((str(value), int(n)))


def _failures(engine: DuckDBEngine, profiles: list[Profile]) -> dict[str, dict[str, int]]:
    """Per column and candidate reading: how many distinct non-empty sampled values it cannot
    read. (One pass over the sample unpivoted, so the SQL grows with the readings, not the
    columns; each distinct value is read once.)"""
    if not profiles:
        return {}
    columns = ", ".join(ident(p.column.sql) for p in profiles)
    counts = ", ".join(
        f"count(*) FILTER (WHERE ({read_sql(_CANDIDATES[name], 'v')}) IS NULL)"
        for name in _READINGS
    )
    rows = engine.query(
        f"SELECT col, {counts} FROM (SELECT DISTINCT col, nullif(trim(v), '') AS v FROM "
        f"(UNPIVOT (SELECT {columns} FROM {SAMPLE_TABLE}) ON COLUMNS(*) INTO NAME col VALUE v)) "
        "WHERE v IS NOT NULL GROUP BY col"
    )
    out: dict[str, dict[str, int]] = {p.column.sql: {} for p in profiles}
    for col, *bad in rows:
        out[col] = {name: int(n) for name, n in zip(_READINGS, bad, strict=True)}
    return out


def _decide(engine: DuckDBEngine, p: Profile, reads: set[str]) -> None:
    """The type (and formats) of one column from what the engine saw and what reads."""
    kind = engine_kind(p.column.engine_type)
    dates = [f for f in DATE_FORMATS if f in reads] or [f for f in MONTH_FORMATS if f in reads]
    if p.longest > bounds.DEFAULT_MAX_LENGTH:
        p.max_length = min(p.longest * 2, bounds.MAX_LENGTH_LIMIT)
        p.notes.append(f"values up to {p.longest:,} characters long in the sample")
    if dates and kind != "amount":
        p.type = "date" if dates[0] in DATE_FORMATS else "month"
        p.formats = _choose(engine, p, dates, "dates")
        if kind == "integer":
            p.notes.append(f"numbers that all read as dates ({', '.join(dates)}): check")
        return
    if kind == "date":
        p.notes.append("read as dates by the engine, but in none of the formats a draft tries")
    if kind == "string" and p.column.typed:  # (text in a typed format: see SourceColumn)
        reads -= {"integer", "amount", "amount,"}
    if _boolean(p, kind):
        p.type = "boolean"
    elif "integer" in reads and kind in ("integer", "string") and not p.leading_zero:
        p.type = "integer"
    elif ("amount" in reads or "amount," in reads) and not p.leading_zero:
        p.type = "amount"
        comma = _choose(engine, p, [r for r in ("amount", "amount,") if r in reads], "amounts")
        p.decimal_comma = PLACEHOLDER if comma == [PLACEHOLDER] else comma == ["amount,"]
    elif kind in ("integer", "amount") or "integer" in reads or "amount" in reads:
        why = "leading zeros" if p.leading_zero else "values ingest would not read as numbers"
        p.notes.append(f"numbers with {why}: read as text")


def _boolean(p: Profile, kind: str) -> bool:
    """Yes/no words only (0 and 1 too when the engine read booleans): ingest's default
    boolean codes read them all."""
    words = set((_CANDIDATES["boolean"].codes or {}).keys())
    if kind != "boolean":
        words -= {"0", "1"}
    return bool(p.values) and {v.lower() for v, _ in p.values} <= words


def _choose(engine: DuckDBEngine, p: Profile, readings: list[str], what: str) -> list[str]:
    """The first reading, unless another reads every value too but to another value: then
    none (a placeholder), and a note naming the candidates."""
    if len(readings) == 1:
        return readings
    col = ident(p.column.sql)
    first = read_sql(_CANDIDATES[readings[0]], col)
    parts = [
        f"count(*) FILTER (WHERE ({first}) IS DISTINCT FROM ({read_sql(_CANDIDATES[r], col)}))"
        for r in readings[1:]
    ]
    differ = engine.query(f"SELECT {', '.join(parts)} FROM {SAMPLE_TABLE}")[0]
    rivals = [r for r, n in zip(readings[1:], differ, strict=True) if n]
    if not rivals:
        return readings[:1]
    if what == "amounts":
        p.notes.append(
            "ambiguous amounts: every value reads with a decimal point and with a decimal "
            "comma (1,234 is 1234 or 1.234), differently: say decimal_comma: true or false"
        )
    else:
        p.notes.append(
            f"ambiguous dates: {' and '.join([readings[0], *rivals])} each read every sampled "
            "value, as different dates: choose the furnisher's format"
        )
    return [PLACEHOLDER]
