"""Score quality against the synthetic generator's truth (for tests and benchmarks).

``truth_outcomes`` maps each of our persons to the true person most of their records belong
to, with that person's true 12-month default and true default probability: what a held-out
AUC and the oracle AUC are computed from. ``attributes_from_truth`` writes, by the same map, the
protected-attribute file a bureau would be supplied for fairness audits.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from openbureau.config import ATTRIBUTES
from openbureau.engine import Engine
from openbureau.engine.sql import path_literal
from openbureau.errors import UserError
from openbureau.warehouse.identity import IDENTITY_RECORD_MAP, PERSON_INDEX
from openbureau.warehouse.ingest import INGEST_BATCHES

if TYPE_CHECKING:
    from openbureau.workspace import Workspace


def truth_outcomes(engine: Engine, truth_dir: Path, into: str = "person_truth") -> str:
    """Temp table (person_id, true_person_id, default_12m, defaulted_before_as_of, pd_12m)."""
    records, persons = truth_dir / "records.parquet", truth_dir / "persons.parquet"
    for f in (records, persons):
        if not f.is_file():
            raise UserError(f"{f}: truth file not found (written by `openbureau synth`)")
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE {into} AS
        WITH rec AS (
            SELECT pi.person_id, t.person_id AS true_person_id
            FROM {IDENTITY_RECORD_MAP.name} m
            JOIN {PERSON_INDEX.name} pi ON pi.identity_id = m.identity_id
            JOIN {INGEST_BATCHES.name} b ON b.batch_id = m.batch_id
            JOIN read_parquet({path_literal(records)}) t
              ON t.feed = b.feed AND parse_filename(t.file) = b.file_name
             AND t.line_no = CAST(split_part(m.record_id, '.', 2) AS BIGINT))
        SELECT r.person_id, r.true_person_id, p.default_12m, p.defaulted_before_as_of, p.pd_12m
        FROM (SELECT person_id, mode(true_person_id) AS true_person_id FROM rec
              GROUP BY person_id) r
        JOIN read_parquet({path_literal(persons)}) p ON p.person_id = r.true_person_id""")
    return into


def attributes_from_truth(ws: Workspace, truth_dir: Path, out: Path) -> int:
    """Write the CSV a bureau would be supplied, from a synthetic population's truth: each of
    our persons with the attributes of the true person most of their records belong to (as
    :func:`truth_outcomes` maps them).

    Returns:
        The number of persons written.
    """
    out = Path(out)
    if not out.parent.is_dir():
        raise UserError(f"{out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise UserError(f"{out}: is a folder; name the file to write, e.g. {out / 'a.csv'}")
    persons = Path(truth_dir) / "persons.parquet"
    tmp = out.with_name(f".{out.name}.tmp")
    with ws.engine(read_only=True) as engine:
        if not engine.table_exists(PERSON_INDEX.name):
            raise UserError(f"{ws.root}: no persons linked yet; run openbureau link first")
        mapped = truth_outcomes(engine, Path(truth_dir), into="attribute_truth")
        have = {
            r[0]
            for r in engine.query(f"DESCRIBE SELECT * FROM read_parquet({path_literal(persons)})")
        }
        given = [a for a in ATTRIBUTES if a in have]
        if not given:
            raise UserError(
                f"{persons}: no protected attributes (written by an earlier generator); "
                "generate the population again"
            )
        cols = "".join(f", p.{a}" for a in given)
        try:
            engine.execute(
                f"""COPY (SELECT t.person_id{cols} FROM {mapped} t
                          JOIN read_parquet({path_literal(persons)}) p
                            ON p.person_id = t.true_person_id
                          ORDER BY t.person_id)
                    TO {path_literal(tmp)} (FORMAT csv, HEADER, DELIMITER ',')"""
            )
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        return int(engine.scalar(f"SELECT count(*) FROM {mapped}"))
