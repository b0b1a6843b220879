"""The ledger holds only values it understands: a check over every version features can read.

Ingest refuses code tables that map outside a vocabulary, quarantines status rows it cannot
rank and fixes the type of every target the ledger reads, but batches loaded by an earlier
version of openbureau were not held to that. Their events are mapped like any others and then
checked here: a value outside its column's vocabulary, a status row with neither a status nor a
count of days past due, or a loaded value the ledger could not read as its type (``_legacy``)
stops the ledger with one line naming the batch, the record and the field, rather than counting
as "current" or as nothing.

Every version the ``*_known`` views can return is checked, not only current ones:
point-in-time features read a version a furnisher's newer report replaced until the day it was
replaced. Such a version is named by its event id, which ``correct_record`` takes to correct
that version alone.
"""

from __future__ import annotations

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.ledger._schema import EVENTS, RANKABLE_STATUS_SQL, EventTable, counts_on_some_day

_NOT_SUPPRESSED = """NOT EXISTS (SELECT 1 FROM ledger_suppressions s
    WHERE s.record_id = e.record_id AND s.lifted_at IS NULL)"""
# The versions a ``*_known`` view returns (suppressions and persons aside): see _schema.
_COUNTED = counts_on_some_day()


def _problems(table: EventTable) -> list[tuple[str, str]]:
    """(condition, description) per check of ``table``: SQL over its rows."""
    found = []
    for c in table.columns:
        if c.vocabulary is None:
            continue
        if c.name == "payment_status":
            found.append(
                (
                    f"NOT {RANKABLE_STATUS_SQL}",
                    "CASE WHEN payment_status IS NULL "
                    "THEN 'has neither a payment_status nor a days_past_due' "
                    f"ELSE 'has payment_status ''' || payment_status || ''', not one of "
                    f"{c.vocabulary.listing()}' END",
                )
            )
        else:
            found.append(
                (
                    f"{c.name} NOT IN ({c.vocabulary.sql_list()})",
                    f"'has {c.name} ''' || {c.name} || ''', not one of {c.vocabulary.listing()}'",
                )
            )
    found.append(
        (
            "len(unreadable) > 0",
            "'has ' || unreadable[1].target || ' ''' || unreadable[1].text || ''', '"
            " || unreadable[1].why",
        )
    )
    return found


def refuse_unknown_values(engine: Engine) -> None:
    """Raise UserError naming the first unsuppressed event version features can read (current,
    or replaced by a newer report) that the ledger cannot read.

    Raises:
        UserError: an event holds a value outside its column's vocabulary, a status row
            cannot be ranked, or a loaded value could not be read as its column's type.
    """
    for table in EVENTS.values():
        problems = _problems(table)
        where = " OR ".join(f"coalesce({cond}, false)" for cond, _ in problems)
        which = "CASE " + " ".join(f"WHEN {cond} THEN {text}" for cond, text in problems) + " END"
        rows = engine.query(f"""SELECT count(*) OVER (), batch_id, record_id, event_id,
                is_current, superseded_on, {which}
            FROM {table.table} e WHERE {_COUNTED} AND ({where}) AND {_NOT_SUPPRESSED}
            ORDER BY batch_id, length(record_id), record_id, version LIMIT 1""")
        if rows:
            n, batch_id, record_id, event_id, current, until, what = rows[0]
            more = f"; {n - 1:,} more {table.event} events like it" if n > 1 else ""
            if current:
                which_one, remedy = f"record {record_id}", "correct_record, suppress_record"
            else:  # a version a newer report replaced: only its event id reaches it
                which_one = (
                    f"record {record_id} (its version {event_id}, the furnisher's report "
                    f"until {until})"
                )
                remedy = f"correct_record with the event id {event_id}, or suppress_record"
            raise UserError(
                f"ledger: {which_one} of batch {batch_id} {what}{more}; features and "
                "scores are refused until such records are corrected or suppressed "
                f"(openbureau.ledger.{remedy})"
            )
