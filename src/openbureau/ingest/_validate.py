"""Compile a source spec into one set-based SQL pass that parses, types and judges every row.

The result (a temp table) has one row per input row: one typed column per spec field (named for
its target) and bookkeeping columns whose names start with ``_`` (targets cannot): ``_line_no``,
``_source_record_id``, ``_raw_text`` (national IDs masked), and ``_reasons``: the
machine-readable reasons the row must be quarantined, empty when it loads. Reason codes are
``code`` or ``code:field``; ``_reason``, ``_field``, ``_source_column`` and ``_value`` describe the
first.

The reason codes are declared in ``ingest.reasons`` (and listed in docs/ingest.md from there);
how each field's text is parsed, bounded and judged is in ``ingest._values``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from openbureau.engine import Engine
from openbureau.engine.sql import ident, literal
from openbureau.ingest import _metro2
from openbureau.ingest._fixed import last_position, substr_sql
from openbureau.ingest._values import field_sql
from openbureau.ingest.reasons import reason_sql
from openbureau.ingest.spec import FieldSpec, SourceSpec

STAGED = "_ingest_staged"
# An undecodable line shown as text (bytes above 0x7F escaped), without its line break.
RAW_AS_TEXT = "rtrim(CAST(raw AS VARCHAR), chr(13) || chr(10))"
# Control characters have no place in a furnisher's text (a NUL is a classic corrupt byte).
CONTROL_CHARS = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]"
# A line of only spaces, tabs and carriage returns is blank: counted, but not a row.
NOT_BLANK = "(text IS NULL OR NOT regexp_full_match(text, '[ \t\r]*'))"
# The records of a fixed-width file that are not rows: counted on their own (see _records).
NOT_ROWS = ("blank", "header", "trailer")
NATIONAL_ID_MASK = "[national_id]"
# A national ID written inside a line we could not parse: masked before the line is stored.
_NATIONAL_ID_PATTERN = r"\b[0-9]{3}-?[0-9]{2}-?[0-9]{4}\b"
# In a record we could not read as text: digits that may be a national ID, wherever they sit.
_DIGIT_RUN = r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{9,}"


HMAC_VARIABLES = ("ob_hmac_ipad", "ob_hmac_opad")


def hmac_sql(expr: str) -> str:
    """HMAC-SHA256 of a VARCHAR expression, computed in the engine (RFC 2104).

    Written with sha256 over blobs so tokens are computed set-wise. The key's padded blocks are
    engine variables bound as parameters (:func:`hmac_key_bound`), never part of the SQL text,
    so they cannot reach a log or an error message, nor a table.
    """
    ipad, opad = (f"getvariable('{v}')" for v in HMAC_VARIABLES)
    return f"sha256({opad} || unhex(sha256({ipad} || encode({expr}))))"


def national_id_token_sql(norm: str) -> str:
    """The keyed token stored for a normalised national ID (lookups compute the same)."""
    return f"left({hmac_sql(norm)}, 32)"


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
class DuplicateKeys:
    """How the rows that repeat an earlier valid row's record key are found and quarantined."""

    find: str  # creates ``table``: their line numbers
    table: str
    mark: str  # quarantines them (their only reason: they had none), their raw text masked


@dataclass(frozen=True)
class Compiled:
    statements: list[str]  # run in order: the duplicate lines, then the staged table
    value_columns: list[str]  # typed output columns, in spec order (national_id -> token)
    duplicate_keys: DuplicateKeys | None = None
    scratch: list[str] = field(default_factory=list)  # temp tables dropped once staged

    def run(self, engine: Engine) -> None:
        """Stage and judge the batch's rows (with the national ID key bound)."""
        try:
            for sql in self.statements:
                engine.execute(sql)
            dup = self.duplicate_keys
            if dup is not None:
                engine.execute(dup.find)
                if engine.scalar(f"SELECT count(*) FROM {dup.table}"):
                    engine.execute(dup.mark)
        finally:
            for table in self.scratch:
                engine.execute(f"DROP TABLE IF EXISTS {table}")


# The first arms of a text line's structural check: not text, or a control character in it.
_UNREADABLE = (
    f"WHEN text IS NULL THEN {reason_sql('bad_encoding')} "
    f"WHEN regexp_matches(text, {literal(CONTROL_CHARS)}) "
    f"THEN {reason_sql('control_character')}"
)


def csv_cell_pattern(delim: str, quote: str) -> tuple[str, str]:
    """Patterns for one cell and for a whole line, both applied to delimiter || line.

    Prefixing the delimiter makes every match non-empty, so empty cells are never skipped.
    """
    d, qt = re.escape(delim), re.escape(quote)
    cell = f"{qt}(?:[^{qt}]|{qt}{qt})*{qt}|[^{d}{qt}]*"
    return f"{d}({cell})", f"(?:{d}(?:{cell}))+"


def csv_rows(spec: SourceSpec, header: list[str]) -> str:
    """The rows of a CSV file for validation: each line's cells, and its structural problem.

    A line without a quote is split on its delimiter (the cell pattern could only match it
    the same way, and splitting is several times faster); only lines with quotes are matched
    cell by cell."""
    qt = spec.parse.quote
    extract, full = csv_cell_pattern(spec.parse.delimiter, qt)
    index = {c: i + 1 for i, c in enumerate(header)}
    cols = []
    for f in spec.fields:
        cell = f"cells[{index[f.column]}]"
        unq = (
            f"CASE WHEN starts_with({cell}, {literal(qt)}) "
            f"THEN replace({cell}[2:-2], {literal(qt * 2)}, {literal(qt)}) ELSE {cell} END"
        )
        cols.append(f"{unq} AS {ident('v_' + f.target)}")
    # (cells in a subquery: a lateral alias would be computed again where it is used)
    return f"""
    SELECT line_no, text, raw_text,
      CASE {_UNREADABLE}
           WHEN cells IS NULL THEN {reason_sql("malformed_quoting")}
           WHEN len(cells) <> {len(header)} THEN {reason_sql("wrong_field_count")}
      END AS structural,
      {", ".join(cols)}
    FROM (
      SELECT line_no, text, coalesce(text, {RAW_AS_TEXT}) AS raw_text,
        CASE WHEN text IS NOT NULL AND NOT contains(text, {literal(qt)})
             THEN string_split(text, {literal(spec.parse.delimiter)})
             WHEN text IS NOT NULL
               AND regexp_full_match({literal(spec.parse.delimiter)} || text, {literal(full)})
             THEN regexp_extract_all({literal(spec.parse.delimiter)} || text,
                                     {literal(extract)}, 1) END AS cells
      FROM _ingest_text WHERE {NOT_BLANK})"""


def _json_path(column: str) -> str:
    return "$." + ".".join('"' + p.replace('"', '\\"') + '"' for p in column.split("."))


def jsonl_rows(spec: SourceSpec) -> str:
    # Each line is parsed once, for all field paths together: a line that does not parse has no
    # values (try). A line that parses is an object when its first character is a brace (JSON
    # allows only spaces, tabs and line breaks before it).
    paths = "[" + ", ".join(literal(_json_path(f.column)) for f in spec.fields) + "]"
    cols = [
        f"CASE WHEN structural IS NULL THEN _values[{i}] END AS {ident('v_' + f.target)}"
        for i, f in enumerate(spec.fields, start=1)
    ]
    return f"""
    SELECT line_no, text, raw_text,
      CASE {_UNREADABLE}
           WHEN _values IS NULL THEN {reason_sql("invalid_json")}
           WHEN NOT starts_with(ltrim(text, ' ' || chr(9) || chr(10) || chr(13)), '{{')
           THEN {reason_sql("not_an_object")} END AS structural,
      {", ".join(cols)}
    FROM (
      SELECT line_no, text, coalesce(text, {RAW_AS_TEXT}) AS raw_text,
        try(json_extract_string(text, {paths})) AS _values
      FROM _ingest_text WHERE {NOT_BLANK})"""


def fixed_rows(spec: SourceSpec) -> str:
    """The rows of a fixed-width file for validation: each field's characters, and a record's
    structural problem (unknown type, short, of the wrong length)."""
    layout = spec.fixed_layout
    by_end = sorted(spec.fields, key=last_position)
    short = " ".join(
        f"WHEN length(text) < {last_position(f)} THEN {reason_sql('short_record', f.target)}"
        for f in by_end
    )
    length = (
        f"WHEN length(text) <> {layout.record_length} THEN {reason_sql('wrong_record_length')}"
        if layout.record_length is not None
        else ""
    )
    cols = ", ".join(f"{substr_sql(f)} AS {ident('v_' + f.target)}" for f in spec.fields)
    return f"""
    SELECT line_no, text, coalesce(text, {RAW_AS_TEXT}) AS raw_text, hex(raw) AS _raw_hex,
      CASE {_UNREADABLE}
           WHEN kind = 'unknown' THEN {reason_sql("unknown_record_type")}
           {short} {length}
      END AS structural,
      {cols}
    FROM _ingest_text WHERE kind NOT IN {NOT_ROWS}"""


def fixed_masked_raw(spec: SourceSpec) -> str | None:
    """A fixed-width record's raw text with its national-ID field masked by position (over
    :func:`fixed_rows`), or None when the layout has none. A readable record is masked by
    its characters; one that is not valid text in the declared encoding by its bytes (at the
    field's place counted in bytes), and then every run of 9 digits or more, since bytes of
    more than one byte before the field would move it: digits there sit next to their
    neighbours, where the pattern masking by word boundaries cannot see them."""
    nid = next((f for f in spec.fields if f.target == "national_id"), None)
    if nid is None:
        return None
    start, end = nid.start, last_position(nid)
    assert start is not None
    mask = literal(NATIONAL_ID_MASK)
    by_chars = (
        f"left(text, {start - 1}) || CASE WHEN length(text) >= {start} THEN {mask} ELSE '' END "
        f"|| substr(text, {end + 1})"
    )
    line = "regexp_replace(_raw_hex, '(0D)?0A$', '')"  # (the bytes without the line break)
    by_bytes = (
        f"CAST(unhex(left({line}, {2 * (start - 1)}) || CASE WHEN length({line}) "
        f">= {2 * start} THEN hex({mask}) ELSE '' END || substr({line}, {2 * end + 1})) "
        "AS VARCHAR)"
    )
    unreadable = f"regexp_replace({by_bytes}, {literal(_DIGIT_RUN)}, {mask}, 'g')"
    return f"CASE WHEN text IS NULL THEN {unreadable} ELSE {by_chars} END"


def parquet_rows(spec: SourceSpec, path: str, columns: list[str]) -> str:
    record = "{" + ", ".join(f"{literal(c)}: p.{ident(c)}" for c in columns) + "}"
    cols = [
        f"CAST(p.{ident(f.column)} AS VARCHAR) AS {ident('v_' + f.target)}" for f in spec.fields
    ]
    return f"""
    SELECT file_row_number + 1 AS line_no, to_json({record})::VARCHAR AS text,
      to_json({record})::VARCHAR AS raw_text, NULL::VARCHAR AS structural,
      {", ".join(cols)}
    FROM read_parquet({literal(path)}, file_row_number = true) p"""


def output_column(f: FieldSpec) -> str:
    return "national_id_token" if f.target == "national_id" else f.target


def output_type(f: FieldSpec) -> str:
    return {
        "date": "DATE",
        "month": "DATE",
        "amount": "DECIMAL(18,2)",
        "integer": "BIGINT",
        "boolean": "BOOLEAN",
    }.get(f.type, "VARCHAR")


def _present(f: FieldSpec) -> str:
    """The column that says whether a field counts towards an identifier group: its raw value
    (a bad value quarantines the row anyway), or its typed value when bad values are emptied."""
    return ident(("t_" + output_column(f)) if f.invalid == "null" else ("s_" + f.target))


def compile_validation(
    spec: SourceSpec,
    source_rows: str,
    *,
    table: str = STAGED,
    keep: Sequence[str] = (),
    extra_reasons: str | None = None,
    masked_raw: str | None = None,
) -> Compiled:
    """The CREATE TEMP TABLE statement that stages and judges every row of a batch.

    ``table``: the table it creates; ``keep``: columns of the source rows kept as they are;
    ``extra_reasons``: a list of reasons over the source rows, added to a row's own (unless
    it has a structural problem), e.g. those of a Metro 2 record's associated consumers;
    ``masked_raw``: the raw text with national IDs masked by the layout's positions (Metro 2),
    over the source rows, computed for quarantined rows only; the national ID's value and
    anything shaped like one are masked in it too."""
    strings = [
        f"nullif(trim({ident('v_' + f.target)}), '') AS {ident('s_' + f.target)}"
        for f in spec.fields
    ]
    parsed_cols: list[str] = []
    problem_cols: list[str] = []
    typed_cols: list[str] = []
    checks: list[str] = []
    nulled: list[str] = []
    # A national ID is read normalised and replaced by its token once staged, each distinct ID
    # hashed once (a person's rows repeat it), unless it is part of the record key.
    tokens_after = "national_id" in {f.target for f in spec.fields} - set(spec.record_key)
    for f in spec.fields:
        read = field_sql(spec, f, (lambda n: n) if tokens_after else national_id_token_sql)
        p, e, t = ident("p_" + f.target), ident("e_" + f.target), ident("t_" + output_column(f))
        if read.number_text:
            strings.append(f"{read.number_text} AS {ident('n_' + f.target)}")
        parsed_cols.append(f"{read.parsed} AS {p}")
        if read.syntax:
            parsed_cols.append(f"{read.syntax} AS {ident('ok_' + f.target)}")
        problem_cols.append(f"{read.problem} AS {e}")
        if f.invalid == "null":  # the value is emptied, the row loads, the batch counts it
            typed_cols.append(f"CASE WHEN {e} IS NULL THEN {p} END AS {t}")
            nulled.append(e)
        else:
            typed_cols.append(f"{p} AS {t}")
            checks.append(e)
        if f.required:
            checks.append(
                f"CASE WHEN {ident('s_' + f.target)} IS NULL "
                f"THEN {reason_sql('missing_required', f.target)} END"
            )
    if spec.require_one_of:
        groups = " OR ".join(
            "(" + " AND ".join(f"{_present(spec.field(t))} IS NOT NULL" for t in g) + ")"
            for g in spec.require_one_of
        )
        checks.append(f"CASE WHEN NOT ({groups}) THEN {reason_sql('missing_identifier')} END")
    status = _status_check(spec)
    if status:
        checks.append(status)

    key_cols = [ident("t_" + output_column(spec.field(t))) for t in spec.record_key]
    source_key = (
        "concat_ws('|', " + ", ".join(f"CAST({c} AS VARCHAR)" for c in key_cols) + ")"
        if key_cols
        else "NULL::VARCHAR"
    )

    mask = masked_raw or "raw_text"
    if any(f.target == "national_id" for f in spec.fields):
        nid = ident("s_national_id")
        mask = (
            f"regexp_replace(CASE WHEN {nid} IS NULL THEN {mask} ELSE replace({mask}, "
            f"{nid}, {literal(NATIONAL_ID_MASK)}) END, {literal(_NATIONAL_ID_PATTERN)}, "
            f"{literal(NATIONAL_ID_MASK)}, 'g')"
        )
    values_by_field = " ".join(
        f"WHEN {literal(f.target)} THEN "
        + (literal(NATIONAL_ID_MASK) if f.target == "national_id" else ident("s_" + f.target))
        for f in spec.fields
    )
    columns_by_field = " ".join(
        f"WHEN {literal(f.target)} THEN {literal(f.column)}" for f in spec.fields
    )
    outputs = [output_column(f) for f in spec.fields]
    out_list = ", ".join(f"{ident('t_' + c)} AS {ident(c)}" for c in outputs)

    extra = f"coalesce({extra_reasons}, [])" if extra_reasons else "[]::VARCHAR[]"
    kept = "".join(f"{ident(c)}, " for c in keep)
    dup_rows = f"{table}_dup_rows"
    sql = f"""
    CREATE OR REPLACE TEMP TABLE {table} AS
    WITH src AS ({source_rows}),
    cleaned AS (
      SELECT *, {", ".join(strings)},
        CASE WHEN line_no IN (SELECT line_no FROM {dup_rows})
             THEN {reason_sql("duplicate_row")} END AS dup_row
      FROM src),
    parsed AS (SELECT cleaned.*, {", ".join(parsed_cols)} FROM cleaned),
    checked AS (SELECT parsed.*, {", ".join(problem_cols)} FROM parsed),
    typed AS (
      SELECT checked.*, {", ".join(typed_cols)},
        list_filter([{", ".join(nulled) if nulled else "NULL"}],
                    lambda x: x IS NOT NULL) AS _nulled
      FROM checked),
    judged AS (
      SELECT typed.*,
        CASE WHEN structural IS NOT NULL
             THEN list_filter([structural, dup_row], lambda x: x IS NOT NULL)
             ELSE list_concat(list_filter([dup_row, {", ".join(checks) if checks else "NULL"}],
                              lambda x: x IS NOT NULL), {extra}) END AS _reasons
      FROM typed)
    SELECT line_no AS _line_no, {kept}{source_key} AS _source_record_id, {out_list},
      CASE WHEN len(_reasons) > 0 THEN {mask} END AS _raw_text, _reasons, _nulled,
      split_part(_reasons[1], ':', 1) AS _reason,
      nullif(split_part(_reasons[1], ':', 2), '') AS _field,
      CASE nullif(split_part(_reasons[1], ':', 2), '') {columns_by_field} END AS _source_column,
      CASE nullif(split_part(_reasons[1], ':', 2), '') {values_by_field} END AS _value
    FROM judged"""
    statements = [
        _repeated(
            dup_rows, f"SELECT line_no, raw_text FROM ({source_rows})", "line_no", ["raw_text"]
        ),
        sql,
    ]
    if tokens_after:
        statements.append(_tokenise(table))
    dup_key = None
    if spec.record_key:
        dup_keys = f"{table}_dup_keys"
        keys = [ident(output_column(spec.field(t))) for t in spec.record_key]
        nid = (
            f", nullif(trim({ident('v_national_id')}), '') AS {ident('s_national_id')}"
            if any(f.target == "national_id" for f in spec.fields)
            else ""
        )
        dup_key = DuplicateKeys(
            find=_repeated(
                dup_keys,
                f"SELECT _line_no, {', '.join(keys)} FROM {table} WHERE len(_reasons) = 0",
                "_line_no",
                keys,
            ),
            table=dup_keys,
            mark=f"""
    UPDATE {table} SET _reasons = [{reason_sql("duplicate_key")}],
      _reason = {reason_sql("duplicate_key")}, _raw_text = m._masked
    FROM (SELECT line_no, {mask} AS _masked
          FROM (SELECT src.*{nid} FROM ({source_rows}) src)
          WHERE line_no IN (SELECT _line_no FROM {dup_keys})) m
    WHERE {table}._line_no = m.line_no""",
        )
    return Compiled(
        statements=statements,
        value_columns=outputs,
        duplicate_keys=dup_key,
        scratch=[dup_rows] + ([dup_key.table] if dup_key else []),
    )


def _tokenise(table: str) -> str:
    """Replace the staged national IDs (normalised, valid) by their keyed tokens."""
    col = ident("national_id_token")
    return f"""
    UPDATE {table} SET {col} = t.token
    FROM (SELECT n, {national_id_token_sql("n")} AS token
          FROM (SELECT DISTINCT {col} AS n FROM {table} WHERE {col} IS NOT NULL)) t
    WHERE {table}.{col} = t.n"""


def _repeated(table: str, rows: str, line: str, columns: list[str]) -> str:
    """The temp ``table`` of the ``line`` numbers of ``rows`` whose ``columns`` equal an
    earlier row's (NULL equal to NULL, as a window's partition). The rows are grouped by a
    hash first, so that only those that may repeat are sorted: a window over every row would
    carry them all."""
    cols = ", ".join(columns)
    return f"""
    CREATE OR REPLACE TEMP TABLE {table} AS
    WITH r AS ({rows})
    SELECT {line} FROM r SEMI JOIN (
      SELECT hash({cols}) AS h FROM r GROUP BY 1 HAVING count(*) > 1) d ON hash({cols}) = d.h
    QUALIFY row_number() OVER (PARTITION BY {cols} ORDER BY {line}) > 1"""


def _status_check(spec: SourceSpec) -> str | None:
    """An account status row must say how late it is, or the ledger cannot rank it."""
    if spec.ledger is None or spec.ledger.event != "account_status":
        return None
    targets = [f for f in spec.fields if f.target in ("payment_status", "days_past_due")]
    missing = " AND ".join(f"{ident('t_' + output_column(f))} IS NULL" for f in targets)
    if spec.format == "metro2":  # (a delete request says no status: see ledger._deletes)
        status = next(f for f in spec.fields if f.target == "metro2_status")
        deletes = ", ".join(literal(c) for c in _metro2.DELETES)
        missing += f" AND coalesce({ident('t_' + output_column(status))}, '') NOT IN ({deletes})"
    return f"CASE WHEN {missing} THEN {reason_sql('unclassifiable_status')} END"
