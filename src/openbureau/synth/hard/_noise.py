"""The hard generator's noise model: how a furnisher's copy of a person goes wrong.

Most noise is drawn once per furnisher account (``src``) and kept for its life: the nickname
the person gave, the spelling a clerk chose, a birth date keyed wrong, a national id missing,
an address never updated after a move. A little is drawn per row (``field_missing``). The draws
are numpy columns on the feed's row table (prefixed ``hn_``); dates of birth and national ids
are computed here, names and addresses in ``IDENTITY_VIEW`` (DuckDB). Each row's difficulties
are a bit mask (``tags``, bits as ``_rates.BIT``): only what the feed's file actually shows.
"""

from __future__ import annotations

import re

import numpy as np

from openbureau.synth._config import Calendar
from openbureau.synth._layout import Feed
from openbureau.synth.hard._lists import FAMILY_FIRST, ORIGINS, Lists
from openbureau.synth.hard._people import HardPopulation
from openbureau.synth.hard._rates import BIT, Difficulties

# Per feed, chances per account of writing names in capitals, in lower case, without accents:
# the furnisher's house style, independent of the person.
HOUSE_STYLE: dict[str, tuple[float, float, float]] = {
    "northbank_accounts": (0.25, 0.0, 1.0),
    "northbank_inquiries": (0.25, 0.0, 1.0),
    "crestline_tradelines": (1.0, 0.0, 0.6),
    "crestline_inquiries": (1.0, 0.0, 0.6),
    "brightwater_utility": (0.1, 0.0, 0.3),
    "metrotel_telecom": (0.0, 0.1, 0.0),
    "rentright_rent": (0.0, 0.0, 0.15),
    "county_court_records": (1.0, 0.0, 1.0),
    "state_tax_liens": (0.5, 0.0, 0.2),
    "harbor_accounts": (1.0, 0.0, 1.0),
}
FOREVER = 10_000  # a stale address never updated
HYPHEN_FORMS = np.array([1, 1, 1, 1, 2, 2, 2, 3, 3, 4])


def shows(feed: Feed) -> set[str]:
    """Which parts of an identity the feed's file shows: dob, ssn, address, zip, middle, unit."""
    if feed.format == "metro2":  # (a fixed record layout: every part has its field)
        return {"dob", "ssn", "address", "zip", "middle", "unit"}
    sql = " ".join(c.sql for c in feed.columns)
    targets = {c.target for c in feed.columns}
    out = {k for k, t in (("dob", "dob"), ("ssn", "national_id")) if t in targets}
    for part, word in (("address", "street"), ("zip", "zip"), ("middle", "middle_name")):
        if re.search(rf"\b{word}\b", sql):
            out.add(part)
    if re.search(r"\bunit\b", sql):
        out.add("unit")
    return out


def _ymd(dob: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    month = dob.astype("datetime64[M]")
    year = month.astype("datetime64[Y]").astype(np.int64) + 1970
    return year, month.astype(np.int64) % 12 + 1, (dob - month).astype(np.int64) + 1


def _date(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    start = (year - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (month - 1)
    return start.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")


def _digit(value: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
    """The digit at ``pos`` (0 = leftmost) of ``value`` written with ``width`` digits."""
    return (value // 10 ** (width - 1 - pos)) % 10


def _dob(
    dob: np.ndarray, mode: np.ndarray, u: np.ndarray, step: np.ndarray
) -> tuple[np.ndarray, ...]:
    """The date written for mode 0 (true), 1 (day and month swapped), 2 (a year digit wrong:
    the hundreds 4 times in 10, the tens or the units 3; ``u`` uniform, ``step`` 1..9), 3
    (none); and whether a swap or a year typo could be applied."""
    y, m, d = _ymd(dob)
    can_swap = (d <= 12) & (d != m)
    can_typo = ~((m == 2) & (d == 29))
    pos = np.where(u < 0.4, 1, np.where(u < 0.7, 2, 3))
    old = _digit(y, pos, 4)
    new = (old + step) % 10
    typo_year = y + (new - old) * 10 ** (3 - pos)
    shown = np.where(
        (mode == 1) & can_swap,
        _date(y, np.minimum(d, 12), np.minimum(m, 28)),
        np.where((mode == 2) & can_typo, _date(typo_year, m, d), dob),
    )
    shown = np.where(mode == 3, np.datetime64("NaT", "D"), shown)
    return shown, (mode == 1) & can_swap, (mode == 2) & can_typo


def _ssn(
    ssn: np.ndarray, other: np.ndarray, mode: np.ndarray, pick: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The national id written for mode 0 (true), 1 (none), 2 (a typo: two neighbouring digits
    exchanged, or one wrong; ``pick`` a non-negative integer choosing where and how), 3 (another
    household member's, where there is one); -1 for none. Also whether a borrowing happened."""
    pos = pick % 8
    a, b = _digit(ssn, pos, 9), _digit(ssn, pos + 1, 9)
    scale = 10 ** (8 - pos)
    swapped = ssn + (b - a) * scale + (a - b) * (scale // 10)
    new = (a + 1 + pick // 8 % 9) % 10
    replaced = ssn + (new - a) * scale
    typo = np.where((pick // 72 % 2 == 0) & (a != b), swapped, replaced)
    borrowed = (mode == 3) & (other >= 0)
    shown = np.select([mode == 1, mode == 2, borrowed], [-1, typo, other], ssn)
    return shown, borrowed


def _modes(u: np.ndarray, *rates: float) -> np.ndarray:
    """1 for u below the first rate, 2 below the sum of two... 0 above all."""
    edges = np.cumsum(rates)
    return np.where(u < edges[-1], np.searchsorted(edges, u, "right") + 1, 0)


def draw_noise(
    rng: np.random.Generator,
    feed: Feed,
    rows: dict[str, np.ndarray],
    pop: HardPopulation,
    t: Lists,
    d: Difficulties,
    cal: Calendar,
    person_tags: np.ndarray,
) -> dict[str, np.ndarray]:
    """Add the noise columns (``hn_*``), the address slot, ``tags`` and ``person_id``."""
    p, month, src = rows["person"], rows["month"], rows["src"]
    n = len(p)
    k = int(src.max()) + 1 if n else 0
    see = shows(feed)
    # Every draw is per account, expanded to its rows (an account keeps its noise), column by
    # column: a few bytes per row each, not a (rows x draws) matrix.
    per_account = rng.random((k, 19))
    choices = rng.integers(0, 720, (k, 7))  # which nickname, spelling, hyphen form...

    def u(j: int) -> np.ndarray:
        return per_account[:, j][src]

    def pick(j: int) -> np.ndarray:
        return choices[:, j][src]

    nick = (u(0) < d.nickname_used) & pop.nickname[p]
    has_given_alts = np.array([len(a) > 0 for a in t.given_alts])[pop.given[p]]
    gvar = (u(1) < d.variant_spelling) & has_given_alts & ~nick
    married = month >= pop.marry_month[p]
    maiden = married & (u(5) < d.maiden_name)
    after = married & ~maiden
    surname_a = np.where(after & ~pop.married_hyphen[p], pop.new_fam[p], pop.fam1[p])
    has_fam_alts = np.array([len(a) > 0 for a in t.surname_alts])[surname_a]
    fvar = (u(2) < d.variant_spelling) & has_fam_alts
    family_first = np.isin(pop.origin[p], [ORIGINS.index(o) for o in FAMILY_FIRST])
    swap = (u(3) < d.name_order) & family_first
    double = np.where(after, pop.married_hyphen[p], pop.fam2[p] >= 0)
    # the other form: the other joiner (4 in 10), first part only (3), run together (2), second
    hform = np.where(u(4) < d.hyphen_form, HYPHEN_FORMS[pick(2) % 10], 0)
    typo = u(8) < d.name_typo
    typo_first = u(17) < 0.5
    typo_kind = 1 + pick(3) % 3  # a neighbouring key, a letter dropped, a letter doubled

    true_slot = pop.address_slot(p, month)
    service_address = "slot" in rows
    if not service_address:  # (bills and rent carry their service address already)
        stale = u(6) < d.stale_address
        lag = np.where(rng.random(k) < 0.5, FOREVER, rng.integers(2, 25, k))[src]
        opened = np.full(k, FOREVER, np.int64)
        np.minimum.at(opened, src, month)
        seen = np.maximum(month - lag, opened[src])
        rows["slot"] = pop.address_slot(p, np.where(stale, seen, month))
    slot = rows["slot"]
    addr = ("address" in see) & (u(7) < d.address_variant)

    dob_mode = _modes(u(9), d.dob_swap, d.dob_year_typo, d.dob_missing)
    rmiss = np.where(rng.random(n) < d.field_missing, rng.integers(1, 5, n), 0)
    dob, swapped, year_typo = _dob(
        pop.dob[p], np.where(rmiss == 2, 3, dob_mode), u(18), 1 + pick(5) % 9
    )
    ssn_mode = _modes(u(10), d.ssn_missing, d.ssn_typo, d.ssn_borrowed)
    ssn, borrowed = _ssn(pop.ssn[p], pop.other_ssn[p], ssn_mode, pick(6))
    mid_mode = np.where(u(11) < 0.5, 0, np.where(u(11) < 0.85, 1, 2))
    upper, lower, strip = HOUSE_STYLE[feed.name]
    unit_here = pop.hh.unit[pop.household[p], slot] > 0

    bits = {
        "nickname_used": nick,
        "variant_spelling": gvar | fvar,
        "name_order": swap,
        "hyphen_form": double & (hform > 0),
        "maiden_name": maiden,
        "stale_address": ("address" in see) & (slot != true_slot) & (not service_address),
        "address_variant": addr,
        "name_typo": typo,
        "dob_swap": ("dob" in see) & swapped,
        "dob_year_typo": ("dob" in see) & year_typo,
        "dob_missing": ("dob" in see) & (dob_mode == 3),
        "ssn_missing": ("ssn" in see) & (ssn_mode == 1),
        "ssn_typo": ("ssn" in see) & (ssn_mode == 2),
        "ssn_borrowed": ("ssn" in see) & borrowed,
        "field_missing": ((rmiss == 1) & ("middle" in see) & (pop.middle[p] >= 0) & (mid_mode < 2))
        | ((rmiss == 2) & ("dob" in see) & (dob_mode != 3))
        | ((rmiss == 3) & ("zip" in see))
        | ((rmiss == 4) & ("unit" in see) & unit_here),
    }
    tags = person_tags[p].copy()
    for name, on in bits.items():
        tags |= np.where(on, BIT[name], 0)
    rows.update(
        {
            "person_id": p + 1,
            "month_date": cal.month_start[np.clip(month, 0, cal.months)],
            "tags": tags,
            "hn_nick": np.where(nick, pick(0), -1),
            "hn_gvar": np.where(gvar, pick(1), -1),
            "hn_fvar": np.where(fvar, pick(4), -1),
            "hn_swap": swap,
            "hn_hform": hform,
            "hn_after": after,
            "hn_typo_f": np.where(typo & typo_first, typo_kind, 0),
            "hn_typo_l": np.where(typo & ~typo_first, typo_kind, 0),
            "hn_tu": u(12),
            "hn_tv": u(13),
            "hn_mid": np.where(rmiss == 1, 2, mid_mode),
            "hn_sfx": _modes(u(14), 0.3, 0.2, 0.1),  # as is, with a period, after the surname
            "hn_dob": dob,
            "hn_ssn": ssn,
            "hn_addr": addr,
            "hn_av": u(7) / max(d.address_variant, 1e-9),  # (uniform on 0..1 when addr)
            "hn_nozip": rmiss == 3,
            "hn_nounit": rmiss == 4,
            "hn_case": _modes(u(15), upper, lower),
            "hn_strip": u(16) < strip,
        }
    )
    return rows
