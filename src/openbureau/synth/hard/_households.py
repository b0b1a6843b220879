"""Households: who lives with whom, their ages and sexes, where they live and when they move.

Persons are drawn household by household, so the hard cases are built in rather than pasted
on: a father and his namesake son (with the boy's mother, half the time) share an address, as
twins do (with none, one or two parents); other households of two to four are a head, a partner
and grown children. Everything is numpy over whole arrays; a household's persons are numbered
at random at the end (``Households.order``), so household members are not neighbours in id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openbureau.synth._config import Calendar
from openbureau.synth._population import NEVER
from openbureau.synth.hard._lists import ORIGINS, PLAIN_MIX, ROMANISED_MIX, Lists
from openbureau.synth.hard._rates import Difficulties

ROLES: tuple[str, ...] = ("alone", "head", "partner", "child", "father", "son", "twin")
ALONE, HEAD, PARTNER, CHILD, FATHER, SON, TWIN = range(len(ROLES))
KIND_ALONE, KIND_FAMILY, KIND_JR_SR, KIND_TWINS = range(4)
DIRECTIONS = ("N", "S", "E", "W")
STREET_TYPES = (
    ("St", "Street"),
    ("Ave", "Avenue"),
    ("Rd", "Road"),
    ("Dr", "Drive"),
    ("Ln", "Lane"),
    ("Blvd", "Boulevard"),
    ("Ct", "Court"),
    ("Pl", "Place"),
    ("Cir", "Circle"),
    ("Pkwy", "Parkway"),
    ("Hwy", "Highway"),
    ("Trl", "Trail"),
)
STREET_TYPE_WEIGHTS = np.array([28, 20, 14, 12, 7, 4, 5, 3, 3, 2, 1, 1], dtype=float)


@dataclass
class Households:
    """Per person (in household order): household, role, sex, age; per household: the rest."""

    n: int
    household: np.ndarray  # household of each person
    size: np.ndarray  # persons in the person's household
    role: np.ndarray  # index into ROLES
    female: np.ndarray
    dob: np.ndarray  # datetime64[D]
    origin: np.ndarray  # per household, index into ORIGINS
    moves: np.ndarray  # per household (h, 2): months of the 1st and 2nd move, NEVER if none
    town: np.ndarray  # per household and address slot (h, 3): index into the town list
    zip: np.ndarray
    house: np.ndarray
    street: np.ndarray
    predir: np.ndarray  # -1 none, else index into DIRECTIONS
    street_type: np.ndarray
    unit: np.ndarray  # 0 none


def _choose(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    return rng.choice(len(weights), size=size, p=weights / weights.sum())


def _kinds(rng: np.random.Generator, n: int, d: Difficulties) -> tuple[np.ndarray, np.ndarray]:
    """Kind and size of every household, summing to ``n`` persons."""
    n_jr = round(n * d.jr_sr / 2)
    n_tw = min(round(n * d.twin / 2), (n - 2 * n_jr) // 2)
    special = 2 * (n_jr + n_tw)
    room = max(round(n * d.household), special) - special
    extra = np.r_[(rng.random(n_jr) < 0.5).astype(np.int64), rng.choice(3, n_tw, p=[0.2, 0.4, 0.4])]
    extra = np.where(np.cumsum(extra) <= room, extra, 0)  # (parents while there is room)
    rest = room - int(extra.sum())
    sizes = rng.choice(np.array([2, 3, 4]), rest // 2 + 1, p=[0.6, 0.25, 0.15])
    end = int(np.searchsorted(np.cumsum(sizes), rest))
    sizes = sizes[: end + 1].copy()
    sizes[-1] -= int(sizes.sum()) - rest
    if sizes[-1] == 1 and len(sizes) > 1:  # (no household of one among families)
        sizes[-2] += 1
        sizes = sizes[:-1]
    sizes = sizes[sizes >= 2]
    alone = n - special - int(extra.sum()) - int(sizes.sum())
    kind = np.r_[
        np.full(n_jr, KIND_JR_SR), np.full(n_tw, KIND_TWINS), np.full(len(sizes), KIND_FAMILY)
    ]
    size = np.r_[2 + extra, sizes]
    return np.r_[kind, np.full(alone, KIND_ALONE)], np.r_[size, np.ones(alone, np.int64)]


def _origins(rng: np.random.Generator, h: int, d: Difficulties) -> np.ndarray:
    romanised = rng.random(h) < d.transliterated
    plain = np.array([ORIGINS.index(o) for o in PLAIN_MIX])
    roman = np.array([ORIGINS.index(o) for o in ROMANISED_MIX])
    return np.where(
        romanised,
        roman[_choose(rng, np.array(list(ROMANISED_MIX.values())), h)],
        plain[_choose(rng, np.array(list(PLAIN_MIX.values())), h)],
    )


def _ages(
    rng: np.random.Generator, kind: np.ndarray, size: np.ndarray, role: np.ndarray, hh: np.ndarray
) -> np.ndarray:
    """Age in years at the start of the window, by role; twins of a household the same."""
    h = len(kind)
    elder = np.select(
        [kind == KIND_JR_SR, (kind == KIND_FAMILY) & (size >= 3)],
        [46 + 38 * rng.beta(1.3, 2.0, h), 38 + 45 * rng.beta(1.5, 2.0, h)],
        18 + 64 * rng.beta(1.4, 2.0, h),
    )
    twins = 18 + 40 * rng.beta(1.2, 2.5, h)
    elder = np.where(kind == KIND_TWINS, twins + 20 + 18 * rng.random(h), elder)
    n = len(role)
    head = elder[hh]
    u = rng.random(n)
    return np.select(
        [role == PARTNER, role == CHILD, role == SON, role == TWIN],
        [
            np.clip(head + rng.normal(-1.0, 3.0, n), 18, 95),
            18 + u * (head - 38),
            head - 20 - u * np.minimum(15, head - 38),
            twins[hh],
        ],
        head,
    )


def _addresses(rng: np.random.Generator, t: Lists, h: int) -> tuple[np.ndarray, ...]:
    n_town = len(t.towns)
    town_w = 1.0 / np.arange(1, n_town + 1) ** 0.4
    town = np.empty((h, 3), np.int64)
    town[:, 0] = _choose(rng, town_w, h)
    for k in (1, 2):  # a move stays in town a little over half the time
        town[:, k] = np.where(rng.random(h) < 0.55, town[:, k - 1], _choose(rng, town_w, h))
    lo, hi = t.zip_lo[town], t.zip_hi[town]
    zips = lo + (rng.random((h, 3)) * (hi - lo + 1)).astype(np.int64)
    house = np.clip(np.exp(rng.normal(6.0, 1.2, (h, 3))), 1, 29_999).astype(np.int64)
    street = _choose(rng, 1.0 / np.arange(1, len(t.streets) + 1) ** 0.3, 3 * h).reshape(h, 3)
    predir = np.where(rng.random((h, 3)) < 0.15, rng.integers(0, 4, (h, 3)), -1)
    stype = _choose(rng, STREET_TYPE_WEIGHTS, 3 * h).reshape(h, 3)
    unit = np.where(rng.random((h, 3)) < 0.28, rng.integers(1, 41, (h, 3)), 0)
    return town, zips, house, street, predir, stype, unit


def _moves(rng: np.random.Generator, h: int, d: Difficulties, cal: Calendar) -> np.ndarray:
    # (a woman who marries moves too: households move a little less often to make up for it)
    share = max(0.0, (d.moved - d.married) / (1 - d.married)) if d.married < 1 else 0.0
    moved = rng.random(h) < share
    twice = moved & (rng.random(h) < 0.25)
    a = rng.integers(1, cal.months - 1, h)
    b = rng.integers(1, cal.months - 2, h)
    b = np.where(b >= a, b + 1, b)  # (two different months)
    first, second = np.minimum(a, b), np.maximum(a, b)
    return np.c_[np.where(moved, np.where(twice, first, a), NEVER), np.where(twice, second, NEVER)]


def draw_households(
    rng: np.random.Generator, t: Lists, d: Difficulties, cal: Calendar, n: int
) -> Households:
    """Households of ``n`` persons, with the shares of living together, Jr/Sr, twins and moves
    that ``d`` asks for."""
    kind, size = _kinds(rng, n, d)
    h = len(kind)
    hh = np.repeat(np.arange(h), size)
    pos = np.arange(n) - np.repeat(np.cumsum(size) - size, size)
    k = kind[hh]
    role = np.select(
        [
            k == KIND_ALONE,
            (k == KIND_JR_SR) & (pos == 0),
            (k == KIND_JR_SR) & (pos == 1),
            (k == KIND_TWINS) & (pos <= 1),
            pos == 0,
            (pos == 1) | ((k == KIND_JR_SR) & (pos == 2)) | ((k == KIND_TWINS) & (pos == 3)),
        ],
        [ALONE, FATHER, SON, TWIN, HEAD, PARTNER],
        CHILD,
    )
    role = np.where((k == KIND_TWINS) & (pos == 2), HEAD, role)
    head_female = rng.random(h) < 0.5
    female = np.select(
        [
            np.isin(role, (FATHER, SON)),
            (role == PARTNER) & (k == KIND_JR_SR),
            role == PARTNER,
            role == HEAD,
        ],
        [
            False,
            True,
            np.where(rng.random(n) < 0.93, ~head_female[hh], head_female[hh]),
            head_female[hh],
        ],
        rng.random(n) < 0.5,
    )
    age = _ages(rng, kind, size, role, hh)
    dob = cal.start - (age * 365.25).astype("timedelta64[D]")
    town, zips, house, street, predir, stype, unit = _addresses(rng, t, h)
    return Households(
        n=n,
        household=hh,
        size=size[hh],
        role=role.astype(np.int8),
        female=female.astype(bool),
        dob=dob,
        origin=_origins(rng, h, d),
        moves=_moves(rng, h, d, cal),
        town=town,
        zip=zips,
        house=house,
        street=street,
        predir=predir,
        street_type=stype,
        unit=unit,
    )
