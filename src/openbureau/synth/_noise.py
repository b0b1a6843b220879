"""Identity noise: how a furnisher's copy of a person differs from the truth.

Noise is drawn mostly once per (person, furnisher account) -- a bank keeps the typo it made at
onboarding -- plus a little per row (a field left empty this month). The draws are numpy
columns on the row table; the SQL in ``IDENTITY_VIEW`` applies them to the true identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np


@dataclass(frozen=True)
class NoiseProfile:
    """Chances of each kind of identity noise for one feed."""

    nickname: float = 0.08
    typo: float = 0.03  # per name field: substitution, transposition or dropped letter
    dob_swap: float = 0.015  # day and month exchanged
    middle: tuple[float, float, float] = (0.5, 0.4, 0.1)  # full middle name, initial, none
    suffix_drop: float = 0.3
    id_missing: float = 0.02
    id_typo: float = 0.01
    upper: float = 0.0
    lower: float = 0.0
    strip_accents: float = 0.0
    stale_surname: float = 0.2  # the furnisher never heard of the marriage
    drop_hyphen: float = 0.3  # a hyphenated married name written as the new surname only
    long_street_type: float = 0.3  # "Street" instead of "St"
    row_missing: float = 0.02  # per row: middle name, DOB or ZIP left empty


def draw_source_noise(rng: np.random.Generator, n: int, p: NoiseProfile) -> dict[str, np.ndarray]:
    """Noise fixed for the life of one furnisher account (or contract, lease, case...)."""
    u = rng.random((n, 12))
    case = np.where(u[:, 0] < p.upper, 1, np.where(u[:, 0] < p.upper + p.lower, 2, 0))
    middle = np.where(u[:, 1] < p.middle[0], 0, np.where(u[:, 1] < p.middle[0] + p.middle[1], 1, 2))
    typo_kind = rng.integers(1, 4, (n, 2))
    return {
        "nick": np.where(u[:, 2] < p.nickname, rng.integers(0, 60, n), -1),
        "typo_f": np.where(u[:, 3] < p.typo, typo_kind[:, 0], 0),
        "typo_l": np.where(u[:, 4] < p.typo, typo_kind[:, 1], 0),
        "typo_u": rng.random(n),
        "typo_c": rng.integers(0, 26, n),
        "dob_swap": u[:, 5] < p.dob_swap,
        "middle_mode": middle,
        "suffix_drop": u[:, 6] < p.suffix_drop,
        "id_missing": u[:, 7] < p.id_missing,
        "id_typo": np.where(u[:, 8] < p.id_typo, rng.integers(0, 9, n), -1),
        "case_mode": case,
        "strip": u[:, 9] < p.strip_accents,
        "stale_name": u[:, 10] < p.stale_surname,
        "drop_hyphen": u[:, 11] < p.drop_hyphen,
        "long_type": rng.random(n) < p.long_street_type,
    }


def draw_row_noise(rng: np.random.Generator, n: int, p: NoiseProfile) -> np.ndarray:
    """Per-row missing field: 0 none, 1 middle name, 2 date of birth, 3 ZIP."""
    return np.where(rng.random(n) < p.row_missing, rng.integers(1, 4, n), 0).astype(np.int8)


MACROS = r"""
CREATE OR REPLACE MACRO ob_pos(s, u) AS (1 + floor(u * (length(s) - 2)))::BIGINT;
CREATE OR REPLACE MACRO ob_typo(s, kind, u, c) AS CASE
  WHEN s IS NULL OR kind = 0 OR length(s) < 4 THEN s
  WHEN kind = 1 THEN left(s, ob_pos(s, u)) || chr((97 + c)::INTEGER) || substr(s, ob_pos(s, u) + 2)
  WHEN kind = 2 THEN left(s, ob_pos(s, u)) || substr(s, ob_pos(s, u) + 2, 1)
                     || substr(s, ob_pos(s, u) + 1, 1) || substr(s, ob_pos(s, u) + 3)
  ELSE left(s, ob_pos(s, u)) || substr(s, ob_pos(s, u) + 2) END;
CREATE OR REPLACE MACRO ob_case(s, mode, strip) AS CASE mode
  WHEN 1 THEN upper(CASE WHEN strip THEN strip_accents(s) ELSE s END)
  WHEN 2 THEN lower(CASE WHEN strip THEN strip_accents(s) ELSE s END)
  ELSE CASE WHEN strip THEN strip_accents(s) ELSE s END END;
CREATE OR REPLACE MACRO ob_digit(s, pos, d) AS left(s, pos) || d::VARCHAR || substr(s, pos + 2);
CREATE OR REPLACE MACRO ob_csv(s, delim) AS CASE
  WHEN contains(s, delim) OR contains(s, '"') THEN '"' || replace(s, '"', '""') || '"'
  ELSE s END;
"""


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    for stmt in MACROS.split(";"):
        if stmt.strip():
            con.execute(stmt)


# The furnisher's view of the person behind each row of table {rows}. Name and address
# strings carry the feed's casing and accent handling; feeds format dates and ids themselves.
IDENTITY_VIEW = """
SELECT r.*, p.sex, p.phone, p.email,
  ob_case(ob_typo(CASE WHEN r.nick >= 0 AND len(p.nicks) > 0
                       THEN p.nicks[1 + r.nick % len(p.nicks)] ELSE p.first_name END,
                  r.typo_f, r.typo_u, r.typo_c), r.case_mode, r.strip) AS first_name,
  ob_case(CASE WHEN r.rmiss = 1 OR r.middle_mode = 2 THEN NULL
               WHEN r.middle_mode = 1 THEN left(p.middle_name, 1) ELSE p.middle_name END,
          r.case_mode, r.strip) AS middle_name,
  ob_case(ob_typo(CASE WHEN r.married AND NOT r.stale_name
                       THEN CASE WHEN r.drop_hyphen THEN p.married_plain ELSE p.married_name END
                       ELSE p.last_name END,
                  r.typo_l, 1 - r.typo_u, r.typo_c), r.case_mode, r.strip) AS last_name,
  CASE WHEN r.suffix_drop THEN NULL ELSE ob_case(p.name_suffix, r.case_mode, false) END
    AS name_suffix,
  CASE WHEN r.rmiss = 2 THEN NULL
       WHEN r.dob_swap AND day(p.dob) <= 12 THEN make_date(year(p.dob), day(p.dob), month(p.dob))
       ELSE p.dob END AS dob,
  CASE WHEN r.id_missing THEN NULL
       WHEN r.id_typo >= 0 THEN ob_digit(p.ssn, r.id_typo, r.typo_c % 10) ELSE p.ssn END AS ssn,
  a.house || ' ' || ob_case(a.street_name || ' '
    || CASE WHEN r.long_type THEN a.type_full ELSE a.type_abbr END, r.case_mode, r.strip) AS street,
  ob_case(a.unit, r.case_mode, false) AS unit,
  ob_case(a.city, r.case_mode, r.strip) AS city, a.state,
  CASE WHEN r.rmiss = 3 THEN NULL ELSE a.zip END AS zip
FROM {rows} r JOIN persons p ON p.person_id = r.person_id
JOIN addresses a ON a.person_id = r.person_id AND a.k = r.slot
"""
