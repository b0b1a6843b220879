"""A Metro 2 file's base segments as rows, and its associated consumers as rows of their own.

The base segment of each record is one row of the feed (``src_<feed>``), validated by the one
compiled pass every format goes through (``_validate``), with the fields ``_metro2`` declares.
Its J1 and J2 segments (associated consumers: a joint holder, an authorised user, a
co-signer...) are validated the same way, as rows of ``_ingest_associated``, and written to
``associated_consumers`` with the account's row: one row per associated consumer, which the
identity stage reads as an identity record of its own and the ledger maps onto the account's
events, so that a joint account is in both consumers' files. A record whose associated
consumer cannot be read is quarantined whole, its reasons naming the field
(``unparseable_date:associated_dob``).

Metro 2 fills a missing date, Social Security number or telephone number with zeros (an SSN
with nines too): such a value is empty, never a date or a number.

A quarantined record's text is stored with every SSN masked by position (``masked_raw_sql``):
the base consumer's, and that of each J1 and J2 segment, whatever the reason.
"""

from __future__ import annotations

from functools import cache

from openbureau.engine import Engine
from openbureau.engine.sql import ident, literal
from openbureau.ingest import _metro2, store
from openbureau.ingest._metro2_records import SEGMENT
from openbureau.ingest._records import TEXT
from openbureau.ingest._validate import (
    _UNREADABLE,
    NATIONAL_ID_MASK,
    NOT_ROWS,
    RAW_AS_TEXT,
    compile_validation,
    output_column,
    output_type,
)
from openbureau.ingest.reasons import reason_sql
from openbureau.ingest.spec import SourceSpec, parse_spec

ASSOCIATED = "_ingest_associated"  # the staged associated consumers of a batch
TABLE = store.ASSOCIATED_CONSUMERS  # every loaded associated consumer, all Metro 2 feeds
# Columns of TABLE besides the consumer's fields (see _table_sql).
_LINEAGE = ("record_id", "feed", "batch_id", "line_no", "base_record_id", "segment", "seq")


def _empty_if(chars: str, text: str) -> str:
    return f"CASE WHEN trim({text}, {literal(' ' + chars)}) = '' THEN '' ELSE {text} END"


def _read(f: _metro2.Field, text: str) -> str:
    """The SQL of a field's value as the spec reads it, from its characters in ``text``."""
    raw = f"substr({text}, {f.start}, {f.end - f.start + 1})"
    if f.read == "date":
        return _empty_if("0", raw)
    if f.read == "phone":
        return _empty_if("0", raw)
    if f.read == "ssn":
        return f"CASE WHEN trim({raw}, ' 9') = '' THEN '' ELSE {_empty_if('0', raw)} END"
    if f.read == "generation":
        whens = " ".join(
            f"WHEN {literal(k)} THEN {literal(v)}" for k, v in _metro2.GENERATION.items()
        )
        return f"CASE trim({raw}) {whens} ELSE trim({raw}) END"
    if f.read == "product":
        whens = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in _metro2.PRODUCT.items())
        return f"CASE {raw} {whens} ELSE '' END"
    if f.read == "sold_to":  # (the K2 segment's indicator 2: the lender sold the account)
        return f"CASE WHEN substr({text}, 3, 1) = '2' THEN {raw} ELSE '' END"
    if f.read == "loan_amount":
        loans = ", ".join(literal(p) for p in _metro2.LOAN_PORTFOLIOS)
        return f"CASE WHEN substr({text}, 73, 1) IN ({loans}) THEN {raw} ELSE '' END"
    if f.read == "status":
        rated = ", ".join(literal(c) for c, (s, _) in _metro2.STATUS.items() if s == "by_rating")
        status = f"substr({text}, {f.start}, 2)"
        deletes = ", ".join(literal(c) for c in _metro2.DELETES)
        # (a delete request is no status: the ledger applies it to the account's reports)
        return (
            f"CASE WHEN {status} IN ({rated}) THEN {status} || trim(substr({text}, "
            f"{f.start + 2}, 1)) WHEN {status} IN ({deletes}) THEN '' ELSE {status} END"
        )
    return raw


def _mask_ssn(f: _metro2.Field, text: str) -> str:
    """``text`` with the SSN field ``f`` masked, unless it is empty (or not there at all)."""
    return (
        f"CASE WHEN {_read(f, text)} = '' THEN {text} ELSE left({text}, {f.start - 1}) || "
        f"{literal(NATIONAL_ID_MASK)} || substr({text}, {f.end + 1}) END"
    )


def _mask_joint(text: str) -> str:
    """``text``, if a J1 or J2 segment (or the start of one), with its SSN masked."""
    f = next(f for f in _metro2.ASSOCIATED_FIELDS if f.target == "national_id")
    return f"CASE WHEN left({text}, 2) IN ('J1', 'J2') THEN {_mask_ssn(f, text)} ELSE {text} END"


def masked_raw_sql() -> str:
    """The SQL of a record's raw text (``raw_text``, ``text`` of the rows) with every SSN
    masked by position: the base segment's, and each J1 and J2 segment's in the run of known
    segments after it. Where the layout cannot tell (an undecodable record, a record of
    unknown type, the characters after the known segments: an unknown or cut segment), every
    run of 9 digits or more is masked too."""
    ssn = next(f for f in _metro2.BASE_FIELDS if f.target == "national_id")
    digits = f"'[0-9]{{9,}}', {literal(NATIONAL_ID_MASK)}, 'g'"
    n = _metro2.BASE_LENGTH
    start, value = _metro2.BASE_ID
    known = f"regexp_extract(substr(text, {n + 1}), {literal('^(?:' + SEGMENT + ')*')})"
    by_position = f"""list_transform([{known}], lambda k: {_mask_ssn(ssn, f"left(text, {n})")}
        || array_to_string(list_transform(regexp_extract_all(k, {literal(SEGMENT)}),
             lambda s: {_mask_joint("s")}), '')
        || regexp_replace({_mask_joint(f"substr(text, {n + 1} + length(k))")}, {digits}))[1]"""
    return f"""CASE WHEN text IS NULL THEN regexp_replace(raw_text, {digits})
      WHEN substr(text, {start}, {len(value)}) <> {literal(value)}
        THEN regexp_replace({by_position}, {digits})
      ELSE {by_position} END"""


@cache
def associated_spec() -> SourceSpec:
    """The associated consumer's fields, as a spec (positions in the J2 segment's layout)."""
    return parse_spec(
        {
            "name": "metro2_associated",
            "furnisher": "-",
            "feed": "associated consumers",
            "format": "fixed",
            "require_one_of": [["national_id"], ["last_name", "dob"]],
            "fields": [f.spec() for f in _metro2.ASSOCIATED_FIELDS],
        },
        "metro2 associated consumers",
    )


def stage_associated(engine: Engine) -> None:
    """Validate the J1 and J2 segments of the records in ``TEXT`` into ``ASSOCIATED``: one row
    per associated consumer, with ``_base_line`` (the record's line), ``_seq`` (1, 2, ... in
    the record) and ``_segment``. Call with the national ID key bound."""
    start, width = _metro2.J1_ADDRESS_FROM_BASE
    consumer = (
        f"CASE WHEN starts_with(seg, 'J1') THEN substr(seg, 1, 99) || substr(text, {start}, "
        f"{width}) ELSE seg END"
    )
    values = ", ".join(
        f"{_read(f, 'consumer')} AS {ident('v_' + f.target)}" for f in _metro2.ASSOCIATED_FIELDS
    )
    rows = f"""
    SELECT row_number() OVER (ORDER BY line_no, seq) AS line_no, consumer AS text,
      line_no || '.' || seq || ' ' || consumer AS raw_text, NULL::VARCHAR AS structural,
      {values}, line_no AS _base_line, seq AS _seq, left(seg, 2) AS _segment
    FROM (SELECT *, {consumer} AS consumer FROM (
      SELECT line_no, text, unnest(js) AS seg, generate_subscripts(js, 1) AS seq FROM (
        SELECT line_no, text, list_filter(segments, lambda s: starts_with(s, 'J1')
          OR starts_with(s, 'J2')) AS js FROM {TEXT} WHERE kind = 'detail')))"""
    compiled = compile_validation(
        associated_spec(), rows, table=ASSOCIATED, keep=("_base_line", "_seq", "_segment")
    )
    compiled.run(engine)


def _consumer_columns() -> list[str]:
    return [output_column(f) for f in associated_spec().fields]


def metro2_rows(spec: SourceSpec) -> tuple[str, str, str]:
    """The base segments of the records in ``TEXT`` as rows for validation, the SQL list of
    their associated consumers' reasons and their raw text masked (see ``compile_validation``)."""
    by_target = {f.target: f for f in _metro2.BASE_FIELDS}
    segment_fields = {f.target: (s, f) for s, f in _metro2.SEGMENT_FIELDS}
    cols = []
    for field in spec.fields:
        v = ident("v_" + field.target)
        if field.target in by_target:
            cols.append(f"{_read(by_target[field.target], 'text')} AS {v}")
        elif field.target in segment_fields:
            seg, f = segment_fields[field.target]
            first = f"list_filter(segments, lambda s: starts_with(s, {literal(seg)}))[1]"
            cols.append(f"coalesce({_read(f, first)}, '') AS {v}")
        elif field.target == "associated_consumers":
            cols.append(f"coalesce(a._digest, '') AS {v}")
        else:
            raise AssertionError(f"metro2: no reading for {field.target}")
    by_end = sorted(_metro2.BASE_FIELDS, key=lambda f: f.end)
    short = " ".join(
        f"WHEN length(text) < {f.end} THEN {reason_sql('short_record', f.target)}" for f in by_end
    )
    digest = " || '|' || ".join(
        f"coalesce(CAST({ident(c)} AS VARCHAR), '')" for c in ["_segment", *_consumer_columns()]
    )
    associated = f"""
      SELECT _base_line AS line_no, md5(string_agg({digest}, '/' ORDER BY _seq)) AS _digest,
        flatten(list(list_transform(_reasons, lambda r: CASE WHEN contains(r, ':')
          THEN replace(r, ':', ':associated_') ELSE r || ':associated' END) ORDER BY _seq))
          AS _associated_reasons
      FROM {ASSOCIATED} GROUP BY 1"""
    rows = f"""
    SELECT line_no, text, coalesce(text, {RAW_AS_TEXT}) AS raw_text,
      CASE {_UNREADABLE}
           WHEN kind = 'unknown' THEN {reason_sql("unknown_record_type")}
           WHEN rdw IS NULL THEN {reason_sql("bad_descriptor_word")}
           {short}
           WHEN length(text) < {_metro2.BASE_LENGTH}
             THEN {reason_sql("short_record", "base_segment")}
           WHEN length(text) < rdw THEN {reason_sql("short_record", "segments")}
           WHEN length(text) > rdw THEN {reason_sql("bad_descriptor_word")}
           WHEN segments IS NULL THEN {reason_sql("unknown_segment")}
      END AS structural,
      {", ".join(cols)}, a._associated_reasons
    FROM {TEXT} LEFT JOIN ({associated}) a USING (line_no)
    WHERE kind NOT IN {NOT_ROWS}"""
    return rows, "_associated_reasons", masked_raw_sql()


def _table_sql() -> str:
    fields = associated_spec().fields
    cols = ", ".join(f"{ident(output_column(f))} {output_type(f)}" for f in fields)
    return (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (record_id VARCHAR NOT NULL, feed VARCHAR NOT "
        "NULL, batch_id VARCHAR NOT NULL, line_no BIGINT NOT NULL, base_record_id VARCHAR NOT "
        f"NULL, segment VARCHAR NOT NULL, seq INTEGER NOT NULL, {cols})"
    )


def publish_associated(engine: Engine, spec: SourceSpec, batch_id: str, written: str) -> int:
    """Write the associated consumers of the records written to the feed table (``written``:
    a query of their line numbers); return how many. Call inside the batch's transaction."""
    engine.execute(_table_sql())
    cols = ", ".join(ident(c) for c in _consumer_columns())
    engine.execute(
        f"INSERT INTO {TABLE} ({', '.join(_LINEAGE)}, {cols}) SELECT "
        "? || '.' || _base_line || '.' || _seq, ?, ?, _base_line, ? || '.' || _base_line, "
        f"_segment, _seq, {cols} FROM {ASSOCIATED} WHERE _base_line IN ({written}) "
        "ORDER BY _base_line, _seq",
        [batch_id, spec.name, batch_id, batch_id],
    )
    return int(engine.scalar(f"SELECT count(*) FROM {TABLE} WHERE batch_id = ?", [batch_id]))
