"""Linkage quality against the generator's truth, and agreement between two clusterings.

Figures are over identity records (distinct identities as seen in one feed). A record left
unlinked counts as a person of its own, so unlinking costs recall, as it should.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openbureau.engine import Engine
from openbureau.engine.sql import path_literal
from openbureau.errors import UserError
from openbureau.identity.evaluate_truth import synth_record_join
from openbureau.warehouse.ingest import INGEST_BATCHES


@dataclass(frozen=True)
class LinkageQuality:
    records: int
    true_persons: int
    predicted_persons: int
    precision: float
    recall: float
    f1: float
    exact_share: float  # true persons whose records form exactly one predicted person
    merged: int  # predicted persons holding records of more than one true person
    split: int  # true persons spread over more than one predicted person
    unlinked: int


def _truth_labels(engine: Engine, truth_dir: Path) -> None:
    records = truth_dir / "records.parquet"
    if not records.is_file():
        raise UserError(f"{records}: truth file not found (written by `openbureau synth`)")
    engine.execute(f"""
        CREATE OR REPLACE TEMP TABLE _truth AS
        SELECT m.identity_id, mode(t.person_id) AS label
        FROM identity_record_map m
        JOIN {INGEST_BATCHES.name} b USING (batch_id)
        {synth_record_join(engine, records)}
        GROUP BY m.identity_id""")


def compare(engine: Engine, predicted: str, truth: str) -> LinkageQuality:
    """Pairwise and cluster-level agreement of two labelings (identity_id, label)."""
    row = engine.query(f"""
        WITH j AS (SELECT t.identity_id, coalesce(p.label, 'unlinked:' || t.identity_id) AS pred,
                          t.label AS actual, p.label IS NULL AS unlinked
                   FROM {truth} t LEFT JOIN {predicted} p USING (identity_id)),
        both_ AS (SELECT pred, actual, count(*) AS n FROM j GROUP BY ALL),
        per_pred AS (SELECT pred, count(*) AS n, count(DISTINCT actual) AS k
                     FROM j GROUP BY pred),
        per_true AS (SELECT actual, count(*) AS n, count(DISTINCT pred) AS k
                     FROM j GROUP BY actual),
        exact AS (SELECT count(*) AS n FROM per_true t
                  JOIN (SELECT DISTINCT actual, pred FROM j) tp USING (actual)
                  JOIN per_pred p USING (pred) WHERE t.k = 1 AND p.k = 1)
        SELECT (SELECT count(*) FROM j),
               (SELECT count(*) FROM per_true), (SELECT count(*) FROM per_pred),
               (SELECT sum(n * (n - 1) / 2) FROM both_),
               (SELECT sum(n * (n - 1) / 2) FROM per_pred),
               (SELECT sum(n * (n - 1) / 2) FROM per_true),
               (SELECT n FROM exact),
               (SELECT count(*) FILTER (k > 1) FROM per_pred),
               (SELECT count(*) FILTER (k > 1) FROM per_true),
               (SELECT count(*) FILTER (unlinked) FROM j)""")[0]
    records, n_true, n_pred, tp, pp, ap, exact, merged, split, unlinked = (int(v or 0) for v in row)
    precision = tp / pp if pp else 1.0
    recall = tp / ap if ap else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return LinkageQuality(
        records,
        n_true,
        n_pred,
        precision,
        recall,
        f1,
        exact / n_true if n_true else 1.0,
        merged,
        split,
        unlinked,
    )


def evaluate_linkage(engine: Engine, truth_dir: Path) -> LinkageQuality:
    """Compare the person index with the truth written by ``openbureau synth``."""
    if not engine.table_exists("person_index"):
        raise UserError("nothing linked yet: run `openbureau link` first")
    _truth_labels(engine, truth_dir)
    engine.execute(
        "CREATE OR REPLACE TEMP VIEW _predicted AS "
        "SELECT identity_id, person_id AS label FROM person_index"
    )
    return compare(engine, "_predicted", "_truth")


def assignment_agreement(engine: Engine, a: str, b: str) -> float:
    """Share of identity records whose person holds exactly the same records in labelings
    ``a`` and ``b`` (tables of identity_id, label), whatever the IDs are called."""
    signature = """SELECT identity_id, md5(string_agg(identity_id, ',' ORDER BY identity_id)
                   OVER (PARTITION BY label)) AS sig FROM {}"""
    return float(
        engine.scalar(f"""
        SELECT avg(CASE WHEN x.sig = y.sig THEN 1.0 ELSE 0.0 END)
        FROM ({signature.format(a)}) x FULL JOIN ({signature.format(b)}) y USING (identity_id)""")
    )


def person_index_agreement(warehouse_a: Path, warehouse_b: Path) -> float:
    """``assignment_agreement`` of the person indexes in two warehouse files."""
    from openbureau.engine import DuckDBEngine

    with DuckDBEngine() as engine:
        for alias, path in (("wa", warehouse_a), ("wb", warehouse_b)):
            engine.execute(f"ATTACH {path_literal(path)} AS {alias} (READ_ONLY)")
        return assignment_agreement(
            engine,
            "(SELECT identity_id, person_id AS label FROM wa.person_index)",
            "(SELECT identity_id, person_id AS label FROM wb.person_index)",
        )
