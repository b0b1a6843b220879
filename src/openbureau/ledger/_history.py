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
  superseded, suppressed or disputed away is not made again from another report's profile.
- The same report re-sent (a new version of it) with a corrected profile corrects the months
  its profile gave: a month whose status changed gets a new version (the same record, so a
  suppression made on it holds), a month the profile no longer gives stops being current.
- A month's own report supersedes the month read from a profile, as a furnisher's new report
  supersedes its earlier one (``superseded_on``: the report's date; how it stood before is
  kept in ``ledger_version_states``): when it arrives later (a late file), or when an L1
  later shows that a report under another number was that month's. A suppression in force on
  the month read from the profile (a dispute upheld) is carried to its own report, so the
  month does not come back.
- A profile character that is no code of the CRRG's is counted (``LedgerReport``), never read
  as a status; the accuracy checks name its record.

Each account's consumers (the base segment's and each associated consumer's) get the months.
"""

from __future__ import annotations

from openbureau.engine import Engine
from openbureau.engine.sql import literal
from openbureau.ingest import _metro2, store
from openbureau.ingest.spec import SourceSpec
from openbureau.ledger._deletes import delete_requests_sql
from openbureau.ledger._renumber import renumbered_sql
from openbureau.ledger._schema import EVENTS

_T = EVENTS["account_status"].table
BATCH = "_ledger_batch"  # the batch's new event versions, before they are inserted (build)
NEW = "_history_new"  # the months its profiles give, to insert with them
# (the columns a month read from a profile takes from the report that carried it)
_FROM_REPORT = ("account_id", "product", "opened_date", "credit_limit", "original_amount")


def _status_sql(code: str) -> str:
    whens = " ".join(
        f"WHEN {literal(c)} THEN {literal(s)}" for c, (s, _) in _metro2.HISTORY.items() if s
    )
    return f"CASE {code} {whens} END"


def _families(engine: Engine, spec: SourceSpec) -> None:
    """``_history_family``: the feed's account status events and the batch's (``BATCH``), each
    with its account under its latest number (``family``) and its month."""
    cols = (
        "event_id, record_id, version, account_id, new_account_id, event_date, history_of, "
        "is_current, batch_id, reported_date, payment_status"
    )
    events = f"""(SELECT {cols} FROM {_T} WHERE feed = {literal(spec.name)}
        UNION ALL SELECT {cols} FROM {BATCH})"""
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE _history_family AS
        SELECT * EXCLUDE (account_id, new_account_id), account_id AS family,
               date_trunc('month', event_date) AS month
        FROM {renumbered_sql(events)}""")


def _end(engine: Engine, ended: str) -> int:
    """Mark not current the events of the temp table ``ended`` (event_id, on_); returns how
    many (how each stood before is kept)."""
    n = int(engine.scalar(f"SELECT count(*) FROM {ended}"))
    if n:
        engine.execute(f"""INSERT INTO ledger_version_states
            SELECT event_id, is_current, superseded_on, now()::TIMESTAMP FROM {_T}
            WHERE event_id IN (SELECT event_id FROM {ended})""")
        engine.execute(f"""UPDATE {_T} SET is_current = false, superseded_on = r.on_
            FROM {ended} r WHERE {_T}.event_id = r.event_id""")
    engine.execute(f"DROP TABLE {ended}")
    return n


def supersede_history(engine: Engine) -> int:
    """Mark not current the months read from profiles that a month's own report gives (one of
    the batch's, or one an L1 just tied to the account); carry their suppressions in force to
    that report. Returns how many."""
    engine.execute("""CREATE OR REPLACE TEMP TABLE _history_replaced AS
        SELECT d.event_id, any_value(d.record_id) AS derived, min(a.record_id) AS own,
               min(a.reported_date) AS on_
        FROM _history_family d JOIN _history_family a USING (family, month)
        WHERE d.history_of IS NOT NULL AND d.is_current AND a.history_of IS NULL
        GROUP BY d.event_id""")
    engine.execute("""INSERT INTO ledger_suppressions
        SELECT (SELECT coalesce(max(suppression_id), 0) FROM ledger_suppressions)
                 + row_number() OVER (ORDER BY r.own, s.suppression_id),
               r.own, s.reason,
               'carried from ' || r.derived || ' (the month read from a payment history '
                 || 'profile, which this report now gives)' || coalesce(': ' || s.note, ''),
               now(), NULL, NULL
        FROM _history_replaced r JOIN ledger_suppressions s ON s.record_id = r.derived
        WHERE s.lifted_at IS NULL AND NOT EXISTS (
          SELECT 1 FROM ledger_suppressions x WHERE x.record_id = r.own
            AND x.reason = s.reason AND x.lifted_at IS NULL)""")
    engine.execute("ALTER TABLE _history_replaced DROP COLUMN derived")
    engine.execute("ALTER TABLE _history_replaced DROP COLUMN own")
    return _end(engine, "_history_replaced")


def expand_history(engine: Engine, spec: SourceSpec, batch_id: str) -> tuple[int, int, int]:
    """``NEW``: the months the batch's reports' profiles give and the ledger has no report of,
    and the new versions of months a re-sent report's corrected profile changes. Returns
    (months in ``NEW``, months a corrected profile no longer gives, profile characters of the
    batch's records that are no CRRG code)."""
    known = ", ".join(literal(c) for c in _metro2.HISTORY)
    n = _metro2.HISTORY_MONTHS
    unreadable = int(
        engine.scalar(f"""SELECT count(*) FROM {spec.table} s, range(1, {n + 1}) t(k)
            WHERE s.batch_id = {literal(batch_id)} AND NOT {delete_requests_sql(spec)}
              AND substr(coalesce(s.payment_history_profile, ''), k, 1)
                  NOT IN ({known}, ' ', '')""")
    )
    # the batch's reports: each consumer's event, the profile of its base segment, and the
    # consumer's place in the record (0: the base segment's; J1/J2: their order)
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE _history_months AS
        WITH rows_ AS (
          SELECT record_id AS loaded, record_id AS base, 0 AS seq FROM {spec.table}
          WHERE batch_id = {literal(batch_id)}
          UNION ALL
          SELECT record_id, base_record_id, seq FROM {store.ASSOCIATED_CONSUMERS}
          WHERE batch_id = {literal(batch_id)}),
        reports AS (
          SELECT e.*, r.seq, s.payment_history_profile AS profile
          FROM {BATCH} e JOIN rows_ r ON r.loaded = e.loaded_record_id
          JOIN {spec.table} s ON s.record_id = r.base)
        SELECT r.*, f.family, k,
               date_trunc('month', r.event_date) - to_months(k) AS month,
               {_status_sql("substr(coalesce(r.profile, ''), k, 1)")} AS status
        FROM reports r JOIN _history_family f USING (event_id),
             range(1, {n + 1}) t(k)""")
    # A re-sent report's months its corrected profile no longer gives: no longer reported.
    engine.execute("""CREATE OR REPLACE TEMP TABLE _history_dropped AS
        SELECT d.event_id, any_value(m.reported_date) AS on_
        FROM _history_family d JOIN (SELECT DISTINCT record_id, reported_date
                                     FROM _history_months WHERE version > 1) m
          ON d.history_of = m.record_id
        WHERE d.is_current AND NOT EXISTS (
          SELECT 1 FROM _history_months x WHERE x.record_id = d.history_of
            AND x.month = d.month AND x.status IS NOT NULL)
        GROUP BY d.event_id""")
    dropped = _end(engine, "_history_dropped")
    same = ", ".join(f"m.{c}" for c in _FROM_REPORT)
    rid = "m.record_id || '#' || strftime(m.month, '%Y-%m')"
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE {NEW} AS
        WITH fresh AS (
          SELECT m.*, {rid} AS month_record FROM _history_months m WHERE m.status IS NOT NULL
          QUALIFY row_number() OVER (PARTITION BY m.family, m.seq, m.month
                                     ORDER BY m.event_date DESC, m.record_id) = 1),
        -- the month's events: its own reports, other reports' months, and the one this
        -- report's profile gave before (a re-sent report: the current version of it)
        held AS (
          SELECT f.month_record, bool_or(h.record_id <> f.month_record) AS other,
                 max(h.version) FILTER (WHERE h.record_id = f.month_record) AS top,
                 any_value(h.event_id) FILTER (WHERE h.record_id = f.month_record
                                               AND h.is_current) AS head,
                 any_value(h.payment_status) FILTER (WHERE h.record_id = f.month_record
                                                     AND h.is_current) AS was
          FROM fresh f JOIN _history_family h USING (family, month) GROUP BY 1)
        SELECT coalesce(h.top + 1, 1) AS version, h.head AS supersedes,
               f.month_record || '~' || coalesce(h.top + 1, 1) AS event_id,
               f.month_record AS record_id, f.person_id, f.identity_id, f.furnisher, f.feed,
               f.batch_id, f.loaded_record_id, CAST(f.month AS DATE) AS event_date,
               f.reported_date, {same.replace("m.", "f.")}, f.status AS payment_status,
               f.record_id AS history_of, true AS is_current, now()::TIMESTAMP AS recorded_at
        FROM fresh f LEFT JOIN held h USING (month_record)
        WHERE NOT coalesce(h.other, false)
          AND (h.top IS NULL OR (h.head IS NOT NULL AND h.was IS DISTINCT FROM f.status))""")
    # (the month's version a corrected profile changes: replaced by the new one)
    engine.execute(f"""CREATE OR REPLACE TEMP TABLE _history_changed AS
        SELECT supersedes AS event_id, reported_date AS on_ FROM {NEW}
        WHERE supersedes IS NOT NULL""")
    _end(engine, "_history_changed")
    added = int(engine.scalar(f"SELECT count(*) FROM {NEW}"))
    engine.execute("DROP TABLE _history_months")
    return added, dropped, unreadable


def prepare_history(engine: Engine, spec: SourceSpec, batch_id: str) -> tuple[int, int, int]:
    """For a Metro 2 batch of account status reports in ``BATCH`` (not inserted yet):
    supersede the months read from profiles that a month's own report gives, and make ``NEW``,
    the months (and new versions of months) its profiles give, for the build to insert with
    the batch's events. Returns (months superseded or no longer given, months in ``NEW``,
    profile characters that are no code)."""
    _families(engine, spec)
    superseded = supersede_history(engine)
    added, dropped, unreadable = expand_history(engine, spec, batch_id)
    engine.execute("DROP TABLE _history_family")
    return superseded + dropped, added, unreadable
