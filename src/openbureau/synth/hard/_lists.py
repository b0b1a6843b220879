"""The hard generator's own name, street and town lists (``synth/hard/data``).

Given names and surnames carry a name origin; names of the romanised origins (east Asian,
Slavic, Arabic, south Asian) have several spellings, as different transliterations of one name
(Muhammad, Mohammed, Mohamed; Zhang, Chang, Cheung). Slavic and Polish surnames have female
forms (Ivanov, Ivanova; Kowalski, Kowalska). Rare surnames are composed from parts, so the
surname distribution has a long tail beside its heavy head.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

ORIGINS: tuple[str, ...] = (
    "anglo",
    "hispanic",
    "european",
    "african",
    "east_asian",
    "slavic",
    "arabic",
    "south_asian",
)
ROMANISED: tuple[str, ...] = ("east_asian", "slavic", "arabic", "south_asian")
FAMILY_FIRST: tuple[str, ...] = ("east_asian",)  # the family name is written first at home
GENDERED: tuple[str, ...] = ("slavic", "european")  # surnames with female forms
# Shares within the origins of one spelling, and within the romanised ones (whose total share
# is the ``transliterated`` rate).
PLAIN_MIX = {"anglo": 0.70, "hispanic": 0.20, "european": 0.07, "african": 0.03}
ROMANISED_MIX = {"east_asian": 0.35, "slavic": 0.25, "arabic": 0.20, "south_asian": 0.20}
# Other spellings of composed (rare) surnames, by ending.
ENDING_SPELLINGS = (
    ("ichenko", "itchenko"),
    ("enko", "enco"),
    ("insky", "inski"),
    ("ovets", "ovetz"),
    ("ichev", "itchev"),
    ("ov", "off"),
    ("uk", "ouk"),
)
FEMALE_ENDINGS = (("skiy", "skaya"), ("sky", "skaya"), ("ski", "ska"), ("cki", "cka"))
FEMALE_ENDINGS_ADD = ("ov", "ev", "in", "ow", "ew")  # + "a"
FEMALE_ENDINGS_SPELT = (("off", "ova"), ("eff", "eva"))


@dataclass(frozen=True)
class Lists:
    given: list[str]
    given_alts: list[list[str]]  # other spellings
    given_nicks: list[list[str]]
    given_origin: np.ndarray  # index into ORIGINS
    given_female: np.ndarray  # bool
    given_weight: np.ndarray
    surname: list[str]
    surname_alts: list[list[str]]
    surname_female: list[str]  # the female form (the name itself where there is none)
    surname_female_alts: list[list[str]]
    surname_origin: np.ndarray
    surname_weight: np.ndarray
    streets: list[str]
    street_alts: list[list[str]]
    towns: list[str]
    town_alts: list[list[str]]
    town_state: list[str]
    zip_lo: np.ndarray
    zip_hi: np.ndarray
    area_code: np.ndarray


def _lines(name: str) -> list[str]:
    text = resources.files("openbureau.synth.hard").joinpath("data", name).read_text("utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def female_form(name: str) -> str:
    """A gendered surname's female form (Ivanov -> Ivanova, Kowalski -> Kowalska)."""
    for male, female in (*FEMALE_ENDINGS, *FEMALE_ENDINGS_SPELT):
        if name.endswith(male):
            return name[: -len(male)] + female
    return name + "a" if name.endswith(FEMALE_ENDINGS_ADD) else name


def _composed(parts: list[str]) -> list[tuple[str, str, float, list[str]]]:
    """(origin, surname, weight share, other spellings) of every composed rare surname."""
    out = []
    for ln in parts:
        origin, share, firsts, seconds = ln.split("|")
        names = [a + b for a in firsts.split(",") for b in seconds.split(",")]
        for name in names:
            alts = []
            if origin in ROMANISED:
                alts = [name[: -len(e)] + s for e, s in ENDING_SPELLINGS if name.endswith(e)][:1]
            out.append((origin, name, float(share) / len(names), alts))
    return out


def _surnames() -> tuple[list[str], list[list[str]], list[str], np.ndarray]:
    rows = []
    for ln in _lines("surnames.txt"):
        origin, weight, spellings = ln.split(",", 2)
        first, *alts = spellings.split("|")
        rows.append((origin, first, float(weight), alts))
    totals: dict[str, float] = {}
    for origin, _, w, _ in rows:
        totals[origin] = totals.get(origin, 0.0) + w
    for origin, name, share, alts in _composed(_lines("surname_parts.txt")):
        tail = share / (1 - _tail_share(origin))  # the tail's share of the origin's mass
        rows.append((origin, name, tail * totals[origin], alts))
    return (
        [r[1] for r in rows],
        [r[3] for r in rows],
        [r[0] for r in rows],
        np.array([r[2] for r in rows]),
    )


@cache
def _tail_share(origin: str) -> float:
    for ln in _lines("surname_parts.txt"):
        if ln.split("|")[0] == origin:
            return float(ln.split("|")[1])
    return 0.0


@cache
def load_lists() -> Lists:
    nicks: dict[str, list[str]] = {}
    for ln in _lines("nicknames.txt"):
        formal, _, alts = ln.partition(":")
        nicks[formal] = alts.split(",")
    given_rows = [ln.split(",", 3) for ln in _lines("given_names.txt")]
    spellings = [r[3].split("|") for r in given_rows]
    surname, surname_alts, s_origin, s_weight = _surnames()
    gendered = [o in GENDERED for o in s_origin]
    street_rows = [ln.split("|") for ln in _lines("streets.txt")]
    town_rows = [ln.split(",") for ln in _lines("towns.txt")]
    town_names = [r[0].split("|") for r in town_rows]
    return Lists(
        given=[s[0] for s in spellings],
        given_alts=[s[1:] for s in spellings],
        given_nicks=[nicks.get(s[0], []) for s in spellings],
        given_origin=np.array([ORIGINS.index(r[0]) for r in given_rows]),
        given_female=np.array([r[1] == "F" for r in given_rows]),
        given_weight=np.array([float(r[2]) for r in given_rows]),
        surname=surname,
        surname_alts=surname_alts,
        surname_female=[female_form(s) if g else s for s, g in zip(surname, gendered, strict=True)],
        surname_female_alts=[
            [female_form(a) for a in alts] if g else alts
            for alts, g in zip(surname_alts, gendered, strict=True)
        ],
        surname_origin=np.array([ORIGINS.index(o) for o in s_origin]),
        surname_weight=s_weight,
        streets=[r[0] for r in street_rows],
        street_alts=[r[1:] for r in street_rows],
        towns=[t[0] for t in town_names],
        town_alts=[t[1:] for t in town_names],
        town_state=[r[1] for r in town_rows],
        zip_lo=np.array([int(r[2]) for r in town_rows]),
        zip_hi=np.array([int(r[3]) for r in town_rows]),
        area_code=np.array([int(r[4]) for r in town_rows]),
    )
