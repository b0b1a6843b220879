"""A furnisher's delete requests (Metro 2 account status DA, DF, and ECOA Z), applied to the ledger.

A Metro 2 record with account status DA (delete the entire account) or DF (delete it, confirmed
fraud) is loaded like any row, but it is no report of a month: the ledger maps it onto no event.
Instead every report of that account from the same feed, reported on or before the request's
Date of Account Information (joint holders' included, and the reports under the account's
earlier numbers that an L1 segment changed to the one named), is **suppressed**, never deleted:
``ledger_suppressions`` holds one row per record with the reason (``deleted_by_furnisher`` for
DA, ``fraud`` for DF) and a note naming the request's record, so the change is dated, can be
audited with the record's history, and lifted if it was sent in error.

A consumer reported with ECOA code Z (delete the consumer: they were reported on the account in
error), in the base segment or in a J1/J2 segment, is such a request for that consumer only:
the account's reports on or before that date that are theirs (the same person, or the same
identity record while unlinked) are suppressed (``deleted_by_furnisher``); the other holders'
stand. (ECOA T, association terminated, keeps the months before it: see ``_holders``.)
"""

from __future__ import annotations

from openbureau.engine import Engine
from openbureau.engine.sql import literal
from openbureau.ingest import _metro2, store
from openbureau.ingest.spec import SourceSpec
from openbureau.ledger._schema import MAX_RENUMBERINGS
from openbureau.warehouse.identity import IDENTITY_RECORD_MAP, PERSON_INDEX

# What the suppression of a Z consumer's reports is called, and its note's words.
CONSUMER_CODE = "ECOA " + next(c for c, r in _metro2.ECOA.items() if r == _metro2.DELETED_ROLE)
CONSUMER_REASON = "deleted_by_furnisher"
CONSUMER_MEANING = "delete this consumer from the account: reported on it in error"


def delete_requests_sql(spec: SourceSpec) -> str:
    """A condition on a Metro 2 feed's row ``s``: it is a delete request (no month's report)."""
    codes = ", ".join(literal(c) for c in _metro2.DELETES)
    return f"coalesce(s.metro2_status, '') IN ({codes})"


def _asked_sql(spec: SourceSpec) -> str:
    """The batch's requests (parameter: the batch id, three times): the account, the code,
    the request's record, its date and, for a Z consumer, whose reports (person and identity
    record; NULL for an account's delete request: everyone's)."""
    furnisher = literal(spec.furnisher + ":")
    deleted = literal(_metro2.DELETED_ROLE)
    code = literal(CONSUMER_CODE)

    def consumer(rows: str, record: str) -> str:
        return f"""SELECT {furnisher} || s.account_id, {code}, {record},
                 CAST(s.reported_date AS DATE), pi.person_id, m.identity_id
          FROM {rows}
          LEFT JOIN {IDENTITY_RECORD_MAP.name} m ON m.record_id = {record}
          LEFT JOIN {PERSON_INDEX.name} pi ON pi.identity_id = m.identity_id"""

    return f"""SELECT {furnisher} || s.account_id AS account_id, s.metro2_status AS code,
                 s.record_id AS request, CAST(s.reported_date AS DATE) AS asked_on,
                 NULL::VARCHAR AS person_id, NULL::VARCHAR AS identity_id
          FROM {spec.table} s WHERE s.batch_id = ? AND {delete_requests_sql(spec)}
        UNION ALL
        {consumer(f"{spec.table} s", "s.record_id")}
          WHERE s.batch_id = ? AND s.account_role = {deleted} AND NOT {delete_requests_sql(spec)}
        UNION ALL
        {consumer(f"{store.ASSOCIATED_CONSUMERS} a JOIN {spec.table} s "
                  "ON s.record_id = a.base_record_id", "a.record_id")}
          WHERE s.batch_id = ? AND a.account_role = {deleted}
            AND NOT {delete_requests_sql(spec)}"""  # fmt: skip


def apply_delete_requests(engine: Engine, spec: SourceSpec, batch_id: str) -> int:
    """Suppress the reports each delete request of the batch names; returns how many records
    were suppressed (a record already suppressed for the same reason, not lifted, is left)."""
    if spec.format != "metro2":
        return 0
    reasons = {**_metro2.DELETE_REASON, CONSUMER_CODE: CONSUMER_REASON}
    meanings = {**_metro2.DELETES, CONSUMER_CODE: CONSUMER_MEANING}
    reason = " ".join(f"WHEN {literal(c)} THEN {literal(r)}" for c, r in reasons.items())
    meaning = " ".join(f"WHEN {literal(c)} THEN {literal(m)}" for c, m in meanings.items())
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ledger_deletes AS
        WITH RECURSIVE asked AS ({_asked_sql(spec)}),
        -- (the account's earlier numbers, which an L1 changed to the one asked: their
        -- reports are the same account's, as point-in-time features count them)
        links AS (SELECT DISTINCT account_id AS old, new_account_id AS new
                  FROM ledger_account_status WHERE feed = ? AND new_account_id IS NOT NULL
                    AND new_account_id <> account_id),
        named(account_id, code, request, asked_on, person_id, identity_id, depth) AS (
          SELECT *, 0 FROM asked UNION ALL
          SELECT l.old, n.code, n.request, n.asked_on, n.person_id, n.identity_id, n.depth + 1
          FROM named n JOIN links l ON l.new = n.account_id
          WHERE n.depth < {MAX_RENUMBERINGS})
        SELECT e.record_id, CASE a.code {reason} END AS reason,
               'Metro 2 ' || a.code || ' (' || CASE a.code {meaning} END || '): record '
                 || a.request AS note
        FROM ledger_account_status e JOIN named a
          ON e.account_id = a.account_id AND e.feed = ? AND e.event_date <= a.asked_on
         AND (a.code <> {literal(CONSUMER_CODE)} OR e.person_id = a.person_id
              OR e.identity_id = a.identity_id)
        WHERE e.is_current
          AND e.record_id NOT IN (SELECT record_id FROM ledger_suppressions x
                                  WHERE x.lifted_at IS NULL AND x.reason = CASE a.code {reason} END)
        QUALIFY row_number() OVER (PARTITION BY e.record_id ORDER BY a.request) = 1""",
        [batch_id, batch_id, batch_id, spec.name, spec.name],
    )
    engine.execute("""INSERT INTO ledger_suppressions
        SELECT (SELECT coalesce(max(suppression_id), 0) FROM ledger_suppressions)
                 + row_number() OVER (ORDER BY record_id), record_id, reason, note, now(),
               NULL, NULL
        FROM _ledger_deletes""")
    n = int(engine.scalar("SELECT count(*) FROM _ledger_deletes"))
    engine.execute("DROP TABLE _ledger_deletes")
    return n
