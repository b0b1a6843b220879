"""A Metro 2 report's payment history profile, as the months the ledger has no report of.

Each Metro 2 base segment carries a Payment History Profile (CRRG field 18): the account's
standing in each of the 24 months before its Date of Account Information, most recent first
(``ingest._metro2.HISTORY``). A furnisher that starts reporting, or that missed months, sends
that history with its first report; the ledger turns it into account status events, one per
month, **only where it has no report of that month** from the account (under any of its
numbers, see ``ledger._renumber``): a month's own report always wins.

- A month read from a profile is an event of its own: ``record_id`` is the report's
  ``record_id`` and the month (``<record>#2024-03``), ``history_of`` names the report,
  ``loaded_record_id`` the loaded row that carried the profile (so its lineage and a dispute
  reach the furnisher's line), ``reported_date`` the report's (point-in-time features know the
  month from then on). Its status is the profile's; the account's limit, amount, product and
  opening date are the report's; its balance and days past due are unknown (NULL).
- Of several reports whose profiles give the same month, the latest report's gives it.
- A profile never brings back a month the ledger holds in any form: a month whose report was
  superseded, suppressed or disputed away is not made again from the next month's profile.
- A month's own report that arrives later (a late or re-sent file) supersedes the month read
  from a profile, as a furnisher's new report supersedes its earlier one (``superseded_on``:
  the report's date; how it stood before is kept in ``ledger_version_states``).
- A profile character that is no code of the CRRG's is counted (``LedgerReport``), never read
  as a status; the accuracy checks name its record.

Each account's consumers (the base segment's and each associated consumer's) get the months.
"""

from __future__ import annotations

from openbureau.engine import Engine
from openbureau.ingest import _metro2, store
from openbureau.ingest._sql import lit
from openbureau.ingest.spec import SourceSpec
from openbureau.ledger._renumber import renumbered_sql
from openbureau.ledger._schema import EVENTS

_T = EVENTS["account_status"].table
BATCH = "_ledger_batch"  # the batch's new event versions, before they are inserted (build)
NEW = "_history_new"  # the months its profiles give, to insert with them
# (the columns a month read from a profile takes from the report that carried it)
_FROM_REPORT = ("account_id", "product", "opened_date", "credit_limit", "original_amount")


def _status_sql(code: str) -> str:
    whens = " ".join(f"WHEN {lit(c)} THEN {lit(s)}" for c, (s, _) in _metro2.HISTORY.items() if s)
    return f"CASE {code} {whens} END"


def _families(engine: Engine, spec: SourceSpec) -> None:
    """``_history_family``: the feed's account status events and the batch's (``BATCH``), each
    with its account under its latest number (``family``) and its month."""
    cols = "event_id, account_id, new_account_id, event_date, history_of, is_current, batch_id"
    events = f"""(SELECT {cols}, reported_date FROM {_T} WHERE feed = {lit(spec.name)}
        UNION ALL SELECT {cols}, reported_date FROM {BATCH})"""
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE _history_family AS
        SELECT event_id, account_id AS family, date_trunc('month', event_date) AS month,
               history_of, is_current, batch_id, reported_date
        FROM {renumbered_sql(events)}""")


def supersede_history(engine: Engine, batch_id: str) -> int:
    """Mark not current the months read from profiles that the batch's own reports now give;
    returns how many."""
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE _history_replaced AS
        SELECT d.event_id, min(a.reported_date) AS on_
        FROM _history_family d JOIN _history_family a USING (family, month)
        WHERE d.history_of IS NOT NULL AND d.is_current
          AND a.history_of IS NULL AND a.batch_id = {lit(batch_id)}
        GROUP BY d.event_id""")
    n = int(engine.scalar("SELECT count(*) FROM _history_replaced"))
    if n:
        engine.execute(f"""INSERT INTO ledger_version_states
            SELECT event_id, is_current, superseded_on, now()::TIMESTAMP FROM {_T}
            WHERE event_id IN (SELECT event_id FROM _history_replaced)""")
        engine.execute(f"""UPDATE {_T} SET is_current = false, superseded_on = r.on_
            FROM _history_replaced r WHERE {_T}.event_id = r.event_id""")
    engine.execute("DROP TABLE _history_replaced")
    return n


def expand_history(engine: Engine, spec: SourceSpec, batch_id: str) -> tuple[int, int]:
    """``NEW``: the months the batch's reports' profiles give and the ledger has no report of;
    returns (their count, profile characters that are no CRRG code)."""
    known = ", ".join(lit(c) for c in _metro2.HISTORY)
    # the batch's reports: each consumer's event, the profile of its base segment, and the
    # consumer's place in the record (0: the base segment's; J1/J2: their order)
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE _history_months AS
        WITH rows_ AS (
          SELECT record_id AS loaded, record_id AS base, 0 AS seq FROM {spec.table}
          WHERE batch_id = {lit(batch_id)}
          UNION ALL
          SELECT record_id, base_record_id, seq FROM {store.ASSOCIATED_CONSUMERS}
          WHERE batch_id = {lit(batch_id)}),
        reports AS (
          SELECT e.*, r.seq, s.payment_history_profile AS profile
          FROM {BATCH} e JOIN rows_ r ON r.loaded = e.loaded_record_id
          JOIN {spec.table} s ON s.record_id = r.base
          WHERE trim(coalesce(s.payment_history_profile, '')) <> '')
        SELECT r.*, f.family, k,
               date_trunc('month', r.event_date) - to_months(k) AS month,
               substr(r.profile, k, 1) AS code
        FROM reports r JOIN _history_family f USING (event_id),
             range(1, {_metro2.HISTORY_MONTHS + 1}) t(k)""")
    unreadable = int(
        engine.scalar(
            f"SELECT count(*) FROM _history_months WHERE seq = 0 AND code NOT IN ({known}, ' ', '')"
        )
    )
    same = ", ".join(f"m.{c}" for c in _FROM_REPORT)
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE {NEW} AS
        SELECT m.record_id || '#' || strftime(m.month, '%Y-%m') || '~1' AS event_id,
               m.record_id || '#' || strftime(m.month, '%Y-%m') AS record_id,
               m.person_id, m.identity_id, m.furnisher, m.feed, m.batch_id,
               m.loaded_record_id, CAST(m.month AS DATE) AS event_date, m.reported_date,
               {same}, {_status_sql("m.code")} AS payment_status,
               m.record_id AS history_of, 1 AS version, true AS is_current,
               now()::TIMESTAMP AS recorded_at
        FROM _history_months m
        WHERE {_status_sql("m.code")} IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM _history_family f
                          WHERE f.family = m.family AND f.month = m.month)
        QUALIFY row_number() OVER (PARTITION BY m.family, m.seq, m.month
                                   ORDER BY m.event_date DESC, m.record_id) = 1""")
    added = int(engine.scalar(f"SELECT count(*) FROM {NEW}"))
    engine.execute("DROP TABLE _history_months")
    return added, unreadable


def prepare_history(engine: Engine, spec: SourceSpec, batch_id: str) -> tuple[int, int, int]:
    """For a Metro 2 batch of account status reports in ``BATCH`` (not inserted yet):
    supersede the months read from profiles that its reports give, and make ``NEW``, the months
    its profiles give, for the build to insert with the batch's events.
    Returns (months superseded, months in ``NEW``, profile characters that are no code)."""
    _families(engine, spec)
    superseded = supersede_history(engine, batch_id)
    added, unreadable = expand_history(engine, spec, batch_id)
    engine.execute("DROP TABLE _history_family")
    return superseded, added, unreadable
