"""How one field's text becomes its typed value, and the reason when it cannot.

Every expression here is SQL over the staged row's columns: ``v_<target>`` (the cell),
``s_<target>`` (its trimmed text, NULL when empty), ``n_<target>`` (a number's digits, without
its currency sign, spaces and thousands separators), ``p_<target>`` (the parsed value) and
``ok_<target>`` (whether a number's text, as written, has the right syntax). They are compiled
into the one validation pass (``_validate``). :func:`read_sql` reads a text column the same
way in one expression, for the ledger's reading of batches loaded before a target's type was
fixed.

A number is judged on its text as written: a currency sign only once, at the start or the end;
spaces only as thousands separators; an amount with decimals past the second that are not
zeros is not rounded but quarantined (``too_many_decimals``), so bounds are checked on the
exact value. A field's ``scale`` (a power of ten) multiplies the number as written (``12345``
in cents is ``123.45``), and the decimals are judged on the scaled value; ``sign: trailing``
reads the sign after the digits (``12345-``), as fixed-width layouts often write it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from openbureau.engine.sql import ident, literal
from openbureau.ingest import bounds
from openbureau.ingest.reasons import reason_sql
from openbureau.ingest.spec import FieldSpec, SourceSpec, code_key

_CURRENCY = "[$€£¥]"
_SPACE = "[ \\x{00A0}\\x{202F}]"  # a space, a no-break space or a narrow one


def _digits(sep: str) -> str:
    """Digits, with thousands separators (``sep`` or a space, not both) in groups of three."""
    return f"(?:[0-9]+|[0-9]{{1,3}}(?:{sep}[0-9]{{3}})+|[0-9]{{1,3}}(?:{_SPACE}[0-9]{{3}})+)"


def _amount(sep: str, point: str) -> str:
    """An amount as written: a sign, at most one currency sign at the start or the end (a space
    between it and the digits allowed), digits and a decimal part."""
    n = f"(?:{_digits(sep)}(?:{point}[0-9]*)?|{point}[0-9]+)"
    c = f"{_CURRENCY}{_SPACE}?"
    return f"[+-]?(?:{c})?{n}|{c}[+-]{n}|[+-]?{n}{_SPACE}?{_CURRENCY}"


def _amount_trailing_sign(sep: str, point: str) -> str:
    """An amount whose sign, if any, follows its digits (``12.50-``)."""
    n = f"(?:{_digits(sep)}(?:{point}[0-9]*)?|{point}[0-9]+)"
    return f"(?:{_CURRENCY}{_SPACE}?)?{n}[+-]?"


AMOUNT_SYNTAX = _amount(",", "\\.")
AMOUNT_SYNTAX_DECIMAL_COMMA = _amount("\\.", ",")
INTEGER_SYNTAX = "[+-]?" + _digits(",") + "(?:\\.0*)?"
INTEGER_SYNTAX_DECIMAL_COMMA = "[+-]?" + _digits("\\.") + "(?:,0*)?"
# Decimals past the second that are not zeros: the amount cannot be stored (two decimals)
# without changing it. (Checked after the syntax, so the point is the decimal separator.)
_EXCESS = "\\.[0-9]{{{0}}}[0-9]*[1-9]"
_EXCESS_DECIMAL_COMMA = ",[0-9]{{{0}}}[0-9]*[1-9]"
# A scaled number is cast exactly first: 14 digits before the point (more is implausible
# anyway), 10 after; times a scale of at most 10^6 it cannot overflow.
_EXACT = "DECIMAL(24, 10)"
_SCALE = "DECIMAL(13, 6)"
# What is left out of an amount's text before it is cast, once its syntax is checked.
_DROPPED = f"(?:{_CURRENCY}|{_SPACE})"


@dataclass(frozen=True)
class _Number:
    """How the text of an amount or an integer field is checked and cast."""

    syntax: str  # the text as written, trimmed
    excess: str | None  # found in the text: more decimals than the type stores
    sql_type: str
    decimal_comma: bool
    trailing_sign: bool = False
    scale: Decimal | None = None

    @staticmethod
    def of(f: FieldSpec) -> _Number:
        amount = f.type == "amount"
        comma = f.decimal_comma
        sep, point = ("\\.", ",") if comma else (",", "\\.")
        trailing = f.sign == "trailing"
        if amount:
            syntax = _amount_trailing_sign(sep, point) if trailing else _amount(sep, point)
        elif trailing:
            syntax = _digits(sep) + f"(?:{point}0*)?[+-]?"
        else:
            syntax = INTEGER_SYNTAX_DECIMAL_COMMA if comma else INTEGER_SYNTAX
        # the decimals the text may have: two, fewer or more as the scale shifts the point
        shift = int(f.scale.adjusted()) if f.scale is not None else 0
        kept = max(0, 2 + shift)
        excess = (_EXCESS_DECIMAL_COMMA if comma else _EXCESS).format(kept) if amount else None
        sql_type = "DECIMAL(18, 2)" if amount else "BIGINT"
        return _Number(syntax, excess, sql_type, comma, trailing, f.scale)

    def digits(self, text: str) -> str:
        """``text`` without currency signs, spaces and thousands separators, its sign in front:
        what is cast."""
        bare = f"regexp_replace({text}, {literal(_DROPPED)}, '', 'g')"
        if self.decimal_comma:
            bare = f"replace(replace({bare}, '.', ''), ',', '.')"
        else:
            bare = f"replace({bare}, ',', '')"
        if self.trailing_sign:
            return f"regexp_replace({bare}, '^(.*)([+-])$', '\\2\\1')"
        return bare

    def _scaled(self, digits: str) -> str:
        return (
            f"TRY_CAST({digits} AS {_EXACT}) * CAST({literal(format(self.scale, 'f'))} AS {_SCALE})"
        )

    def value(self, digits: str) -> str:
        if self.scale is None:
            return f"TRY_CAST({digits} AS {self.sql_type})"
        return f"TRY_CAST({self._scaled(digits)} AS {self.sql_type})"

    def well_formed(self, text: str) -> str:
        return f"regexp_full_match({text}, {literal(self.syntax)})"

    def too_precise(self, text: str, digits: str) -> str:
        """More decimals than the type stores: in the text as written, or (scaled below
        hundredths) in the scaled value."""
        found = f"regexp_matches({text}, {literal(self.excess)})" if self.excess else "false"
        if self.excess and self.scale is not None and self.scale < Decimal("0.01"):
            scaled = self._scaled(digits)
            found = f"({found} OR coalesce({scaled} <> round({scaled}, 2), false))"
        return found


@dataclass(frozen=True)
class FieldSql:
    """The SQL that reads one field."""

    parsed: str  # the typed value (NULL when the text does not parse), over s_ and n_
    syntax: str | None  # whether the text as written has the type's syntax, over s_ (numbers)
    problem: str  # the field's reason ('code:target') or NULL, over s_, p_ and ok_
    number_text: str | None = None  # a number's n_, over v_


def field_sql(spec: SourceSpec, f: FieldSpec, tokenise: Callable[[str], str]) -> FieldSql:
    """Parse and judge ``f``; ``tokenise`` makes the SQL of a national ID's keyed token."""
    s = ident("s_" + f.target)
    p = ident("p_" + f.target)
    checks: list[tuple[str, str]] = []  # (condition, reason), first that holds wins
    syntax: str | None = None
    number_text: str | None = None
    if f.type in ("date", "month"):
        value = _date(f, s)
        checks.append((f"{p} IS NULL", "unparseable_date"))
    elif f.type in ("amount", "integer"):
        number = _Number.of(f)
        number_text = number.digits(f"trim({ident('v_' + f.target)})")
        value = number.value(ident("n_" + f.target))
        syntax = number.well_formed(s)  # the text as written, not as cleaned
        checks.append(
            (
                f"NOT {ident('ok_' + f.target)}",
                "bad_amount" if f.type == "amount" else "bad_integer",
            )
        )
        checks.append((number.too_precise(s, ident("n_" + f.target)), "too_many_decimals"))
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


def _date(f: FieldSpec, text: str) -> str:
    parsed = ", ".join(f"try_strptime({text}, {literal(fmt)})" for fmt in f.formats or [])
    value = f"CAST(coalesce({parsed}) AS DATE)"
    return f"date_trunc('month', {value})::DATE" if f.type == "month" else value


def number_sql(f: FieldSpec, text: str) -> str:
    """The value of the text ``text`` read as the amount or integer field ``f`` (scaled, its
    sign where the field writes it), or NULL when its syntax or decimals are wrong; bounds
    are not checked (what a trailer total adds up)."""
    t = f"nullif(trim({text}), '')"
    n = _Number.of(f)
    ok = f"{n.well_formed(t)} AND NOT {n.too_precise(t, n.digits(t))}"
    return f"CASE WHEN {ok} THEN {n.value(n.digits(t))} END"


def read_sql(f: FieldSpec, text: str) -> str:
    """One expression reading the text ``text`` as ingest reads field ``f`` (an amount, an
    integer, a date or a month): the typed value, or NULL wherever ingest would quarantine it
    (syntax, decimals, size, bounds, length)."""
    t = f"nullif(trim({text}), '')"
    if f.type in ("amount", "integer"):
        value = number_sql(f, text)
    elif f.type in ("date", "month"):
        value = _date(f, t)
    else:
        raise ValueError(f"{f.target}: type {f.type} is not read from text here")
    limits = bounds.field_bounds(f)
    within = f"length({t}) <= {f.length_limit}"
    if limits is not None:
        within += f" AND {limits.sql(value)}"
    return f"CASE WHEN {within} THEN {value} END"


def _code_sql(spec: SourceSpec, f: FieldSpec, s: str) -> str:
    """A code table's lookup; a text field with a vocabulary is looked up in the vocabulary."""
    vocab = spec.vocabulary(f)
    codes = f.codes if f.type in ("code", "boolean") else {v: v for v in vocab or ()}
    whens = " ".join(
        f"WHEN {literal(code_key(k))} THEN {literal(v)}" for k, v in (codes or {}).items()
    )
    value = f"CASE lower({s}) {whens} END"
    return f"CAST({value} AS BOOLEAN)" if f.type == "boolean" else value
