"""A furnisher's delete requests (Metro 2 account status DA, DF), applied to the ledger.

A Metro 2 record with account status DA (delete the entire account) or DF (delete it, confirmed
fraud) is loaded like any row, but it is no report of a month: the ledger maps it onto no event.
Instead every report of that account from the same feed, reported on or before the request's
Date of Account Information (joint holders' included, and the reports under the account's
earlier numbers that an L1 segment changed to the one named), is **suppressed**, never deleted:
``ledger_suppressions`` holds one row per record with the reason (``deleted_by_furnisher`` for
DA, ``fraud`` for DF) and a note naming the request's record, so the change is dated, can be
audited with the record's history, and lifted if it was sent in error.
"""

from __future__ import annotations

from openbureau.engine import Engine
from openbureau.ingest import _metro2
from openbureau.ingest._sql import lit
from openbureau.ingest.spec import SourceSpec
from openbureau.ledger._schema import MAX_RENUMBERINGS


def delete_requests_sql(spec: SourceSpec) -> str:
    """A condition on a Metro 2 feed's row ``s``: it is a delete request (no month's report)."""
    codes = ", ".join(lit(c) for c in _metro2.DELETES)
    return f"coalesce(s.metro2_status, '') IN ({codes})"


def apply_delete_requests(engine: Engine, spec: SourceSpec, batch_id: str) -> int:
    """Suppress the reports each delete request of the batch names; returns how many records
    were suppressed (a record already suppressed for the same reason, not lifted, is left)."""
    if spec.format != "metro2":
        return 0
    furnisher = lit(spec.furnisher + ":")
    reason = " ".join(f"WHEN {lit(c)} THEN {lit(r)}" for c, r in _metro2.DELETE_REASON.items())
    meaning = " ".join(f"WHEN {lit(c)} THEN {lit(m)}" for c, m in _metro2.DELETES.items())
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ledger_deletes AS
        WITH RECURSIVE asked AS (
          SELECT {furnisher} || s.account_id AS account_id, s.metro2_status AS code,
                 s.record_id AS request, CAST(s.reported_date AS DATE) AS asked_on
          FROM {spec.table} s WHERE s.batch_id = ? AND {delete_requests_sql(spec)}),
        -- (the account's earlier numbers, which an L1 changed to the one asked: their
        -- reports are the same account's, as point-in-time features count them)
        links AS (SELECT DISTINCT account_id AS old, new_account_id AS new
                  FROM ledger_account_status WHERE feed = ? AND new_account_id IS NOT NULL
                    AND new_account_id <> account_id),
        named(account_id, code, request, asked_on, depth) AS (
          SELECT account_id, code, request, asked_on, 0 FROM asked UNION ALL
          SELECT l.old, n.code, n.request, n.asked_on, n.depth + 1
          FROM named n JOIN links l ON l.new = n.account_id
          WHERE n.depth < {MAX_RENUMBERINGS})
        SELECT e.record_id, CASE a.code {reason} END AS reason,
               'Metro 2 ' || a.code || ' (' || CASE a.code {meaning} END || '): record '
                 || a.request AS note
        FROM ledger_account_status e JOIN named a
          ON e.account_id = a.account_id AND e.feed = ? AND e.event_date <= a.asked_on
        WHERE e.is_current
          AND e.record_id NOT IN (SELECT record_id FROM ledger_suppressions x
                                  WHERE x.lifted_at IS NULL AND x.reason = CASE a.code {reason} END)
        QUALIFY row_number() OVER (PARTITION BY e.record_id ORDER BY a.request) = 1""",
        [batch_id, spec.name, spec.name],
    )
    engine.execute("""INSERT INTO ledger_suppressions
        SELECT (SELECT coalesce(max(suppression_id), 0) FROM ledger_suppressions)
                 + row_number() OVER (ORDER BY record_id), record_id, reason, note, now(),
               NULL, NULL
        FROM _ledger_deletes""")
    n = int(engine.scalar("SELECT count(*) FROM _ledger_deletes"))
    engine.execute("DROP TABLE _ledger_deletes")
    return n
