"""The rules of a person's dispute, and what its resolution does to the warehouse.

A person disputes a record on their file (``RECORD_REASONS``) or a link (``LINK_REASONS``:
records in their file that are not theirs). The furnisher of a disputed record answers
(``ANSWERS``); unanswered when its clock runs out (:func:`due_at`: 30 days from filing, 45 when
the person adds information during them), it resolves in the person's favour (``expired``).
Every outcome is declared in ``OUTCOMES`` with what it does to the ledger:

``verified``   nothing: the furnisher stands by the record
``corrected``  a new version of the named record with the corrected fields (the old one kept:
               ``ledger.corrections.correct_record``), checked as ingest would check them
``deleted``    the records the dispute covers stop counting (a ``disputed`` suppression)
``expired``    the same, in the person's favour, when the clock ran out unanswered (a link
               dispute: the file is split)
``split``      a link dispute upheld: the records named leave the file through the identity
               layer's forced split (:func:`split_file`), which every later link run honours

While open, a disputed record still counts (a dispute is not proof; FCRA s.611 lets the
record stand for the investigation), and every reader is told it is disputed. The rest of
this package keeps the dispute itself (its store, filing and answers); this module changes the
warehouse and rescores one person (:func:`rescore_persons`) by the same SQL as a snapshot, on
the served snapshot's scorecard and as-of date, as known now.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, get_args

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.ingest.bounds import TARGET_BOUNDS, TYPE_BOUNDS, DateBounds, NumberBounds
from openbureau.ledger._schema import AMOUNT, EVENTS, EventTable
from openbureau.ledger.build import upgrade_schema
from openbureau.ledger.corrections import correct_record, suppress_record
from openbureau.scoring.scorecard import Scorecard
from openbureau.warehouse.identity import PERSON_INDEX
from openbureau.warehouse.ingest import FIELD_CATALOG

# The types name the values once for the API's schemas; the tables below must list exactly
# them (checked at import).
RecordReason = Literal["not_mine", "wrong_value", "paid"]
Answer = Literal["verified", "corrected", "deleted"]
LinkAnswer = Literal["verified", "split"]  # (the bureau's, of a link dispute)
RECORD_REASONS: dict[RecordReason, str] = {
    "not_mine": "this is not mine",
    "wrong_value": "the amount or status is wrong",
    "paid": "this was paid",
}
LINK_REASONS = {"not_my_accounts": "these accounts are not mine: my file mixes two people"}
REASONS: dict[str, str] = {str(k): v for k, v in RECORD_REASONS.items()} | LINK_REASONS
ANSWERS: tuple[Answer, ...] = get_args(Answer)
LINK_ANSWERS: tuple[LinkAnswer, ...] = get_args(LinkAnswer)
assert tuple(RECORD_REASONS) == get_args(RecordReason)
OUTCOMES = {
    "verified": "the furnisher checked the record and stands by it",
    "corrected": "the furnisher corrected the record (the earlier version is kept)",
    "deleted": "the furnisher withdrew the record: it no longer counts",
    "expired": "no answer within the time allowed: resolved in your favour",
    "split": "the records named were split off the file",
}
STATES = ("open", *OUTCOMES)
DAYS = 30
DAYS_WITH_INFORMATION = 45


def due_at(filed_at: dt.datetime, extended: bool) -> dt.datetime:
    """When a dispute filed at ``filed_at`` resolves for the person unless answered: 30
    days, 45 when the person added information during the 30 (FCRA s.611(a)(1))."""
    return filed_at + dt.timedelta(days=DAYS_WITH_INFORMATION if extended else DAYS)


def event_of(
    engine: Engine, record_id: str, person_id: str | None = None
) -> tuple[EventTable, str, str | None]:
    """The event table, furnisher and person of a record (its current version). ``person_id``,
    the file the caller says the record is in, is searched first: the event tables are written
    in person order, so that search reads the person's rows only.

    Raises:
        UserError: the record is not in the ledger.
    """
    for scope in ([person_id], []) if person_id else ([],):
        mine = "person_id = ? AND " if scope else ""
        for table in EVENTS.values():
            row = engine.query(
                f"SELECT furnisher, person_id FROM {table.table} WHERE {mine}record_id = ? "
                "ORDER BY is_current DESC, version DESC LIMIT 1",
                [*scope, record_id],
            )
            if row:
                return table, str(row[0][0]), row[0][1]
    raise UserError(f"record {record_id!r} is not in the ledger")


# the event a file item's records are (the serving copy's file_items kinds)
ITEM_EVENTS = {
    "account": "account_status",
    "bill": "payment",
    "inquiry": "inquiry",
    "public_record": "public_record",
}


def check_item_changes(item_kind: str, changes: dict[str, Any]) -> dict[str, Any]:
    """:func:`check_changes` for a record of a file item of kind ``item_kind``."""
    return check_changes(EVENTS[ITEM_EVENTS[item_kind]], changes)


def check_changes(table: EventTable, changes: dict[str, Any]) -> dict[str, Any]:
    """A correction's fields, typed and checked as ingest checks a furnisher's values: a
    field of the record's event, a value of its vocabulary, a number or date within bounds.

    Raises:
        UserError: one line naming the field.
    """
    if not changes:
        raise UserError("changes: a correction changes at least one field")
    allowed = table.correctable()
    types = {c.name: c.sql_type for c in table.columns}
    vocabularies = {c.name: c.vocabulary for c in table.columns if c.vocabulary}
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in allowed:
            raise UserError(
                f"changes.{name}: not a field of a {table.event} record; "
                f"correctable: {', '.join(allowed)}"
            )
        if value is None or value == "":
            out[name] = None
            continue
        sql_type = "DATE" if name in ("event_date", "reported_date") else types[name]
        vocab = vocabularies.get(name)
        if vocab is not None:
            if str(value) not in vocab:
                raise UserError(f"changes.{name}: {value!r} is not one of {vocab.listing()}")
            out[name] = str(value)
        elif sql_type == "DATE":
            out[name] = _date(name, value)
        elif sql_type in (AMOUNT, "INTEGER"):
            out[name] = _number(name, value, sql_type)
        else:
            text = str(value).strip()
            if not text or len(text) > 128:
                raise UserError(f"changes.{name}: 1 to 128 characters")
            out[name] = text
    return out


def _date(name: str, value: Any) -> dt.date:
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    except ValueError:
        raise UserError(f"changes.{name}: {value!r} is not a date (YYYY-MM-DD)") from None
    bounds = TYPE_BOUNDS["date"]
    assert isinstance(bounds, DateBounds)
    if not bounds.low <= day <= dt.date.today() + dt.timedelta(days=bounds.days_ahead):
        raise UserError(f"changes.{name}: {day} is outside {bounds.words()}")
    return day


def _number(name: str, value: Any, sql_type: str) -> Decimal | int:
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise UserError(f"changes.{name}: {value!r} is not a number") from None
    if not number.is_finite():
        raise UserError(f"changes.{name}: {value!r} is not a number")
    if sql_type == "INTEGER" and number != number.to_integral_value():
        raise UserError(f"changes.{name}: {value!r} is not a whole number")
    declared = TARGET_BOUNDS.get(name)
    bounds = declared[0] if declared else TYPE_BOUNDS["amount"]
    assert isinstance(bounds, NumberBounds)
    if not bounds.low <= number <= bounds.high:
        why = f" ({declared[1]})" if declared else ""
        raise UserError(f"changes.{name}: {value} is outside {bounds.words()}{why}")
    if sql_type == "INTEGER":
        return int(number)
    if number != round(number, 2):
        raise UserError(f"changes.{name}: {value} has more than two decimals")
    return number


def apply_outcome(
    engine: Engine,
    dispute_id: int,
    outcome: str,
    record_id: str,
    record_ids: list[str],
    changes: dict[str, Any] | None = None,
    person_id: str | None = None,
) -> str:
    """Make ``outcome`` of dispute ``dispute_id`` true in the ledger, all or nothing (one
    transaction: every record's suppression, or the correction); returns what was done, in
    words (the new version's event id, the suppressions placed). ``person_id``: the file the
    dispute is about, where the records are looked for first.

    Raises:
        UserError: an outcome that is not a furnisher's answer or an expiry, a correction
            that fails its checks, or a record not in the ledger (then nothing is changed).
    """
    if outcome == "verified":
        return "nothing changed: the record stands"
    if outcome not in ("corrected", "deleted", "expired"):
        raise UserError(f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
    upgrade_schema(engine)  # (outside the transaction: the tables it may add)
    with engine.transaction():
        if outcome == "corrected":
            table, _, _ = event_of(engine, record_id, person_id)
            checked = check_changes(table, changes or {})
            new_id = correct_record(
                engine,
                record_id,
                checked,
                f"dispute {dispute_id}: corrected by the furnisher",
                in_transaction=True,
                person_id=person_id,
            )
            return f"new version {new_id} of record {record_id}"
        placed = []
        for rid in record_ids:
            sid = suppress_record(
                engine,
                rid,
                "disputed",
                note=f"dispute {dispute_id}: {outcome}",
                in_transaction=True,
                person_id=person_id,
            )
            placed.append(f"{sid} ({rid})")
        return "suppressed: " + ", ".join(placed)


def split_file(
    engine: Engine, workspace: Path, person_id: str, disputed: list[str]
) -> dict[str, str]:
    """Take the identity records ``disputed`` out of ``person_id``'s file: a forced split of
    each from each record the file keeps, recorded by a link run of the identity layer
    (``link_overrides``), so that every later run, full or incremental, keeps them apart; then
    the ledger's events follow the person index. Returns, per identity id, the person id it
    is in now.

    Raises:
        UserError: a record that is none, or nothing left to keep.
    """
    from openbureau.identity.link import Override, link
    from openbureau.ledger.build import build_ledger
    from openbureau.workspace import Workspace

    kept = [
        str(r[0])
        for r in engine.query(
            f"SELECT identity_id FROM {PERSON_INDEX.name} WHERE person_id = ? "
            "AND NOT list_contains(?, identity_id) ORDER BY identity_id",
            [person_id, disputed],
        )
    ]
    if not disputed or not kept:
        raise UserError("a split needs records to take out and records to keep")
    ws = Workspace.open(workspace)
    link(
        engine,
        model_path=ws.root / "models" / "linkage-model.json",
        settings=ws.settings.identity,
        country=ws.settings.bureau.country,
        overrides=[Override("split", a, b) for a in disputed for b in kept],
    )
    build_ledger(engine)
    return files_of(engine, [*disputed, *kept])


def files_of(engine: Engine, identity_ids: list[str]) -> dict[str, str]:
    """Per identity id, the person id whose file it is in now (the person index)."""
    rows = engine.query(
        f"SELECT identity_id, person_id FROM {PERSON_INDEX.name} "
        "WHERE list_contains(?, identity_id)",
        [identity_ids],
    )
    return {str(i): str(p) for i, p in rows}


# (card, catalog) pairs the factor guard passed in this process: a person-level rescore runs
# the guard once per scorecard and field catalog, not on every dispute (it reads the catalog
# per factor: about 1.3 s)
_GUARDED: set[tuple[str, str]] = set()


def _guard_once(engine: Engine, card: Scorecard) -> None:
    """The factor guard on ``card`` and this warehouse's catalog, unless it passed on both as
    they are now (the catalog's fingerprint: every field's category, every feed's event)."""
    import hashlib

    from openbureau.scoring.factors import guard_scorecard

    catalog = ""
    if engine.table_exists(FIELD_CATALOG.name):
        catalog += str(
            engine.scalar(
                "SELECT md5(string_agg(feed || '.' || target || '=' || coalesce(category, ''), "
                f"',' ORDER BY feed, target)) FROM {FIELD_CATALOG.name}"
            )
        )
    if engine.table_exists("ledger_batches"):
        catalog += str(
            engine.scalar(
                "SELECT md5(string_agg(DISTINCT feed || ':' || coalesce(event, ''), ',' "
                "ORDER BY feed || ':' || coalesce(event, ''))) FROM ledger_batches"
            )
        )
    if engine.table_exists("ledger_lineage"):  # (what the ledger kept out of its columns)
        catalog += str(
            engine.scalar(
                "SELECT md5(string_agg(batch_id || ':' || ledger_column || ':' || target || ':' "
                "|| category || ':' || kept_out, ',' ORDER BY batch_id, ledger_column, target)) "
                "FROM ledger_lineage"
            )
        )
    key = (hashlib.sha256(card.model_dump_json().encode()).hexdigest(), catalog)
    if key not in _GUARDED:
        guard_scorecard(card, engine)
        _GUARDED.add(key)


# The key of a rescored row (``person_rescores.row``) that holds the features it was computed
# on, for the person's what-if; a rescore stored before they were kept has none.
RESCORE_FEATURES = "features"


def rescore_persons(
    engine: Engine,
    card: Scorecard,
    as_of: dt.date,
    snapshot_id: str,
    person_ids: list[str],
    *,
    with_features: bool = False,
) -> tuple[dt.datetime, list[dict[str, Any]]]:
    """The persons' ``scores`` rows on ``card`` as of ``as_of``, as known now, by the same SQL
    as a snapshot (``snapshot_id`` is the one they stand in for: its ageing-off periods, and
    its scorecard with alternative data, whose score each row holds too, as a snapshot's does);
    and the known-at time. ``with_features``: each row holds the person's feature row too
    (``RESCORE_FEATURES``)."""
    from openbureau.scoring.score import (
        compute_scores,
        drop_score_tables,
        engine_now,
        scores_sql,
        snapshot_ageing,
        snapshot_alt_card,
    )

    known_at = engine_now(engine)
    alt = snapshot_alt_card(engine, snapshot_id)
    _guard_once(engine, card)
    if alt is not None:
        _guard_once(engine, alt)
    compute_scores(
        engine,
        card,
        as_of,
        known_at,
        persons=person_ids,
        ageing=snapshot_ageing(engine, snapshot_id),
        alt=alt,
        guarded=True,
    )
    try:
        # (typed as the scores table types a snapshot's rows: inserted as a snapshot inserts)
        engine.execute("CREATE OR REPLACE TEMP TABLE rescored AS SELECT * FROM scores LIMIT 0")
        engine.execute(
            f"INSERT INTO rescored BY NAME {scores_sql(card, alt)}",
            [snapshot_id, as_of, card.version, alt.version if alt else None],
        )
        rows = engine.arrow("SELECT * FROM rescored ORDER BY person_id").to_pylist()
        if with_features:  # (score_features: these persons' rows, as compute_scores left them)
            scored = engine.arrow("SELECT * FROM score_features").to_pylist()
            by_person = {f["person_id"]: f for f in scored}
            for r in rows:
                r[RESCORE_FEATURES] = by_person.get(r["person_id"])
    finally:
        drop_score_tables(engine)
        engine.execute("DROP TABLE IF EXISTS rescored")
    return known_at, rows


__all__ = [
    "ANSWERS",
    "DAYS",
    "DAYS_WITH_INFORMATION",
    "ITEM_EVENTS",
    "LINK_ANSWERS",
    "LINK_REASONS",
    "OUTCOMES",
    "REASONS",
    "RECORD_REASONS",
    "RESCORE_FEATURES",
    "STATES",
    "apply_outcome",
    "check_changes",
    "check_item_changes",
    "due_at",
    "event_of",
    "files_of",
    "rescore_persons",
    "split_file",
]
