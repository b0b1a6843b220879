"""Corrections and suppressions: how governance changes what counts, without deleting anything.

``correct_record`` adds a new version of a record's event with some fields changed; the old
version stays, marked not current, and the new one names it in ``supersedes``. Given an event
id, it corrects that version: one a furnisher's newer report replaced, which point-in-time
features read until the newer report's date (the corrected version then counts there instead).
``suppress_record`` keeps a record out of features and scores (disputed, aged off, no consent,
fraud) until ``lift_suppression``; the record itself is untouched.

Each is dated with the time it was made (the new version's ``recorded_at``, the suppression's
``created_at`` and ``lifted_at``), and the replaced version's earlier standing is kept in
``ledger_version_states``: features computed as known at an earlier time see none of it.

Each runs in a transaction of its own, or (``in_transaction=True``) in the caller's
``engine.transaction()``, so that several changes stand or fall together (a dispute's).

A record is a furnisher's report (its ``record_id``, see ``_schema``); the loaded row of a later
batch that superseded it (its ``loaded_record_id``) names the same record here.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.ledger._schema import (
    EVENTS,
    SUPPRESSION_REASONS,
    EventTable,
    counts_on_some_day,
)
from openbureau.ledger.build import ensure_schema, upgrade_schema
from openbureau.ledger.lineage import kept_out_of


class _Found(NamedTuple):
    table: EventTable
    record_id: str  # the report's record id
    event_id: str  # the version meant
    person_id: str | None  # the file that version is in (others may be in other files)

    def scope(self) -> tuple[str, list[Any]]:
        """A condition (and its parameter) that keeps a query on the version meant (by its
        ``event_id``) to its person's rows: the event tables are written in person order, so
        their zone maps skip the rest of a table a bare ``event_id = ?`` would scan."""
        return ("person_id = ? AND ", [self.person_id]) if self.person_id else ("", [])


def _find(
    engine: Engine,
    record_id: str,
    *,
    to_correct: bool = False,
    person_id: str | None = None,
) -> _Found:
    """The record's table, report, version meant (the current one, or the one an event id
    names; ``to_correct``: one features can still read) and person. ``person_id``, the file
    the caller (a dispute) says it is in, is tried first: that search reads the person's rows
    only; a record not found there is looked for everywhere."""
    for scope in ([person_id], []) if person_id else ([],):
        found = (
            _find_version(engine, record_id, to_correct, scope)
            if "~" in record_id  # an event id: one version of a report
            else _find_report(engine, record_id, scope)
        )
        if found is not None:
            return found
    kind = "event" if "~" in record_id else "record"
    raise UserError(f"{kind} {record_id!r} is not in the ledger")


def _person(scope: list[str]) -> str:
    return "person_id = ? AND " if scope else ""


def _find_report(engine: Engine, record_id: str, scope: list[str]) -> _Found | None:
    for table in EVENTS.values():
        # (a ledger built by an earlier openbureau, read-only, has no loaded_record_id)
        loaded = "loaded_record_id" in engine.columns(table.table)
        report = engine.query(
            f"SELECT record_id, person_id FROM {table.table} WHERE {_person(scope)}"
            + ("(record_id = ? OR loaded_record_id = ?)" if loaded else "record_id = ?")
            # (the record named, before a report whose loaded row it is; a report before a
            # month read from its payment history profile, which carries its loaded row)
            + " ORDER BY record_id = ? DESC, position('#' IN record_id) = 0 DESC, record_id"
            + " LIMIT 1",
            [*scope, record_id, record_id, record_id] if loaded else [*scope, record_id, record_id],
        )
        if not report:
            continue
        rid, pid = str(report[0][0]), report[0][1]
        # Each version is linked on its own, so the current one may be in another file than
        # the version found: looked for in this one's file first, then everywhere.
        for where in ([pid], []) if pid else ([],):
            row = engine.query(
                f"SELECT event_id, person_id FROM {table.table} "
                f"WHERE {_person(where)}record_id = ? AND is_current",
                [*where, rid],
            )
            if row:
                return _Found(table, rid, str(row[0][0]), row[0][1])
        if "history_of" in engine.columns(table.table):
            # a month read from a profile that its own report now gives: that report
            own = engine.query(
                f"""SELECT o.record_id, o.event_id, o.person_id FROM {table.table} o
                JOIN {table.table} d ON d.record_id = ? AND d.history_of IS NOT NULL
                  AND o.account_id = d.account_id AND o.event_date = d.event_date
                WHERE o.is_current AND o.history_of IS NULL LIMIT 1""",
                [rid],
            )
            if own:
                return _Found(table, str(own[0][0]), str(own[0][1]), own[0][2])
    return None


def _find_version(
    engine: Engine, event_id: str, to_correct: bool, scope: list[str]
) -> _Found | None:
    """A version by its event id; to be corrected, one that features can still read: the
    current one, or one a furnisher's newer report replaced (it counts until
    ``superseded_on``)."""
    for table in EVENTS.values():
        counted = (
            counts_on_some_day("v")
            if "superseded_on" in engine.columns(table.table)
            else "v.is_current"
        )
        row = engine.query(
            f"SELECT record_id, {counted}, person_id FROM {table.table} v "
            f"WHERE {_person(scope)}event_id = ?",
            [*scope, event_id],
        )
        if not row:
            continue
        if to_correct and not row[0][1]:
            raise UserError(
                f"event {event_id} counts on no day: a correction replaced it, or the "
                "furnisher's newer report did on the day it was reported; correct the version "
                "that counts (record_history lists them)"
            )
        return _Found(table, str(row[0][0]), event_id, row[0][2])
    return None


def correct_record(
    engine: Engine,
    record_id: str,
    changes: dict[str, Any],
    reason: str,
    *,
    in_transaction: bool = False,
    person_id: str | None = None,
) -> str:
    """Add a corrected version of ``record_id``'s event; returns the new event id.

    ``record_id`` names the report (its record id, or a version's loaded record id), whose
    current version is corrected; or one version by its event id (``B000001.7~1``), to correct
    a version a furnisher's newer report replaced: features as of a date before that report
    read it. The corrected version takes the place of the one it corrects, over the same days.
    ``in_transaction``: the caller holds a transaction, which this joins. ``person_id``: the
    file the caller says the record is in, searched first (see ``_find``).

    Raises:
        UserError: unknown record, a field that is not a correctable event field, no reason.
    """
    upgrade_schema(engine)
    if not reason.strip():
        raise UserError("a correction needs a reason")
    if not changes:
        raise UserError("a correction needs at least one changed field")
    found = _find(engine, record_id, to_correct=True, person_id=person_id)
    table, record_id, event_id = found.table, found.record_id, found.event_id
    mine, of = found.scope()
    allowed = table.correctable()
    vocabularies = {c.name: c.vocabulary for c in table.columns if c.vocabulary}
    for name, value in changes.items():
        if name not in allowed:
            raise UserError(
                f"{name!r} is not a field of a {table.event} event; "
                f"correctable: {', '.join(allowed)}"
            )
        vocab = vocabularies.get(name)
        if vocab is not None and value is not None and value not in vocab:
            raise UserError(f"{name} {value!r} is not one of {vocab.listing()}")
    kept = kept_out_of(engine, table, event_id, list(changes))
    if kept is not None:
        raise UserError(
            f"record {record_id}: {table.event}.{kept} was kept out of the ledger for this "
            "record's batch, so a correction cannot write it"
        )
    replace = ", ".join(f"CAST(? AS {_type(table, n)}) AS {n}" for n in changes)
    # a corrected value is read: it is no longer unreadable
    fields = ", ".join("'" + n + "'" for n in changes)
    with _transaction(engine, in_transaction):
        version = 1 + int(
            engine.scalar(
                # (every version, whichever file it is linked to: a scan of the table)
                f"SELECT max(version) FROM {table.table} WHERE record_id = ?",
                [record_id],
            )
        )
        new_id = f"{record_id}~{version}"
        # The new version holds where the old one did (current, or until the newer report);
        # the old one then counts on no date.
        engine.execute(
            f"""INSERT INTO {table.table}
            SELECT * REPLACE (? AS event_id, ? AS version, ? AS supersedes,
                              now()::TIMESTAMP AS recorded_at, ? AS correction_reason,
                              list_filter(unreadable, lambda u: u.field NOT IN ({fields}))
                                AS unreadable,
                              {replace})
            FROM {table.table} WHERE {mine}event_id = ?""",
            [new_id, version, event_id, reason, *changes.values(), *of, event_id],
        )
        # (how the old one stood until now is kept: the ledger as known before the correction)
        engine.execute(
            f"""INSERT INTO ledger_version_states SELECT event_id, is_current, superseded_on,
                now()::TIMESTAMP FROM {table.table} WHERE {mine}event_id = ?""",
            [*of, event_id],
        )
        engine.execute(
            f"UPDATE {table.table} SET is_current = false, superseded_on = NULL "
            f"WHERE {mine}event_id = ?",
            [*of, event_id],
        )
    return new_id


def _transaction(engine: Engine, joined: bool) -> AbstractContextManager[None]:
    """A transaction of its own, or none: ``joined``, the caller's holds the change."""
    return nullcontext() if joined else engine.transaction()


def _type(table: EventTable, name: str) -> str:
    if name in ("event_date", "reported_date"):
        return "DATE"
    return next(c.sql_type for c in table.columns if c.name == name).split()[0]


def suppress_record(
    engine: Engine,
    record_id: str,
    reason: str,
    note: str = "",
    *,
    in_transaction: bool = False,
    person_id: str | None = None,
) -> int:
    """Keep a record out of features and scores, whichever of its versions is current (a
    furnisher's later report of it included); returns the suppression id.
    ``in_transaction``: the caller holds a transaction, which this joins. ``person_id``: the
    file the caller says the record is in, searched first (see ``_find``)."""
    upgrade_schema(engine)
    if reason not in SUPPRESSION_REASONS:
        raise UserError(
            f"suppression reason {reason!r} is not one of {', '.join(SUPPRESSION_REASONS)}"
        )
    record_id = _find(engine, record_id, person_id=person_id).record_id
    with _transaction(engine, in_transaction):
        sid = int(
            engine.scalar("SELECT coalesce(max(suppression_id), 0) + 1 FROM ledger_suppressions")
        )
        engine.execute(
            "INSERT INTO ledger_suppressions VALUES (?, ?, ?, ?, now(), NULL, NULL)",
            [sid, record_id, reason, note or None],
        )
    return sid


def lift_suppression(engine: Engine, suppression_id: int, note: str = "") -> None:
    ensure_schema(engine)
    found = engine.scalar(
        "SELECT lifted_at IS NULL FROM ledger_suppressions WHERE suppression_id = ?",
        [suppression_id],
    )
    if found is None:
        raise UserError(f"no suppression {suppression_id}")
    if not found:
        raise UserError(f"suppression {suppression_id} was already lifted")
    engine.execute(
        "UPDATE ledger_suppressions SET lifted_at = now(), lift_note = ? WHERE suppression_id = ?",
        [note or None, suppression_id],
    )


def record_history(engine: Engine, record_id: str) -> list[dict[str, Any]]:
    """Every version of a record's event, oldest first, with its suppressions: the bureau's
    corrections and the furnisher's later reports, each with its batch and loaded row (and
    any row re-sent identical before ingest compared rows, as version 0)."""
    found = _find(engine, record_id)
    table, record_id = found.table, found.record_id
    # (version 0: a row re-sent identical before ingest compared rows, no version of its own;
    # shown after the version it repeated)
    rows = engine.arrow(
        f"""SELECT e.* FROM {table.table} e LEFT JOIN {table.table} r
            ON e.version = 0 AND r.event_id = e.supersedes
        WHERE e.record_id = ? ORDER BY coalesce(r.version, e.version), e.version = 0,
            e.batch_id, e.event_id""",
        [record_id],
    ).to_pylist()
    sup = engine.arrow(
        "SELECT * FROM ledger_suppressions WHERE record_id = ? ORDER BY suppression_id", [record_id]
    ).to_pylist()
    for r in rows:
        r["suppressions"] = sup
    return rows


__all__ = ["correct_record", "lift_suppression", "record_history", "suppress_record"]
