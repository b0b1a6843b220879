"""Score quality against the synthetic generator's truth (for tests and benchmarks).

``truth_outcomes`` maps each of our persons to the true person most of their records belong
to, with that person's true 12-month default and true default probability: what a held-out
AUC and the oracle AUC are computed from.
"""

from __future__ import annotations

from pathlib import Path

from openbureau.engine import Engine
from openbureau.engine.sql import path_literal
from openbureau.errors import UserError
from openbureau.warehouse.identity import IDENTITY_RECORD_MAP, PERSON_INDEX
from openbureau.warehouse.ingest import INGEST_BATCHES


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
