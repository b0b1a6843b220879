"""Phone numbers as E.164, parsed with ``phonenumbers`` once per distinct raw value.

Parsing is the one per-value step of standardisation that is not SQL: the distinct raw values
(far fewer than rows) are parsed here into a small table that the SQL joins. A number written
without a country code is read as one of the bureau's country; one with a country code
(``+44 20 7946 0958``, ``0044 20 7946 0958`` from the US) as that country's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import phonenumbers

# Why a phone was emptied (see standardise.EMPTIED): not a number at all; a number without a
# country code that is not one of the country's; a number with one that is not valid there.
NOT_A_PHONE_NUMBER = "not_a_phone_number"
NOT_VALID_IN_COUNTRY = "not_a_valid_number_for_country"
NOT_VALID_INTERNATIONAL = "not_a_valid_international_number"


def raw_phone(expr: str) -> str:
    """A raw phone value trimmed, ``''`` as NULL: the key of the parsed-phone table."""
    return f"nullif(trim({expr}), '')"


def parse(value: str, region: str) -> tuple[str | None, str | None]:
    """``value`` as E.164 (``+15551234567``) and None, or None and why it is not a number."""
    try:
        number = phonenumbers.parse(value, region, keep_raw_input=True)
    except phonenumbers.NumberParseException:
        return None, NOT_A_PHONE_NUMBER
    if not phonenumbers.is_valid_number(number):
        source = phonenumbers.CountryCodeSource.FROM_DEFAULT_COUNTRY
        national = number.country_code_source == source
        return None, NOT_VALID_IN_COUNTRY if national else NOT_VALID_INTERNATIONAL
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def to_e164(value: str, region: str) -> str | None:
    """``value`` as E.164 (``+15551234567``), or None when it is not a valid number."""
    return parse(value, region)[0]


def phone_table(values: Iterable[str], region: str) -> dict[str, Sequence[str | None]]:
    """Columns ``raw``, ``e164`` and ``reason`` (why it is not a number, or NULL) for the
    given distinct raw values (for ``Engine.registered``)."""
    raw = list(values)
    parsed = [parse(v, region) for v in raw]
    return {"raw": raw, "e164": [p[0] for p in parsed], "reason": [p[1] for p in parsed]}
