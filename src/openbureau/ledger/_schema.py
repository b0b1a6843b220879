"""The canonical event model: four event tables, their columns, and where each column comes from.

Every event row keeps its lineage (record, batch, furnisher, feed), its person, the date it
happened (``event_date``), the date the furnisher reported it (``reported_date``), the time the
bureau learned it (``recorded_at``), and a version: a correction, or the furnisher's new report
of the same record key, adds a new version and marks the old one not current, never rewriting its
values (how it stood before is kept in ``ledger_version_states``, so the ledger can be read as it
was known at an earlier time).

``record_id`` names the furnisher's report: the loaded row that first reported its record key.
Every version of the report keeps it (so suppressions and disputes, made on the record, hold for
every version), and ``loaded_record_id`` names the loaded row whose values the version carries:
the report's own row for version 1, a later batch's row for a superseding report, and the row of
the version it corrects for a correction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from openbureau.ingest.vocabulary import (
    ACCOUNT_STATUS,
    DATE_TYPES,
    DAYS_PAST_DUE,
    INQUIRY_PURPOSE,
    PAYMENT_KIND,
    PRODUCT,
    PUBLIC_RECORD_KIND,
    STATUS_RANK,
    Vocabulary,
    types_of,
)
from openbureau.warehouse import ledger as tables
from openbureau.warehouse._declare import Table

UNREADABLE = tables.UNREADABLE
AMOUNT = tables.AMOUNT

# (column, SQL type) shared by every event table, as the warehouse declares them
# (``warehouse.ledger.EVENT_COMMON``, where each is described).
COMMON: list[tuple[str, str]] = [(c.name, c.sql().split(" ", 1)[1]) for c in tables.EVENT_COMMON]

# How many account renumberings (Metro 2's L1) a chain is followed through: a cycle, A to B
# and B back to A, stops here (the number reached is then one of them).
MAX_RENUMBERINGS = 20


@dataclass(frozen=True)
class EventColumn:
    name: str
    sql_type: str
    sources: tuple[str, ...]  # canonical targets tried in order (coalesce)
    qualify: bool = False  # prefix with the furnisher: account numbers are only unique per lender
    vocabulary: Vocabulary | None = None  # the values it may hold (checked by build_ledger)


@dataclass(frozen=True)
class EventTable:
    event: str
    table: str
    columns: tuple[EventColumn, ...]

    @property
    def effective(self) -> str:
        """View of current, linked, unsuppressed versions: what features and scores read."""
        return f"{self.table}_effective"

    @property
    def known(self) -> str:
        """View of the linked, unsuppressed versions that are or were a furnisher's latest
        report (``superseded_on`` says until when): what point-in-time features read."""
        return f"{self.table}_known"

    def correctable(self) -> list[str]:
        """Fields a correction may change: the event's own columns and its two dates."""
        return [c.name for c in self.columns] + ["event_date", "reported_date"]


def _c(
    name: str,
    *sources: str,
    qualify: bool = False,
    vocabulary: Vocabulary | None = None,
) -> EventColumn:
    """A column of an event table: its type comes from the warehouse's declaration."""
    return EventColumn(name, "", sources or (name,), qualify, vocabulary)


def _event(event: str, declared: Table, *columns: EventColumn) -> EventTable:
    """``event``'s table: ``columns`` (their sources) in the order the warehouse declares them,
    typed as declared there."""
    own = declared.column_names[len(tables.EVENT_COMMON) :]
    if tuple(c.name for c in columns) != own:
        raise AssertionError(f"{declared.name}: the ledger's columns differ from the declaration")
    typed = tuple(replace(c, sql_type=declared.column(c.name).type) for c in columns)
    return EventTable(event, declared.name, typed)


EVENTS: dict[str, EventTable] = {
    "account_status": _event(
        "account_status",
        tables.LEDGER_ACCOUNT_STATUS,
        _c("account_id", qualify=True),
        _c("product", vocabulary=PRODUCT),
        _c("opened_date"),
        _c("closed_date"),
        _c("credit_limit"),
        _c("original_amount"),
        _c("balance"),
        _c("payment_status", vocabulary=ACCOUNT_STATUS),
        _c("days_past_due"),
        # as the furnisher sent it (Metro 2 "Date of First Delinquency"); one missing is
        # derived at read time from the status history (ledger.ageing), and flagged
        _c("first_delinquency_date"),
        # Metro 2: the account's new number (L1), under which its later months come; and
        # whom the furnisher sold it to (K2, indicator 2): it is then no longer open
        _c("new_account_id", qualify=True),
        _c("sold_to"),
        # a month read from another report's Metro 2 payment history profile (a month
        # the ledger had no report of): that report's record_id; NULL for a month's own
        # report (see ledger._history)
        _c("history_of", "-"),
        # Metro 2's compliance condition code as sent (XB: disputed by the consumer...);
        # the account keeps the latest until another or XR (service.serving)
        _c("compliance_condition"),
        # Metro 2's consumer information indicator as sent, the consumer's own (a J1/J2
        # consumer's from their segment): a bankruptcy code makes the consumer's bankruptcy
        # public record (ledger._bankruptcy)
        _c("consumer_information"),
        # Metro 2's account status as sent (payment_status is read from it and the payment
        # rating): 05 and 13 end the account, whatever their rating (ledger._pit)
        _c("metro2_status"),
        # Metro 2's K2 as sent: indicator 1 (purchased from) or 2 (sold to) and the other
        # party's name; a purchase pairs the seller's account with the purchaser's
        # (ledger._renumber)
        _c("sale_indicator"),
        _c("sale_party"),
    ),
    "inquiry": _event(
        "inquiry",
        tables.LEDGER_INQUIRIES,
        _c("inquiry_id"),
        _c("inquiry_type", vocabulary=INQUIRY_PURPOSE),
    ),
    "payment": _event(
        "payment",
        tables.LEDGER_PAYMENTS,
        _c("payment_kind", "-", vocabulary=PAYMENT_KIND),  # the mapping's kind
        _c("account_id", "account_id", "contract_id", "lease_id", qualify=True),
        _c("due_date", "due_date", "period"),
        _c("amount_due"),
        _c("amount_paid"),
        _c("paid_date"),
        _c("days_late"),
    ),
    "public_record": _event(
        "public_record",
        tables.LEDGER_PUBLIC_RECORDS,
        # from the mapping's kind or kind_from
        _c("record_kind", "-", vocabulary=PUBLIC_RECORD_KIND),
        _c("case_id", "case_id", "lien_id", qualify=True),
        _c("filed_date"),
        _c("amount"),
        _c("resolved_date", "satisfied_date", "released_date", "resolved_date"),
    ),
}


def _check_typed_sources() -> None:
    """Every typed event column reads only targets whose type ingest fixes to its kind (see
    vocabulary.TYPED_TARGETS), so a value that reaches it was parsed and bounded at ingest."""
    kinds = {AMOUNT: {"amount"}, "INTEGER": {"integer"}, "DATE": set(DATE_TYPES)}
    for table in EVENTS.values():
        for c in table.columns:
            want = kinds.get(c.sql_type)
            if want is None:
                continue
            for source in c.sources:
                if not set(types_of(source) or {"string"}) <= want:
                    raise AssertionError(
                        f"{table.table}.{c.name} reads {source}: declare its type in "
                        "ingest.vocabulary.TYPED_TARGETS"
                    )


_check_typed_sources()

# A status row the ledger can rank: a known status, or none and a count of days past due.
RANKABLE_STATUS_SQL = (
    f"coalesce(payment_status IN ({ACCOUNT_STATUS.sql_list()}) "
    "OR (payment_status IS NULL AND days_past_due >= 0), false)"
)


def _status_rank_sql() -> str:
    """Ordinal of a status row's delinquency (vocabulary.STATUS_RANK): what "worse" means for
    the delinquency features. A row it cannot rank is an error, never "current": ingest
    quarantines such rows and build_ledger refuses older ones, so this only fires if a row
    slipped past both."""
    by_status = "\n    ".join(
        f"WHEN payment_status = '{status}' THEN {rank}" for status, rank in STATUS_RANK.items()
    )
    by_days = "\n    ".join(
        f"WHEN payment_status IS NULL AND days_past_due >= {days} THEN {STATUS_RANK[status]}"
        for status, days in sorted(DAYS_PAST_DUE.items(), key=lambda item: -item[1])
    )
    return f"""CASE
    {by_status}
    {by_days}
    WHEN payment_status IS NULL AND days_past_due >= 0 THEN {STATUS_RANK["current"]}
    ELSE error('ledger: record ' || record_id || ' of batch ' || batch_id
               || ' has no account status the ledger can rank; run openbureau ledger') END"""


STATUS_RANK_SQL = _status_rank_sql()

SUPPRESSIONS = tables.LEDGER_SUPPRESSIONS.create_sql()

BATCHES = tables.LEDGER_BATCHES.create_sql()

# Which loaded fields each mapped batch's events took their columns from: one row per event
# column and target feeding it, with the field's category as the batch's spec declared it (a
# canonical identity field's own). ``kept_out``: a category the ledger keeps out of its events
# (``ingest.categories.KEPT_OUT_OF_LEDGER``), so the column is empty for the batch's events;
# ``rows``: how many of them had a value that was kept out. The event's dates and a public
# record's kind are listed too (``event_date``, ``reported_date``, ``record_kind``; never kept
# out), so every batch with events has rows here, but one mapped before this table existed: the
# factor guard then reads that batch's lineage from the field catalog.
LINEAGE = tables.LEDGER_LINEAGE.create_sql()

# How a version stood before a later fact changed it: its ``is_current`` and ``superseded_on``
# until ``changed_at``, the known-at time of the report or correction that replaced it. With
# the versions' own ``recorded_at`` (when the bureau learned each one), this lets the ledger be
# read as it was known at an earlier time (``known_sql``).
VERSION_STATES = tables.LEDGER_VERSION_STATES.create_sql()

# (deleted_by_furnisher: a furnisher's delete request, Metro 2's DA; its DF is fraud)
SUPPRESSION_REASONS = (
    "disputed",
    "aged_off",
    "no_consent",
    "fraud",
    "deleted_by_furnisher",
    "other",
)


def create_sql(table: EventTable) -> str:
    return next(t for t in tables.EVENT_TABLES if t.name == table.table).create_sql()


def effective_view_sql(table: EventTable) -> str:
    return _view_sql(table, table.effective, "e.is_current")


def counts_on_some_day(alias: str = "e") -> str:
    """Whether a version is read by point-in-time features on some day: it is current, or a
    furnisher's newer report replaced it after the day it was reported (it counts from its
    ``reported_date`` until ``superseded_on``). One replaced on the day it was reported, as a
    re-sent file without reporting dates replaces its reports, counts on no day."""
    return f"({alias}.is_current OR {alias}.superseded_on > {alias}.reported_date)"


def known_view_sql(table: EventTable) -> str:
    return f"CREATE OR REPLACE VIEW {table.known} AS {known_sql(table)}"


def known_sql(table: EventTable, known_at: str | None = None, changed: bool = False) -> str:
    """SELECT of ``table``'s known versions (see ``EventTable.known``) as the bureau knew them
    at ``known_at`` (a TIMESTAMP literal; None: now): only versions recorded by then, each
    standing as it stood then (``changed``: some version changed after ``known_at``, so
    ``ledger_version_states`` is read), and the suppressions in force then."""
    if known_at is None:
        return _select_sql(table, table.table, counts_on_some_day(), "s.lifted_at IS NULL")
    versions = table.table
    if changed:  # (only versions replaced after K are joined to their earlier standing)
        versions = f"""(SELECT v.* REPLACE (
                coalesce(h.state.is_current, v.is_current) AS is_current,
                CASE WHEN h.state IS NULL THEN v.superseded_on ELSE h.state.superseded_on END
                    AS superseded_on)
            FROM {table.table} v LEFT JOIN (
                SELECT event_id, arg_min({{'is_current': is_current,
                                          'superseded_on': superseded_on}}, changed_at) AS state
                FROM ledger_version_states WHERE changed_at > {known_at} GROUP BY event_id) h
            USING (event_id))"""
    return _select_sql(
        table,
        versions,
        f"e.recorded_at <= {known_at} AND {counts_on_some_day()}",
        f"s.created_at <= {known_at} AND (s.lifted_at IS NULL OR s.lifted_at > {known_at})",
    )


def _view_sql(table: EventTable, name: str, versions: str) -> str:
    return f"""CREATE OR REPLACE VIEW {name} AS
        {_select_sql(table, table.table, versions, "s.lifted_at IS NULL")}"""


def _select_sql(table: EventTable, source: str, versions: str, suppressed: str) -> str:
    extra = f", {STATUS_RANK_SQL} AS status_rank" if table.event == "account_status" else ""
    # An explicit anti join, not NOT EXISTS: with a condition besides the record ID, DuckDB
    # plans NOT EXISTS as a delim join, which keeps a person filter on the view (a person's
    # rescore) from reaching the table scan: every row of the table is read.
    return f"""SELECT e.*{extra} FROM {source} e
        ANTI JOIN (SELECT s.record_id FROM ledger_suppressions s WHERE {suppressed}) s
            ON s.record_id = e.record_id
        WHERE {versions} AND e.person_id IS NOT NULL"""


TRADELINES_VIEW = """CREATE OR REPLACE VIEW ledger_tradelines AS
    SELECT person_id, furnisher, account_id,
        arg_max(product, event_date) AS product, min(opened_date) AS opened_date,
        arg_max(closed_date, event_date) AS closed_date,
        arg_max(credit_limit, event_date) AS credit_limit,
        arg_max(original_amount, event_date) AS original_amount,
        arg_max(balance, event_date) AS balance,
        arg_max(payment_status, event_date) AS payment_status,
        min(event_date) AS first_reported, max(event_date) AS last_reported,
        count(*) AS months_reported, max(status_rank) AS worst_status_rank
    FROM ledger_account_status_effective GROUP BY person_id, furnisher, account_id"""
