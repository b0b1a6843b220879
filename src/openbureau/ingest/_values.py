"""How one field's text becomes its typed value, and the reason when it cannot.

Every expression here is SQL over the staged row's columns: ``v_<target>`` (the cell),
``s_<target>`` (its trimmed text, NULL when empty), ``n_<target>`` (an amount's text without
currency signs and spaces), ``p_<target>`` (the parsed value) and ``ok_<target>`` (whether a
number has the right syntax). They are compiled into the one validation pass (``_validate``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from openbureau.ingest import bounds
from openbureau.ingest._sql import lit, q
from openbureau.ingest.reasons import reason_sql
from openbureau.ingest.spec import FieldSpec, SourceSpec, code_key

# Currency signs and spaces (a thousands separator in many countries) are dropped first.
_NOISE = "[\\s$€£¥]"
# Digits with thousands separators in groups of three, or none; then a decimal part.
_GROUPED = "([0-9]+|[0-9]{{1,3}}(\\{sep}[0-9]{{3}})+)"
AMOUNT_SYNTAX = "[+-]?" + _GROUPED.format(sep=",") + "(\\.[0-9]*)?|[+-]?\\.[0-9]+"
AMOUNT_SYNTAX_DECIMAL_COMMA = "[+-]?" + _GROUPED.format(sep=".") + "(,[0-9]*)?|[+-]?,[0-9]+"
INTEGER_SYNTAX = "[+-]?" + _GROUPED.format(sep=",") + "(\\.0*)?"


@dataclass(frozen=True)
class FieldSql:
    """The SQL that reads one field."""

    parsed: str  # the typed value (NULL when the text does not parse), over s_ and n_
    syntax: str | None  # whether the text has the type's syntax, over s_ and n_ (numbers)
    problem: str  # the field's reason ('code:target') or NULL, over s_, p_ and ok_
    number_text: str | None = None  # an amount's n_, over v_ (computed once, read twice)


def field_sql(spec: SourceSpec, f: FieldSpec, tokenise: Callable[[str], str]) -> FieldSql:
    """Parse and judge ``f``; ``tokenise`` makes the SQL of a national ID's keyed token."""
    s = q("s_" + f.target)
    p = q("p_" + f.target)
    checks: list[tuple[str, str]] = []  # (condition, reason), first that holds wins
    syntax: str | None = None
    number_text: str | None = None
    if f.type in ("date", "month"):
        parsed = ", ".join(f"try_strptime({s}, {lit(fmt)})" for fmt in f.formats or [])
        value = f"CAST(coalesce({parsed}) AS DATE)"
        if f.type == "month":
            value = f"date_trunc('month', {value})::DATE"
        checks.append((f"{p} IS NULL", "unparseable_date"))
    elif f.type in ("amount", "integer"):
        cleaned = s
        if f.type == "amount":
            number_text = f"regexp_replace(trim({q('v_' + f.target)}), '{_NOISE}', '', 'g')"
            cleaned = q("n_" + f.target)
        if f.decimal_comma:
            pattern, number = (
                AMOUNT_SYNTAX_DECIMAL_COMMA,
                f"replace(replace({cleaned}, '.', ''), ',', '.')",
            )
        else:
            pattern = AMOUNT_SYNTAX if f.type == "amount" else INTEGER_SYNTAX
            number = f"replace({cleaned}, ',', '')"
        sql_type = "DECIMAL(18, 2)" if f.type == "amount" else "BIGINT"
        value = f"TRY_CAST({number} AS {sql_type})"
        syntax = f"regexp_full_match({cleaned}, {lit(pattern)})"
        checks.append(
            (f"NOT {q('ok_' + f.target)}", "bad_amount" if f.type == "amount" else "bad_integer")
        )
        checks.append((f"{p} IS NULL", "implausible_value"))  # too large for its type
    elif f.type in ("code", "boolean") or spec.vocabulary(f) is not None:
        value = _code_sql(spec, f, s)
        checks.append((f"{p} IS NULL", "unknown_code"))
    elif f.target == "national_id":
        norm = f"upper(regexp_replace({s}, '[^0-9A-Za-z]', '', 'g'))"
        value = f"CASE WHEN regexp_full_match({norm}, '[0-9A-Z]{{5,20}}') THEN {tokenise(norm)} END"
        checks.append((f"{p} IS NULL", "bad_national_id"))
    else:
        value = s
    limits = bounds.field_bounds(f)
    if limits is not None:
        code = "implausible_date" if isinstance(limits, bounds.DateBounds) else "implausible_value"
        checks.append((f"NOT ({limits.sql(p)})", code))
    whens = " ".join(
        f"WHEN {cond} THEN {reason_sql(code, f.target)}"
        for cond, code in [(f"length({s}) > {f.length_limit}", "field_too_long"), *checks]
    )
    return FieldSql(
        parsed=value,
        syntax=syntax,
        problem=f"CASE WHEN {s} IS NULL THEN NULL {whens} END",
        number_text=number_text,
    )


def _code_sql(spec: SourceSpec, f: FieldSpec, s: str) -> str:
    """A code table's lookup; a text field with a vocabulary is looked up in the vocabulary."""
    vocab = spec.vocabulary(f)
    codes = f.codes if f.type in ("code", "boolean") else {v: v for v in vocab or ()}
    whens = " ".join(f"WHEN {lit(code_key(k))} THEN {lit(v)}" for k, v in (codes or {}).items())
    value = f"CASE lower({s}) {whens} END"
    return f"CAST({value} AS BOOLEAN)" if f.type == "boolean" else value
