"""Point-in-time views of the ledger: only what the bureau knew on a given date.

``create_pit_views(engine, as_of, known_at)`` makes temporary views (and one table) in the
engine session, as of the date D and as known at the time K (default: now):

``pit_status``     status rows reported on or before D, for periods on or before D
``pit_accounts``   one row per (person, account) as it stood on D: latest values, worst
                   statuses, last delinquency dates, whether open
``pit_inquiries``  inquiries made on or before D
``pit_payments``   utility, telecom and rent bills due on or before D with ``days_late_asof``:
                   a bill paid after D counts as unpaid on D, late by D - due date
``pit_public``     public records filed on or before D, with the bankruptcies the accounts
                   report (``_bankruptcy``); ``resolved_asof`` only when resolved by D

Everything reads the ``*_known`` views: of each record, the version that was the furnisher's
latest report on D (a report re-sent with other values replaces the old one only from the new
report's reported date on), bureau corrections (which hold from the report's start) and
suppressions (disputed, no consent) honoured; items aged off by D (``ageing``) left out. As
known at K, the versions recorded after K, the standing they changed
(``ledger_version_states``) and the suppressions placed or lifted after K are as they were at
K: a snapshot computed again as known at its K reads what it read when it was published.
"""

from __future__ import annotations

import datetime as dt

from openbureau.config import AgeingSection
from openbureau.engine import Engine
from openbureau.engine.sql import literals
from openbureau.ingest import _metro2
from openbureau.ingest.vocabulary import CHARGED_OFF, REVOLVING, STATUS_RANK
from openbureau.ledger._bankruptcy import BANKRUPTCY_EVIDENCE, public_records_sql
from openbureau.ledger._renumber import renumbered_sql
from openbureau.ledger._schema import EVENTS, known_sql
from openbureau.ledger.ageing import create_ageing_filters
from openbureau.ledger.build import upgrade_schema

_CHARGED_OFF = STATUS_RANK[CHARGED_OFF]


def date_literal(as_of: dt.date) -> str:
    return f"DATE '{as_of.isoformat()}'"


def timestamp_literal(known_at: dt.datetime) -> str:
    return f"TIMESTAMP '{known_at.replace(tzinfo=None).isoformat(sep=' ')}'"


def known_versions(engine: Engine, known_at: dt.datetime | None) -> dict[str, str]:
    """Per event, a FROM item of its known versions as known at ``known_at`` (None: now)."""
    if known_at is None:
        return {e: t.known for e, t in EVENTS.items()}
    k = timestamp_literal(known_at)
    changed = engine.table_exists("ledger_version_states") and bool(
        engine.scalar(f"SELECT count(*) FROM ledger_version_states WHERE changed_at > {k}")
    )
    return {e: f"({known_sql(t, k, changed)})" for e, t in EVENTS.items()}


# The date that puts an event on file on D, with its reported date (see the pit_* views).
ON_FILE = {
    "account_status": "event_date",
    "inquiry": "event_date",
    "payment": "due_date",
    "public_record": "filed_date",
}


def persons_sql(person_ids: list[str]) -> str:
    """A SQL list of person IDs, each quoted as a string literal, for ``IN (...)``: a literal
    list reaches the table scans as a filter, where a join to a table of IDs would not."""
    if not person_ids:
        raise ValueError("a person scope needs at least one person ID")
    return literals(person_ids)


def pit_events(
    engine: Engine,
    as_of: dt.date,
    known_at: dt.datetime | None,
    ageing: AgeingSection | None = None,
    persons: list[str] | None = None,
) -> dict[str, str]:
    """Per event, a FROM item of the versions the ``pit_*`` views read on D as known at K:
    the latest report on D, reported and on file by D, not aged off by D under ``ageing``
    (None: the law's periods; makes the ageing temp tables, see ``ageing``); ``persons``: of
    these persons only (a person-level rescore). Custom factors read these too."""
    d = date_literal(as_of)
    versions = known_versions(engine, known_at)
    scope = f" AND person_id IN ({persons_sql(persons)})" if persons is not None else ""
    on_d = {
        e: f"{_known_on(v, d)} s WHERE reported_date <= {d} AND {ON_FILE[e]} <= {d}{scope}"
        for e, v in versions.items()
    }
    # (the bankruptcies the accounts report are read from their rows before any aged off: a
    # bankruptcy ages by its own period)
    public = f"(SELECT * FROM {on_d['public_record']})"
    status = f"(SELECT * FROM {on_d['account_status']} AND {BANKRUPTCY_EVIDENCE})"
    on_d["public_record"] = f"{public_records_sql(public, status)} s WHERE true"
    on_d["account_status"] = f"{renumbered_sql(on_d['account_status'], sales=True)} s WHERE true"
    aged = create_ageing_filters(engine, as_of, f"(SELECT * FROM {on_d['account_status']})", ageing)
    kept = {
        "account_status": aged.status,
        "inquiry": aged.inquiry,
        "payment": aged.payment,
        "public_record": aged.public,
    }
    return {e: f"(SELECT * FROM {on_d[e]}{kept[e]})" for e in versions}


def create_pit_views(
    engine: Engine,
    as_of: dt.date,
    known_at: dt.datetime | None = None,
    ageing: AgeingSection | None = None,
    persons: list[str] | None = None,
) -> None:
    """(Re)create the ``pit_*`` temp tables for ``as_of`` as known at ``known_at`` (None: now),
    items aged off by ``as_of`` under ``ageing`` (None: the law's periods) left out;
    ``persons``: of these persons only. See the module docstring."""
    upgrade_schema(engine)
    d = date_literal(as_of)
    known = pit_events(engine, as_of, known_at, ageing, persons)
    # Row-level scopes are views (a copy of every status row would cost gigabytes at a
    # million persons); the per-account summary, read many times, is materialised.
    engine.execute(f"""CREATE OR REPLACE TEMP VIEW pit_status AS
        SELECT * FROM {known["account_status"]}""")
    # An account is closed on D when its Date Closed is past, or its latest report says it
    # was paid, closed or transferred (Metro 2 05, 13: with a rating, the month still counts
    # as that late). It is open when not closed, not charged off, still reporting, and not
    # sold by its furnisher (Metro 2 K2: the purchaser reports it from then on).
    # (computed with the summary, not added to it after: a temporary table Spark keeps cannot
    # be altered or updated)
    ended = literals(_metro2.ENDED_STATUSES)
    closed = f"(coalesce(closed_date <= {d}, false) OR coalesce(metro2_status IN ({ended}), false))"
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE pit_accounts AS
        SELECT a.*, {closed} AS is_closed, NOT {closed} AND current_rank < {_CHARGED_OFF}
            AND last_period > {d} - INTERVAL 3 MONTH AND sold_to IS NULL AS is_open
        FROM (SELECT person_id, account_id,
            arg_max(product, event_date) AS product,
            arg_max(product, event_date) = '{REVOLVING}' AS revolving,
            min(opened_date) AS opened_date,
            arg_max(closed_date, event_date) AS closed_date,
            arg_max(credit_limit, event_date) AS credit_limit,
            arg_max(original_amount, event_date) AS original_amount,
            arg_max(balance, event_date) AS balance,
            arg_max(status_rank, event_date) AS current_rank,
            arg_max(record_id, event_date) AS latest_record_id,
            -- (the latest month's, empty or not: arg_max alone skips a month without one)
            nullif(arg_max(coalesce(sold_to, ''), event_date), '') AS sold_to,
            nullif(arg_max(coalesce(metro2_status, ''), event_date), '') AS metro2_status,
            max(event_date) AS last_period,
            max(status_rank) AS worst_rank,
            max(status_rank) FILTER (WHERE event_date > {d} - INTERVAL 12 MONTH) AS worst_rank_12m,
            max(event_date) FILTER (WHERE status_rank >= 1) AS last_30,
            max(event_date) FILTER (WHERE status_rank >= 3) AS last_90,
            max(event_date) FILTER (WHERE status_rank >= 1
                                    AND event_date > {d} - INTERVAL 24 MONTH) AS last_30_24m,
            count(*) FILTER (WHERE status_rank >= 1
                             AND event_date > {d} - INTERVAL 24 MONTH) AS late_months_24m,
            count(*) FILTER (WHERE event_date > {d} - INTERVAL 24 MONTH) AS months_24m,
            -- trended utilisation: monthly balance / limit of a card, summed over 12 months
            sum(balance / nullif(credit_limit, 0)) FILTER (
                WHERE product = '{REVOLVING}' AND status_rank < {_CHARGED_OFF}
                  AND credit_limit > 0 AND event_date > {d} - INTERVAL 12 MONTH) AS util_sum_12m,
            count(*) FILTER (
                WHERE product = '{REVOLVING}' AND status_rank < {_CHARGED_OFF}
                  AND credit_limit > 0 AND event_date > {d} - INTERVAL 12 MONTH)
                AS util_months_12m
        FROM pit_status GROUP BY person_id, account_id) a""")
    engine.execute(f"""CREATE OR REPLACE TEMP VIEW pit_inquiries AS
        SELECT * FROM {known["inquiry"]}""")
    engine.execute(f"""CREATE OR REPLACE TEMP VIEW pit_payments AS
        SELECT *, CASE
                WHEN paid_date IS NOT NULL AND paid_date <= {d}
                    THEN greatest(coalesce(days_late, date_diff('day', due_date, paid_date)), 0)
                ELSE greatest(date_diff('day', due_date, {d}), 0) END AS days_late_asof
        FROM {known["payment"]}""")
    engine.execute(f"""CREATE OR REPLACE TEMP VIEW pit_public AS
        SELECT *, CASE WHEN resolved_date <= {d} THEN resolved_date END AS resolved_asof
        FROM {known["public_record"]}""")


def _known_on(view: str, d: str) -> str:
    """The versions of ``view`` that were the latest report on ``d``, as a subquery."""
    return f"(SELECT * FROM {view} WHERE superseded_on IS NULL OR superseded_on > {d})"
