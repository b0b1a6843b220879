"""The ledger holds only values it understands: a check over every current event.

Ingest refuses code tables that map outside a vocabulary and quarantines status rows it cannot
rank, but batches loaded by an earlier version of openbureau were not held to that. Their
events are mapped like any others and then checked here: a value outside its column's
vocabulary, or a status row with neither a status nor a count of days past due, stops the
ledger with one line naming the batch and the record, rather than counting as "current".
"""

from __future__ import annotations

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.ledger._schema import EVENTS, RANKABLE_STATUS_SQL, EventTable

_NOT_SUPPRESSED = """NOT EXISTS (SELECT 1 FROM ledger_suppressions s
    WHERE s.record_id = e.record_id AND s.lifted_at IS NULL)"""


def _problems(table: EventTable) -> list[tuple[str, str]]:
    """(condition, description) per vocabulary column of ``table``: SQL over its rows."""
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
    return found


def refuse_unknown_values(engine: Engine) -> None:
    """Raise UserError naming the first current, unsuppressed event the ledger cannot read.

    Raises:
        UserError: an event holds a value outside its column's vocabulary, or a status row
            cannot be ranked.
    """
    for table in EVENTS.values():
        problems = _problems(table)
        if not problems:
            continue
        where = " OR ".join(f"({cond})" for cond, _ in problems)
        which = "CASE " + " ".join(f"WHEN {cond} THEN {text}" for cond, text in problems) + " END"
        rows = engine.query(f"""SELECT count(*) OVER (), batch_id, record_id, {which}
            FROM {table.table} e WHERE e.is_current AND ({where}) AND {_NOT_SUPPRESSED}
            ORDER BY batch_id, length(record_id), record_id LIMIT 1""")  # first line first
        if rows:
            n, batch_id, record_id, what = rows[0]
            more = f"; {n - 1:,} more {table.event} events like it" if n > 1 else ""
            raise UserError(
                f"ledger: record {record_id} of batch {batch_id} {what}{more}; features and "
                "scores are refused until such records are corrected or suppressed "
                "(openbureau.ledger.correct_record, suppress_record)"
            )
