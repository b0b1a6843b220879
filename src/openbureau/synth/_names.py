"""Name, street and city tables shipped in ``synth/data``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

STREET_TYPES = [
    ("St", "Street"),
    ("Ave", "Avenue"),
    ("Rd", "Road"),
    ("Dr", "Drive"),
    ("Ln", "Lane"),
    ("Blvd", "Boulevard"),
    ("Ct", "Court"),
    ("Way", "Way"),
    ("Pl", "Place"),
    ("Ter", "Terrace"),
]
STREET_TYPE_WEIGHTS = np.array([30, 18, 14, 12, 8, 4, 6, 4, 2, 2], dtype=float)
EMAIL_DOMAINS = [
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "aol.com",
    "icloud.com",
    "comcast.net",
    "att.net",
    "protonmail.com",
]
EMAIL_DOMAIN_WEIGHTS = np.array([42, 16, 10, 9, 5, 8, 4, 4, 2], dtype=float)


@dataclass(frozen=True)
class NameTables:
    first: list[str]
    first_sex: np.ndarray  # 0 male, 1 female
    first_weight: np.ndarray
    surname: list[str]
    surname_weight: np.ndarray
    nicknames: dict[str, list[str]]
    streets: list[str]
    cities: list[tuple[str, str, int, int, str]]  # city, state, first zip, last zip, area code


def _lines(name: str) -> list[str]:
    text = resources.files("openbureau.synth").joinpath("data", name).read_text("utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


@cache
def load_tables() -> NameTables:
    first_rows = [ln.split(",") for ln in _lines("first_names.txt")]
    surname_rows = [ln.split(",") for ln in _lines("surnames.txt")]
    nick: dict[str, list[str]] = {}
    for ln in _lines("nicknames.txt"):
        formal, _, alts = ln.partition(":")
        nick[formal] = alts.split(",")
    cities = []
    for ln in _lines("cities.txt"):
        city, state, lo, hi, area = ln.split(",")
        cities.append((city, state, int(lo), int(hi), area))
    return NameTables(
        first=[r[0] for r in first_rows],
        first_sex=np.array([r[1] == "F" for r in first_rows], dtype=np.int8),
        first_weight=np.array([float(r[2]) for r in first_rows]),
        surname=[r[0] for r in surname_rows],
        surname_weight=np.array([float(r[1]) for r in surname_rows]),
        nicknames=nick,
        streets=_lines("streets.txt"),
        cities=cities,
    )
