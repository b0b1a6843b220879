"""Chain the rows of batches loaded before ingest compared rows: versions of one report.

An openbureau from before rows were compared loaded a re-sent file as new reports, so every
(account, period) it held twice was two current events. On the first ledger build after the
upgrade, the rows of those batches (their report counts are empty) are compared as ingest now
compares them, in load order, per feed and record key (each batch's own spec; a key with an
empty part matches no other row): the first row of a key is ``new``; a later one whose typed
values equal the row before it is ``identical``; else it is ``superseding``. (The reported date
is not held against the earlier row here: those batches were loaded when the latest load won,
and their rows all stay in the feed table; see docs/ledger.md.)

In the feed table, an identical or superseding row then names the row before it in
``supersedes`` (so the feed's current reports are one row per key, as ingest now leaves them),
and the batch gets its counts and ``chained_at``. In the ledger, the events of one key become
one chain of versions under the first row's ``record_id``, in load order: a superseding row's
event is the next version (the one before it counts until its reported date, ``superseded_on``),
a bureau correction follows the version it corrected, and an identical row's event is no version
(version 0, never current nor known: it stops counting), kept so that its loaded row still
finds the report. Suppressions made on any row of the chain hold for the report. Event ids are
kept. Everything is set-based and runs inside the build's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from openbureau.engine import Engine
from openbureau.engine.sql import ident
from openbureau.ingest._validate import output_column
from openbureau.ingest._yaml import load_yaml
from openbureau.ingest.spec import SourceSpec, parse_spec
from openbureau.ledger._schema import EVENTS
from openbureau.warehouse.ingest import INGEST_BATCHES

CHAINED = "_ledger_chained"  # record_id, batch_id, root, report, prior, pos: rows of chains
LINEAGE = ("record_id", "batch_id", "line_no", "source_record_id", "supersedes")


@dataclass
class ChainReport:
    batch_ids: list[str] = field(default_factory=list)  # batches compared by this build
    identical: int = 0  # rows identical to the row before them (their events stop counting)
    superseding: int = 0  # rows that differ from the row before them (later versions)


def chain_earlier_rows(engine: Engine) -> ChainReport:
    """Compare the rows of every batch loaded before rows were compared, per feed and record
    key, and record the outcome in the feed tables and on the batches (``CHAINED`` holds it
    for :func:`chain_events`)."""
    report = ChainReport()
    earlier = engine.query(
        f"SELECT batch_id, feed, spec_yaml FROM {INGEST_BATCHES.name} WHERE rows_new IS NULL "
        "ORDER BY batch_id"
    )
    if not earlier:
        return report
    groups: dict[tuple[str, tuple[str, ...]], tuple[SourceSpec, list[str]]] = {}
    for batch_id, feed, spec_yaml in earlier:
        spec = parse_spec(load_yaml(spec_yaml), origin=f"batch {batch_id}", historical=True)
        groups.setdefault((feed, tuple(spec.record_key)), (spec, []))[1].append(batch_id)
        report.batch_ids.append(batch_id)
    engine.execute(
        f"CREATE OR REPLACE TEMP TABLE {CHAINED} (record_id VARCHAR, batch_id VARCHAR, "
        "root VARCHAR, report VARCHAR, prior VARCHAR, pos BIGINT)"
    )
    for spec, batch_ids in groups.values():
        if engine.table_exists(spec.table):
            _chain_feed(engine, spec, batch_ids)
    engine.execute(
        f"""UPDATE {INGEST_BATCHES.name} SET rows_new = rows_loaded - x.identical - x.superseding,
            rows_identical = x.identical, rows_superseding = x.superseding, rows_stale = 0,
            chained_at = ?
        FROM (SELECT b.batch_id,
                count(c.record_id) FILTER (WHERE c.report = 'identical') AS identical,
                count(c.record_id) FILTER (WHERE c.report = 'superseding') AS superseding
              FROM (SELECT unnest(?::VARCHAR[]) AS batch_id) b
              LEFT JOIN {CHAINED} c USING (batch_id) GROUP BY 1) x
        WHERE {INGEST_BATCHES.name}.batch_id = x.batch_id""",
        [datetime.now(UTC).replace(tzinfo=None, microsecond=0), report.batch_ids],
    )
    found = dict(engine.query(f"SELECT report, count(*) FROM {CHAINED} GROUP BY 1"))
    report.identical = int(found.get("identical", 0))
    report.superseding = int(found.get("superseding", 0))
    return report


def _chain_feed(engine: Engine, spec: SourceSpec, batch_ids: list[str]) -> None:
    """The rows of ``batch_ids`` (one feed, one record key) into ``CHAINED``, and the
    ``supersedes`` of each identical or superseding one in the feed table."""
    table = ident(spec.table)
    # (a feed table is declared by its spec, not by the warehouse contract: one loaded
    # before rows were compared gains the column here)
    engine.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS supersedes VARCHAR")
    values = [ident(c) for c in engine.columns(spec.table) if c not in LINEAGE]
    keys = [ident(output_column(spec.field(t))) for t in spec.record_key]
    # A key matches only when every part is filled; without a key, the values are the key.
    filled = " AND ".join(f"{k} IS NOT NULL" for k in keys) if keys else "true"
    partition = ", ".join(keys or values)
    engine.execute(
        f"""INSERT INTO {CHAINED}
        SELECT record_id, batch_id, first_value(record_id) OVER w,
            CASE WHEN lag(record_id) OVER w IS NULL THEN 'new'
                 WHEN lag(_values) OVER w IS NOT DISTINCT FROM _values THEN 'identical'
                 ELSE 'superseding' END,
            lag(record_id) OVER w, row_number() OVER w
        FROM (SELECT record_id, batch_id, line_no, {", ".join(keys or values)},
                row({", ".join(values)}) AS _values
              FROM {table} WHERE batch_id IN (SELECT unnest(?::VARCHAR[])) AND {filled})
        WINDOW w AS (PARTITION BY {partition} ORDER BY batch_id, line_no)""",
        [batch_ids],
    )
    engine.execute(
        f"""UPDATE {table} SET supersedes = c.prior FROM {CHAINED} c
        WHERE {table}.record_id = c.record_id AND c.report <> 'new'"""
    )


def chain_events(engine: Engine) -> int:
    """Make the events of each chain in ``CHAINED`` one report's versions; returns the events
    that stopped counting (those of identical rows). Run after every chained batch is mapped
    (as reports of their own) and before any later batch is."""
    stopped = 0
    chains = f"(SELECT * FROM {CHAINED} WHERE root IN (SELECT root FROM {CHAINED} WHERE pos > 1))"
    for table in EVENTS.values():
        t = table.table
        engine.execute(f"""CREATE OR REPLACE TEMP TABLE _ledger_rechain AS
        WITH events AS (
          SELECT e.event_id, c.root, c.pos, e.version AS own_version, e.reported_date,
              e.correction_reason IS NOT NULL AS correction,
              -- an identical row's own event: a repeat of the version before it
              c.report = 'identical' AND e.version = 1 AND e.correction_reason IS NULL AS repeat
          FROM {t} e JOIN {chains} c ON c.record_id = e.record_id),
        placed AS (
          SELECT *, last_value(CASE WHEN NOT repeat THEN event_id END IGNORE NULLS) OVER (
                PARTITION BY root ORDER BY pos, own_version
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS head_before
          FROM events),
        versions AS (
          SELECT event_id, root, row_number() OVER w AS version, count(*) OVER (
                PARTITION BY root) AS versions, lag(event_id) OVER w AS supersedes,
              lead(correction) OVER w AS next_is_correction,
              -- (a version counts until the next furnisher report's reported date, or an
              -- earlier one's of a later report: never two versions on one day)
              min(CASE WHEN NOT correction THEN reported_date END) OVER (
                PARTITION BY root ORDER BY pos, own_version
                ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS later_report
          FROM placed WHERE NOT repeat
          WINDOW w AS (PARTITION BY root ORDER BY pos, own_version))
        SELECT event_id, root AS record_id, version, version = versions AS is_current,
            supersedes,
            CASE WHEN version < versions AND NOT next_is_correction THEN later_report
            END AS superseded_on
        FROM versions
        UNION ALL
        SELECT event_id, root, 0, false, head_before, NULL::DATE FROM placed WHERE repeat""")
        engine.execute(f"""UPDATE {t} SET record_id = r.record_id, version = r.version,
            is_current = r.is_current, supersedes = r.supersedes, superseded_on = r.superseded_on
        FROM _ledger_rechain r WHERE {t}.event_id = r.event_id""")
        stopped += int(engine.scalar("SELECT count(*) FROM _ledger_rechain WHERE version = 0"))
        engine.execute("DROP TABLE _ledger_rechain")
    # a dispute or other suppression made on any row of a chain holds for the report
    engine.execute(f"""UPDATE ledger_suppressions SET record_id = c.root FROM {chains} c
        WHERE ledger_suppressions.record_id = c.record_id AND c.record_id <> c.root""")
    return stopped


def drop_chained(engine: Engine) -> None:
    engine.execute(f"DROP TABLE IF EXISTS {CHAINED}")


__all__ = ["ChainReport", "chain_earlier_rows", "chain_events", "drop_chained"]
