"""A consumer a furnisher's re-sent month no longer names: their report of that month ends.

A Metro 2 record re-sent for the same account and month (ingest compares it with the earlier
one: ``supersedes``) is a new version of the month's report for each consumer it names (the
base segment's consumer, and each J1/J2 associated consumer matched by national ID, name and
birth date, or place: ``build._same_consumer_sql``). A consumer the earlier record named and
the re-sent one does not (a joint holder dropped, or
now reported with ECOA T or Z: terminated, delete the consumer) gets no new version, so
without this step their earlier version would stay current: the month would stay on their
file although the furnisher no longer reports it there. Their version stops being current
on the re-sent record's reporting date, as a furnisher's new report supersedes its earlier
one (how it stood before is kept in ``ledger_version_states``).
"""

from __future__ import annotations

from openbureau.engine import Engine
from openbureau.engine.sql import literal
from openbureau.ingest import store
from openbureau.ingest.spec import SourceSpec
from openbureau.ledger._deletes import delete_requests_sql
from openbureau.ledger._schema import EVENTS

_T = EVENTS["account_status"].table


def end_dropped_consumers(engine: Engine, spec: SourceSpec, batch_id: str) -> int:
    """End the current versions of the consumers the batch's re-sent records no longer name;
    returns how many. Call after the batch's events are in the table."""
    if spec.format != "metro2" or "supersedes" not in engine.columns(spec.table):
        return 0
    resent = f"""SELECT s.supersedes AS earlier, CAST(s.reported_date AS DATE) AS on_
        FROM {spec.table} s WHERE s.batch_id = {literal(batch_id)} AND s.supersedes IS NOT NULL
          AND NOT {delete_requests_sql(spec)}"""
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE _ledger_dropped AS
        WITH resent AS ({resent}),
        earlier AS (
          SELECT earlier AS loaded, on_ FROM resent UNION ALL
          SELECT a.record_id, r.on_ FROM resent r
          JOIN {store.ASSOCIATED_CONSUMERS} a ON a.base_record_id = r.earlier)
        SELECT e.event_id, min(p.on_) AS on_ FROM {_T} e JOIN earlier p
          ON e.loaded_record_id = p.loaded
        WHERE e.is_current AND e.history_of IS NULL GROUP BY e.event_id""")
    # (and the months read from that report's payment history profile: the record that gave
    # them no longer names the consumer)
    engine.execute(f"""INSERT INTO _ledger_dropped
        SELECT h.event_id, min(d.on_) FROM {_T} h
        JOIN {_T} e ON h.history_of = e.record_id
        JOIN _ledger_dropped d ON d.event_id = e.event_id
        WHERE h.is_current GROUP BY h.event_id""")
    n = int(engine.scalar("SELECT count(*) FROM _ledger_dropped"))
    if n:
        engine.execute(f"""INSERT INTO ledger_version_states
            SELECT event_id, is_current, superseded_on, now()::TIMESTAMP FROM {_T}
            WHERE event_id IN (SELECT event_id FROM _ledger_dropped)""")
        engine.execute(f"""UPDATE {_T} SET is_current = false, superseded_on = d.on_
            FROM _ledger_dropped d WHERE {_T}.event_id = d.event_id""")
    engine.execute("DROP TABLE _ledger_dropped")
    return n
