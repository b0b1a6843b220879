"""The answer key: who every person really is, and which person is behind every file row."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from openbureau.synth._config import GENERATOR_VERSION, Calendar, SynthConfig
from openbureau.synth._layout import ParquetAppender, to_arrow
from openbureau.synth._population import NEVER, Population
from openbureau.synth._risk import MODEL_PARAMETERS, Risk


def persons_table(
    con: duckdb.DuckDBPyConnection,
    pop: Population,
    risk: Risk,
    flags: dict[str, np.ndarray],
    protected: dict[str, np.ndarray],
    cal: Calendar,
    first_id: int = 1,
) -> pa.Table:
    """persons.parquet's rows of the persons in DuckDB's ``persons`` (ids from ``first_id``):
    true identity, address history, latent risk and outcome per person, and the protected
    attributes a fairness audit compares groups by (``protected``, as strings; ``sex`` there
    replaces the generator's 0/1)."""
    month_start = cal.month_start
    moves = np.where(pop.moves < NEVER, pop.moves, 0)
    d = risk.default_month
    n_addr = 1 + (pop.moves < NEVER).sum(axis=1)
    con.register(
        "truth_raw",
        to_arrow(
            {
                "person_id": np.arange(first_id, first_id + pop.n),
                "latent_risk": risk.z,
                "monthly_hazard": risk.hazard,
                "pd_12m": risk.pd_12m,
                "default_12m": risk.default_12m,
                "defaulted_before_as_of": risk.defaulted_before_as_of,
                "default_month": np.where(
                    d < NEVER, month_start[np.minimum(d, cal.months - 1)], np.datetime64("NaT", "D")
                ),
                "n_addresses": n_addr,
                "move_1": np.where(n_addr > 1, month_start[moves[:, 0]], np.datetime64("NaT", "D")),
                "move_2": np.where(n_addr > 2, month_start[moves[:, 1]], np.datetime64("NaT", "D")),
                **flags,
                "twin_of": np.where(pop.twin_of > 0, pop.twin_of, np.nan),
                "jr_sr_of": np.where(pop.jr_sr_of > 0, pop.jr_sr_of, np.nan),
                **{f"protected_{k}": v for k, v in protected.items()},
            }
        ),
    )
    con.register("month_t", pa.table({"m": np.arange(cal.months + 1), "d": month_start}))
    more_protected = "".join(f", t.protected_{k} AS {k}" for k in protected if k != "sex")
    table = con.sql(f"""
        WITH addr AS (
          SELECT a.person_id, list({{line1: a.house || ' ' || a.street_name || ' ' || a.type_abbr,
                                   unit: a.unit, city: a.city, state: a.state, zip: a.zip,
                                   moved_in: CASE a.k WHEN 0 THEN NULL WHEN 1 THEN t.move_1
                                             ELSE t.move_2 END}} ORDER BY a.k) AS addresses
          FROM addresses a JOIN truth_raw t ON t.person_id = a.person_id
          WHERE a.k < t.n_addresses GROUP BY a.person_id)
        SELECT p.person_id, p.first_name, p.middle_name, p.last_name, p.name_suffix, p.dob,
               p.ssn, t.protected_sex AS sex, p.married_name, m.d AS name_change_date,
               p.phone, p.email,
               addr.addresses, t.latent_risk, t.monthly_hazard, t.pd_12m, t.default_12m,
               t.defaulted_before_as_of, t.default_month, t.has_tradeline,
               t.has_alternative_data, t.has_any_record, t.consents_alternative_data,
               t.twin_of::BIGINT AS twin_of, t.jr_sr_of::BIGINT AS jr_sr_of{more_protected}
        FROM persons p JOIN truth_raw t USING (person_id) JOIN addr USING (person_id)
        LEFT JOIN month_t m ON m.m = p.marry_month
        ORDER BY p.person_id
    """).to_arrow_table()
    con.unregister("truth_raw")
    con.unregister("month_t")
    return table


def _constant(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value]))


def records_table(p: dict[str, Any]) -> pa.Table:
    """records.parquet's rows of one part of a feed: feed, file, line_no, person_id and seq
    for every consumer of every data row: ``seq`` 0 the row's consumer, 1, 2... a Metro 2
    record's associated consumers (joint holders) in the order of its segments."""
    return pa.table(
        {
            "feed": _constant(str(p["feed"]), len(p["line_no"])),
            "file": _constant(str(p["file"]), len(p["line_no"])),
            "line_no": pa.array(p["line_no"], pa.int64()),
            "person_id": pa.array(p["person_id"], pa.int64()),
            "seq": pa.array(p.get("seq", np.zeros(len(p["line_no"]), np.int64)), pa.int64()),
        }
    )


def defects_table(p: dict[str, Any]) -> pa.Table:
    """defects.parquet's rows of one part of a feed (see ``write_defects``)."""
    n = len(p["line_no"])
    return pa.table(
        {
            "feed": pa.array([p["feed"]] * n, pa.string()),
            "file": pa.array([p["file"]] * n, pa.string()),
            "line_no": pa.array(np.asarray(p["line_no"], np.int64), pa.int64()),
            "kind": pa.array(list(p["kind"]), pa.string()),
        }
    )


def write_defects(parts: list[dict[str, Any]], path: Path) -> None:
    """defects.parquet: feed, file, line_no and kind of each deliberately malformed row."""
    pq.write_table(pa.concat_tables([defects_table(p) for p in parts]), path, compression="zstd")


class FeedMajor:
    """A truth file written a part at a time but ordered feed by feed, as one write of the
    whole population orders it: a hidden file per feed, copied in order on ``close``."""

    def __init__(self, path: Path, feeds: tuple[str, ...]) -> None:
        self._path = path
        self._parts = {f: path.with_name(f".{path.stem}-{f}.parquet") for f in feeds}
        self._files = {f: ParquetAppender(p) for f, p in self._parts.items()}

    def add(self, feed: str, table: pa.Table) -> None:
        self._files[feed].add(table)

    def close(self) -> None:
        whole = ParquetAppender(self._path)
        for feed, part in self._parts.items():
            self._files[feed].close()
            file = pq.ParquetFile(part)
            whole.add(file.schema_arrow.empty_table())  # (a feed without rows has no group)
            for i in range(file.num_row_groups):
                whole.add(file.read_row_group(i))
            part.unlink()
        whole.close()

    def discard(self) -> None:
        """Remove the parts and the file, unfinished (a generation that failed)."""
        for file in self._files.values():
            file.discard()
        self._path.unlink(missing_ok=True)


def write_manifest(
    config: SynthConfig,
    rows: dict[str, int],
    files: dict[str, str],
    figures: dict[str, float],
    path: Path,
    generator: str = "openbureau.synth",
    version: str = GENERATOR_VERSION,
    extra: dict[str, Any] | None = None,
) -> None:
    """manifest.json: the generator and its settings, rows and files per feed, figures
    (``extra``: a generator's own entries, added at the end)."""
    cfg = {
        k: (v.isoformat() if hasattr(v, "isoformat") else v)
        for k, v in dataclasses.asdict(config).items()
        if k != "chunk_persons"  # (how the work was split, not what was generated)
    }
    manifest = {
        "generator": generator,
        "generator_version": version,
        "config": cfg,
        "rows": rows,
        "files": files,
        "oracle_auc": round(figures["oracle_auc"], 6),
        "figures": figures,
        "model": MODEL_PARAMETERS,
        **(extra or {}),
    }
    path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
