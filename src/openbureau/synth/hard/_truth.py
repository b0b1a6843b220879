"""The hard generator's answer key: the same files as ``openbureau synth`` writes, plus who
carries which difficulty.

``persons.parquet`` has every column the standard generator's has (so scoring, fairness and
lookup tests read it unchanged), and ``household_id``, ``household_role``, ``name_origin``,
``namesake_of`` and ``difficulties`` (the person's own, as a list of names). ``records.parquet``
adds ``difficulties`` to feed, file, line_no, person_id and seq: the person's and the record's
own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from openbureau.synth._config import Calendar
from openbureau.synth._layout import to_arrow
from openbureau.synth._population import NEVER
from openbureau.synth._protected import (
    AGE_BANDS,
    ETHNICITIES,
    NATIONAL_ORIGINS,
    POLITICAL_ENGAGEMENT,
    _age_bands,
)
from openbureau.synth._risk import Risk
from openbureau.synth.hard._households import CHILD, ROLES, SON, TWIN
from openbureau.synth.hard._lists import ORIGINS
from openbureau.synth.hard._people import HardPopulation
from openbureau.synth.hard._rates import TAGS

# Ethnicity (white, hispanic, black, asian, other) by name origin, and the share born abroad
# (a third of it for grown children living with their parents): names say something of
# both, as they do in real files, without deciding them.
ETHNICITY_BY_ORIGIN = np.array(
    [
        [0.74, 0.02, 0.20, 0.01, 0.03],  # anglo
        [0.05, 0.93, 0.01, 0.00, 0.01],  # hispanic
        [0.96, 0.00, 0.00, 0.00, 0.04],  # european
        [0.00, 0.00, 0.97, 0.00, 0.03],  # african
        [0.00, 0.00, 0.00, 0.97, 0.03],  # east_asian
        [0.97, 0.00, 0.00, 0.00, 0.03],  # slavic
        [0.30, 0.00, 0.02, 0.03, 0.65],  # arabic
        [0.00, 0.00, 0.00, 0.95, 0.05],  # south_asian
    ]
)
FOREIGN_BORN_BY_ORIGIN = np.array([0.04, 0.35, 0.30, 0.60, 0.55, 0.50, 0.50, 0.60])
ENGAGED_SHARE = 0.4


def draw_protected(
    rng: np.random.Generator, pop: HardPopulation, cal: Calendar
) -> dict[str, np.ndarray]:
    """Sex, age band, ethnicity, national origin and political engagement, as strings."""
    n = pop.n
    k = len(pop.hh.origin)
    cum = np.cumsum(ETHNICITY_BY_ORIGIN, axis=1)
    per_household = (rng.random(k)[:, None] > cum[pop.hh.origin]).sum(axis=1)
    ethnicity = np.minimum(per_household[pop.household], len(ETHNICITIES) - 1)
    born_here = np.isin(pop.role, (CHILD, SON, TWIN))
    abroad = FOREIGN_BORN_BY_ORIGIN[pop.origin] * np.where(born_here, 1 / 3, 1)
    foreign = rng.random(n) < abroad
    engaged = rng.random(n) < ENGAGED_SHARE
    return {
        "sex": np.where(pop.female, "female", "male").astype(object),
        "age_band": np.array(AGE_BANDS, dtype=object)[_age_bands(pop.dob, cal.as_of)],
        "ethnicity": np.array(ETHNICITIES, dtype=object)[ethnicity],
        "national_origin": np.array(NATIONAL_ORIGINS, dtype=object)[foreign.astype(np.int8)],
        "political_engagement": np.array(POLITICAL_ENGAGEMENT, dtype=object)[
            (~engaged).astype(np.int8)
        ],
    }


def write_persons(
    con: duckdb.DuckDBPyConnection,
    pop: HardPopulation,
    risk: Risk,
    flags: dict[str, np.ndarray],
    protected: dict[str, np.ndarray],
    tags: np.ndarray,
    cal: Calendar,
    path: Path,
) -> None:
    """persons.parquet (see the module docstring)."""
    month_start = cal.month_start
    moves = np.where(pop.moves < NEVER, pop.moves, 0)
    n_addr = 1 + (pop.moves < NEVER).sum(axis=1)
    nat = np.datetime64("NaT", "D")
    d = risk.default_month
    con.register(
        "hg_truth",
        to_arrow(
            {
                "person_id": np.arange(1, pop.n + 1),
                "dob": pop.dob,
                "latent_risk": risk.z,
                "monthly_hazard": risk.hazard,
                "pd_12m": risk.pd_12m,
                "default_12m": risk.default_12m,
                "defaulted_before_as_of": risk.defaulted_before_as_of,
                "default_month": np.where(
                    d < NEVER, month_start[np.minimum(d, cal.months - 1)], nat
                ),
                "n_addresses": n_addr,
                "move_1": np.where(n_addr > 1, month_start[moves[:, 0]], nat),
                "move_2": np.where(n_addr > 2, month_start[moves[:, 1]], nat),
                "name_change_date": np.where(
                    pop.marry_month < NEVER,
                    month_start[np.minimum(pop.marry_month, cal.months)],
                    nat,
                ),
                **flags,
                "twin_of": np.where(pop.twin_of > 0, pop.twin_of, np.nan),
                "jr_sr_of": np.where(pop.jr_sr_of > 0, pop.jr_sr_of, np.nan),
                "namesake_of": np.where(pop.namesake_of > 0, pop.namesake_of, np.nan),
                "household_id": pop.household + 1,
                "household_role": np.array(ROLES, dtype=object)[pop.role],
                "name_origin": np.array(ORIGINS, dtype=object)[pop.origin],
                **{f"protected_{k}": v for k, v in protected.items()},
            }
        ),
    )
    con.register(
        "hg_truth_tags",
        pa.table({"person_id": np.arange(1, pop.n + 1), "difficulties": tag_lists(tags)}),
    )
    more = "".join(f", t.protected_{k} AS {k}" for k in protected if k != "sex")
    table = con.sql(f"""
        WITH addr AS (
          SELECT t.person_id, list({{
              line1: a.house || ' ' || coalesce(a.predir || ' ', '') || a.street_name || ' '
                     || a.type_abbr,
              unit: CASE WHEN a.unit_no IS NOT NULL THEN 'Apt ' || a.unit_no END,
              city: a.town, state: a.state, zip: a.zip,
              moved_in: CASE a.k WHEN 0 THEN NULL WHEN 1 THEN t.move_1 ELSE t.move_2 END}}
              ORDER BY a.k) AS addresses
          FROM hg_truth t JOIN hg_persons p USING (person_id)
          JOIN hg_addresses a ON a.household = p.household AND a.k < t.n_addresses
          GROUP BY t.person_id)
        SELECT p.person_id, p.given_name AS first_name, p.middle_name,
               p.birth_name AS last_name, p.name_suffix, t.dob, p.ssn,
               t.protected_sex AS sex,
               CASE WHEN t.name_change_date IS NOT NULL THEN
                 CASE WHEN p.married_hyphen THEN p.birth_name || '-' || p.new_name
                      ELSE p.new_name END END AS married_name,
               t.name_change_date, p.phone, p.email, addr.addresses, t.latent_risk,
               t.monthly_hazard, t.pd_12m, t.default_12m, t.defaulted_before_as_of,
               t.default_month, t.has_tradeline, t.has_alternative_data, t.has_any_record,
               t.consents_alternative_data, t.twin_of::BIGINT AS twin_of,
               t.jr_sr_of::BIGINT AS jr_sr_of{more},
               t.household_id, t.household_role, t.name_origin,
               t.namesake_of::BIGINT AS namesake_of, tt.difficulties
        FROM hg_persons p JOIN hg_truth t USING (person_id) JOIN addr USING (person_id)
        JOIN hg_truth_tags tt USING (person_id)
        ORDER BY p.person_id
    """).to_arrow_table()
    pq.write_table(table, path, compression="zstd")


def tag_lists(tags: np.ndarray, chunk: int = 1 << 20) -> pa.Array:
    """The difficulty names set in each bit mask of ``tags``, as a list<string> array (numpy,
    a chunk of rows at a time: a row's names come out in bit order, so nothing is sorted)."""
    bits = np.arange(len(TAGS), dtype=np.int64)
    idx, counts = [], []
    for lo in range(0, len(tags), chunk):
        on = ((tags[lo : lo + chunk, None] >> bits) & 1).astype(bool)
        idx.append(np.nonzero(on)[1].astype(np.int8))
        counts.append(on.sum(axis=1))
    flat = np.concatenate(idx) if idx else np.zeros(0, np.int8)
    offsets = np.r_[0, np.cumsum(np.concatenate(counts) if counts else [])].astype(np.int32)
    names = pa.DictionaryArray.from_arrays(pa.array(flat), pa.array(TAGS)).cast(pa.string())
    return pa.ListArray.from_arrays(pa.array(offsets), names)


def _constant(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value]))


def write_records(parts: list[dict[str, Any]], path: Path) -> None:
    """records.parquet: feed, file, line_no, person_id, seq (0, or 1 for a Metro 2 record's
    joint holder) and difficulties of every consumer of every data row."""
    tables = [
        pa.table(
            {
                "feed": _constant(str(p["feed"]), len(p["line_no"])),
                "file": _constant(str(p["file"]), len(p["line_no"])),
                "line_no": pa.array(p["line_no"], pa.int64()),
                "person_id": pa.array(p["person_id"], pa.int64()),
                "seq": pa.array(p.get("seq", np.zeros(len(p["line_no"]), np.int64)), pa.int64()),
                "difficulties": tag_lists(np.asarray(p["tags"], np.int64)),
            }
        )
        for p in parts
    ]
    pq.write_table(pa.concat_tables(tables), path, compression="zstd")
