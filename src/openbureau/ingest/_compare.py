"""Compare a batch's rows with the feed's earlier reports of the same record key, in one pass.

A furnisher report is known by its feed (one furnisher's) and its record key (the spec's
``record_key``, e.g. ``[account_id, period]``). Each row that passed validation is, against the
feed's current report of its key (the latest loaded row with that key):

``new``          no earlier report of the key
``identical``    every typed value equals the current report's: nothing to load
``superseding``  a value differs: a new version of the report, which replaces the current one
``stale``        a value differs, but the row was reported earlier than the current report (the
                 ledger mapping's ``reported_date``, when the feed has one): an older report
                 sent again, which does not replace the newer one (it is recorded, not loaded)

A superseding row whose typed values equal an earlier version of its report (not the current
one) is also ``reverting``: A, then B, then A again, from a feed whose rows do not say when they
were reported (or say the same day), puts back a report the furnisher had replaced. It is loaded
as any superseding row (the latest load wins), and counted, so that the flip-flop is seen.

"Typed values" are the spec's output columns as loaded (dates as dates, amounts as decimals,
national IDs as tokens), never the lineage columns nor the raw line: a file re-sent with another
delimiter, quoting, compression or name, but the same values, is identical. A feed without a
record key has no way to say which report a row replaces: its rows' values are their key, so an
identical row is recognised and nothing supersedes.

A record key matches only when every part is filled: a spec must make its key fields required
(the row is quarantined as ``missing_required`` otherwise), and a row with an empty key part
loaded before that rule, with its batch's spec, is a report of its own, never another's.
"""

from __future__ import annotations

from openbureau.engine import Engine
from openbureau.engine.sql import ident
from openbureau.ingest._validate import STAGED, output_column
from openbureau.ingest.spec import SourceSpec

# (_line_no, _report, _supersedes, _reported_date, _reverting) per row that passed validation
REPORTED = "_ingest_reports"


def _types(engine: Engine, table: str) -> dict[str, str]:
    rows = engine.query(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? AND table_catalog = current_database() "
        "AND table_schema = current_schema()",
        [table],
    )
    return {str(n): str(t) for n, t in rows}


def reported_column(spec: SourceSpec) -> str | None:
    """The feed table's column of the date a row was reported, if a report's rows say it: the
    ledger mapping's ``reported_date`` target, in a feed with a record key."""
    if spec.ledger is None or spec.ledger.reported_date is None or not spec.record_key:
        return None
    return output_column(spec.field(spec.ledger.reported_date))


def compare_with_earlier(engine: Engine, spec: SourceSpec) -> None:
    """Classify every staged row that passed validation into ``_ingest_reports``.

    Runs inside the batch's transaction, after the feed table exists with every spec column.
    """
    types = _types(engine, spec.table)
    values = [output_column(f) for f in spec.fields]
    keys = [output_column(spec.field(t)) for t in spec.record_key] or values

    # Staged values are compared as the feed table stores them (the insert casts the same way).
    def staged(c: str) -> str:
        return f"CAST(t.{ident(c)} AS {types[c]})"

    # A record key matches only when every part is filled and equal (``=``): a row with an empty
    # key part (loaded with a spec from before keys had to be required) is a report of its
    # own. Without a record key, the values are the key, and empty equals empty.
    eq = "=" if spec.record_key else "IS NOT DISTINCT FROM"
    same_key = " AND ".join(f"p.{ident(c)} {eq} k.{ident(c)}" for c in keys)
    join_key = " AND ".join(f"p.{ident(c)} {eq} {staged(c)}" for c in keys)
    same_values = " AND ".join(f"p.{ident(c)} IS NOT DISTINCT FROM {staged(c)}" for c in values)
    reported, stale = "NULL::DATE", "false"
    column = reported_column(spec)
    if column is not None:
        reported = f"CAST({staged(column)} AS DATE)"
        stale = f"{reported} < CAST(p.{ident(column)} AS DATE)"  # (empty on either side: not stale)
    engine.execute(f"""
        CREATE OR REPLACE TEMP TABLE {REPORTED} AS
        WITH keyed AS (
          SELECT DISTINCT {", ".join(f"{staged(c)} AS {ident(c)}" for c in keys)}
          FROM {STAGED} t WHERE len(t._reasons) = 0),
        earlier AS (  -- every loaded version of each key the batch holds
          SELECT p.* FROM {ident(spec.table)} p SEMI JOIN keyed k ON {same_key}),
        latest AS (  -- the current report of each key
          SELECT p.* FROM earlier p
          QUALIFY row_number() OVER (PARTITION BY {", ".join(f"p.{ident(c)}" for c in keys)}
                                     ORDER BY p.batch_id DESC, p.line_no DESC) = 1),
        compared AS (
          SELECT t._line_no,
            CASE WHEN p.record_id IS NULL THEN 'new'
                 WHEN {same_values} THEN 'identical'
                 WHEN {stale} THEN 'stale'
                 ELSE 'superseding' END AS _report,
            p.record_id AS _supersedes, {reported} AS _reported_date
          FROM {STAGED} t LEFT JOIN latest p ON {join_key}
          WHERE len(t._reasons) = 0),
        reverting AS (  -- superseding rows equal to an earlier version (not the current one)
          SELECT t._line_no FROM {STAGED} t
          SEMI JOIN earlier p ON {join_key} AND {same_values}
          WHERE t._line_no IN (SELECT _line_no FROM compared WHERE _report = 'superseding'))
        SELECT c.*, c._line_no IN (SELECT _line_no FROM reverting) AS _reverting
        FROM compared c""")


__all__ = ["REPORTED", "compare_with_earlier", "reported_column"]
