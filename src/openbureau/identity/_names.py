"""SQL expressions that standardise person names.

Every function takes SQL expressions (strings) and returns one; nothing here touches rows.
Names come out upper case, accents stripped, apostrophes dropped, other punctuation turned into
spaces, hyphens kept without spaces around them, whitespace collapsed, and ``''`` as NULL.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

SUFFIXES = ("JR", "SR", "II", "III", "IV")
# Written-out suffixes and their abbreviation.
_SUFFIX_WORDS = {"JUNIOR": "JR", "SENIOR": "SR", "2ND": "II", "3RD": "III", "4TH": "IV"}
# Particles that begin a multi-word surname ("MARIA DE LA CRUZ", "LUDWIG VAN BEETHOVEN"), so
# they are not taken for a middle name when a full name is read first-name-first.
_PARTICLES = (
    "DE",
    "DEL",
    "DELA",
    "DELLA",
    "DA",
    "DI",
    "DOS",
    "DAS",
    "DU",
    "LA",
    "LE",
    "LOS",
    "VAN",
    "VON",
    "DER",
    "DEN",
    "TER",
    "BIN",
    "BEN",
    "AL",
    "EL",
    "ST",
    "SAINT",
    "MC",
    "MAC",
)
_SUFFIX_RE = "|".join(SUFFIXES + tuple(_SUFFIX_WORDS))

NICKNAMES_FILE = Path(__file__).parent / "data" / "nicknames.csv"


def clean_name(expr: str) -> str:
    """Upper case, accents stripped, punctuation removed (hyphens kept), spaces collapsed."""
    s = f"upper(strip_accents({expr}))"
    s = f"regexp_replace({s}, '[''`\u2019]', '', 'g')"  # O'BRIEN -> OBRIEN
    s = f"regexp_replace({s}, '[^A-Z0-9 -]+', ' ', 'g')"
    s = f"regexp_replace({s}, '\\s*-+\\s*', '-', 'g')"
    s = f"regexp_replace(trim({s}, ' -'), '\\s+', ' ', 'g')"
    return f"nullif({s}, '')"


def suffix_code(expr: str) -> str:
    """A cleaned suffix token as JR, SR, II, III or IV; anything else is NULL."""
    words = " ".join(f"WHEN '{w}' THEN '{a}'" for w, a in _SUFFIX_WORDS.items())
    words += " ".join(f" WHEN '{s}' THEN '{s}'" for s in SUFFIXES)
    return f"(CASE {expr} {words} ELSE NULL END)"


def trailing_suffix(cleaned: str) -> str:
    """The suffix word at the end of a cleaned name of two words or more, else NULL."""
    return suffix_code(f"nullif(regexp_extract({cleaned}, ' ({_SUFFIX_RE})$', 1), '')")


def without_suffix(cleaned: str) -> str:
    """A cleaned name with a trailing suffix word removed."""
    return f"nullif(regexp_replace({cleaned}, ' ({_SUFFIX_RE})$', ''), '')"


def full_name_pieces(full: str) -> dict[str, str]:
    """Stage 1 of reading a full name: the cleaned whole, and the parts around the first comma."""
    return {
        "fn_comma": f"contains({full}, ',')",
        "fn_whole": clean_name(full),
        "fn_last": clean_name(f"split_part({full}, ',', 1)"),
        "fn_given": clean_name(f"substr({full}, strpos({full}, ',') + 1)"),
    }


def full_name_tokens() -> dict[str, str]:
    """Stage 2: given names as a list (comma form), and the first-name-first parse (a struct)."""
    particles = "|".join(_PARTICLES)
    # The lazy optional middle lets RE2 give the surname group as many particles as it can.
    pattern = f"^(\\S+)(?: (.*?))??(?: ((?:(?:{particles}) )*\\S+))?$"
    return {
        "fn_given_tokens": f"string_split({without_suffix('fn_given')}, ' ')",
        "fn_parsed": f"regexp_extract({without_suffix('fn_whole')}, '{pattern}', ['f', 'm', 'l'])",
    }


def full_name_parts() -> dict[str, str]:
    """Stage 3: first, middle, last and suffix from the columns of stages 1 and 2.

    With a comma the name is read "LAST[ SUFFIX], FIRST [MIDDLE...][ SUFFIX]"; without one,
    "FIRST [MIDDLE...] LAST[ SUFFIX]", where surname particles (DE, VAN, ...) stay with the
    surname. A one-word name is taken as the surname.
    """
    f, m, last = "nullif(fn_parsed.f, '')", "nullif(fn_parsed.m, '')", "nullif(fn_parsed.l, '')"
    return {
        "fn_first_name": f"""CASE WHEN fn_comma THEN fn_given_tokens[1]
            WHEN {last} IS NULL THEN NULL ELSE {f} END""",
        "fn_middle_name": f"""CASE WHEN fn_comma
            THEN nullif(array_to_string(fn_given_tokens[2:], ' '), '') ELSE {m} END""",
        "fn_last_name": f"""CASE WHEN fn_comma THEN {without_suffix("fn_last")}
            ELSE coalesce({last}, {f}) END""",
        "fn_name_suffix": f"""CASE WHEN fn_comma
            THEN coalesce({trailing_suffix("fn_given")}, {trailing_suffix("fn_last")})
            ELSE {trailing_suffix("fn_whole")} END""",
    }


def nickname_table() -> dict[str, Sequence[str | None]]:
    """The shipped nickname table: columns nickname and canonical, both upper case (for
    ``Engine.registered``)."""
    with NICKNAMES_FILE.open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.reader(line for line in fh if not line.startswith("#"))][1:]
    return {"nickname": [r[0] for r in rows], "canonical": [r[1] for r in rows]}
