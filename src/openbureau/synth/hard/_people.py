"""The hard population: names, national ids, phones and emails on top of the households.

Who is hard to tell apart is decided here: a Jr takes his father's first name (and often his
middle name), a twin a different first name (half the time with the same initial), a namesake
the first name and surname of an unrelated person and, with them, the same name-built email; a
woman living alone may marry, taking a new surname and moving to her spouse's address. Names
are indexes into the lists; strings are assembled in DuckDB (``_tables``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openbureau.synth._config import Calendar
from openbureau.synth._population import NEVER
from openbureau.synth.hard._households import (
    ALONE,
    FATHER,
    PARTNER,
    SON,
    TWIN,
    Households,
    draw_households,
)
from openbureau.synth.hard._lists import FAMILY_FIRST, ORIGINS, Lists
from openbureau.synth.hard._rates import Difficulties

SUFFIXES: tuple[str, ...] = ("", "Jr", "Sr", "II", "III")
EMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "aol.com",
    "icloud.com",
    "msn.com",
    "comcast.net",
    "live.com",
)
EMAIL_DOMAIN_WEIGHTS = np.array([45, 15, 10, 8, 5, 7, 3, 4, 3], dtype=float)
# first.last, firstlast, flast, first_last, first.last + n, first + birth year, last.first,
# first + l + n: the first four are the same for everyone of one name
EMAIL_STYLE_WEIGHTS = np.array([22, 12, 14, 5, 20, 12, 5, 10], dtype=float)
MIDDLE_SHARE = np.array([0.75, 0.5, 0.5, 0.5, 0.2, 0.3, 0.4, 0.3])  # by origin (ORIGINS)


@dataclass
class HardPopulation:
    """Persons numbered 0..n-1 (person_id = index + 1); address arrays are per household."""

    hh: Households
    n: int
    moves: np.ndarray  # (n, 2), as the activity generators need it
    household: np.ndarray
    role: np.ndarray
    female: np.ndarray
    dob: np.ndarray
    origin: np.ndarray
    given: np.ndarray
    middle: np.ndarray  # -1 none
    fam1: np.ndarray
    fam2: np.ndarray  # second surname of a double surname, -1 none
    suffix: np.ndarray  # index into SUFFIXES
    nickname: np.ndarray  # goes by a nickname
    ssn: np.ndarray
    other_ssn: np.ndarray  # another household member's, -1 when living alone
    phone: np.ndarray
    shared_phone: np.ndarray
    email_owner: np.ndarray  # whose name the email is built from (a family address)
    email_style: np.ndarray
    email_num: np.ndarray
    email_domain: np.ndarray
    marry_month: np.ndarray  # NEVER when the surname does not change
    new_fam: np.ndarray  # -1 none
    married_hyphen: np.ndarray  # the new surname written old-new
    twin_of: np.ndarray  # person_id of the twin, 0 none
    jr_sr_of: np.ndarray
    namesake_of: np.ndarray

    def address_slot(self, person: np.ndarray, month: np.ndarray) -> np.ndarray:
        """Which of the person's addresses (0..2) is current in ``month``."""
        mv = self.moves[person]
        return (month >= mv[:, 0]).astype(np.int8) + (month >= mv[:, 1])


def _choose(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    return rng.choice(len(weights), size=size, p=weights / weights.sum())


def _given(
    rng: np.random.Generator, t: Lists, origin: np.ndarray, female: np.ndarray
) -> np.ndarray:
    out = np.zeros(len(origin), np.int64)
    for o in range(len(ORIGINS)):  # (per origin and sex: 16 groups, not per person)
        for f in (False, True):
            mask = (origin == o) & (female == f)
            pool = np.flatnonzero((t.given_origin == o) & (t.given_female == f))
            out[mask] = pool[_choose(rng, t.given_weight[pool], int(mask.sum()))]
    return out


def surnames(rng: np.random.Generator, t: Lists, origin: np.ndarray) -> np.ndarray:
    """A surname of each origin, drawn by the surname weights."""
    out = np.zeros(len(origin), np.int64)
    for o in range(len(ORIGINS)):
        mask = origin == o
        pool = np.flatnonzero(t.surname_origin == o)
        out[mask] = pool[_choose(rng, t.surname_weight[pool], int(mask.sum()))]
    return out


def _other_given(
    rng: np.random.Generator, t: Lists, name: np.ndarray, same_initial: np.ndarray
) -> np.ndarray:
    """Another given name of the same origin and sex (of the same initial where asked)."""
    group = t.given_origin * 2 + t.given_female
    initial = np.array([ord(g[0]) for g in t.given])
    out = name.copy()
    for key, want in ((group * 1024 + initial, same_initial), (group, np.ones_like(same_initial))):
        order = np.argsort(key, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        lo = np.searchsorted(key[order], key, "left")[name]
        size = np.searchsorted(key[order], key, "right")[name] - lo
        step = 1 + (rng.random(len(name)) * np.maximum(size - 1, 1)).astype(np.int64)
        other = order[lo + (rank[name] - lo + step) % size]
        todo = want & (out == name) & (size > 1)
        out[todo] = other[todo]
    return out


def _ssns(rng: np.random.Generator, n: int) -> np.ndarray:
    """Distinct SSN-shaped numbers: area 001-899 but 666, group 01-99, serial 0001-9999."""
    ssn = np.zeros(0, np.int64)
    while len(ssn) < n:  # (rounds until distinct, not a loop over persons)
        k = n - len(ssn)
        area = rng.integers(1, 899, k)
        area = np.where(area >= 666, area + 1, area)
        draw = area * 1_000_000 + rng.integers(1, 100, k) * 10_000 + rng.integers(1, 10_000, k)
        ssn = np.r_[ssn, draw]
        _, first = np.unique(ssn, return_index=True)
        ssn = ssn[np.sort(first)]
    return ssn


def _namesakes(rng: np.random.Generator, h: Households, d: Difficulties) -> tuple[np.ndarray, ...]:
    """(a, b): b, living alone, takes a's name; a is anyone else."""
    alone = np.flatnonzero(h.role == ALONE)
    k = min(round(h.n * d.namesake / 2), len(alone) // 2)
    b = rng.choice(alone, k, replace=False)
    rest = np.setdiff1d(np.arange(h.n), b)
    return rng.choice(rest, k, replace=False), b


def draw_people(
    rng: np.random.Generator, t: Lists, d: Difficulties, cal: Calendar, n: int
) -> HardPopulation:
    """``n`` persons in households, with the difficulties ``d`` asks for."""
    h = draw_households(rng, t, d, cal, n)
    hh, role = h.household, h.role
    starts = np.cumsum(np.bincount(hh, minlength=len(h.origin))) - np.bincount(hh)
    pos = np.arange(n) - starts[hh]
    head = starts[hh]  # the household's first member
    origin = h.origin[hh].copy()
    female = h.female.copy()
    a, b = _namesakes(rng, h, d)
    origin[b], female[b] = origin[a], female[a]

    given = _given(rng, t, origin, female)
    twin_b = np.flatnonzero((role == TWIN) & (pos == 1))
    twin_a = twin_b - 1
    same_sex = female[twin_b] == female[twin_a]
    given[twin_b] = np.where(
        same_sex,
        _other_given(rng, t, given[twin_a], rng.random(len(twin_b)) < 0.5),
        given[twin_b],
    )
    son = np.flatnonzero(role == SON)
    father = son - 1
    given[son] = given[father]
    middle = np.where(rng.random(n) < MIDDLE_SHARE[origin], _given(rng, t, origin, female), -1)
    middle[son] = np.where(rng.random(len(son)) < 0.6, middle[father], middle[son])

    # Double surnames where they are written (not with the family name first), as often as
    # the rate asks over all persons.
    can_double = ~np.isin(origin, [ORIGINS.index(o) for o in FAMILY_FIRST])
    p_double = min(1.0, d.hyphenated / max(float(can_double.mean()), 1e-9)) if n else 0.0
    h_fam1 = surnames(rng, t, h.origin)
    h_fam2 = surnames(rng, t, h.origin)
    own = (role == PARTNER) & (rng.random(n) < 0.25)  # a partner who kept their own surname
    fam1 = np.where(own, surnames(rng, t, origin), h_fam1[hh])
    double = np.where(own, rng.random(n), rng.random(len(h.origin))[hh]) < p_double
    fam2 = np.where(can_double & double, np.where(own, surnames(rng, t, origin), h_fam2[hh]), -1)
    fam2 = np.where(fam2 == fam1, -1, fam2)
    given[b], fam1[b], fam2[b] = given[a], fam1[a], fam2[a]

    suffix = np.zeros(n, np.int64)
    sfx = _choose(rng, np.array([0.8, 0.12, 0.08]), len(son))
    suffix[son] = np.array([1, 3, 4])[sfx]
    suffix[father] = np.where((sfx == 0) & (rng.random(len(son)) < 0.6), 2, 0)

    has_nick = np.array([len(x) > 0 for x in t.given_nicks])[given]
    nickname = has_nick & (rng.random(n) < min(1.0, d.nickname * n / max(int(has_nick.sum()), 1)))

    ssn = _ssns(rng, n)
    other = np.where(h.size >= 2, head + (pos + 1) % h.size, -1)
    area = t.area_code[h.town[hh, 0]]
    exchange = rng.integers(200, 1000, n)
    exchange = np.where(exchange % 100 == 11, exchange + 1, exchange)  # (no N11 exchange)
    phone = area * 10_000_000 + exchange * 10_000 + rng.integers(0, 10_000, n)
    shared = (h.size >= 2) & (rng.random(len(h.origin)) < d.shared_phone)[hh]
    phone = np.where(shared, phone[head], phone)

    owner = np.where((role == PARTNER) & (rng.random(n) < 0.1), head, np.arange(n))
    style = _choose(rng, EMAIL_STYLE_WEIGHTS, n)
    domain = _choose(rng, EMAIL_DOMAIN_WEIGHTS, n)
    owner[a], owner[b] = a, b
    style[a], style[b], domain[b] = 0, 0, domain[a]

    # Marriage: a woman living alone takes a new surname and moves to her spouse's address.
    adult = h.dob <= cal.start - np.timedelta64(int(20 * 365.25), "D")
    free = (role == ALONE) & female & adult
    free[a], free[b] = False, False
    pool = np.flatnonzero(free)
    wed = rng.choice(pool, min(round(n * d.married), len(pool)), replace=False)
    marry = np.full(n, NEVER, np.int64)
    marry[wed] = rng.integers(1, cal.months - 1, len(wed))
    spouse_origin = np.where(rng.random(n) < 0.7, origin, rng.integers(0, len(ORIGINS), n))
    new_fam = np.where(marry < NEVER, surnames(rng, t, spouse_origin), -1)
    h.moves[hh[wed]] = np.c_[marry[wed], np.full(len(wed), NEVER)]

    order = rng.permutation(n)  # person k is household-order person order[k]
    inv = np.empty(n, np.int64)
    inv[order] = np.arange(n)

    def pid(rel: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Household-order partner index -> person_id (0 none), in person order."""
        out = np.zeros(n, np.int64)
        out[mask] = inv[rel[mask]] + 1
        return out[order]

    twin_rel = np.zeros(n, np.int64)
    twin_rel[twin_a], twin_rel[twin_b] = twin_b, twin_a
    jr_rel = np.zeros(n, np.int64)
    jr_rel[son], jr_rel[father] = father, son
    ns_rel = np.zeros(n, np.int64)
    ns_rel[a], ns_rel[b] = b, a
    ns_mask = np.zeros(n, bool)
    ns_mask[np.r_[a, b]] = True
    return HardPopulation(
        hh=h,
        n=n,
        moves=h.moves[hh][order],
        household=hh[order],
        role=role[order],
        female=female[order],
        dob=h.dob[order],
        origin=origin[order],
        given=given[order],
        middle=middle[order],
        fam1=fam1[order],
        fam2=fam2[order],
        suffix=suffix[order],
        nickname=nickname[order],
        ssn=ssn[order],
        other_ssn=np.where(other >= 0, ssn[np.maximum(other, 0)], -1)[order],
        phone=phone[order],
        shared_phone=shared[order],
        email_owner=inv[owner][order],
        email_style=style[order],
        email_num=rng.integers(1, 1000, n)[order],
        email_domain=domain[order],
        marry_month=marry[order],
        new_fam=new_fam[order],
        married_hyphen=(rng.random(n) < 0.3)[order],
        twin_of=pid(twin_rel, role == TWIN),
        jr_sr_of=pid(jr_rel, np.isin(role, (FATHER, SON))),
        namesake_of=pid(ns_rel, ns_mask),
    )
