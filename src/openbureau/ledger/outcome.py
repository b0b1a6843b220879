"""The training outcome: did a person default within the horizon after the as-of date?

A person is **bad** when, in the ``horizon`` months after D, an account reached 90 or more days
past due or was charged off, a bankruptcy was filed, or a utility, telecom or rent bill due in
that window was 60 or more days unpaid at its end. Persons already in serious delinquency on D
(90+ or charged off in the 12 months up to D, or a bill 90+ days unpaid) are **excluded**: a
scorecard predicts new defaults, not existing ones. The outcome needs the window observed: the
ledger must hold reports up to D + horizon.
"""

from __future__ import annotations

import datetime as dt

from openbureau.engine import Engine
from openbureau.errors import UserError
from openbureau.ingest.vocabulary import BANKRUPTCIES
from openbureau.ledger._bankruptcy import on_file_sql
from openbureau.ledger._pit import date_literal
from openbureau.ledger.build import ensure_schema
from openbureau.warehouse.identity import PERSON_INDEX

_BANKRUPTCIES = ", ".join(f"'{kind}'" for kind in BANKRUPTCIES)


def horizon_end(as_of: dt.date, horizon_months: int) -> dt.date:
    month = as_of.month - 1 + horizon_months
    year, month = as_of.year + month // 12, month % 12 + 1
    # Last day of that month when D is a month end, else the same day (clipped).
    import calendar

    last = calendar.monthrange(year, month)[1]
    if as_of.day == calendar.monthrange(as_of.year, as_of.month)[1]:
        return dt.date(year, month, last)
    return dt.date(year, month, min(as_of.day, last))


def outcome_observed(engine: Engine, as_of: dt.date, horizon_months: int = 12) -> bool:
    """True when the ledger holds account reports to (a month before) the end of the outcome
    window after ``as_of``: only then can the outcome be labelled."""
    ensure_schema(engine)
    latest = engine.scalar("SELECT max(event_date) FROM ledger_account_status_effective")
    end = horizon_end(as_of, horizon_months)
    return latest is not None and latest >= end - dt.timedelta(days=31)


def label_outcomes(
    engine: Engine, as_of: dt.date, horizon_months: int = 12, into: str = "person_outcomes"
) -> str:
    """Write (person_id, bad, excluded_reason) for every indexed person into ``into``.

    Raises:
        UserError: the ledger does not reach the end of the outcome window yet.
    """
    ensure_schema(engine)
    end = horizon_end(as_of, horizon_months)
    if not outcome_observed(engine, as_of, horizon_months):
        latest = engine.scalar("SELECT max(event_date) FROM ledger_account_status_effective")
        raise UserError(
            f"cannot train as of {as_of}: the outcome window runs to {end} but the ledger's "
            f"latest account report is {latest or 'none'}; choose an earlier --as-of"
        )
    d, e = date_literal(as_of), date_literal(end)
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE {into} AS
        WITH st AS (
            SELECT person_id, event_date, status_rank FROM ledger_account_status_effective
            WHERE reported_date <= {e} + INTERVAL 31 DAY),
        bills AS (
            SELECT person_id, due_date, CASE
                WHEN paid_date IS NOT NULL AND paid_date <= {e}
                    THEN coalesce(days_late, date_diff('day', due_date, paid_date))
                ELSE date_diff('day', due_date, {e}) END AS late_at_end,
                CASE WHEN paid_date IS NOT NULL AND paid_date <= {d}
                    THEN coalesce(days_late, date_diff('day', due_date, paid_date))
                ELSE date_diff('day', due_date, {d}) END AS late_at_d
            FROM ledger_payments_effective),
        excluded AS (
            SELECT person_id, 'in serious delinquency on the as-of date' AS reason FROM st
            WHERE status_rank >= 3 AND event_date <= {d}
              AND event_date > {d} - INTERVAL 12 MONTH
            UNION ALL
            SELECT person_id, 'bill 90+ days unpaid on the as-of date' FROM bills
            WHERE due_date <= {d} AND due_date > {d} - INTERVAL 12 MONTH AND late_at_d >= 90),
        bad AS (
            SELECT person_id FROM st
            WHERE status_rank >= 3 AND event_date > {d} AND event_date <= {e}
            UNION ALL
            SELECT person_id FROM {on_file_sql()}
            WHERE record_kind IN ({_BANKRUPTCIES}) AND filed_date > {d} AND filed_date <= {e}
            UNION ALL
            SELECT person_id FROM bills
            WHERE due_date > {d} AND due_date <= {e} AND late_at_end >= 60)
        SELECT p.person_id,
            p.person_id IN (SELECT person_id FROM bad) AS bad,
            x.reason AS excluded_reason
        FROM (SELECT DISTINCT person_id FROM {PERSON_INDEX.name}) p
        LEFT JOIN (SELECT person_id, min(reason) AS reason FROM excluded GROUP BY ALL) x
          USING (person_id)""")
    return into
