"""Why a row is quarantined: the reason codes, declared once.

A quarantined row keeps every reason it has, each ``code`` or ``code:field`` (the spec
target at fault); the first is its ``reason``. docs/ingest.md lists these from here
(``python -m openbureau.ingest.docgen``), and the compiled validation can only emit codes
declared here (:func:`reason_sql`).
"""

from __future__ import annotations

from openbureau.engine.sql import literal
from openbureau.ingest.bounds import DEFAULT_MAX_LENGTH

REASONS: dict[str, str] = {
    "bad_encoding": "the line is not valid text in the declared encoding",
    "control_character": "the line holds a control character such as NUL",
    "malformed_quoting": "quotes do not pair up (CSV)",
    "wrong_field_count": "more or fewer cells than the header (CSV)",
    "invalid_json": "the line is not JSON (JSON lines)",
    "not_an_object": "the line is JSON but not an object (JSON lines)",
    "unknown_record_type": "a record whose record type the layout does not list (fixed width)",
    "short_record": "the record ends before this field does: it was cut short (fixed width)",
    "wrong_record_length": "the record is not layout.record_length characters long, though "
    "every field is in it (fixed width)",
    "bad_descriptor_word": "the record descriptor word (its first four characters: the "
    "record's length) is not a number, or says a length shorter than the record (Metro 2)",
    "unknown_segment": "after the base segment, characters that are not a J1, J2, K1-K4, L1 or "
    "N1 segment of its full length (Metro 2)",
    "duplicate_row": "the same line appeared earlier in the batch",
    "duplicate_key": "the same record key appeared earlier in the batch",
    "field_too_long": f"a value longer than its field's maximum length (default "
    f"{DEFAULT_MAX_LENGTH:,} characters; a spec's `max_length`)",
    "unparseable_date": "the value matches none of the field's date formats",
    "implausible_date": "a date outside its field's bounds (see Plausible values)",
    "bad_amount": "not a number: digits, an optional sign, thousands separators in groups of "
    "three and one decimal separator, one currency sign at most, at the start or the end (no "
    "exponent, no underscores, no other spaces)",
    "bad_integer": "not a whole number (same syntax, no decimals but .0)",
    "too_many_decimals": "an amount with more than two decimals (other than trailing zeros): "
    "it cannot be stored without rounding it",
    "implausible_value": "a number outside its field's bounds (see Plausible values)",
    "unknown_code": "not in the field's code table, or not a value of its target's vocabulary",
    "bad_national_id": "a national ID that is not 5-20 letters or digits",
    "missing_required": "a required field is empty",
    "missing_identifier": "none of the spec's identifier groups is complete",
    "unclassifiable_status": "an account status row with neither a payment_status nor a "
    "days_past_due: the ledger could not tell how late it is",
}


def reason_sql(code: str, target: str | None = None) -> str:
    """The SQL literal of a reason (``'code:target'``); the code must be declared."""
    if code not in REASONS:
        raise KeyError(f"quarantine reason {code!r} is not declared in ingest.reasons.REASONS")
    return literal(f"{code}:{target}" if target else code)
