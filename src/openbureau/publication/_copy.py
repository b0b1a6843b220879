"""Publication: the serving copy of a score snapshot, built from the warehouse.

DuckDB lets one process write a database file, so a service holding the warehouse open would
block ``openbureau score``. Instead, publishing a snapshot writes a read-only serving copy
(``serving/<snapshot>.duckdb``: scores of every snapshot, the snapshot's features and file items,
the identity tables the lender lookup needs and its index (``identity/_lookup_index.py``: the
records it compares, in person order, and their blocking keys), what a person's own file shows
of how it was linked, and the links that joined it, for their export) and then points
``serving/CURRENT`` at it with an atomic rename. The service notices the new pointer on its next
request and switches without a restart; a half-written copy is never pointed at. Every version
of every record, the rest of a person's export, is in a records file beside the copies
(``_records``), written only when the ledger changed; the copy names it, and the service opens
the two together. Each publication is recorded (``publications``: when, and the newest link
run the copy shows), in the copy and in the warehouse, for the periods of a person's access
log. (The service signs a head of its audit log at each publication:
``service.serving.publish_snapshot``.)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

import duckdb
import yaml

from openbureau.config import AgeingSection
from openbureau.engine import Engine
from openbureau.engine.sql import literal, path_literal
from openbureau.errors import UserError
from openbureau.ingest import _metro2
from openbureau.ledger._bankruptcy import on_file_sql
from openbureau.ledger._schema import EVENTS
from openbureau.ledger.ageing import (
    DEFAULT_RULES,
    aged_off_records_sql,
    bill_ages_sql,
    inquiry_ages_sql,
    known_on_sql,
    marked_status_sql,
    public_record_ages_sql,
)
from openbureau.ledger.erasure import ERASURES_TABLE
from openbureau.publication._records import (
    ensure_records_file,
    records_file_of,
    remove_records_leftovers,
    remove_unused_records,
)
from openbureau.scoring.scorecard import Scorecard
from openbureau.warehouse import identity, publication, scoring

SERVING_DIR = "serving"
POINTER = "CURRENT"
KEEP = 2  # serving copies kept: the current one and the one before (requests may still read it)

# Tables the lender lookup and a person's file (identity.person.person_file) read, copied as
# they are.
IDENTITY_TABLES = tuple(
    t.name
    for t in (
        identity.IDENTITY_RECORDS,
        identity.PERSON_INDEX,
        identity.PERSON_IDS,
        identity.PERSON_ID_HISTORY,
    )
)
# The saved linkage model, in a workspace (its term-frequency columns are the lookup index's).
LINKAGE_MODEL = Path("models") / "linkage-model.json"
# Each record no longer reported on the snapshot's date (ledger.ageing), for a person's export.
AGED_OFF_TABLE = "aged_off_records"


def _file_items_sql(day: str, ageing: AgeingSection | None = None) -> str:
    """One row per thing on a person's file as of ``day``: an account, a bill account, an
    inquiry or a public record, with its recent history and the records behind it.

    An item aged off by ``day`` (``ledger.ageing``) stays, with ``aged_off_on``: the person
    sees it as no longer reported, lenders do not see it. An account's late months (or late
    bills) aged off while the account still reports are counted in ``aged_off_records`` and
    show as ``aged_off`` in its history; its status, amounts and dates are those still
    reported. A late account shows its date of first delinquency and whether the bureau
    derived it."""
    rules = ageing or DEFAULT_RULES
    known = known_on_sql(day)
    status_rows = f"(SELECT * FROM ledger_account_status_effective WHERE {known})"
    reported = "FILTER (WHERE aged_off_on IS NULL)"
    unpaid = f"(paid_date IS NULL OR paid_date > {day})"

    def latest(col: str) -> str:  # what is still reported, else what was last
        return f"coalesce(arg_max({col}, event_date) {reported}, arg_max({col}, event_date))"

    def any_bill(cond: str) -> str:  # the same for a bill account's bills
        return f"coalesce(bool_or({cond}) {reported}, bool_or({cond}))"

    return f"""
    SELECT person_id, furnisher, feed, 'account' AS kind, account_id AS item_id,
        arg_max(product, event_date) AS title, {latest("payment_status")} AS status,
        {latest("balance")}::DOUBLE AS amount,
        {latest("credit_limit")}::DOUBLE AS credit_limit,
        min(opened_date) AS opened, {latest("closed_date")} AS closed,
        coalesce(max(event_date) {reported}, max(event_date)) AS last_date,
        count(*)::INTEGER AS months,
        list(CASE WHEN aged_off_on IS NULL THEN payment_status ELSE 'aged_off' END
             ORDER BY event_date DESC)[1:24] AS history,
        list(record_id ORDER BY event_date DESC) AS record_ids,
        CASE WHEN count(*) {reported} = 0 THEN max(aged_off_on) END AS aged_off_on,
        count(aged_off_on)::INTEGER AS aged_off_records,
        arg_max(dofd, event_date) FILTER (WHERE dofd IS NOT NULL) AS first_delinquency,
        arg_max(dofd_derived, event_date) FILTER (WHERE dofd IS NOT NULL)
            AS first_delinquency_derived,
        {_compliance_sql(day)} AS compliance_condition
    FROM ({marked_status_sql(status_rows, day, rules)}) AS acc
    GROUP BY person_id, furnisher, feed, account_id
    UNION ALL
    SELECT person_id, furnisher, feed, 'bill' AS kind, account_id,
        any_value(payment_kind),
        CASE WHEN {any_bill(f"due_date < {day} AND {unpaid}")} THEN 'unpaid'
             WHEN {any_bill("days_late >= 30")} THEN 'paid late' ELSE 'paid on time' END,
        coalesce(sum(amount_due) FILTER (WHERE {unpaid} AND aged_off_on IS NULL),
                 sum(CASE WHEN {unpaid} THEN amount_due END))::DOUBLE,
        NULL, min(due_date), NULL, max(due_date), count(*)::INTEGER,
        list(CASE WHEN aged_off_on IS NOT NULL THEN 'aged_off'
                  WHEN {unpaid} THEN 'unpaid' WHEN days_late >= 30 THEN 'late' ELSE 'on_time' END
             ORDER BY due_date DESC)[1:24],
        list(record_id ORDER BY due_date DESC),
        -- (an account of bills is on file while one of its bills is)
        CASE WHEN count(*) {reported} = 0 THEN max(aged_off_on) END,
        count(aged_off_on)::INTEGER, NULL, NULL, NULL
    FROM (SELECT *, {_aged(bill_ages_sql(day, rules), day)} AS aged_off_on
          FROM ledger_payments_effective WHERE {known})
    GROUP BY person_id, furnisher, feed, account_id
    UNION ALL
    SELECT person_id, furnisher, feed, 'inquiry', record_id, 'inquiry: ' ||
        coalesce(inquiry_type, 'credit'), NULL, NULL, NULL, event_date, NULL, event_date, 1,
        [], [record_id], {_aged(inquiry_ages_sql(rules), day)}, 0, NULL, NULL, NULL
    FROM ledger_inquiries_effective WHERE {known}
    UNION ALL
    SELECT person_id, furnisher, feed, 'public_record', coalesce(case_id, record_id),
        record_kind, CASE WHEN resolved_date <= {day} THEN 'resolved' ELSE 'unresolved' END,
        amount::DOUBLE, NULL, filed_date,
        CASE WHEN resolved_date <= {day} THEN resolved_date END, event_date, 1, [], [record_id],
        {_aged(public_record_ages_sql(rules), day)}, 0, NULL, NULL, NULL
    FROM {on_file_sql(known)}"""


def _compliance_sql(day: str) -> str:
    """SQL (a scalar subquery on an account's group ``acc``): its furnisher's standing
    compliance condition code (Metro 2) as known on ``day``: the latest one sent, over every
    version of the account's reports not suppressed (a month re-sent blank changes nothing),
    kept until another code, or XR (removal) which leaves none."""
    sent = "trim(coalesce(k.compliance_condition, ''))"
    removed = ", ".join(literal(c) for c, text in _metro2.COMPLIANCE.items() if text is None)
    return f"""(SELECT CASE WHEN c NOT IN ({removed}) THEN c END FROM (
        SELECT arg_max({sent}, struct_pack(d := k.event_date, r := k.recorded_at)) AS c
        FROM {EVENTS["account_status"].table} k
        WHERE k.person_id = acc.person_id AND k.account_id = acc.account_id
          AND NOT EXISTS (SELECT 1 FROM ledger_suppressions x
                          WHERE x.record_id = k.record_id AND x.lifted_at IS NULL)
          AND k.event_date <= {day} AND coalesce(k.reported_date, k.event_date) <= {day}
          AND {sent} <> ''))"""


def _aged(ages_on: str, day: str) -> str:
    return f"CASE WHEN {ages_on} <= {day} THEN {ages_on} END"


PUBLICATIONS = publication.PUBLICATIONS.create_sql()
PUBLISHED = publication.PUBLICATIONS.name
# (the identity tables a person's identity part and the lender lookup are built from)
_LOOKUP_TABLES = (identity.PERSON_INDEX.name, identity.IDENTITY_RECORDS.name)
_LINK_TABLES = (
    identity.PERSON_INDEX.name,
    identity.LINK_EDGES.name,
    identity.LINK_OVERRIDES.name,
)


def publish_snapshot(
    engine: Engine,
    workspace: Path,
    snapshot_id: str,
    features_table: str,
    ageing: AgeingSection | None = None,
) -> Path:
    """Write the serving copy of ``snapshot_id`` and point ``serving/CURRENT`` at it.

    ``features_table`` holds the features the snapshot was scored on (one row per person);
    ``ageing``: the periods after which items are no longer reported (default: the
    workspace's ``[ageing]``).
    """
    from openbureau.workspace import Workspace

    # (the serving copy is a DuckDB file the warehouse writes through ATTACH; from a Spark
    # warehouse it is to be built from the snapshot's Parquet: not yet)
    engine.require("publishing a snapshot to the service", "attach")
    if ageing is None:
        ageing = Workspace.open(workspace).settings.ageing
    from openbureau.identity.person import (
        PERSON_IDENTITY_SQL,
        PERSON_IDENTITY_TABLE,
        PERSON_LINKS_SQL,
        PERSON_LINKS_TABLE,
    )

    as_of = engine.scalar(
        f"SELECT as_of FROM {scoring.SCORE_SNAPSHOTS.name} WHERE snapshot_id = ?", [snapshot_id]
    )
    if as_of is None:
        raise UserError(f"no score snapshot {snapshot_id!r}")
    folder = workspace / SERVING_DIR
    folder.mkdir(exist_ok=True)
    remove_leftovers(folder)
    _record_served(engine, folder)
    # (the ledger's record versions, for an export: written only if the ledger changed)
    records = ensure_records_file(engine, folder)
    final = folder / f"{snapshot_id}-{time.time_ns()}.duckdb"
    tmp = final.with_suffix(".tmp")
    day = f"DATE '{as_of.isoformat()}'"
    engine.execute(f"ATTACH {path_literal(tmp)} AS pub")
    try:
        tables = {
            "meta": f"""SELECT {literal(snapshot_id)} AS snapshot_id, {day} AS as_of,
                now() AS published_at, {literal(records)} AS records_file""",
            "snapshots": f"SELECT * FROM {scoring.SCORE_SNAPSHOTS.name}",
            "scores": f"SELECT * FROM {scoring.SCORES.name} ORDER BY person_id, as_of",
            "features": f"SELECT * FROM {features_table} ORDER BY person_id",
            "file_items": f"SELECT * FROM ({_file_items_sql(day, ageing)}) ORDER BY person_id",
            AGED_OFF_TABLE: f"""SELECT * FROM ({aged_off_records_sql(day, ageing)})
                ORDER BY person_id, record_id""",
            "persons": f"""SELECT p.person_id, mode(r.first_name) AS first_name,
                    mode(r.last_name) AS last_name, mode(r.dob) AS dob,
                    mode(r.postcode) AS postcode
                FROM {identity.PERSON_INDEX.name} p
                JOIN {identity.IDENTITY_RECORDS.name} r USING (identity_id)
                GROUP BY p.person_id ORDER BY p.person_id""",
        }
        # ... and the tombstones of erasures of alternative data, for a person's export
        for name in (*IDENTITY_TABLES, ERASURES_TABLE):
            if engine.table_exists(name):
                tables[name] = f"SELECT * FROM {name}"
        # ... and each person's identity records, as person_file reads them, in person order
        if all(engine.table_exists(t) for t in _LOOKUP_TABLES):
            tables[PERSON_IDENTITY_TABLE] = f"{PERSON_IDENTITY_SQL} ORDER BY p.person_id"
        # ... and, for a person's export of their file, the links that joined it (its records
        # are in the records file)
        if all(engine.table_exists(t) for t in _LINK_TABLES):
            tables[PERSON_LINKS_TABLE] = f"SELECT * FROM ({PERSON_LINKS_SQL}) ORDER BY person_id"
        for name, sql in tables.items():
            engine.execute(f"CREATE TABLE pub.{name} AS {sql}")
        engine.execute("CREATE INDEX scores_person ON pub.scores (person_id)")
        # ... and the lender lookup's index (identity/_lookup_index.py), so a service loads it
        lookups = set(_LOOKUP_TABLES) <= set(tables)
        if lookups and (tf := _lookup_tf_columns(workspace)) is not None:
            from openbureau.identity._lookup_index import build_sql

            for sql in build_sql("pub", tf):
                engine.execute(sql)
        # when each published copy began to be served, and the link runs it shows: a person's
        # access log maps the ID history's times to the reads they changed (written last, once
        # the rest is on disk, a moment before the copy is put in place)
        engine.execute("CHECKPOINT pub")
        linked = (
            engine.scalar(f"SELECT max(linked_at) FROM {identity.LINK_RUNS.name}")
            if engine.table_exists(identity.LINK_RUNS.name)
            else None
        )
        this = [snapshot_id, engine.scalar("SELECT now()::TIMESTAMP"), linked]
        engine.execute(
            f"CREATE TABLE pub.{PUBLISHED} AS SELECT * FROM {PUBLISHED} UNION ALL SELECT ?, ?, ?",
            this,
        )
    except BaseException:
        engine.execute("DETACH pub")
        remove_leftovers(folder)  # (a publish that failed; one killed is cleaned up next time)
        raise
    engine.execute("DETACH pub")
    os.replace(tmp, final)
    pointer = folder / f"{POINTER}.tmp"
    pointer.write_text(final.name + "\n", encoding="utf-8")
    os.replace(pointer, folder / POINTER)
    engine.execute(f"INSERT INTO {PUBLISHED} VALUES (?, ?, ?)", this)
    copies = sorted(folder.glob("*.duckdb"), key=lambda p: p.stat().st_mtime)
    for old in copies[:-KEEP]:
        old.unlink(missing_ok=True)
    _remove_unused_records(engine, folder, copies[-KEEP:], records)
    return final


def _lookup_tf_columns(workspace: Path) -> list[str] | None:
    """The columns the workspace's linkage model adjusts for term frequency (what the lookup
    index holds frequencies of); None without a model (no lookup then)."""
    from openbureau.identity._splink import tf_columns

    try:
        model = json.loads((workspace / LINKAGE_MODEL).read_text(encoding="utf-8"))
        return tf_columns(model)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # (a lookup reports what is wrong with the file)


def republish(engine: Engine, workspace: Path, snapshot_id: str) -> Path:
    """Publish ``snapshot_id`` again, with the features it was scored on (as of its date, as
    known at its time) and the warehouse's identity tables as they are now: after a forced
    split, its file IDs and ID history."""
    from openbureau.ledger.features import compute_features
    from openbureau.scoring.factors import add_custom_features
    from openbureau.scoring.score import ensure_schema, snapshot_ageing, snapshot_alt_card
    from openbureau.workspace import Workspace

    card, as_of = snapshot_card(engine, snapshot_id)
    if card is None:
        raise UserError(f"no score snapshot {snapshot_id!r}")
    ensure_schema(engine)
    known_at = engine.scalar(
        f"SELECT known_at FROM {scoring.SCORE_SNAPSHOTS.name} WHERE snapshot_id = ?",
        [snapshot_id],
    )
    # (with the ageing-off periods it was scored with; bureau.toml's for one scored before
    # they were recorded)
    ageing = snapshot_ageing(engine, snapshot_id) or Workspace.open(workspace).settings.ageing
    compute_features(engine, as_of, into="publish_features", known_at=known_at, ageing=ageing)
    # (the custom factors of both scorecards the snapshot scored with, as it had them)
    alt = snapshot_alt_card(engine, snapshot_id)
    customs = {
        f.name: f.custom
        for c in (card, *([alt] if alt is not None else []))
        for f in c.factors
        if f.custom is not None
    }
    add_custom_features(
        engine,
        "publish_features",
        as_of,
        list(customs.items()),
        known_at=known_at,
        ageing=ageing,
    )
    return publish_snapshot(engine, workspace, snapshot_id, "publish_features", ageing=ageing)


def remove_leftovers(folder: Path) -> None:
    """Delete what a killed ``score`` or ``publish`` left in ``folder``: a half-written copy
    (``*.tmp``), its write-ahead log (``*.tmp.wal``) and a pointer never renamed into place
    (``CURRENT.tmp``). None of them is ever served, and no other publish is writing them now
    (publishing writes the warehouse, which one process at a time may open for writing)."""
    for path in [*folder.glob("*.tmp"), *folder.glob("*.tmp.wal")]:
        path.unlink(missing_ok=True)
    remove_records_leftovers(folder)


def _remove_unused_records(engine: Engine, folder: Path, kept: list[Path], records: str) -> None:
    """Delete the records files none of the ``kept`` serving copies names (``records``: the
    new copy's). A copy that cannot be read keeps them all."""
    used = {records}
    for copy in kept:
        try:
            used.add(records_file_of(engine, copy) or records)
        except duckdb.Error:
            return
    remove_unused_records(folder, used)


def served_links(engine: Engine) -> list[tuple[Any, Any]]:
    """(the newest link run's time, when the copy began to be served) of each published copy
    that showed a link run, oldest first: what a change of a person's file is mapped to, when
    the service began to show it (``identity.person.held_elsewhere``). Reads the warehouse's
    ``publications``, or a serving copy's."""
    if not engine.table_exists(PUBLISHED):
        return []
    return engine.query(
        f"SELECT identity_as_of, published_at FROM {PUBLISHED} "
        "WHERE identity_as_of IS NOT NULL ORDER BY published_at"
    )


def _record_served(engine: Engine, folder: Path) -> None:
    """Make sure the warehouse's ``publications`` holds those of the copy served now: a
    publish that stopped after putting its copy in place (before it recorded it) left them
    only there."""
    engine.execute(PUBLICATIONS)
    try:
        served = folder / (folder / POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return
    if not served.is_file():
        return
    engine.execute(f"ATTACH {path_literal(served)} AS served (READ_ONLY)")
    try:
        if engine.scalar(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'served' "
            "AND table_name = ?",
            [PUBLISHED],
        ):
            engine.execute(f"""INSERT INTO {PUBLISHED} SELECT * FROM served.{PUBLISHED}
                              EXCEPT SELECT * FROM {PUBLISHED}""")
    finally:
        engine.execute("DETACH served")


def snapshot_card(engine: Engine, snapshot_id: str) -> tuple[Scorecard | None, dt.date]:
    """The scorecard a snapshot was scored with, and its as-of date."""
    rows = engine.query(
        f"SELECT scorecard_yaml, as_of FROM {scoring.SCORE_SNAPSHOTS.name} WHERE snapshot_id = ?",
        [snapshot_id],
    )
    if not rows:
        return None, dt.date.min
    return Scorecard.model_validate(yaml.safe_load(rows[0][0])), rows[0][1]
