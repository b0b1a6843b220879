"""The true population: who each person is, where they live and when they move or marry.

Everything here is drawn with numpy from one generator; strings are assembled later in DuckDB
from the index columns (see ``load_population``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from openbureau.synth._config import Calendar
from openbureau.synth._ids import Numbering, ssns
from openbureau.synth._names import (
    EMAIL_DOMAIN_WEIGHTS,
    EMAIL_DOMAINS,
    STREET_TYPE_WEIGHTS,
    STREET_TYPES,
    NameTables,
)

NEVER = 10_000  # a month index that is never reached: "no move", "no marriage"
SUFFIXES = ["", "Jr", "Sr", "II", "III"]
TWIN_SHARE = 0.01  # share of persons who are one of a pair of twins
JR_SR_SHARE = 0.01  # share of persons who are a father or son sharing a name


@dataclass
class Population:
    n: int
    sex: np.ndarray
    first: np.ndarray
    middle: np.ndarray  # -1 when the person has no middle name
    last: np.ndarray
    last_hyphen: np.ndarray  # second surname of a hyphenated birth name, or -1
    suffix: np.ndarray  # index into SUFFIXES
    dob: np.ndarray  # datetime64[D]
    ssn: np.ndarray
    marry_month: np.ndarray  # month the surname changes, NEVER if it does not
    married_last: np.ndarray
    married_hyphen: np.ndarray  # the new name is written old-new
    moves: np.ndarray  # (n, 2) months of the 1st and 2nd move, NEVER if none
    house: np.ndarray  # (n, 3) per address slot
    street: np.ndarray
    street_type: np.ndarray
    unit: np.ndarray  # 0 = no unit
    city: np.ndarray
    zip: np.ndarray
    phone: np.ndarray
    email_style: np.ndarray
    email_num: np.ndarray
    email_domain: np.ndarray
    twin_of: np.ndarray  # 0 = none (person ids start at 1)
    jr_sr_of: np.ndarray

    def address_slot(self, person: np.ndarray, month: np.ndarray) -> np.ndarray:
        """Which of the person's addresses (0..2) is current in ``month``."""
        mv = self.moves[person]
        return (month >= mv[:, 0]).astype(np.int8) + (month >= mv[:, 1])

    def is_married(self, person: np.ndarray, month: np.ndarray) -> np.ndarray:
        return month >= self.marry_month[person]


def _weighted(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    p = weights / weights.sum()
    return rng.choice(len(p), size=size, p=p)


def _first_names(rng: np.random.Generator, t: NameTables, sex: np.ndarray) -> np.ndarray:
    out = np.empty(len(sex), dtype=np.int64)
    for s in (0, 1):
        pool = np.flatnonzero(t.first_sex == s)
        mask = sex == s
        out[mask] = pool[_weighted(rng, t.first_weight[pool], int(mask.sum()))]
    return out


def draw_population(
    rng: np.random.Generator, t: NameTables, cal: Calendar, n: int, ids: Numbering
) -> Population:
    """Draw ``n`` persons with names, birth dates, national ids and address histories.

    Twins and Jr/Sr pairs are drawn among these ``n`` (``twin_of``, ``jr_sr_of``: 1 + the
    other's index here)."""
    sex = (rng.random(n) < 0.51).astype(np.int8)
    first = _first_names(rng, t, sex)
    middle = np.where(rng.random(n) < 0.82, _first_names(rng, t, sex), -1)
    last = _weighted(rng, t.surname_weight, n)
    last_hyphen = np.where(rng.random(n) < 0.025, _weighted(rng, t.surname_weight, n), -1)
    suffix = np.where((sex == 0) & (rng.random(n) < 0.006), rng.integers(3, 5, n), 0)

    age_days = (18 + 67 * rng.beta(1.3, 1.9, n)) * 365.25
    dob = cal.start - age_days.astype("timedelta64[D]")

    female = sex == 1
    marries = female & (rng.random(n) < 0.06) & (age_days > 20 * 365)
    marry_month = np.where(marries, rng.integers(1, cal.months, n), NEVER)
    married_last = _weighted(rng, t.surname_weight, n)
    married_hyphen = rng.random(n) < 0.25

    n_addr = 1 + (rng.random(n) < 0.35) + (rng.random(n) < 0.10)
    mv = np.sort(rng.integers(1, cal.months, (n, 2)), axis=1)
    moves = np.where(np.arange(2)[None, :] < (n_addr - 1)[:, None], mv, NEVER)

    n_city = len(t.cities)
    city_w = 1.0 / np.arange(1, n_city + 1) ** 0.3
    city = np.empty((n, 3), dtype=np.int64)
    city[:, 0] = _weighted(rng, city_w, n)
    for k in (1, 2):  # most moves stay in town
        stay = rng.random(n) < 0.6
        city[:, k] = np.where(stay, city[:, k - 1], _weighted(rng, city_w, n))
    lo = np.array([c[2] for c in t.cities])
    hi = np.array([c[3] for c in t.cities])
    zips = lo[city] + (rng.random((n, 3)) * (hi[city] - lo[city] + 1)).astype(np.int64)
    house = np.minimum(np.exp(rng.normal(6.2, 1.3, (n, 3))).astype(np.int64) + 1, 19999)
    street = rng.integers(0, len(t.streets), (n, 3))
    street_type = _weighted(rng, STREET_TYPE_WEIGHTS, 3 * n).reshape(n, 3)
    unit = np.where(rng.random((n, 3)) < 0.3, rng.integers(1, 60, (n, 3)), 0)

    area = np.array([int(c[4]) for c in t.cities])[city[:, 0]]
    phone = area * 10_000_000 + rng.integers(200, 1000, n) * 10_000 + rng.integers(0, 10_000, n)

    pop = Population(
        n=n,
        sex=sex,
        first=first,
        middle=middle,
        last=last,
        last_hyphen=last_hyphen,
        suffix=suffix,
        dob=dob,
        ssn=ssns(ids.take("ssn", n)),
        marry_month=marry_month,
        married_last=married_last,
        married_hyphen=married_hyphen,
        moves=moves,
        house=house,
        street=street,
        street_type=street_type,
        unit=unit,
        city=city,
        zip=zips,
        phone=phone,
        email_style=rng.integers(0, 6, n),
        email_num=rng.integers(1, 100, n),
        email_domain=_weighted(rng, EMAIL_DOMAIN_WEIGHTS, n),
        twin_of=np.zeros(n, dtype=np.int64),
        jr_sr_of=np.zeros(n, dtype=np.int64),
    )
    _add_hard_negatives(rng, pop, t, cal)
    return pop


def _share_household(pop: Population, a: np.ndarray, b: np.ndarray) -> None:
    """Person b lives where person a lives, under a's surname."""
    for arr in (pop.house, pop.street, pop.street_type, pop.unit, pop.city, pop.zip, pop.moves):
        arr[b] = arr[a]
    pop.last[b] = pop.last[a]
    pop.last_hyphen[b] = pop.last_hyphen[a]
    pop.marry_month[b] = NEVER
    pop.marry_month[a] = NEVER


def _add_hard_negatives(
    rng: np.random.Generator, pop: Population, t: NameTables, cal: Calendar
) -> None:
    """Twins and Jr/Sr pairs: different people who look alike to a record linker."""
    n_twin = round(pop.n * TWIN_SHARE / 2)
    n_jr = round(pop.n * JR_SR_SHARE / 2)
    if pop.n < 2 * (n_twin + n_jr) + 2:
        return
    order = rng.permutation(pop.n)
    tw_a, tw_b = order[:n_twin], order[n_twin : 2 * n_twin]
    sr, jr = order[2 * n_twin : 2 * n_twin + n_jr], order[2 * n_twin + n_jr : 2 * (n_twin + n_jr)]

    _share_household(pop, tw_a, tw_b)
    pop.dob[tw_b] = pop.dob[tw_a]
    # A twin never shares the first name; move to the next name of the same sex if drawn.
    same = pop.first[tw_b] == pop.first[tw_a]
    pool_next = np.roll(np.arange(len(t.first)), -1)
    while same.any():
        pop.first[tw_b[same]] = pool_next[pop.first[tw_b[same]]]
        pop.sex[tw_b[same]] = t.first_sex[pop.first[tw_b[same]]]
        same = pop.first[tw_b] == pop.first[tw_a]
    pop.twin_of[tw_a] = tw_b + 1
    pop.twin_of[tw_b] = tw_a + 1

    male = np.flatnonzero(t.first_sex == 0)
    pop.sex[sr] = 0
    pop.sex[jr] = 0
    pop.first[sr] = np.where(
        t.first_sex[pop.first[sr]] == 0, pop.first[sr], male[rng.integers(0, len(male), n_jr)]
    )
    pop.first[jr] = pop.first[sr]
    keep_middle = rng.random(n_jr) < 0.5
    pop.middle[jr] = np.where(keep_middle, pop.middle[sr], male[rng.integers(0, len(male), n_jr)])
    _share_household(pop, sr, jr)
    sr_age = (48 + 30 * rng.random(n_jr)) * 365.25
    gap = (22 + 8 * rng.random(n_jr)) * 365.25
    pop.dob[sr] = cal.start - sr_age.astype("timedelta64[D]")
    pop.dob[jr] = pop.dob[sr] + gap.astype("timedelta64[D]")
    pop.suffix[sr] = 2
    pop.suffix[jr] = 1
    pop.jr_sr_of[sr] = jr + 1
    pop.jr_sr_of[jr] = sr + 1


def join_blocks(blocks: list[tuple[int, Population]]) -> Population:
    """One population of consecutive blocks, each given with the index of its first person;
    ``twin_of`` and ``jr_sr_of`` become person ids (1 + the person's index overall)."""
    fields = {}
    for f in dataclasses.fields(Population):
        if f.name == "n":
            continue
        parts = [getattr(p, f.name) for _, p in blocks]
        if f.name in ("twin_of", "jr_sr_of"):
            parts = [
                np.where(v > 0, v + first, 0) for (first, _), v in zip(blocks, parts, strict=True)
            ]
        fields[f.name] = np.concatenate(parts)
    return Population(n=sum(p.n for _, p in blocks), **fields)


def load_population(
    con: duckdb.DuckDBPyConnection, pop: Population, t: NameTables, first_id: int = 1
) -> None:
    """Create DuckDB tables ``persons`` (true identity, one row per person) and ``addresses``;
    the first person's id is ``first_id``."""
    nick_lists = [t.nicknames.get(f, []) for f in t.first]
    con.register(
        "first_t",
        pa.table(
            {
                "idx": np.arange(len(t.first)),
                "name": t.first,
                "nicks": pa.array(nick_lists, pa.list_(pa.string())),
            }
        ),
    )
    con.register("sur_t", pa.table({"idx": np.arange(len(t.surname)), "name": t.surname}))
    con.register("sfx_t", pa.table({"idx": np.arange(len(SUFFIXES)), "name": SUFFIXES}))
    con.register("dom_t", pa.table({"idx": np.arange(len(EMAIL_DOMAINS)), "name": EMAIL_DOMAINS}))
    con.register(
        "p_raw",
        pa.table(
            {
                "person_id": np.arange(first_id, first_id + pop.n),
                "sex": pop.sex,
                "first": pop.first,
                "middle": pop.middle,
                "last": pop.last,
                "last_hyphen": pop.last_hyphen,
                "suffix": pop.suffix,
                "dob": pop.dob,
                "ssn": pop.ssn,
                "marry_month": pop.marry_month,
                "married_last": pop.married_last,
                "married_hyphen": pop.married_hyphen,
                "phone": pop.phone,
                "email_style": pop.email_style,
                "email_num": pop.email_num,
                "email_domain": pop.email_domain,
            }
        ),
    )
    con.execute("""
        CREATE OR REPLACE TABLE persons AS
        WITH b AS (
          SELECT p.*, f.name AS first_name, f.nicks, m.name AS middle_name,
                 s.name || coalesce('-' || h.name, '') AS last_name,
                 ml.name AS new_last, nullif(x.name, '') AS name_suffix, d.name AS domain
          FROM p_raw p JOIN first_t f ON f.idx = p.first
          LEFT JOIN first_t m ON m.idx = p.middle
          JOIN sur_t s ON s.idx = p.last LEFT JOIN sur_t h ON h.idx = p.last_hyphen
          JOIN sur_t ml ON ml.idx = p.married_last JOIN sfx_t x ON x.idx = p.suffix
          JOIN dom_t d ON d.idx = p.email_domain)
        SELECT person_id, sex, first_name, nicks, middle_name, last_name, name_suffix, dob,
               lpad(ssn::VARCHAR, 9, '0') AS ssn,
               CASE WHEN marry_month < 10000 THEN marry_month END AS marry_month,
               CASE WHEN marry_month < 10000 THEN
                 CASE WHEN married_hyphen THEN last_name || '-' || new_last ELSE new_last END
               END AS married_name,
               CASE WHEN marry_month < 10000 THEN new_last END AS married_plain,
               phone::VARCHAR AS phone,
               (CASE email_style
                  WHEN 0 THEN lf || '.' || ll WHEN 1 THEN lf || ll
                  WHEN 2 THEN left(lf, 1) || ll WHEN 3 THEN lf || '_' || ll
                  WHEN 4 THEN lf || '.' || ll || email_num::VARCHAR
                  ELSE lf || left(ll, 1) || email_num::VARCHAR END) || '@' || domain AS email
        FROM (SELECT *, regexp_replace(lower(strip_accents(first_name)), '[^a-z]', '', 'g') AS lf,
                        regexp_replace(lower(strip_accents(last_name)), '[^a-z]', '', 'g') AS ll
              FROM b)
        ORDER BY person_id
    """)
    n = pop.n
    k = np.tile(np.arange(3), n)
    types_abbr = [s[0] for s in STREET_TYPES]
    types_full = [s[1] for s in STREET_TYPES]
    con.register(
        "a_raw",
        pa.table(
            {
                "person_id": np.repeat(np.arange(first_id, first_id + n), 3),
                "k": k,
                "house": pop.house.ravel(),
                "street": pop.street.ravel(),
                "stype": pop.street_type.ravel(),
                "unit": pop.unit.ravel(),
                "city": pop.city.ravel(),
                "zip": pop.zip.ravel(),
            }
        ),
    )
    con.register("street_t", pa.table({"idx": np.arange(len(t.streets)), "name": t.streets}))
    con.register(
        "stype_t",
        pa.table({"idx": np.arange(len(STREET_TYPES)), "abbr": types_abbr, "full": types_full}),
    )
    con.register(
        "city_t",
        pa.table(
            {
                "idx": np.arange(len(t.cities)),
                "name": [c[0] for c in t.cities],
                "state": [c[1] for c in t.cities],
            }
        ),
    )
    con.execute("""
        CREATE OR REPLACE TABLE addresses AS
        SELECT a.person_id, a.k, a.house::VARCHAR AS house, s.name AS street_name,
               st.abbr AS type_abbr, st.full AS type_full,
               CASE WHEN a.unit > 0 THEN 'Apt ' || a.unit::VARCHAR END AS unit,
               c.name AS city, c.state AS state, lpad(a.zip::VARCHAR, 5, '0') AS zip
        FROM a_raw a JOIN street_t s ON s.idx = a.street JOIN stype_t st ON st.idx = a.stype
        JOIN city_t c ON c.idx = a.city
        ORDER BY a.person_id, a.k
    """)
