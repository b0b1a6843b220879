"""Compare a batch's rows with the feed's earlier reports of the same record key, in one pass.

A furnisher report is known by its feed (one furnisher's) and its record key (the spec's
``record_key``, e.g. ``[account_id, period]``). Each row that passed validation is, against the
feed's current report of its key (the latest loaded row with that key):

``new``          no earlier report of the key
``identical``    every typed value equals the current report's: nothing to load
``superseding``  a value differs: a new version of the report, which replaces the current one

"Typed values" are the spec's output columns as loaded (dates as dates, amounts as decimals,
national IDs as tokens), never the lineage columns nor the raw line: a file re-sent with another
delimiter, quoting, compression or name, but the same values, is identical. A feed without a
record key has no way to say which report a row replaces: its rows' values are their key, so an
identical row is recognised and nothing supersedes.
"""

from __future__ import annotations

from openbureau.engine import Engine
from openbureau.ingest._validate import STAGED, output_column, q
from openbureau.ingest.spec import SourceSpec

REPORTED = "_ingest_reports"  # (_line_no, _report, _supersedes) per row that passed validation


def _types(engine: Engine, table: str) -> dict[str, str]:
    rows = engine.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? AND table_catalog = current_database() "
        "AND table_schema = current_schema()",
        [table],
    )
    return {str(n): str(t) for n, t in rows}


def compare_with_earlier(engine: Engine, spec: SourceSpec) -> None:
    """Classify every staged row that passed validation into ``_ingest_reports``.

    Runs inside the batch's transaction, after the feed table exists with every spec column.
    """
    types = _types(engine, spec.table)
    values = [output_column(f) for f in spec.fields]
    keys = [output_column(spec.field(t)) for t in spec.record_key] or values

    # Staged values are compared as the feed table stores them (the insert casts the same way).
    def staged(c: str) -> str:
        return f"CAST(t.{q(c)} AS {types[c]})"

    same_key = " AND ".join(f"p.{q(c)} IS NOT DISTINCT FROM k.{q(c)}" for c in keys)
    join_key = " AND ".join(f"p.{q(c)} IS NOT DISTINCT FROM {staged(c)}" for c in keys)
    same_values = " AND ".join(f"p.{q(c)} IS NOT DISTINCT FROM {staged(c)}" for c in values)
    engine.execute(f"""
        CREATE OR REPLACE TEMP TABLE {REPORTED} AS
        WITH keyed AS (
          SELECT DISTINCT {", ".join(f"{staged(c)} AS {q(c)}" for c in keys)}
          FROM {STAGED} t WHERE len(t._reasons) = 0),
        latest AS (  -- the current report of each key the batch holds
          SELECT p.* FROM {q(spec.table)} p SEMI JOIN keyed k ON {same_key}
          QUALIFY row_number() OVER (PARTITION BY {", ".join(f"p.{q(c)}" for c in keys)}
                                     ORDER BY p.batch_id DESC, p.line_no DESC) = 1)
        SELECT t._line_no,
          CASE WHEN p.record_id IS NULL THEN 'new'
               WHEN {same_values} THEN 'identical'
               ELSE 'superseding' END AS _report,
          p.record_id AS _supersedes
        FROM {STAGED} t LEFT JOIN latest p ON {join_key}
        WHERE len(t._reasons) = 0""")


__all__ = ["REPORTED", "compare_with_earlier"]
