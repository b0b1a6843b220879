"""The hard population in DuckDB, and the view that writes a furnisher's copy of each person.

``load_people`` creates ``hg_persons`` (one row per person: true names as strings, their other
spellings and nicknames, national ids, phone, email) and ``hg_addresses`` (three address slots
per household). ``IDENTITY_VIEW`` applies a row's noise columns (``_noise``) to them, giving the
columns the feed layouts read: first_name, middle_name, last_name, name_suffix, dob, ssn, sex,
phone, email, street, unit, city, state, zip.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from openbureau.synth.hard._households import DIRECTIONS, STREET_TYPES
from openbureau.synth.hard._lists import FAMILY_FIRST, ORIGINS, Lists
from openbureau.synth.hard._people import EMAIL_DOMAINS, SUFFIXES, HardPopulation

# Keys next to each letter a..z on a QWERTY keyboard, for typing slips.
NEIGHBOURS = (
    "qwsz",
    "vghn",
    "xdfv",
    "serfcx",
    "wsdr",
    "drtgvc",
    "ftyhbv",
    "gyujnb",
    "ujko",
    "huikmn",
    "jiolm",
    "kop",
    "njk",
    "bhjm",
    "iklp",
    "ol",
    "wa",
    "edft",
    "awedxz",
    "rfgy",
    "yhji",
    "cfgb",
    "qase",
    "zsdc",
    "tugh",
    "asx",
)
DIRECTION_WORDS = ("North", "South", "East", "West")

MACROS = f"""
CREATE OR REPLACE MACRO hg_at(s, u) AS (1 + floor(u * length(s)))::BIGINT;
CREATE OR REPLACE MACRO hg_key(c, v) AS substr({list(NEIGHBOURS)}[ascii(lower(c)) - 96],
  (1 + floor(v * length({list(NEIGHBOURS)}[ascii(lower(c)) - 96])))::BIGINT, 1);
CREATE OR REPLACE MACRO hg_like(c, x) AS CASE WHEN c = upper(c) THEN upper(x) ELSE x END;
CREATE OR REPLACE MACRO hg_typo(s, kind, u, v) AS CASE
  WHEN s IS NULL OR kind = 0 OR length(s) < 2 THEN s
  WHEN kind = 1 AND regexp_full_match(substr(s, hg_at(s, u), 1), '[A-Za-z]') THEN
    left(s, hg_at(s, u) - 1) || hg_like(substr(s, hg_at(s, u), 1), hg_key(substr(s, hg_at(s, u),
      1), v)) || substr(s, hg_at(s, u) + 1)
  WHEN kind = 2 AND length(s) >= 3 THEN left(s, hg_at(s, u) - 1) || substr(s, hg_at(s, u) + 1)
  ELSE left(s, hg_at(s, u)) || substr(s, hg_at(s, u), 1) || substr(s, hg_at(s, u) + 1) END;
CREATE OR REPLACE MACRO hg_fold(s, strip) AS CASE WHEN strip THEN strip_accents(s) ELSE s END;
CREATE OR REPLACE MACRO hg_case(s, mode, strip) AS CASE mode
  WHEN 1 THEN upper(hg_fold(s, strip)) WHEN 2 THEN lower(hg_fold(s, strip))
  ELSE hg_fold(s, strip) END;
CREATE OR REPLACE MACRO hg_pick(s, alts, i) AS
  CASE WHEN i >= 0 AND len(alts) > 0 THEN alts[1 + i % len(alts)] ELSE s END;
CREATE OR REPLACE MACRO hg_ascii(s) AS regexp_replace(lower(strip_accents(s)), '[^a-z]', '', 'g');
"""


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    for stmt in MACROS.split(";"):
        if stmt.strip():
            con.execute(stmt)


def _strings(values: list[list[str]]) -> pa.Array:
    return pa.array(values, pa.list_(pa.string()))


def load_people(con: duckdb.DuckDBPyConnection, pop: HardPopulation, t: Lists) -> None:
    """Create ``hg_persons`` and ``hg_addresses`` from the population's index columns."""
    con.register(
        "hg_given",
        pa.table(
            {
                "idx": np.arange(len(t.given)),
                "name": t.given,
                "alts": _strings(t.given_alts),
                "nicks": _strings(t.given_nicks),
            }
        ),
    )
    con.register(
        "hg_surname",
        pa.table(
            {
                "idx": np.arange(len(t.surname)),
                "name": t.surname,
                "alts": _strings(t.surname_alts),
                "female": t.surname_female,
                "female_alts": _strings(t.surname_female_alts),
            }
        ),
    )
    hispanic = ORIGINS.index("hispanic")
    family_first = np.isin(pop.origin, [ORIGINS.index(o) for o in FAMILY_FIRST])
    con.register(
        "hg_raw",
        pa.table(
            {
                "person_id": np.arange(1, pop.n + 1),
                "household": pop.household,
                "female": pop.female,
                "given": pop.given,
                "middle": pop.middle,
                "fam1": pop.fam1,
                "fam2": pop.fam2,
                "joiner": np.where(pop.origin == hispanic, " ", "-"),
                "family_first": family_first,
                "suffix": np.array(SUFFIXES, dtype=object)[pop.suffix],
                "ssn": pop.ssn,
                "other_ssn": pop.other_ssn,
                "phone": pop.phone,
                "email_owner": pop.email_owner + 1,
                "email_style": pop.email_style,
                "email_num": pop.email_num,
                "email_domain": np.array(EMAIL_DOMAINS, dtype=object)[pop.email_domain],
                "birth_year": pop.dob.astype("datetime64[Y]").astype(np.int64) + 1970,
                "new_fam": pop.new_fam,
                "married_hyphen": pop.married_hyphen,
            }
        ),
    )
    con.execute("""
        CREATE OR REPLACE TABLE hg_persons AS
        WITH b AS (
          SELECT r.*, g.name AS given_name, g.alts AS given_alts, g.nicks,
                 m.name AS middle_name, nullif(r.suffix, '') AS name_suffix,
                 CASE WHEN r.female THEN s1.female ELSE s1.name END AS fam1_name,
                 CASE WHEN r.female THEN s1.female_alts ELSE s1.alts END AS fam1_alts,
                 CASE WHEN r.female THEN s2.female ELSE s2.name END AS fam2_name,
                 CASE WHEN r.female THEN sn.female ELSE sn.name END AS new_name,
                 CASE WHEN r.female THEN sn.female_alts ELSE sn.alts END AS new_alts
          FROM hg_raw r JOIN hg_given g ON g.idx = r.given
          LEFT JOIN hg_given m ON m.idx = r.middle
          JOIN hg_surname s1 ON s1.idx = r.fam1 LEFT JOIN hg_surname s2 ON s2.idx = r.fam2
          LEFT JOIN hg_surname sn ON sn.idx = r.new_fam),
        e AS (
          SELECT *, fam1_name || coalesce(joiner || fam2_name, '') AS birth_name,
                 hg_ascii(given_name) AS lf, hg_ascii(fam1_name || coalesce(fam2_name, '')) AS ll
          FROM b),
        own AS (
          SELECT *, (CASE email_style
              WHEN 0 THEN lf || '.' || ll WHEN 1 THEN lf || ll WHEN 2 THEN left(lf, 1) || ll
              WHEN 3 THEN lf || '_' || ll WHEN 4 THEN lf || '.' || ll || email_num::VARCHAR
              WHEN 5 THEN lf || right(birth_year::VARCHAR, 2) WHEN 6 THEN ll || '.' || lf
              ELSE lf || left(ll, 1) || email_num::VARCHAR END) || '@' || email_domain
              AS own_email
          FROM e)
        SELECT p.person_id, p.household, p.female, p.given_name, p.given_alts, p.nicks,
               p.middle_name, p.fam1_name, p.fam1_alts, p.fam2_name, p.joiner, p.birth_name,
               p.new_name, p.new_alts, p.married_hyphen, p.family_first, p.name_suffix,
               lpad(p.ssn::VARCHAR, 9, '0') AS ssn, p.phone::VARCHAR AS phone,
               o.own_email AS email
        FROM own p JOIN own o ON o.person_id = p.email_owner
        ORDER BY p.person_id
    """)
    h = pop.hh
    k = len(h.origin)
    slots = np.tile(np.arange(3), k)
    con.register(
        "hg_addr_raw",
        pa.table(
            {
                "household": np.repeat(np.arange(k), 3),
                "k": slots,
                "house": h.house.ravel(),
                "predir": h.predir.ravel(),
                "street": h.street.ravel(),
                "stype": h.street_type.ravel(),
                "unit": h.unit.ravel(),
                "town": h.town.ravel(),
                "zip": h.zip.ravel(),
            }
        ),
    )
    con.register(
        "hg_streets",
        pa.table(
            {"idx": np.arange(len(t.streets)), "name": t.streets, "alts": _strings(t.street_alts)}
        ),
    )
    con.register(
        "hg_towns",
        pa.table(
            {
                "idx": np.arange(len(t.towns)),
                "name": t.towns,
                "alts": _strings(t.town_alts),
                "state": t.town_state,
            }
        ),
    )
    con.register(
        "hg_types",
        pa.table(
            {
                "idx": np.arange(len(STREET_TYPES)),
                "abbr": [s[0] for s in STREET_TYPES],
                "full": [s[1] for s in STREET_TYPES],
            }
        ),
    )
    con.register(
        "hg_dirs",
        pa.table({"idx": np.arange(4), "abbr": list(DIRECTIONS), "full": list(DIRECTION_WORDS)}),
    )
    con.execute("""
        CREATE OR REPLACE TABLE hg_addresses AS
        SELECT a.household, a.k, a.house::VARCHAR AS house, d.abbr AS predir,
               d.full AS predir_full, s.name AS street_name, s.alts AS street_alts,
               ty.abbr AS type_abbr, ty.full AS type_full,
               CASE WHEN a.unit > 0 THEN a.unit::VARCHAR END AS unit_no,
               t.name AS town, t.alts AS town_alts, t.state, lpad(a.zip::VARCHAR, 5, '0') AS zip
        FROM hg_addr_raw a JOIN hg_streets s ON s.idx = a.street
        JOIN hg_types ty ON ty.idx = a.stype JOIN hg_towns t ON t.idx = a.town
        LEFT JOIN hg_dirs d ON d.idx = a.predir
        ORDER BY a.household, a.k
    """)


# The furnisher's copy of the person behind each row of table {rows} (see the module docstring).
IDENTITY_VIEW = """
WITH v AS (
  SELECT r.*, p.female, p.phone, p.email, p.middle_name AS hv_middle, p.name_suffix AS hv_sfx,
    CASE WHEN r.hn_nick >= 0 AND len(p.nicks) > 0 THEN p.nicks[1 + r.hn_nick % len(p.nicks)]
         ELSE hg_pick(p.given_name, p.given_alts, r.hn_gvar) END AS hv_given,
    CASE WHEN r.hn_after AND NOT p.married_hyphen THEN hg_pick(p.new_name, p.new_alts, r.hn_fvar)
         WHEN r.hn_after THEN hg_pick(p.fam1_name, p.fam1_alts, r.hn_fvar)
                              || coalesce(p.joiner || p.fam2_name, '')
         ELSE hg_pick(p.fam1_name, p.fam1_alts, r.hn_fvar) END AS hv_a,
    CASE WHEN r.hn_after THEN CASE WHEN p.married_hyphen THEN p.new_name END
         ELSE p.fam2_name END AS hv_b,
    CASE WHEN r.hn_after THEN '-' ELSE p.joiner END AS hv_join,
    a.house AS hv_house, a.predir, a.predir_full, a.street_name, a.street_alts, a.type_abbr,
    a.type_full, a.unit_no, a.town, a.town_alts, a.state AS hv_state, a.zip AS hv_zip
  FROM {rows} r JOIN hg_persons p ON p.person_id = r.person_id
  JOIN hg_addresses a ON a.household = p.household AND a.k = r.slot),
f AS (
  SELECT *,
    hg_typo(hv_given, hn_typo_f, hn_tu, hn_tv) AS hv_g,
    hg_typo(CASE WHEN hv_b IS NULL THEN hv_a ELSE CASE hn_hform
              WHEN 0 THEN hv_a || hv_join || hv_b
              WHEN 1 THEN hv_a || CASE hv_join WHEN '-' THEN ' ' ELSE '-' END || hv_b
              WHEN 2 THEN hv_a WHEN 3 THEN hv_a || hv_b ELSE hv_b END END,
            hn_typo_l, hn_tu, hn_tv) AS hv_f
  FROM v)
SELECT f.*, CASE WHEN female THEN 1 ELSE 0 END AS sex,
  hg_case(CASE WHEN hn_swap THEN hv_f ELSE hv_g END, hn_case, hn_strip) AS first_name,
  hg_case(CASE hn_mid WHEN 0 THEN hv_middle WHEN 1 THEN left(hv_middle, 1) END, hn_case, hn_strip)
    AS middle_name,
  hg_case(CASE WHEN hn_swap THEN hv_g ELSE hv_f END
          || CASE WHEN hn_sfx = 3 AND hv_sfx IS NOT NULL THEN ' ' || hv_sfx ELSE '' END,
          hn_case, hn_strip) AS last_name,
  hg_case(CASE hn_sfx WHEN 1 THEN hv_sfx
               WHEN 2 THEN hv_sfx || CASE WHEN hv_sfx IN ('Jr', 'Sr') THEN '.' ELSE '' END END,
          hn_case, false) AS name_suffix,
  hn_dob AS dob,
  CASE WHEN hn_ssn >= 0 THEN lpad(hn_ssn::VARCHAR, 9, '0') END AS ssn,
  hv_house || ' ' || hg_case(
      coalesce(CASE WHEN hn_addr AND hn_av < 0.5 THEN predir_full ELSE predir END || ' ', '')
      || CASE WHEN hn_addr AND hn_av < 0.7 THEN hg_pick(street_name, street_alts,
                                                        floor(hn_av * 1000)::BIGINT)
              ELSE street_name END
      || ' ' || CASE WHEN NOT hn_addr THEN type_abbr WHEN hn_av < 0.85 THEN type_full
                     ELSE type_abbr || '.' END, hn_case, hn_strip) AS street,
  hg_case(CASE WHEN unit_no IS NULL OR hn_nounit THEN NULL
               WHEN NOT hn_addr THEN 'Apt ' || unit_no WHEN hn_av < 0.4 THEN '#' || unit_no
               WHEN hn_av < 0.7 THEN 'Unit ' || unit_no ELSE 'Apt. ' || unit_no END,
          hn_case, false) AS unit,
  hg_case(CASE WHEN hn_addr AND hn_av >= 0.3 THEN hg_pick(town, town_alts,
                                                         floor(hn_av * 1000)::BIGINT)
               ELSE town END, hn_case, hn_strip) AS city,
  hv_state AS state,
  CASE WHEN hn_nozip THEN NULL ELSE hv_zip END AS zip
FROM f
"""
