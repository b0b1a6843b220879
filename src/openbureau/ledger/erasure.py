"""Erasure of a person's alternative data at their request (GDPR Art. 17).

``erase_alternative_data(engine, person_ids, ...)`` deletes, in one transaction, every ledger
event of an alternative feed (``ledger.alternative: true``: utility, telecom and rent bills)
held on the person under any of their IDs, every version of it, and the loaded rows behind them
(``src_<feed>``, and the ``identical_rows`` / ``stale_rows`` lines that point at them; their
accuracy flags, and the examples of accuracy findings that showed their values). What stays
is a tombstone in ``alternative_erasures``: whose, when, at whose request, which feeds and how
many rows of each table, never a value; the service adds an audit entry.

Identity records standardised from those rows stay (they are what the file is linked by and
carry no payment); so do quarantined lines (masked, and not linked to anyone). A furnisher's
later reports of the same bills are loaded again as new records: they count in the person's
score only if the person consents again.

An erased person's alternative score in an earlier snapshot can no longer be recomputed
(``openbureau score --recompute`` shows them as differing); the tombstone says why.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from openbureau.engine import Engine
from openbureau.engine.sql import literals
from openbureau.warehouse import ingest
from openbureau.warehouse import ledger as tables

ERASURES_TABLE = tables.ALTERNATIVE_ERASURES.name
TOMBSTONES = tables.ALTERNATIVE_ERASURES.create_sql()


@dataclass
class Erasure:
    erasure_id: int
    feeds: list[str]
    records: int  # ledger records (reports) erased
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows deleted

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _list(values: list[str]) -> str:
    return "[" + literals(values) + "]"


def alternative_feeds(engine: Engine) -> frozenset[str]:
    """The feeds (spec names) of every loaded batch whose spec marks them alternative."""
    import yaml

    from openbureau.ingest.spec import parse_spec
    from openbureau.ingest.store import ensure_schema

    ensure_schema(engine)
    feeds = set()
    for feed, text in engine.query(
        f"SELECT DISTINCT feed, spec_yaml FROM {ingest.INGEST_BATCHES.name}"
    ):
        spec = parse_spec(yaml.safe_load(text), f"batch spec of {feed}", historical=True)
        if spec.ledger is not None and spec.ledger.is_alternative:
            feeds.add(str(feed))
    return frozenset(feeds)


def erase_alternative_data(
    engine: Engine,
    person_ids: list[str],
    *,
    requested_by: str,
    requested_at: dt.datetime | None = None,
) -> Erasure:
    """Delete the person's alternative-data rows and leave a tombstone (see module doc)."""
    from openbureau.ledger.build import ensure_schema

    ensure_schema(engine)
    engine.execute(TOMBSTONES)
    feeds = sorted(alternative_feeds(engine))
    ids = _list(person_ids)
    rows: dict[str, int] = {}
    with engine.transaction():
        engine.execute(f"""CREATE OR REPLACE TEMP TABLE _erased AS
            SELECT event_id, record_id, loaded_record_id, feed FROM ledger_payments
            WHERE list_contains({ids}, person_id) AND list_contains({_list(feeds)}, feed)""")
        records = int(engine.scalar("SELECT count(DISTINCT record_id) FROM _erased"))
        loaded = "SELECT loaded_record_id FROM _erased UNION SELECT record_id FROM _erased"
        for feed in feeds:
            table = f"src_{feed}"
            if engine.table_exists(table):
                rows[table] = _delete(engine, table, f"record_id IN ({loaded})")
        for table in (ingest.IDENTICAL_ROWS.name, ingest.STALE_ROWS.name):
            if engine.table_exists(table):
                rows[table] = _delete(engine, table, f"record_id IN ({loaded})")
        flags = ingest.ACCURACY_FLAGS.name
        if engine.table_exists(flags):  # (and the values an example showed)
            rows[flags] = _delete(engine, flags, f"record_id IN ({loaded})")
            erased = [str(r) for (r,) in engine.query(loaded)]
            engine.execute(
                f"UPDATE {ingest.ACCURACY_FINDINGS.name} SET examples = list_filter(examples, "
                "lambda e: NOT list_contains(?, e.record_id)) "
                "WHERE len(list_filter(examples, lambda e: list_contains(?, e.record_id))) > 0",
                [erased, erased],
            )
        if engine.table_exists("ledger_version_states"):
            rows["ledger_version_states"] = _delete(
                engine, "ledger_version_states", "event_id IN (SELECT event_id FROM _erased)"
            )
        rows["ledger_payments"] = _delete(
            engine, "ledger_payments", "event_id IN (SELECT event_id FROM _erased)"
        )
        engine.execute("DROP TABLE _erased")
        erasure_id = int(
            engine.scalar(f"SELECT coalesce(max(erasure_id), 0) + 1 FROM {ERASURES_TABLE}")
        )
        engine.execute(
            f"INSERT INTO {ERASURES_TABLE} VALUES (?, ?, ?, now()::TIMESTAMP, ?, ?, ?, ?)",
            [
                erasure_id,
                person_ids,
                requested_at,
                requested_by,
                feeds,
                records,
                json.dumps(rows, sort_keys=True),
            ],
        )
    return Erasure(erasure_id, feeds, records, rows)


def _delete(engine: Engine, table: str, where: str) -> int:
    n = int(engine.scalar(f"SELECT count(*) FROM {table} WHERE {where}"))
    if n:
        engine.execute(f"DELETE FROM {table} WHERE {where}")
    return n


def erasures(engine: Engine, person_ids: list[str]) -> list[dict[str, object]]:
    """The tombstones of the person's erasures, newest first."""
    if not engine.table_exists(ERASURES_TABLE):
        return []
    return engine.arrow(
        f"SELECT * FROM {ERASURES_TABLE} WHERE len(list_intersect(person_ids, "
        f"{_list(person_ids)})) > 0 ORDER BY erasure_id DESC"
    ).to_pylist()
