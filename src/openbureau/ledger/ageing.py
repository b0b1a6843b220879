"""Ageing-off: negative items stop counting once their legal period has run (FCRA 605).

A rule evaluated at the as-of date D, never a stored suppression: whether an item still counts
depends on D (a score as of 2019 counts a 2014 charge-off that a score as of 2022 must not), so
features, training and a recomputed past snapshot each see the file as it could be reported on
their own D, and nothing has to run on the day an item ages off. The records stay in the
ledger; the person's file shows them as "no longer reported" (``service.serving``), lenders,
features and reasons never see them. The periods come from ``[ageing]`` in bureau.toml
(``config.AgeingSection``); docs/ledger.md says what each counts from and why.

- **Account status rows.** A row 30 or more days late (``status_rank >= 1``) is negative. It
  ages off its *date of first delinquency* (DOFD) plus ``delinquency`` (``charged_off`` for a
  charge-off row). A charged-off account ages off whole (every row of the tradeline) when its
  charge-off does; late payments on an account brought current age off row by row, and the
  account's good months keep counting.
- **The DOFD** is the furnisher's (Metro 2 "Date of First Delinquency", target
  ``first_delinquency_date``) when it sent a plausible one: not after the month the row
  reports, not before the account opened. Otherwise it is **derived** from the status history,
  and flagged: the start of the run of consecutive late months the row belongs to, moved back
  by how late the run's first row already was (a first row 90 days late began two months
  earlier; a first row charged off, five). A gap in reporting does not end a run when the next
  late row is late enough to have begun before the gap.
- **Bills** (utility, telecom, rent) paid late or unpaid age off ``late_bill`` after their due
  date; bills paid on time never age.
- **Public records** age off ``<kind>`` after their filing date.
- **Inquiries** stay on file ``inquiry`` after their date and count in features and scores only
  for ``inquiry_in_score``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from openbureau.config import AgeingSection, Period
from openbureau.engine import Engine
from openbureau.ingest.vocabulary import CHARGED_OFF, PUBLIC_RECORD_KIND, STATUS_RANK
from openbureau.ledger._schema import EVENTS

_CHARGED_OFF = STATUS_RANK[CHARGED_OFF]

# every public record kind has its own period in [ageing]
if not set(PUBLIC_RECORD_KIND.values) <= set(AgeingSection.model_fields):
    raise AssertionError("config.AgeingSection needs a period for every public record kind")

DEFAULT_RULES = AgeingSection()


def _after(date: str, rules: AgeingSection, kind: str) -> str:
    return f"CAST({date} + {rules.period(kind).sql()} AS DATE)"


def _before(d: str, rules: AgeingSection, kind: str) -> str:
    """``d`` minus the period of ``kind``, a constant date."""
    return f"CAST({d} - {rules.period(kind).sql()} AS DATE)"


def delinquency_sql(rows: str, rules: AgeingSection = DEFAULT_RULES) -> str:
    """The negative rows of a relation of account status rows, each with the DOFD that counts
    and when the row ages off.

    ``rows`` names a relation (or a parenthesised subquery) with ``record_id``, ``account_id``,
    ``event_date``, ``opened_date``, ``status_rank`` and ``first_delinquency_date`` (as
    furnished). Returns (record_id, account_id, status_rank, dofd, dofd_derived, ages_off_on).
    Windows run over the late rows only, a small share of the history.
    """
    account = "coalesce(account_id, record_id)"  # (a row without an account is its own run)
    order = "ORDER BY event_date, record_id"
    plausible = (
        "first_delinquency_date IS NOT NULL "
        "AND first_delinquency_date < event_date + INTERVAL 1 MONTH "
        "AND first_delinquency_date >= coalesce(opened_date, first_delinquency_date)"
    )
    kind_ages = (
        f"CASE WHEN status_rank >= {_CHARGED_OFF} THEN {_after('dofd', rules, 'charged_off')} "
        f"ELSE {_after('dofd', rules, 'delinquency')} END"
    )
    return f"""
    WITH late AS (
        SELECT record_id, account_id, {account} AS run_key, event_date, status_rank,
            first_delinquency_date, coalesce({plausible}, false) AS furnished,
            CAST(event_date - to_months(least(status_rank, {_CHARGED_OFF}) - 1) AS DATE)
                AS began
        FROM {rows} WHERE status_rank >= 1),
    stepped AS (
        SELECT *, lag(event_date) OVER (PARTITION BY run_key {order}) AS prev FROM late),
    dated AS (
        -- a run's first row began after every earlier late row, so the latest start so far
        -- is the start of the row's own run
        SELECT record_id, account_id, status_rank,
            CASE WHEN furnished THEN first_delinquency_date
                 ELSE max(CASE WHEN prev IS NULL
                               OR (prev < event_date - INTERVAL 1 MONTH AND began > prev)
                               THEN began END)
                      OVER (PARTITION BY run_key {order} ROWS UNBOUNDED PRECEDING) END AS dofd,
            NOT furnished AS dofd_derived
        FROM stepped)
    SELECT *, {kind_ages} AS ages_off_on FROM dated"""


def marked_status_sql(rows: str, day: str, rules: AgeingSection = DEFAULT_RULES) -> str:
    """Every row of ``rows`` (as for :func:`delinquency_sql`, all columns kept) with ``dofd``,
    ``dofd_derived`` (of a late row) and ``aged_off_on``: the day it stopped being reported
    when that is on or before ``day``, else NULL. For the person's file."""
    return f"""
    WITH r AS (SELECT * FROM {rows}),
    dq AS ({delinquency_sql("r", rules)}),
    whole AS (
        SELECT account_id, min(ages_off_on) AS ages_off_on FROM dq
        WHERE status_rank >= {_CHARGED_OFF} AND account_id IS NOT NULL GROUP BY account_id)
    SELECT r.*, dq.dofd, dq.dofd_derived,
        CASE WHEN least(dq.ages_off_on, whole.ages_off_on) <= {day}
             THEN least(dq.ages_off_on, whole.ages_off_on) END AS aged_off_on
    FROM r LEFT JOIN dq ON dq.record_id = r.record_id
    LEFT JOIN whole ON whole.account_id = r.account_id"""


def public_record_ages_sql(rules: AgeingSection = DEFAULT_RULES) -> str:
    """The day a public record row ages off (from its filing date, by kind)."""
    arms = " ".join(
        f"WHEN '{kind}' THEN {_after('filed_date', rules, kind)}" for kind in PUBLIC_RECORD_KIND
    )
    return f"CASE record_kind {arms} END"


def bill_ages_sql(day: str, rules: AgeingSection = DEFAULT_RULES) -> str:
    """The day a bill row ages off: a bill paid late or unpaid on ``day``; NULL for one paid on
    time, which never ages."""
    ages = _after("due_date", rules, "late_bill")
    return f"CASE WHEN NOT coalesce({_bill_on_time(day)}, false) THEN {ages} END"


def _bill_on_time(day: str) -> str:
    return f"paid_date <= {day} AND coalesce(days_late, date_diff('day', due_date, paid_date)) <= 0"


def inquiry_ages_sql(rules: AgeingSection = DEFAULT_RULES) -> str:
    """The day an inquiry row leaves the file."""
    return _after("event_date", rules, "inquiry")


def known_on_sql(day: str) -> str:
    """The condition on a ledger row of being known on ``day``: it happened, and was
    reported, by then (what a person's file as of ``day`` shows)."""
    return f"event_date <= {day} AND coalesce(reported_date, event_date) <= {day}"


def aged_off_records_sql(day: str, rules: AgeingSection = DEFAULT_RULES, where: str = "") -> str:
    """Every record (its version in force) known on ``day`` that is no longer reported on
    ``day``, past its period under ``rules``: (person_id, record_id, aged_off_on). ``where``:
    `` AND ...`` on the rows (a person's, for one export)."""
    known = known_on_sql(day) + where
    status = f"(SELECT * FROM {EVENTS['account_status'].effective} WHERE {known})"
    parts = [
        f"SELECT person_id, record_id, aged_off_on FROM ({marked_status_sql(status, day, rules)}) "
        "WHERE aged_off_on IS NOT NULL"
    ]
    for event, ages_on in (
        ("payment", bill_ages_sql(day, rules)),
        ("inquiry", inquiry_ages_sql(rules)),
        ("public_record", public_record_ages_sql(rules)),
    ):
        parts.append(
            f"SELECT person_id, record_id, {ages_on} AS aged_off_on "
            f"FROM {EVENTS[event].effective} WHERE {known} AND {ages_on} <= {day}"
        )
    return " UNION ALL ".join(parts)


@dataclass(frozen=True)
class AgeingFilters:
    """Conditions (each `` AND ...`` or empty) that keep the point-in-time scopes to what may
    still be reported on D."""

    status: str = ""
    inquiry: str = ""
    payment: str = ""
    public: str = ""


def create_ageing_filters(
    engine: Engine, as_of: dt.date, status_rows: str, rules: AgeingSection | None = None
) -> AgeingFilters:
    """The ageing conditions of the ``pit_*`` scopes for ``as_of``; makes the temp tables
    ``pit_aged_records`` and ``pit_aged_accounts`` the status condition reads.

    ``status_rows``: a subquery of the account status rows known on D. The delinquency pass is
    skipped when no late row could have aged off by D (the whole history is younger than the
    shortest period), and so is the condition when nothing has.
    """
    rules = rules or DEFAULT_RULES
    d = f"DATE '{as_of.isoformat()}'"
    shortest = min(
        (rules.period(k) for k in ("delinquency", "charged_off")), key=lambda p: p.approx_days
    )
    earliest = engine.scalar(
        "SELECT CAST(least(min(event_date) - INTERVAL 6 MONTH, min(first_delinquency_date)) "
        "AS DATE) FROM ledger_account_status"
    )
    status = ""
    if earliest is not None and _add(earliest, shortest) <= as_of:
        engine.execute(f"""CREATE OR REPLACE TEMP TABLE pit_aged_records AS
            SELECT record_id, account_id, status_rank FROM ({delinquency_sql(status_rows, rules)})
            WHERE ages_off_on <= {d}""")
        engine.execute(f"""CREATE OR REPLACE TEMP TABLE pit_aged_accounts AS
            SELECT DISTINCT account_id FROM pit_aged_records
            WHERE status_rank >= {_CHARGED_OFF} AND account_id IS NOT NULL""")
        if engine.scalar("SELECT count(*) FROM pit_aged_records"):
            status = (
                " AND NOT EXISTS (SELECT 1 FROM pit_aged_records a "
                "WHERE a.record_id = s.record_id)"
                " AND NOT EXISTS (SELECT 1 FROM pit_aged_accounts a "
                "WHERE a.account_id = s.account_id)"
            )
    # (each compares a row's own date with a constant first, so a row too young to have aged
    # costs one comparison)
    public = " OR ".join(
        f"(record_kind = '{kind}' AND filed_date > {_before(d, rules, kind)})"
        for kind in PUBLIC_RECORD_KIND
    )
    return AgeingFilters(
        status=status,
        inquiry=f" AND event_date > {_before(d, rules, 'inquiry_in_score')}",
        payment=f" AND (due_date > {_before(d, rules, 'late_bill')} "
        f"OR coalesce({_bill_on_time(d)}, false))",
        public=f" AND ({public} OR coalesce(record_kind NOT IN ({PUBLIC_RECORD_KIND.sql_list()}), "
        "true))",
    )


def _add(day: dt.date, period: Period) -> dt.date:
    """``day`` plus a period, conservatively (months as 28 days: never later than the SQL)."""
    return day + dt.timedelta(days=28 * period.months + period.days)
