"""Phone numbers as E.164, parsed with ``phonenumbers`` once per distinct raw value.

Parsing is the one per-value step of standardisation that is not SQL: the distinct raw values
(far fewer than rows) are parsed here into a small table that the SQL joins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import phonenumbers


def raw_phone(expr: str) -> str:
    """A raw phone value trimmed, ``''`` as NULL: the key of the parsed-phone table."""
    return f"nullif(trim({expr}), '')"


def to_e164(value: str, region: str) -> str | None:
    """``value`` as E.164 (``+15551234567``), or None when it is not a valid number."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_table(values: Iterable[str], region: str) -> dict[str, Sequence[str | None]]:
    """Columns ``raw`` and ``e164`` for the given distinct raw values (for
    ``Engine.registered``)."""
    raw = list(values)
    return {"raw": raw, "e164": [to_e164(v, region) for v in raw]}
