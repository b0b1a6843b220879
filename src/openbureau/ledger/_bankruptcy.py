"""Bankruptcies Metro 2 furnishers report, as one public record per consumer and chapter.

A Metro 2 report carries each consumer's Consumer Information Indicator (CII; the base
segment's and each J1/J2 consumer's own, ``consumer_information`` on the account status
events): A-D a petition under Chapter 7, 11, 12 or 13, E-H its discharge, I-L its dismissal,
M-P its withdrawal, Z a bankruptcy of no designated chapter (``ingest._metro2.BANKRUPTCY``).
Every account of the consumer reports it, every month, so the reports are read together, at
read time, from the account status rows known on the day (a relink, a dispute or a later
report then changes the record as it changes the rows):

- **One record per consumer and chapter**: all the consumer's reports of a chapter's codes,
  whichever account and furnisher sent them, are one bankruptcy. Its ``filed_date`` is the
  month of the first report (Metro 2 sends no filing date), its ``case_status`` and
  ``resolved_date`` the latest report's (petitioned; or discharged, dismissed, withdrawn from
  the month it was first reported so); its ``record_id`` the latest report's, which is what a
  dispute of it names.
- **Q** removes the indicator an account reported before: that account's earlier reports of
  the consumer no longer count (its reports after a Q do).
- **Not twice**: the record is left out when a public record feed (a court registry) has the
  same consumer's bankruptcy of the same chapter filed from ``SAME_CASE_BEFORE`` before the
  first report to ``SAME_CASE_AFTER`` after it; the court's record, with its case number and
  dates, is the one on file. A Z bankruptcy is left out likewise when the consumer has a
  bankruptcy of a known chapter (reported or the court's) within ``SAME_CASE_BEFORE`` of it.

A consumer's two bankruptcies of one chapter (a Chapter 7 filed again eight years later) are
one record while both are reported: see docs/ledger.md.
"""

from __future__ import annotations

from openbureau.engine.sql import literal
from openbureau.ingest import _metro2
from openbureau.ingest.vocabulary import BANKRUPTCIES
from openbureau.ledger._renumber import renumbered_sql
from openbureau.ledger._schema import EVENTS
from openbureau.warehouse import ledger as tables

# How far apart a court's filing date and the first Metro 2 report of the same bankruptcy may
# be: a Chapter 13 plan runs up to five years, so even a furnisher whose first report is the
# discharge reports within six years of the filing; the report cannot precede the filing (the
# month of the first report is its first day, so a filing later that month still matches).
SAME_CASE_BEFORE = "6 YEAR"
SAME_CASE_AFTER = "1 MONTH"
UNDESIGNATED = _metro2.BANKRUPTCY["Z"][0]
# The columns a reported bankruptcy has besides the public record table's.
EXTRA_COLUMNS = ("case_status", "accounts_reporting")
# The public record table's columns a reported bankruptcy has no value for (NULL of the type)
_NOT_REPORTED = ("unreadable",)


def _codes_sql() -> str:
    """(code, record_kind, case_status, stage order) of the bankruptcy codes, as a VALUES list."""
    order = {s: i for i, s in enumerate(_metro2.BANKRUPTCY_STAGES)}
    return ", ".join(
        f"({literal(code)}, {literal(kind)}, {literal(stage)}, {order[stage]})"
        for code, (kind, stage, _) in _metro2.BANKRUPTCY.items()
    )


# The account status rows the bankruptcies are read from: those with an indicator, and those
# renumbering an account (L1), so that a Q reported under an account's new number removes what
# it reported under the old one. A filter the scan applies, before the rows are renumbered.
BANKRUPTCY_EVIDENCE = "(consumer_information IS NOT NULL OR new_account_id IS NOT NULL)"


def reported_bankruptcies_sql(status_rows: str) -> str:
    """The bankruptcies the account status rows of ``status_rows`` (a FROM item, at least those
    ``BANKRUPTCY_EVIDENCE`` selects; accounts as reported) report: one row per person and kind,
    with the columns of the public record table (``case_id`` and ``amount`` empty) and
    ``EXTRA_COLUMNS``. A subquery."""
    codes = ", ".join(literal(c) for c in [*_metro2.BANKRUPTCY, _metro2.BANKRUPTCY_REMOVED])
    return f"""(WITH r AS (
          SELECT person_id, identity_id, account_id, event_id, record_id, furnisher, feed,
                 batch_id, loaded_record_id, event_date, reported_date, recorded_at,
                 consumer_information AS code
          FROM {renumbered_sql(status_rows)} WHERE consumer_information IN ({codes})),
        removed AS (
          SELECT person_id, account_id, max(event_date) AS on_ FROM r
          WHERE code = {literal(_metro2.BANKRUPTCY_REMOVED)} GROUP BY ALL),
        cases AS (
          SELECT r.*, k.record_kind, k.case_status, k.stage
          FROM r JOIN (VALUES {_codes_sql()}) k(code, record_kind, case_status, stage)
            USING (code)
          LEFT JOIN removed q ON q.person_id = r.person_id
            AND q.account_id IS NOT DISTINCT FROM r.account_id
          WHERE q.on_ IS NULL OR r.event_date > q.on_),
        -- (no CTE named as one of renumbered_sql's: Spark refuses a name used twice)
        last_report AS (
          SELECT * FROM cases QUALIFY row_number() OVER (
            PARTITION BY person_id, record_kind
            ORDER BY reported_date DESC, event_date DESC, stage DESC, record_id DESC) = 1),
        span AS (
          SELECT c.person_id, c.record_kind, min(c.event_date) AS filed_date,
                 count(DISTINCT coalesce(c.account_id, c.record_id)) AS accounts_reporting,
                 min(c.event_date) FILTER (WHERE c.case_status = l.case_status) AS since
          FROM cases c JOIN last_report l USING (person_id, record_kind) GROUP BY ALL)
        SELECT l.event_id, l.record_id, 1 AS version, true AS is_current,
               NULL::VARCHAR AS supersedes, l.person_id, l.identity_id, l.furnisher, l.feed,
               l.batch_id, l.loaded_record_id, s.filed_date AS event_date, l.reported_date,
               l.recorded_at, NULL::VARCHAR AS correction_reason, NULL::DATE AS superseded_on,
               l.record_kind, NULL::VARCHAR AS case_id, s.filed_date, NULL::DECIMAL(18,2)
               AS amount,
               CASE WHEN l.stage > 0 THEN s.since END AS resolved_date, l.case_status,
               s.accounts_reporting
        FROM last_report l JOIN span s USING (person_id, record_kind))"""


def public_records_sql(records: str, status_rows: str) -> str:
    """The public records of ``records`` (a FROM item of public record versions) and the
    bankruptcies ``status_rows`` report (see ``reported_bankruptcies_sql``) that are not
    already one of them (see the module docstring): every record a person's file holds, one
    per bankruptcy. A subquery, with the columns of ``records`` and ``EXTRA_COLUMNS``."""
    kinds = ", ".join(literal(k) for k in BANKRUPTCIES)
    near = (
        f"o.filed_date BETWEEN d.filed_date - INTERVAL {SAME_CASE_BEFORE} "
        f"AND d.filed_date + INTERVAL {SAME_CASE_AFTER}"
    )
    return f"""(WITH p AS (SELECT * FROM {records}),
        d AS (SELECT * FROM {reported_bankruptcies_sql(status_rows)}),
        court AS (SELECT person_id, record_kind, filed_date FROM p
                  WHERE record_kind IN ({kinds})),
        kept AS (
          SELECT d.* FROM d WHERE NOT EXISTS (
            SELECT 1 FROM court o WHERE o.person_id = d.person_id AND {near}
              AND (o.record_kind = d.record_kind
                   OR {literal(UNDESIGNATED)} IN (o.record_kind, d.record_kind)))
          AND NOT (d.record_kind = {literal(UNDESIGNATED)} AND EXISTS (
            SELECT 1 FROM d o WHERE o.person_id = d.person_id
              AND o.record_kind <> {literal(UNDESIGNATED)}
              AND o.filed_date BETWEEN d.filed_date - INTERVAL {SAME_CASE_BEFORE}
                                   AND d.filed_date + INTERVAL {SAME_CASE_BEFORE})))
        SELECT {_union_columns(False)} FROM p UNION ALL SELECT {_union_columns(True)} FROM kept)"""


def _union_columns(reported: bool) -> str:
    """The columns of the public record table and ``EXTRA_COLUMNS``, in that order: of the
    court's records (their extra columns empty) or of the bankruptcies reported (``reported``:
    the table's columns a report has no value for empty). Listed, as Spark has no UNION BY
    NAME."""
    table = next(t for t in tables.EVENT_TABLES if t.name == EVENTS["public_record"].table)
    if not reported:
        return ", ".join(
            [c.name for c in table.columns]
            + ["NULL::VARCHAR AS case_status", "NULL::BIGINT AS accounts_reporting"]
        )
    empty = {c.name: f"NULL::{c.sql().split(' ', 1)[1]} AS {c.name}" for c in table.columns}
    cols = [empty[c.name] if c.name in _NOT_REPORTED else c.name for c in table.columns]
    return ", ".join(cols + list(EXTRA_COLUMNS))


ON_FILE_VIEW = "ledger_public_records_on_file"


def on_file_sql(where: str = "true") -> str:
    """Every public record on file now: the current, unsuppressed public records and the
    bankruptcies the current account reports say (``public_records_sql``); ``where``: a
    condition on the rows of both (what was known on a day). A subquery."""
    status = f"""(SELECT * FROM {EVENTS["account_status"].effective}
        WHERE {where} AND {BANKRUPTCY_EVIDENCE})"""
    records = f"(SELECT * FROM {EVENTS['public_record'].effective} WHERE {where})"
    return public_records_sql(records, status)


def on_file_view_sql() -> str:
    """The view ``ON_FILE_VIEW`` of ``on_file_sql``."""
    return f"CREATE OR REPLACE VIEW {ON_FILE_VIEW} AS SELECT * FROM {on_file_sql()}"
