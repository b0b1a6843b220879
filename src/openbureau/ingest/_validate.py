"""Compile a source spec into one set-based SQL pass that parses, types and judges every row.

The result (a temp table) has one row per input row: one typed column per spec field (named for
its target) and bookkeeping columns whose names start with ``_`` (targets cannot): ``_line_no``,
``_source_record_id``, ``_raw_text`` (national IDs masked), and ``_reasons``: the
machine-readable reasons the row must be quarantined, empty when it loads. Reason codes are
``code`` or ``code:field``; ``_reason``, ``_field``, ``_source_column`` and ``_value`` describe the
first.

Reason codes
    bad_encoding          the line is not valid text in the declared encoding
    control_character     the line holds a control character such as NUL
    malformed_quoting     quotes do not pair up (CSV)
    wrong_field_count     more or fewer cells than the header (CSV)
    invalid_json          the line is not JSON (JSON lines)
    not_an_object         the line is JSON but not an object (JSON lines)
    duplicate_row         the same line appeared earlier in the batch
    duplicate_key         the same record key appeared earlier in the batch
    unparseable_date      the value matches none of the field's date formats
    implausible_date      a date before 1900 or more than a year in the future
    bad_amount            not a number
    bad_integer           not a whole number
    unknown_code          not in the field's code table
    bad_national_id       a national ID that is not 5-20 letters or digits
    missing_required      a required field is empty
    missing_identifier    none of the spec's identifier groups is complete
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from openbureau.engine import Engine
from openbureau.ingest.spec import FieldSpec, SourceSpec

STAGED = "_ingest_staged"
# An undecodable line shown as text (bytes above 0x7F escaped), without its line break.
RAW_AS_TEXT = "rtrim(CAST(raw AS VARCHAR), chr(13) || chr(10))"
# Control characters have no place in a furnisher's text (a NUL is a classic corrupt byte).
CONTROL_CHARS = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]"
# A line of only spaces, tabs and carriage returns is blank: counted, but not a row.
NOT_BLANK = "(text IS NULL OR NOT regexp_full_match(text, '[ \t\r]*'))"
NATIONAL_ID_MASK = "[national_id]"
# A national ID written inside a line we could not parse: masked before the line is stored.
_NATIONAL_ID_PATTERN = r"\b[0-9]{3}-?[0-9]{2}-?[0-9]{4}\b"


def q(name: str) -> str:
    """Quote an identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """Quote a string literal."""
    return "'" + value.replace("'", "''") + "'"


HMAC_VARIABLES = ("ob_hmac_ipad", "ob_hmac_opad")


def hmac_sql(expr: str) -> str:
    """HMAC-SHA256 of a VARCHAR expression, computed in the engine (RFC 2104).

    Written with sha256 over blobs so tokens are computed set-wise. The key's padded blocks are
    engine variables bound as parameters (:func:`hmac_key_bound`), never part of the SQL text,
    so they cannot reach a log or an error message, nor a table.
    """
    ipad, opad = (f"getvariable('{v}')" for v in HMAC_VARIABLES)
    return f"sha256({opad} || unhex(sha256({ipad} || encode({expr}))))"


@contextmanager
def hmac_key_bound(engine: Engine, key: bytes) -> Iterator[None]:
    """Bind the key's padded blocks for :func:`hmac_sql` for the duration of the block."""
    block = key if len(key) <= 64 else hashlib.sha256(key).digest()
    block = block.ljust(64, b"\x00")
    pads = (bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block))
    for name, pad in zip(HMAC_VARIABLES, pads, strict=True):
        engine.execute(f"SET VARIABLE {name} = ?", [pad])
    try:
        yield
    finally:
        for name in HMAC_VARIABLES:
            engine.execute(f"RESET VARIABLE {name}")


@dataclass(frozen=True)
class Compiled:
    sql: str
    value_columns: list[str]  # typed output columns, in spec order (national_id -> token)


def _csv_cell_pattern(delim: str, quote: str) -> tuple[str, str]:
    """Patterns for one cell and for a whole line, both applied to delimiter || line.

    Prefixing the delimiter makes every match non-empty, so empty cells are never skipped.
    """
    d, qt = re.escape(delim), re.escape(quote)
    cell = f"{qt}(?:[^{qt}]|{qt}{qt})*{qt}|[^{d}{qt}]*"
    return f"{d}({cell})", f"(?:{d}(?:{cell}))+"


def csv_rows(spec: SourceSpec, header: list[str]) -> str:
    qt = spec.parse.quote
    extract, full = _csv_cell_pattern(spec.parse.delimiter, qt)
    index = {c: i + 1 for i, c in enumerate(header)}
    cols = []
    for f in spec.fields:
        cell = f"cells[{index[f.column]}]"
        unq = (f"CASE WHEN starts_with({cell}, {lit(qt)}) "
               f"THEN replace({cell}[2:-2], {lit(qt * 2)}, {lit(qt)}) ELSE {cell} END")
        cols.append(f"{unq} AS {q('v_' + f.target)}")
    return f"""
    SELECT line_no, text, coalesce(text, {RAW_AS_TEXT}) AS raw_text,
      {lit(spec.parse.delimiter)} || text AS _prefixed,
      CASE WHEN text IS NOT NULL AND regexp_full_match(_prefixed, {lit(full)})
           THEN regexp_extract_all(_prefixed, {lit(extract)}, 1) END AS cells,
      CASE WHEN text IS NULL THEN 'bad_encoding'
           WHEN regexp_matches(text, {lit(CONTROL_CHARS)}) THEN 'control_character'
           WHEN cells IS NULL THEN 'malformed_quoting'
           WHEN len(cells) <> {len(header)} THEN 'wrong_field_count' END AS structural,
      {", ".join(cols)}
    FROM _ingest_text WHERE {NOT_BLANK}"""


def _json_path(column: str) -> str:
    return "$." + ".".join('"' + p.replace('"', '\\"') + '"' for p in column.split("."))


def jsonl_rows(spec: SourceSpec) -> str:
    # Each line is parsed once for its type and once for all field paths together.
    paths = "[" + ", ".join(lit(_json_path(f.column)) for f in spec.fields) + "]"
    cols = [f"_values[{i}] AS {q('v_' + f.target)}" for i, f in enumerate(spec.fields, start=1)]
    return f"""
    SELECT line_no, text, coalesce(text, {RAW_AS_TEXT}) AS raw_text,
      try(json_type(text)) AS _json_type,
      CASE WHEN text IS NULL THEN 'bad_encoding'
           WHEN regexp_matches(text, {lit(CONTROL_CHARS)}) THEN 'control_character'
           WHEN _json_type IS NULL THEN 'invalid_json'
           WHEN _json_type <> 'OBJECT' THEN 'not_an_object' END AS structural,
      CASE WHEN structural IS NULL THEN json_extract_string(text, {paths}) END AS _values,
      {", ".join(cols)}
    FROM _ingest_text WHERE {NOT_BLANK}"""


def parquet_rows(spec: SourceSpec, path: str, columns: list[str]) -> str:
    record = "{" + ", ".join(f"{lit(c)}: p.{q(c)}" for c in columns) + "}"
    cols = [f"CAST(p.{q(f.column)} AS VARCHAR) AS {q('v_' + f.target)}" for f in spec.fields]
    return f"""
    SELECT file_row_number + 1 AS line_no, to_json({record})::VARCHAR AS text,
      to_json({record})::VARCHAR AS raw_text, NULL::VARCHAR AS structural,
      {", ".join(cols)}
    FROM read_parquet({lit(path)}, file_row_number = true) p"""


def _amount_sql(f: FieldSpec, s: str) -> str:
    cleaned = f"regexp_replace({s}, '[\\s$€£¥]', '', 'g')"
    if f.decimal_comma:
        cleaned = f"replace(replace({cleaned}, '.', ''), ',', '.')"
    else:
        cleaned = f"replace({cleaned}, ',', '')"
    return f"TRY_CAST({cleaned} AS DECIMAL(18, 2))"


def _typed(f: FieldSpec) -> tuple[str, str | None]:
    """SQL for the typed value of a field and for its value error code (None if no check)."""
    s = q("s_" + f.target)
    if f.type in ("date", "month"):
        parsed = ", ".join(f"try_strptime({s}, {lit(fmt)})" for fmt in f.formats or [])
        value = f"CAST(coalesce({parsed}) AS DATE)"
        if f.type == "month":
            value = f"date_trunc('month', {value})::DATE"
        return value, "unparseable_date"
    if f.type == "amount":
        return _amount_sql(f, s), "bad_amount"
    if f.type == "integer":
        return f"TRY_CAST(replace({s}, ',', '') AS BIGINT)", "bad_integer"
    if f.type in ("code", "boolean"):
        codes = f.codes or {}
        whens = " ".join(f"WHEN {lit(k.lower())} THEN {lit(v)}" for k, v in codes.items())
        value = f"CASE lower({s}) {whens} END"
        if f.type == "boolean":
            value = f"CAST({value} AS BOOLEAN)"
        return value, "unknown_code"
    if f.target == "national_id":
        norm = f"upper(regexp_replace({s}, '[^0-9A-Za-z]', '', 'g'))"
        token = f"left({hmac_sql(norm)}, 32)"
        return (f"CASE WHEN regexp_full_match({norm}, '[0-9A-Z]{{5,20}}') THEN {token} END",
                "bad_national_id")
    return s, None


def output_column(f: FieldSpec) -> str:
    return "national_id_token" if f.target == "national_id" else f.target


def output_type(f: FieldSpec) -> str:
    return {"date": "DATE", "month": "DATE", "amount": "DECIMAL(18,2)", "integer": "BIGINT",
            "boolean": "BOOLEAN"}.get(f.type, "VARCHAR")


def _present(f: FieldSpec) -> str:
    """The column that says whether a field counts towards an identifier group: its raw value
    (a bad value quarantines the row anyway), or its typed value when bad values are emptied."""
    return q(("t_" + output_column(f)) if f.invalid == "null" else ("s_" + f.target))


def compile_validation(spec: SourceSpec, source_rows: str) -> Compiled:
    """The CREATE TEMP TABLE statement that stages and judges every row of a batch."""
    strings = ", ".join(
        f"nullif(trim({q('v_' + f.target)}), '') AS {q('s_' + f.target)}" for f in spec.fields
    )
    typed_cols: list[str] = []
    checks: list[str] = []
    nulled: list[str] = []
    for f in spec.fields:
        value, code = _typed(f)
        out = q("t_" + output_column(f))
        s = q("s_" + f.target)
        if f.type == "date":
            plausible = f"{value} BETWEEN DATE '1900-01-01' AND current_date + 366"
            if f.invalid == "null":
                value = f"CASE WHEN {plausible} THEN {value} END"
            else:
                checks.append(f"CASE WHEN NOT ({plausible}) THEN 'implausible_date:{f.target}' END")
        typed_cols.append(f"{value} AS {out}")
        if code:
            problem = f"CASE WHEN {s} IS NOT NULL AND {out} IS NULL THEN '{code}:{f.target}' END"
            (nulled if f.invalid == "null" else checks).append(problem)
        if f.required:
            checks.append(f"CASE WHEN {s} IS NULL THEN 'missing_required:{f.target}' END")
    if spec.require_one_of:
        groups = " OR ".join(
            "(" + " AND ".join(f"{_present(spec.field(t))} IS NOT NULL" for t in g) + ")"
            for g in spec.require_one_of
        )
        checks.append(f"CASE WHEN NOT ({groups}) THEN 'missing_identifier' END")

    key_cols = [q("t_" + output_column(spec.field(t))) for t in spec.record_key]
    source_key = (
        "concat_ws('|', " + ", ".join(f"CAST({c} AS VARCHAR)" for c in key_cols) + ")"
        if key_cols else "NULL::VARCHAR"
    )
    dup_key = (
        f"CASE WHEN len(pre) = 0 AND row_number() OVER (PARTITION BY len(pre) = 0, "
        f"{', '.join(key_cols)} ORDER BY line_no) > 1 THEN 'duplicate_key' END"
        if key_cols else "NULL::VARCHAR"
    )

    mask = "raw_text"
    if any(f.target == "national_id" for f in spec.fields):
        nid = q("s_national_id")
        mask = (f"regexp_replace(CASE WHEN {nid} IS NULL THEN raw_text ELSE replace(raw_text, "
                f"{nid}, {lit(NATIONAL_ID_MASK)}) END, {lit(_NATIONAL_ID_PATTERN)}, "
                f"{lit(NATIONAL_ID_MASK)}, 'g')")
    values_by_field = " ".join(
        f"WHEN {lit(f.target)} THEN "
        + (lit(NATIONAL_ID_MASK) if f.target == "national_id" else q("s_" + f.target))
        for f in spec.fields
    )
    columns_by_field = " ".join(f"WHEN {lit(f.target)} THEN {lit(f.column)}" for f in spec.fields)
    outputs = [output_column(f) for f in spec.fields]
    out_list = ", ".join(f"{q('t_' + c)} AS {q(c)}" for c in outputs)

    sql = f"""
    CREATE OR REPLACE TEMP TABLE {STAGED} AS
    WITH src AS ({source_rows}),
    cleaned AS (
      SELECT *, {strings},
        CASE WHEN row_number() OVER (PARTITION BY raw_text ORDER BY line_no) > 1
             THEN 'duplicate_row' END AS dup_row
      FROM src),
    typed AS (
      SELECT cleaned.*, {", ".join(typed_cols)}, {mask} AS _masked,
        CASE WHEN structural IS NOT NULL
             THEN list_filter([structural, dup_row], lambda x: x IS NOT NULL)
             ELSE list_filter([dup_row, {", ".join(checks) if checks else "NULL"}],
                              lambda x: x IS NOT NULL) END AS pre,
        list_filter([{", ".join(nulled) if nulled else "NULL"}],
                    lambda x: x IS NOT NULL) AS _nulled
      FROM cleaned),
    judged AS (
      SELECT *, list_concat(pre, list_filter([{dup_key}], lambda x: x IS NOT NULL)) AS _reasons
      FROM typed)
    SELECT line_no AS _line_no, {source_key} AS _source_record_id, {out_list},
      CASE WHEN len(_reasons) > 0 THEN _masked END AS _raw_text, _reasons, _nulled,
      split_part(_reasons[1], ':', 1) AS _reason,
      nullif(split_part(_reasons[1], ':', 2), '') AS _field,
      CASE nullif(split_part(_reasons[1], ':', 2), '') {columns_by_field} END AS _source_column,
      CASE nullif(split_part(_reasons[1], ':', 2), '') {values_by_field} END AS _value
    FROM judged"""
    return Compiled(sql=sql, value_columns=outputs)
