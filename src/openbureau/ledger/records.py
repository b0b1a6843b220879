"""Every record of a person's file as the ledger holds it: each version, with its batch.

A person's right of access (FCRA s.609, GDPR Art. 15) covers everything held, not only what
counts today: each furnisher's report of each record, every version of it (the furnisher's later
reports and the bureau's corrections), the batch and load time each version came in, and the
suppressions placed on the record (disputed, aged off - "no longer reported" -, no consent,
fraud), lifted ones included.

``FILE_RECORDS_SQL`` is one row per version of every linked record, the event's own columns side
by side (NULL where an event has no such column), by identity, not by person: a person's records
are those of the identities linked into their file (``person_index``), so a link run changes
none of its rows. The service reads it from a file of its own beside the serving copies
(``publication``), written again only when ``records_stamp`` changes; ``person_records``
reads that file's ``FILE_RECORDS_TABLE`` or the warehouse.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from openbureau.engine import Engine
from openbureau.ledger._schema import EVENTS
from openbureau.warehouse.identity import PERSON_INDEX
from openbureau.warehouse.ingest import INGEST_BATCHES

FILE_RECORDS_TABLE = "file_records"

#: Each event's own columns, in declaration order: what a version's ``fields`` holds.
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    event: tuple(c.name for c in table.columns) for event, table in EVENTS.items()
}


def _union_columns() -> dict[str, str]:
    """Every event column once (name -> SQL type), the first declaration's type."""
    out: dict[str, str] = {}
    for table in EVENTS.values():
        for c in table.columns:
            out.setdefault(c.name, c.sql_type)
    return out


UNION_COLUMNS = _union_columns()

# (a version's common columns, as the export names them)
_COMMON = """e.record_id, e.event_id, e.version, e.is_current, e.supersedes,
    e.identity_id, e.furnisher, e.feed, e.batch_id, b.loaded_at, e.loaded_record_id,
    e.event_date, e.reported_date, e.recorded_at, e.correction_reason, e.superseded_on,
    e.unreadable"""


def _event_select(event: str) -> str:
    table = EVENTS[event]
    own = set(EVENT_FIELDS[event])
    cols = ", ".join(
        f"e.{name}" if name in own else f"NULL::{sql_type} AS {name}"
        for name, sql_type in UNION_COLUMNS.items()
    )
    return f"""SELECT '{event}' AS event, {_COMMON}, {cols}
        FROM {table.table} e LEFT JOIN {INGEST_BATCHES.name} b USING (batch_id)
        WHERE e.identity_id IS NOT NULL"""


# One row per version of every record with an identity, with the record's suppressions (every
# one, lifted ones too, oldest first; NULL: none).
FILE_RECORDS_SQL = f"""
    WITH versions AS ({" UNION ALL ".join(_event_select(e) for e in EVENTS)}),
    sup AS (
        SELECT record_id, list({{'suppression_id': suppression_id, 'reason': reason,
                                'note': note, 'created_at': created_at,
                                'lifted_at': lifted_at, 'lift_note': lift_note}}
                               ORDER BY suppression_id) AS suppressions
        FROM ledger_suppressions GROUP BY record_id)
    SELECT v.*, sup.suppressions FROM versions v LEFT JOIN sup USING (record_id)"""


#: What ``records_stamp`` reads of each table: (table, the aggregates). Every write to the ledger
#: shows in one of them: a built batch adds to ``ledger_batches`` and its versions, a correction
#: adds a version and a version state, a suppression or its lifting changes
#: ``ledger_suppressions``; a batch's ``loaded_at`` never changes, nor a version's identity.
#: (A ledger write none of these shows must add its own here.)
_STAMPED: tuple[tuple[str, str], ...] = (
    *((t.table, "count(*), max(recorded_at)") for t in EVENTS.values()),
    ("ledger_batches", "count(*), max(built_at)"),
    ("ledger_version_states", "count(*), max(changed_at)"),
    ("ledger_suppressions", "count(*), max(created_at), count(lifted_at), max(lifted_at)"),
)


def records_stamp(engine: Engine) -> str:
    """What ``FILE_RECORDS_SQL`` would give now, in 16 hex digits: the same while the ledger
    takes in no batch, correction or suppression (and this openbureau's query is the same).
    Reads counts and newest times, not the rows (milliseconds at a million persons)."""
    parts = [FILE_RECORDS_SQL]
    for table, aggregates in _STAMPED:
        if engine.table_exists(table):
            parts.append(f"{table}: {engine.query(f'SELECT {aggregates} FROM {table}')[0]}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def person_records(engine: Engine, person_ids: list[str]) -> list[dict[str, Any]]:
    """Every record of the persons ``person_ids`` (a file's ID and the IDs merged into it), one
    dict each, with its versions oldest first: ``{"record_id", "event", "furnisher", "feed",
    "standing", "suppressions", "versions": [{..., "fields": {...}}]}``. ``standing`` is
    ``counts``, ``suppressed``, ``no_longer_reported`` (an ``aged_off`` suppression in force) or
    ``replaced`` (no version is current: a month read from a Metro 2 payment history profile
    that its own report now gives).
    Ordered by furnisher, feed, event, first event date and record id.

    The records are those of the persons' identities (``person_index``). Works on the
    warehouse and on a published snapshot (``FILE_RECORDS_TABLE``)."""
    source = (
        FILE_RECORDS_TABLE
        if engine.table_exists(FILE_RECORDS_TABLE)
        else f"({FILE_RECORDS_SQL}) AS r"
    )
    # (a copy published before a column was kept reads it as NULL)
    have = (
        set(engine.columns(FILE_RECORDS_TABLE)) if engine.table_exists(FILE_RECORDS_TABLE) else None
    )
    version_cols = ", ".join(
        f"'{c}': {c if have is None or c in have else 'NULL'}"
        for c in (
            "event_id",
            "version",
            "is_current",
            "supersedes",
            "identity_id",
            "batch_id",
            "loaded_at",
            "loaded_record_id",
            "event_date",
            "reported_date",
            "recorded_at",
            "correction_reason",
            "superseded_on",
            "unreadable",
            *UNION_COLUMNS,
        )
    )
    rows = engine.arrow(
        f"""
        WITH mine AS (
            SELECT * FROM {source} WHERE identity_id IN (
                SELECT identity_id FROM {PERSON_INDEX.name} WHERE list_contains(?, person_id)))
        SELECT record_id, any_value(event) AS event, any_value(furnisher) AS furnisher,
            any_value(feed) AS feed, any_value(suppressions) AS suppressions,
            CASE WHEN list_contains(list_transform(list_filter(
                        coalesce(any_value(suppressions), []), lambda s: s.lifted_at IS NULL),
                        lambda s: s.reason), 'aged_off') THEN 'no_longer_reported'
                 WHEN len(list_filter(coalesce(any_value(suppressions), []),
                                      lambda s: s.lifted_at IS NULL)) > 0 THEN 'suppressed'
                 -- (a month read from a payment history profile that its own report now
                 -- gives: no version of it counts)
                 WHEN NOT bool_or(is_current) THEN 'replaced'
                 ELSE 'counts' END AS standing,
            min(event_date) AS first_date,
            list({{{version_cols}}} ORDER BY version, batch_id, event_id) AS versions
        FROM mine GROUP BY record_id
        ORDER BY furnisher, feed, event, first_date NULLS LAST, record_id""",
        [person_ids],
    ).to_pylist()
    for r in rows:  # (formatting: each version's own fields apart from the common ones)
        own = EVENT_FIELDS[r["event"]]
        r.pop("first_date")
        r["suppressions"] = r["suppressions"] or []
        r["versions"] = [
            {
                **{k: v for k, v in version.items() if k not in UNION_COLUMNS},
                "unreadable": version["unreadable"] or [],
                "fields": {
                    k: float(version[k]) if isinstance(version[k], Decimal) else version[k]
                    for k in own
                },
            }
            for version in r["versions"]
        ]
    return rows
