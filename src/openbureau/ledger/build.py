"""Build the ledger: every ingested batch's rows as canonical events, each with its person.

``build_ledger`` is incremental: a batch is mapped once (recorded in ``ledger_batches``), so
corrections and suppressions made later are never overwritten. Every run then refreshes the
``person_id`` of all events from the current person index, because linking merges and splits
persons after events were written. The mapping of a feed comes from the ``ledger`` block of the
source spec the batch was loaded with (kept on the batch), not from code per furnisher.

A loaded row that supersedes the feed's earlier report of its record key (see
``openbureau.ingest._compare``) becomes the next version of that report's event: the current
version, a bureau correction included, is marked not current and named by the new one. The rows
of batches loaded before ingest compared rows are compared on the first build after the upgrade,
and their events chained the same way (``_chain``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from openbureau.engine import Engine
from openbureau.engine.sql import literal
from openbureau.errors import UserError
from openbureau.ingest import _metro2, store
from openbureau.ingest._yaml import load_yaml
from openbureau.ingest.spec import LedgerMapping, SourceSpec, parse_spec
from openbureau.ledger import _history
from openbureau.ledger._bankruptcy import on_file_view_sql
from openbureau.ledger._chain import chain_earlier_rows, chain_events, drop_chained
from openbureau.ledger._checks import refuse_unknown_values
from openbureau.ledger._deletes import apply_delete_requests, delete_requests_sql
from openbureau.ledger._holders import end_dropped_consumers
from openbureau.ledger._legacy import LoadedValues, column_types
from openbureau.ledger._schema import (
    BATCHES,
    COMMON,
    EVENTS,
    LINEAGE,
    SUPPRESSIONS,
    TRADELINES_VIEW,
    VERSION_STATES,
    EventTable,
    create_sql,
    effective_view_sql,
    known_view_sql,
)
from openbureau.ledger.lineage import KeptOut, record_lineage, sources
from openbureau.warehouse.identity import IDENTITY_RECORD_MAP, PERSON_INDEX
from openbureau.warehouse.ingest import INGEST_BATCHES
from openbureau.warehouse.ledger import LEDGER_BATCHES


@dataclass
class LedgerReport:
    batches: int  # newly mapped
    events: dict[str, int] = field(default_factory=dict)  # new event versions per event type
    superseded: int = 0  # current versions replaced by the furnisher's new report
    corrections_superseded: int = 0  # of those, bureau corrections (kept in the history)
    identity_only: list[str] = field(default_factory=list)  # feeds without a ledger block
    # batches loaded before rows were compared, compared by this build (see _chain): their
    # rows identical to the row before them (events no longer counted) and superseding it
    chained_batches: int = 0
    chained_identical: int = 0
    chained_superseding: int = 0
    chained_events_stopped: int = 0
    unlinked_events: int = 0  # events with no person (their identity is unusable)
    # fields kept out of the events (a category the ledger keeps out, see ledger.lineage),
    # per feed field and event column: rows of the new batches that had a value for it
    kept_out: list[KeptOut] = field(default_factory=list)
    persons_refreshed: int = 0  # events whose person changed since the last build
    # records suppressed at their furnisher's request (Metro 2 DA, DF: see ledger._deletes)
    deleted_by_furnisher: int = 0
    # months read from Metro 2 payment history profiles (months with no report of their own),
    # such months a report of their own now gives, and profile characters that are no code
    # (see ledger._history)
    history_months: int = 0
    history_superseded: int = 0
    history_unreadable: int = 0
    # a re-sent Metro 2 month's consumers it no longer names (a joint holder dropped, ECOA T
    # or Z): their version of the month stopped being current (see ledger._holders)
    consumers_dropped: int = 0
    seconds: float = 0.0


def ensure_schema(engine: Engine) -> None:
    """Create the ledger tables and views when missing (a no-op, so fine on read-only)."""
    if engine.table_exists("ledger_tradelines"):
        return
    engine.execute(SUPPRESSIONS)
    engine.execute(BATCHES)
    engine.execute(VERSION_STATES)
    engine.execute(LINEAGE)
    for table in EVENTS.values():
        engine.execute(create_sql(table))
    create_views(engine)


def create_views(engine: Engine) -> None:
    """(Re)create the ledger's views, so a warehouse built by an earlier version reads events
    the way this one does."""
    for table in EVENTS.values():
        engine.execute(effective_view_sql(table))
        engine.execute(known_view_sql(table))
    engine.execute(TRADELINES_VIEW)
    engine.execute(on_file_view_sql())


def upgrade_schema(engine: Engine) -> None:
    """Create the ledger when missing, and make its views again, so that a ledger built by an
    earlier openbureau reads events (ranks statuses...) as this one does. (Columns added to the
    event tables since come with the warehouse's migrations: ``warehouse._migrate``.)"""
    ensure_schema(engine)
    create_views(engine)


def _select_sql(
    table: EventTable,
    spec: SourceSpec,
    mapping: LedgerMapping,
    compared: bool,
    types: dict[str, str],
    kept_out: set[str],
) -> str:
    """SELECT mapping one batch's loaded rows onto ``table``'s columns, each as version 1 of
    its own record, with the loaded row it supersedes (``_prior_record``; ``compared``: the
    feed table has the column). ``types``: the feed table's column types (a column loaded as
    text for a typed target is read as ingest reads the type; see ``_legacy``). The targets
    ``kept_out`` feed no column (see ``ledger.lineage``)."""
    have = {f.target for f in spec.fields} - kept_out
    loaded = LoadedValues(types)

    def pick(sources: tuple[str, ...], sql_type: str, column: str) -> str:
        present = [loaded.value(t, sql_type, column) for t in sources if t in have]
        if not present:
            return f"CAST(NULL AS {sql_type})"
        expr = present[0] if len(present) == 1 else f"coalesce({', '.join(present)})"
        return f"CAST({expr} AS {sql_type})"

    cols: list[str] = []
    for c in table.columns:
        if c.name == "payment_kind":
            expr = literal(mapping.kind)
        elif c.name == "record_kind":
            expr = f"s.{mapping.kind_from}" if mapping.kind_from else literal(mapping.kind)
        else:
            expr = pick(c.sources, c.sql_type.split()[0], c.name)
            if c.qualify:
                expr = f"{literal(spec.furnisher + ':')} || {expr}"
        cols.append(f"{expr} AS {c.name}")
    event_date = f"CAST({loaded.value(mapping.event_date, 'DATE', 'event_date')} AS DATE)"
    reported = f"{event_date} + INTERVAL {mapping.report_lag_days} DAY"
    if mapping.reported_date:
        given = loaded.value(mapping.reported_date, "DATE", "reported_date")
        reported = f"coalesce(CAST({given} AS DATE), {reported})"
    return f"""
        SELECT s.record_id || '~1' AS event_id, s.record_id, 1 AS version, true AS is_current,
            NULL::VARCHAR AS supersedes, pi.person_id, m.identity_id,
            {literal(spec.furnisher)} AS furnisher, {literal(spec.name)} AS feed, s.batch_id,
            s.record_id AS loaded_record_id,
            {"s.supersedes" if compared else "NULL::VARCHAR"} AS _prior_record,
            {event_date} AS event_date,
            CAST({reported} AS DATE) AS reported_date, now()::TIMESTAMP AS recorded_at,
            NULL AS correction_reason, {loaded.unreadable()} AS unreadable,
            {", ".join(cols)}
        FROM {_rows_sql(spec, compared)} s
        LEFT JOIN {IDENTITY_RECORD_MAP.name} m ON m.record_id = s.record_id
        LEFT JOIN {PERSON_INDEX.name} pi ON pi.identity_id = m.identity_id
        WHERE s.batch_id = ?"""


def _rows_sql(spec: SourceSpec, compared: bool) -> str:
    """The feed's loaded rows, each an event of its consumer; a Metro 2 feed's associated
    consumers (joint holders, authorised users, co-signers: ``store.ASSOCIATED_CONSUMERS``)
    are rows too, with their account row's values, so that the account is in each one's
    file. An associated consumer's row supersedes the same consumer's of the record its
    account row supersedes (``_same_consumer_sql``)."""
    if spec.format != "metro2":
        return spec.table
    prior = "m.earlier" if compared else "NULL::VARCHAR"
    same = (
        f"LEFT JOIN ({_same_consumer_sql(spec)}) m ON m.record_id = a.record_id" if compared else ""
    )
    # (a delete request is no month's report: see ledger._deletes; a consumer whose role
    # ended, ECOA T or Z, gets no event of the month: it is no report on their file)
    ended = ", ".join(literal(r) for r in _metro2.ENDED_ROLES)
    return f"""(SELECT * FROM {spec.table} s WHERE NOT {delete_requests_sql(spec)}
          AND coalesce(s.account_role, '') NOT IN ({ended}) UNION ALL
        SELECT s.* REPLACE (a.record_id AS record_id, {prior} AS supersedes,
                            a.consumer_information AS consumer_information)
        FROM {store.ASSOCIATED_CONSUMERS} a JOIN {spec.table} s
          ON s.record_id = a.base_record_id {same} WHERE NOT {delete_requests_sql(spec)}
          AND coalesce(a.account_role, '') NOT IN ({ended}))"""


def _same_consumer_sql(spec: SourceSpec) -> str:
    """Each associated consumer of a re-sent record (``record_id``), and the same consumer
    among the associated consumers of the record it supersedes (``earlier``): the one with
    the same national ID, else the same name and birth date, else the one at the same place
    (first J1/J2, second...) unless their national IDs or birth dates differ. A re-sent month
    that drops one holder thus leaves each other holder's report their own. Each earlier
    consumer is matched once at most (the best match)."""
    a = store.ASSOCIATED_CONSUMERS
    return f"""SELECT record_id, earlier FROM (
          SELECT n.record_id, p.record_id AS earlier, CASE
              WHEN n.national_id_token <> '' AND n.national_id_token = p.national_id_token
                THEN 3
              WHEN n.national_id_token <> '' AND p.national_id_token <> '' THEN 0
              WHEN lower(n.last_name) = lower(p.last_name)
                AND lower(n.first_name) = lower(p.first_name) AND n.dob = p.dob THEN 2
              WHEN n.seq = p.seq AND (n.dob IS NULL OR p.dob IS NULL OR n.dob = p.dob) THEN 1
              ELSE 0 END AS score
          FROM {spec.table} s JOIN {a} n ON n.base_record_id = s.record_id
          JOIN {a} p ON p.base_record_id = s.supersedes
          WHERE s.supersedes IS NOT NULL
          QUALIFY score > 0 AND row_number() OVER (
              PARTITION BY n.record_id ORDER BY score DESC, p.seq) = 1)
        QUALIFY row_number() OVER (PARTITION BY earlier ORDER BY score DESC, record_id) = 1"""


def _pending_batches(engine: Engine) -> list[tuple[str, str, str]]:
    return [
        (str(b), str(f), str(y))
        for b, f, y in engine.query(
            f"""SELECT b.batch_id, b.feed, b.spec_yaml FROM {INGEST_BATCHES.name} b
           WHERE b.batch_id NOT IN (SELECT batch_id FROM {LEDGER_BATCHES.name})
             AND b.rows_loaded > 0 ORDER BY b.batch_id"""
        )
    ]


def build_ledger(engine: Engine) -> LedgerReport:
    """Map new batches onto ledger events and refresh every event's person.

    Raises:
        UserError: nothing was ingested yet, or the records were never linked.
    """
    start = time.perf_counter()
    if not engine.table_exists(INGEST_BATCHES.name) or not engine.scalar(
        f"SELECT count(*) FROM {INGEST_BATCHES.name}"
    ):
        raise UserError("nothing to build a ledger from: ingest a furnisher file first")
    if not engine.table_exists(PERSON_INDEX.name):
        raise UserError("records are not linked to persons yet: run `openbureau link` first")
    report = LedgerReport(batches=0)
    store.ensure_schema(engine)  # (outside the transaction: it may make a table again)
    with engine.transaction():
        upgrade_schema(engine)
        chained = chain_earlier_rows(engine)
        pending = _pending_batches(engine)
        # batches from before rows were compared are mapped as they were (each row a report
        # of its own), then chained; the batches after them name rows of those chains
        earlier = [b for b in pending if b[0] in set(chained.batch_ids)]
        if pending or chained.batch_ids:
            engine.require("mapping batches onto the ledger", "row_updates")
        _map_batches(engine, earlier, report, compared=False)
        if chained.batch_ids:
            report.chained_events_stopped = chain_events(engine)
            drop_chained(engine)
            report.chained_batches = len(chained.batch_ids)
            report.chained_identical = chained.identical
            report.chained_superseding = chained.superseding
        _map_batches(engine, [b for b in pending if b not in earlier], report, compared=True)
        report.persons_refreshed = refresh_persons(engine)
        report.unlinked_events = sum(
            int(engine.scalar(f"SELECT count(*) FROM {t.table} WHERE person_id IS NULL"))
            for t in EVENTS.values()
        )
    refuse_unknown_values(engine)  # after the commit: what it names can then be corrected
    report.seconds = time.perf_counter() - start
    return report


def _map_batches(
    engine: Engine, batches: list[tuple[str, str, str]], report: LedgerReport, *, compared: bool
) -> None:
    """Map each batch with the spec it was loaded with (``compared``: its rows name the
    reports they supersede)."""
    for batch_id, feed, spec_yaml in batches:
        spec = parse_spec(load_yaml(spec_yaml), origin=f"batch {batch_id}", historical=True)
        if spec.ledger is None:
            if feed not in report.identity_only:
                report.identity_only.append(feed)
            engine.execute(
                "INSERT INTO ledger_batches VALUES (?, ?, NULL, 0, now())", [batch_id, feed]
            )
            report.batches += 1
            continue
        table = EVENTS[spec.ledger.event]
        found = sources(spec, table)
        kept = {s.target for s in found if s.kept_out}
        added = _map_batch(engine, table, spec, batch_id, report, compared=compared, kept=kept)
        report.consumers_dropped += end_dropped_consumers(engine, spec, batch_id)
        report.deleted_by_furnisher += apply_delete_requests(engine, spec, batch_id)
        _count_kept_out(report, record_lineage(engine, batch_id, spec, table, found))
        engine.execute(
            "INSERT INTO ledger_batches VALUES (?, ?, ?, ?, now())",
            [batch_id, feed, table.event, added],
        )
        report.events[table.event] = report.events.get(table.event, 0) + added
        report.batches += 1


def _map_batch(
    engine: Engine,
    table: EventTable,
    spec: SourceSpec,
    batch_id: str,
    report: LedgerReport,
    *,
    compared: bool,
    kept: set[str],
) -> int:
    """Add one batch's events to ``table``; returns the versions added.

    A row superseding an earlier report becomes the next version of that report's event
    (found by the loaded row it supersedes); without one in this table (the earlier batch was
    identity only) it is a report of its own.
    """
    assert spec.ledger is not None
    t = table.table
    compared = compared and "supersedes" in engine.columns(spec.table)
    types = column_types(engine, spec.table)
    # (a month read from a payment history profile carries its report's loaded row: never
    # the report a new row supersedes)
    own = " AND history_of IS NULL" if table.event == "account_status" else ""
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ledger_batch AS
        WITH mapped AS ({_select_sql(table, spec, spec.ledger, compared, types, kept)}),
        chain AS (
          SELECT loaded_record_id AS _prior_record, any_value(record_id) AS root FROM {t}
          WHERE loaded_record_id IN (SELECT _prior_record FROM mapped){own} GROUP BY 1),
        head AS (
          SELECT record_id AS root, max(version) AS top,
                 any_value(event_id) FILTER (WHERE is_current) AS head_event
          FROM {t} WHERE record_id IN (SELECT root FROM chain) GROUP BY 1)
        SELECT mapped.* REPLACE (
            coalesce(h.root || '~' || (h.top + 1), mapped.event_id) AS event_id,
            coalesce(h.root, mapped.record_id) AS record_id,
            coalesce(h.top + 1, 1) AS version, h.head_event AS supersedes)
        FROM mapped LEFT JOIN chain c USING (_prior_record) LEFT JOIN head h USING (root)""",
        [batch_id],
    )
    superseded, corrections = engine.query(f"""
        SELECT count(*), count(correction_reason) FROM {t}
        WHERE event_id IN (SELECT supersedes FROM _ledger_batch)""")[0]
    # The old version stays what the bureau knew until the new report was reported; so does
    # any earlier one still counting then (a file re-sent with its old reporting dates after a
    # revision must not bring back two versions of one report on the same day). How each stood
    # before is kept, as of the new versions' known-at time (the same now(): one transaction).
    replaced = f"""FROM _ledger_batch b
        WHERE b.supersedes IS NOT NULL AND {t}.record_id = b.record_id
          AND ({t}.event_id = b.supersedes OR {t}.superseded_on IS NOT NULL)"""
    engine.execute(f"""INSERT INTO ledger_version_states
        SELECT DISTINCT {t}.event_id, {t}.is_current, {t}.superseded_on, now()::TIMESTAMP
        FROM {t}, {replaced.removeprefix("FROM ")}""")
    engine.execute(f"""UPDATE {t} SET is_current = false,
            superseded_on = least(coalesce({t}.superseded_on, b.reported_date), b.reported_date)
        {replaced}""")
    # A Metro 2 batch's payment history profiles: the months the ledger has no report of
    # (inserted with the batch's events), and the months they gave that its reports now give
    profiles = table.event == "account_status" and spec.format == "metro2"
    months = 0
    extra = f"UNION ALL BY NAME SELECT * FROM {_history.NEW}" if profiles else ""
    if profiles:
        replaced_months, months, unreadable = _history.prepare_history(engine, spec, batch_id)
        report.history_superseded += replaced_months
        report.history_months += months
        report.history_unreadable += unreadable
    # In person order: a batch's rows then sit in few row groups per person, whose zone maps
    # let a person-level rescore (a dispute's resolution) skip the rest of the table.
    engine.execute(
        f"INSERT INTO {t} BY NAME SELECT * FROM (SELECT * EXCLUDE (_prior_record) FROM "
        f"_ledger_batch {extra}) ORDER BY person_id, record_id, version"
    )
    added = int(engine.scalar("SELECT count(*) FROM _ledger_batch")) + months
    # (inside the build's transaction: a failure rolls the temp tables back with the rest)
    engine.execute("DROP TABLE _ledger_batch")
    if profiles:
        engine.execute(f"DROP TABLE {_history.NEW}")
    report.superseded += int(superseded)
    report.corrections_superseded += int(corrections)
    return added


def _count_kept_out(report: LedgerReport, kept: list[KeptOut]) -> None:
    """Add one batch's kept-out fields to the build's, per feed field and event column."""
    for k in kept:
        same = [
            r
            for r in report.kept_out
            if (r.feed, r.target, r.category, r.column) == (k.feed, k.target, k.category, k.column)
        ]
        if same:
            same[0].rows += k.rows
        else:
            report.kept_out.append(k)


def refresh_persons(engine: Engine) -> int:
    """Point every event at its identity's current person; returns events changed."""
    changed = 0
    for t in EVENTS.values():
        n = engine.scalar(f"""SELECT count(*) FROM {t.table} e
            LEFT JOIN {PERSON_INDEX.name} pi ON pi.identity_id = e.identity_id
            WHERE e.person_id IS DISTINCT FROM pi.person_id""")
        if n:
            engine.require("moving events to their identity's new person", "row_updates")
            engine.execute(f"""UPDATE {t.table} SET person_id = pi.person_id
                FROM (SELECT e.event_id, p.person_id FROM {t.table} e
                      LEFT JOIN {PERSON_INDEX.name} p ON p.identity_id = e.identity_id
                      WHERE e.person_id IS DISTINCT FROM p.person_id) pi
                WHERE {t.table}.event_id = pi.event_id""")
            changed += int(n)
    return changed


def event_counts(engine: Engine) -> dict[str, int]:
    """Current, linked, unsuppressed events per event type."""
    ensure_schema(engine)
    return {e: int(engine.scalar(f"SELECT count(*) FROM {t.effective}")) for e, t in EVENTS.items()}


__all__ = [
    "COMMON",
    "LedgerReport",
    "build_ledger",
    "ensure_schema",
    "event_counts",
    "refresh_persons",
    "upgrade_schema",
]
