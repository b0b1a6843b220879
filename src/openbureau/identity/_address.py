"""SQL expressions that standardise postal addresses (street lines by USPS Publication 28's
rules; postcodes by country are in ``_postcode``, one-string addresses split by
country in ``_full_address``).

Every function takes SQL expressions and returns one. A street line is split into house number,
street and unit; the street's type word (STREET, DRIVE, ...) and directionals are abbreviated the
USPS way, and unit designators are normalised (APARTMENT and ``#`` -> APT, SUITE -> STE, ...), so
the same address written two ways standardises to one string.
"""

from __future__ import annotations

from openbureau.engine.sql import literal, literals

# USPS street suffix abbreviations (the common ones, and their own abbreviated spellings).
STREET_TYPES = {
    "ALLEY": "ALY",
    "ANNEX": "ANX",
    "ARCADE": "ARC",
    "AVENUE": "AVE",
    "AV": "AVE",
    "AVEN": "AVE",
    "AVN": "AVE",
    "BAYOU": "BYU",
    "BEACH": "BCH",
    "BEND": "BND",
    "BLUFF": "BLF",
    "BOULEVARD": "BLVD",
    "BOUL": "BLVD",
    "BRANCH": "BR",
    "BRIDGE": "BRG",
    "BROOK": "BRK",
    "BYPASS": "BYP",
    "CAMP": "CP",
    "CANYON": "CYN",
    "CAPE": "CPE",
    "CAUSEWAY": "CSWY",
    "CENTER": "CTR",
    "CENTRE": "CTR",
    "CIRCLE": "CIR",
    "CIRC": "CIR",
    "CLIFF": "CLF",
    "CLUB": "CLB",
    "COMMON": "CMN",
    "CORNER": "COR",
    "COURSE": "CRSE",
    "COURT": "CT",
    "COVE": "CV",
    "CREEK": "CRK",
    "CRESCENT": "CRES",
    "CREST": "CRST",
    "CROSSING": "XING",
    "DALE": "DL",
    "DAM": "DM",
    "DIVIDE": "DV",
    "DRIVE": "DR",
    "DRV": "DR",
    "ESTATE": "EST",
    "ESTATES": "ESTS",
    "EXPRESSWAY": "EXPY",
    "EXTENSION": "EXT",
    "FALLS": "FLS",
    "FERRY": "FRY",
    "FIELD": "FLD",
    "FIELDS": "FLDS",
    "FLAT": "FLT",
    "FOREST": "FRST",
    "FORK": "FRK",
    "FORT": "FT",
    "FREEWAY": "FWY",
    "GARDEN": "GDN",
    "GARDENS": "GDNS",
    "GATEWAY": "GTWY",
    "GLEN": "GLN",
    "GREEN": "GRN",
    "GROVE": "GRV",
    "HARBOR": "HBR",
    "HAVEN": "HVN",
    "HEIGHTS": "HTS",
    "HIGHWAY": "HWY",
    "HILL": "HL",
    "HILLS": "HLS",
    "HOLLOW": "HOLW",
    "ISLAND": "IS",
    "JUNCTION": "JCT",
    "KNOLL": "KNL",
    "LAKE": "LK",
    "LAKES": "LKS",
    "LANDING": "LNDG",
    "LANE": "LN",
    "LIGHT": "LGT",
    "LOOP": "LOOP",
    "MANOR": "MNR",
    "MEADOW": "MDW",
    "MEADOWS": "MDWS",
    "MILL": "ML",
    "MILLS": "MLS",
    "MOUNT": "MT",
    "MOUNTAIN": "MTN",
    "ORCHARD": "ORCH",
    "OVAL": "OVAL",
    "PARKWAY": "PKWY",
    "PARKWY": "PKWY",
    "PASSAGE": "PSGE",
    "PIKE": "PIKE",
    "PINES": "PNES",
    "PLACE": "PL",
    "PLAIN": "PLN",
    "PLAINS": "PLNS",
    "PLAZA": "PLZ",
    "POINT": "PT",
    "POINTE": "PT",
    "PORT": "PRT",
    "PRAIRIE": "PR",
    "RANCH": "RNCH",
    "RIDGE": "RDG",
    "RIVER": "RIV",
    "ROAD": "RD",
    "ROUTE": "RTE",
    "RUN": "RUN",
    "SHORE": "SHR",
    "SHORES": "SHRS",
    "SPRING": "SPG",
    "SPRINGS": "SPGS",
    "SQUARE": "SQ",
    "STATION": "STA",
    "STREET": "ST",
    "STR": "ST",
    "SUMMIT": "SMT",
    "TERRACE": "TER",
    "TERR": "TER",
    "TRACE": "TRCE",
    "TRAIL": "TRL",
    "TRAILS": "TRLS",
    "TUNNEL": "TUNL",
    "TURNPIKE": "TPKE",
    "VALLEY": "VLY",
    "VIEW": "VW",
    "VILLAGE": "VLG",
    "VILLE": "VL",
    "VISTA": "VIS",
    "WALK": "WALK",
    "WAY": "WAY",
    "WELLS": "WLS",
}
DIRECTIONALS = {
    "NORTH": "N",
    "SOUTH": "S",
    "EAST": "E",
    "WEST": "W",
    "NORTHEAST": "NE",
    "NORTHWEST": "NW",
    "SOUTHEAST": "SE",
    "SOUTHWEST": "SW",
}
UNIT_DESIGNATORS = {
    "APT": "APT",
    "APARTMENT": "APT",
    "#": "APT",
    "NO": "APT",
    "UNIT": "UNIT",
    "STE": "STE",
    "SUITE": "STE",
    "RM": "RM",
    "ROOM": "RM",
    "FL": "FL",
    "FLOOR": "FL",
    "BLDG": "BLDG",
    "BUILDING": "BLDG",
    "LOT": "LOT",
    "SPC": "SPC",
    "SPACE": "SPC",
    "TRLR": "TRLR",
    "TRAILER": "TRLR",
    "DEPT": "DEPT",
}
US_STATES = {
    "ALABAMA": "AL",
    "ALASKA": "AK",
    "ARIZONA": "AZ",
    "ARKANSAS": "AR",
    "CALIFORNIA": "CA",
    "COLORADO": "CO",
    "CONNECTICUT": "CT",
    "DELAWARE": "DE",
    "DISTRICT OF COLUMBIA": "DC",
    "FLORIDA": "FL",
    "GEORGIA": "GA",
    "HAWAII": "HI",
    "IDAHO": "ID",
    "ILLINOIS": "IL",
    "INDIANA": "IN",
    "IOWA": "IA",
    "KANSAS": "KS",
    "KENTUCKY": "KY",
    "LOUISIANA": "LA",
    "MAINE": "ME",
    "MARYLAND": "MD",
    "MASSACHUSETTS": "MA",
    "MICHIGAN": "MI",
    "MINNESOTA": "MN",
    "MISSISSIPPI": "MS",
    "MISSOURI": "MO",
    "MONTANA": "MT",
    "NEBRASKA": "NE",
    "NEVADA": "NV",
    "NEW HAMPSHIRE": "NH",
    "NEW JERSEY": "NJ",
    "NEW MEXICO": "NM",
    "NEW YORK": "NY",
    "NORTH CAROLINA": "NC",
    "NORTH DAKOTA": "ND",
    "OHIO": "OH",
    "OKLAHOMA": "OK",
    "OREGON": "OR",
    "PENNSYLVANIA": "PA",
    "PUERTO RICO": "PR",
    "RHODE ISLAND": "RI",
    "SOUTH CAROLINA": "SC",
    "SOUTH DAKOTA": "SD",
    "TENNESSEE": "TN",
    "TEXAS": "TX",
    "UTAH": "UT",
    "VERMONT": "VT",
    "VIRGINIA": "VA",
    "WASHINGTON": "WA",
    "WEST VIRGINIA": "WV",
    "WISCONSIN": "WI",
    "WYOMING": "WY",
}

_UNIT_WORDS = "|".join(sorted((u for u in UNIT_DESIGNATORS if u != "#"), key=len, reverse=True))
# A unit value has a digit or is one letter, so "123 PARKING LOT RD" keeps its street.
_UNIT_VALUE = "\\d[A-Z0-9-]*|[A-Z]-?\\d[A-Z0-9-]*|[A-Z]"


def _lookup(expr: str, table: dict[str, str]) -> str:
    """``expr`` mapped through ``table`` (a CASE), unchanged when not in it."""
    whens = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in table.items())
    return f"(CASE {expr} {whens} ELSE {expr} END)"


def clean_text(expr: str) -> str:
    """Upper case, accents stripped, punctuation except ``#`` and ``-`` as spaces, collapsed."""
    s = f"regexp_replace(upper(strip_accents({expr})), '[''`\u2019]', '', 'g')"
    s = f"regexp_replace({s}, '[^A-Z0-9#/ -]+', ' ', 'g')"
    s = f"regexp_replace({s}, '#\\s*', ' # ', 'g')"
    s = f"regexp_replace(trim({s}), '\\s+', ' ', 'g')"
    return f"nullif({s}, '')"


def line_parts(line: str) -> dict[str, str]:
    """House number, unit and the street's words from a cleaned line (see :func:`clean_text`).

    The unit is the value after a trailing unit designator (``APT 4``, ``# 4``, ``SUITE 200``);
    the street words are what lies between house number and unit (see :func:`street`).
    """
    unit_re = f"\\s(?:{_UNIT_WORDS}|#)\\s?#?\\s?({_UNIT_VALUE})$"
    unit_word = f"regexp_extract({line}, '\\s({_UNIT_WORDS}|#)\\s?#?\\s?(?:{_UNIT_VALUE})$', 1)"
    house_re = "^(\\d+(?:-\\d+)?[A-Z]?(?: 1/2)?)(?:\\s|$)"
    body = f"trim(regexp_replace(regexp_replace({line}, '{unit_re}', ''), '{house_re}', ''))"
    return {
        "house_number": f"nullif(regexp_extract({line}, '{house_re}', 1), '')",
        "street_words": f"string_split(nullif({body}, ''), ' ')",
        "unit": f"nullif(regexp_extract({line}, '{unit_re}', 1), '')",
        "unit_type": f"nullif({_lookup(unit_word, UNIT_DESIGNATORS)}, '')",
    }


def street(words: str) -> str:
    """The street from its words: the type word abbreviated (the last word, or the one before a
    trailing directional), leading and trailing directionals abbreviated."""
    n = f"len({words})"
    type_pos = (
        f"(CASE WHEN {n} > 2 AND list_contains([{_quoted(DIRECTIONALS)}], "
        f"{words}[{n}]) THEN {n} - 1 ELSE {n} END)"
    )
    word = (
        f"CASE WHEN i = {type_pos} AND i > 1 THEN {_lookup('t', STREET_TYPES)} "
        f"WHEN (i = 1 OR i = {n}) AND {n} > 2 THEN {_lookup('t', DIRECTIONALS)} ELSE t END"
    )
    return f"nullif(array_to_string(list_transform({words}, lambda t, i: {word}), ' '), '')"


WORDS_MACRO = "ob_address_words"


def words(line: str) -> str:
    """A street line's words as a list, every street type and directional abbreviated wherever
    it stands, so that the words of "4 OAK STREET NORTHGATE" hold all those of "4 OAK ST".

    Calls the macro that :func:`words_macro` defines, so that queries stay short."""
    return f"{WORDS_MACRO}({line})"


def words_macro(temporary: bool = False) -> str:
    """The statement defining the macro behind :func:`words` (in the current catalog, or with
    ``temporary`` in the connection's own, which a read-only database allows). The
    abbreviations are one MAP constant: a CASE of that size makes every query that uses the
    macro slow to plan."""
    table = {**STREET_TYPES, **DIRECTIONALS}
    abbreviation = (
        "MAP {" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in table.items()) + "}"
    )
    return (
        f"CREATE OR REPLACE {'TEMP ' if temporary else ''}MACRO {WORDS_MACRO}(line) AS "
        f"list_transform(string_split(line, ' '), lambda w: coalesce({abbreviation}[w], w))"
    )


def _quoted(table: dict[str, str]) -> str:
    return literals(list(table) + list(table.values()))


def region_code(expr: str) -> str:
    """A US state as its 2-letter code (full names mapped); NULL when not recognisable."""
    s = f"regexp_replace(trim(regexp_replace(upper(strip_accents({expr})), '[^A-Z]+', ' ', 'g')), "
    s += "'\\s+', ' ', 'g')"
    return f"(CASE WHEN length({s}) = 2 THEN {s} ELSE {_lookup_or_null(s, US_STATES)} END)"


def _lookup_or_null(expr: str, table: dict[str, str]) -> str:
    whens = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in table.items())
    return f"(CASE {expr} {whens} ELSE NULL END)"


def clean_city(expr: str) -> str:
    """Upper case, accents stripped, punctuation as spaces ("ST. LOUIS" -> "ST LOUIS")."""
    s = f"regexp_replace(upper(strip_accents({expr})), '[^A-Z0-9 ]+', ' ', 'g')"
    return f"nullif(regexp_replace(trim({s}), '\\s+', ' ', 'g'), '')"
