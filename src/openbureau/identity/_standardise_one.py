"""One identity as a lender types it, standardised in Python: the identity stage's rules for
the fields a lookup has, without DuckDB.

``standardise`` compiles its rules to one SQL statement over a batch; planning that statement
takes DuckDB 0.1-0.5 s, and a prepared copy still 10-50 ms an execution (every regular
expression compiled again), which a lookup cannot afford. The rules' data are shared
(``_names``, ``_address``, ``_postcode``, ``standardise._EMAIL``: suffixes, street types,
directionals, unit designators, postcode formats); what is written twice is how they are applied
to one value, for the fields a lookup has: first name (with nicknames), last name, name suffix,
address line, town, postcode, phone, email. The rest (middle name, full name, second address
line, region, one-string address) a lookup never has, and the SQL reads them as NULL here.

``tests/identity/test_standardise_one.py`` holds the two equal: on every raw identity of the
test population, on every character of the Latin, Greek and Cyrillic blocks in each field, and
on every postcode example of every country. DuckDB's ``upper`` and ``lower`` map one character
to one (``ß`` stays one letter), and its ``trim`` drops spaces only; so do the helpers below.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from functools import cache
from typing import Any

from openbureau.identity import _address, _names, _phone, _postcode
from openbureau.identity.standardise import _EMAIL

# The columns a lookup compares, as link.INPUT_COLUMNS names them (first_name is the given name
# after nicknames), and whether the record is usable; also the columns the batch linker's Splink
# model compares and blocks on (``_splink.COLUMNS``): one list for both.
COLUMNS = (
    "first_name",
    "last_name",
    "name_suffix",
    "dob",
    "national_id_token",
    "address_line1",
    "house_number",
    "street",
    "postcode",
    "city",
    "phone",
    "email",
)


def _strip_accents(s: str) -> str:
    """DuckDB's ``strip_accents``: decomposed, marks (categories M*) dropped."""
    return "".join(
        c for c in unicodedata.normalize("NFD", s) if not unicodedata.category(c).startswith("M")
    )


def _upper(s: str) -> str:
    """DuckDB's ``upper``: one character to one (Python's ``ß`` -> ``SS`` is not taken)."""
    return "".join(u if len(u := c.upper()) == 1 else c for c in s)


def _lower(s: str) -> str:
    """DuckDB's ``lower``: one character to one (dotted capital I to i)."""
    return "".join(lo if len(lo := c.lower()) == 1 else "i" if c == "\u0130" else c for c in s)


def _sub(pattern: str, repl: str, s: str, every: bool = True) -> str:
    """``regexp_replace(s, pattern, repl[, 'g'])``: every match, or the first."""
    return _re(pattern).sub(repl.replace("\\", "\\\\"), s, count=0 if every else 1)


def _extract(pattern: str, s: str) -> str:
    """``regexp_extract(s, pattern, 1)``: the first group of the first match, or ''."""
    found = _re(pattern).search(s)
    return (found.group(1) or "") if found else ""


@cache
def _re(pattern: str) -> re.Pattern[str]:
    # (ASCII: RE2's \d and \s are ASCII classes)
    return re.compile(pattern, re.ASCII)


def _nullif(s: str | None) -> str | None:
    return s if s else None


def clean_name(s: str | None) -> str | None:
    """``_names.clean_name``."""
    if s is None:
        return None
    s = _upper(_strip_accents(s))
    s = _sub("['`\u2019]", "", s)
    s = _sub("[^A-Z0-9 -]+", " ", s)
    s = _sub("\\s*-+\\s*", "-", s)
    return _nullif(_sub("\\s+", " ", s.strip(" -")))


def _suffix_code(s: str | None) -> str | None:
    """``_names.suffix_code``."""
    words = {**_names._SUFFIX_WORDS, **{x: x for x in _names.SUFFIXES}}
    return words.get(s) if s is not None else None


def _last_name_and_suffix(last: str | None, suffix: str | None) -> tuple[str | None, str | None]:
    """The last name without a trailing suffix word, and the suffix (given, or that word)."""
    cleaned = clean_name(last)
    trailing = f" ({_names._SUFFIX_RE})$"
    if cleaned is None:
        return None, _suffix_code(clean_name(suffix))
    return (
        _nullif(_sub(trailing, "", cleaned, every=False)),
        _suffix_code(clean_name(suffix)) or _suffix_code(_nullif(_extract(trailing, cleaned))),
    )


def clean_text(s: str | None) -> str | None:
    """``_address.clean_text``."""
    if s is None:
        return None
    s = _sub("['`\u2019]", "", _upper(_strip_accents(s)))
    s = _sub("[^A-Z0-9#/ -]+", " ", s)
    s = _sub("#\\s*", " # ", s)
    return _nullif(_sub("\\s+", " ", s.strip(" ")))


def _street(words: list[str]) -> str | None:
    """``_address.street``."""
    n = len(words)
    directional = {**_address.DIRECTIONALS, **{v: v for v in _address.DIRECTIONALS.values()}}
    type_at = n - 1 if n > 2 and words[-1] in directional else n

    def word(t: str, i: int) -> str:
        if i == type_at and i > 1:
            return _address.STREET_TYPES.get(t, t)
        if (i == 1 or i == n) and n > 2:
            return _address.DIRECTIONALS.get(t, t)
        return t

    return _nullif(" ".join(word(t, i) for i, t in enumerate(words, 1)))


def address_line(line: str | None) -> dict[str, str | None]:
    """``address_line1``, ``house_number`` and ``street`` from a street line as typed (the
    SQL's stages s2 to s4 and its address_line1)."""
    cleaned = clean_text(_nullif(line))
    if cleaned is None:
        return {"address_line1": None, "house_number": None, "street": None}
    words, value = _address._UNIT_WORDS, _address._UNIT_VALUE
    unit_re = f"\\s(?:{words}|#)\\s?#?\\s?({value})$"
    house_re = "^(\\d+(?:-\\d+)?[A-Z]?(?: 1/2)?)(?:\\s|$)"
    house = _nullif(_extract(house_re, cleaned))
    body = _sub(house_re, "", _sub(unit_re, "", cleaned, every=False), every=False).strip(" ")
    street = _street(body.split(" ")) if body else None
    unit = _nullif(_extract(unit_re, cleaned))
    word = _extract(f"\\s({words}|#)\\s?#?\\s?(?:{value})$", cleaned)
    unit_type = _nullif(_address.UNIT_DESIGNATORS.get(word, word))
    kind_and_unit = f"{unit_type} {unit}" if unit_type is not None and unit is not None else None
    parts = [p for p in (house, street, kind_and_unit) if p is not None]
    return {"address_line1": _nullif(" ".join(parts)), "house_number": house, "street": street}


def clean_city(s: str | None) -> str | None:
    """``_address.clean_city``."""
    if s is None:
        return None
    s = _sub("[^A-Z0-9 ]+", " ", _upper(_strip_accents(s)))
    return _nullif(_sub("\\s+", " ", s.strip(" ")))


def postcode(s: str | None, country: str) -> str | None:
    """``_postcode.postcode``."""
    if country.upper() == "US":
        digits = _sub("[^0-9]", "", s or "")
        if len(digits) in (5, 9):
            return digits[:5]
        return digits.rjust(5, "0") if len(digits) in (3, 4) else None
    if s is None:
        return None
    fmt = _postcode.country_format(country)
    if fmt is None:
        return _nullif(_sub("[^A-Z0-9]+", " ", _upper(_strip_accents(s))).strip(" "))
    pattern, layouts, all_digits = fmt
    compact = _sub("[^A-Z0-9]", "", _upper(_strip_accents(s)))
    candidates: list[str | None] = []
    for sep, after in layouts:
        if not sep:
            candidates.append(compact)
        else:
            candidates.append(
                compact[: len(compact) - after] + sep + compact[len(compact) - after :]
                if len(compact) > after
                else None
            )
    if all_digits:
        short = f"[0-9]{{{all_digits - 2},{all_digits - 1}}}"
        candidates.append(compact.rjust(all_digits, "0") if _re(short).fullmatch(compact) else None)
    return next((c for c in candidates if c is not None and _re(pattern).fullmatch(c)), None)


def email(s: str | None) -> str | None:
    """The email address, lower case, when it is one."""
    if s is None:
        return None
    s = _lower(s.strip(" "))
    return s if _re(_EMAIL).fullmatch(s) else None


def standardise_one(
    values: Mapping[str, Any], country: str, nicknames: Mapping[str, str]
) -> dict[str, Any]:
    """``values`` (``standardise.RAW_FIELDS`` a lookup has: first_name, last_name,
    name_suffix, dob, address_line1, city, postcode, phone, email, national_id_token) as
    the identity stage standardises them: :data:`COLUMNS` and ``usable``.

    ``nicknames``: nickname -> given name (``_names.nickname_table``)."""
    first = clean_name(values.get("first_name"))
    last, suffix = _last_name_and_suffix(values.get("last_name"), values.get("name_suffix"))
    dob: date | None = values.get("dob")
    raw_phone = _nullif((values.get("phone") or "").strip(" "))
    token = _nullif((values.get("national_id_token") or "").strip(" "))
    record: dict[str, Any] = {
        "first_name": nicknames.get(first, first) if first is not None else None,
        "last_name": last,
        "name_suffix": suffix,
        "dob": dob,
        "national_id_token": token,
        **address_line(values.get("address_line1")),
        "postcode": postcode(values.get("postcode"), country),
        "city": clean_city(values.get("city")),
        "phone": _phone.parse(raw_phone, country)[0] if raw_phone else None,
        "email": email(values.get("email")),
    }
    named = first is not None or last is not None
    other = any(record[c] is not None for c in ("dob", "address_line1", "phone", "email"))
    record["usable"] = token is not None or (named and other)
    return {c: record[c] for c in (*COLUMNS, "usable")}
