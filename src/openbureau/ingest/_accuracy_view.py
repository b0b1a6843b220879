"""The rows the accuracy rules read: one batch's loaded rows in canonical columns, each beside
the feed's previous report of its account.

Every feed is read through the same columns (``COLUMNS``), named for the canonical targets
they come from, so a rule is written once for CSV, JSON lines, Parquet, fixed-width and Metro 2
feeds alike. A column whose targets the feed does not carry (or carries with a type the column
cannot take, as in a batch loaded before the target's type was fixed) is NULL, and a rule that
needs it is *not applicable* to the batch (``FeedColumns``): it is counted as such, never run
on the NULLs, so it never passes silently.

History is the feed's own earlier reports, read from its ``src_`` table as it stood when the
batch was loaded: rows of that batch and earlier ones that no row of those batches superseded.
It is what the furnisher sent, before any bureau correction, and it needs no identity linking,
so the checks run as soon as a batch is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from openbureau.engine import Engine
from openbureau.engine.sql import ident, literal
from openbureau.ingest._validate import output_column
from openbureau.ingest.spec import SourceSpec
from openbureau.ingest.vocabulary import CURRENT, DAYS_PAST_DUE, STATUS_RANK

ROWS = "_accuracy_rows"  # the temp table the rules read (rows of the batch only)

_SQL_TYPE_OF = {"DATE": ("date", "month"), "DECIMAL(18,2)": ("amount",), "BIGINT": ("integer",)}


@dataclass(frozen=True)
class Column:
    """One canonical column of the rows the rules read."""

    name: str
    sql_type: str
    sources: tuple[str, ...]  # canonical targets, the first present one first (coalesce)

    def takes(self, field_type: str) -> bool:
        """Whether a field of this type can feed the column."""
        return field_type in _SQL_TYPE_OF.get(self.sql_type, (field_type,))


def _c(name: str, sql_type: str, *sources: str) -> Column:
    return Column(name, sql_type, sources or (name,))


DATE, AMOUNT, TEXT, COUNT = "DATE", "DECIMAL(18,2)", "VARCHAR", "BIGINT"

COLUMNS: tuple[Column, ...] = (
    _c("account_id", TEXT),
    _c("product", TEXT),
    _c("payment_status", TEXT),
    _c("payment_rating", TEXT),
    _c("payment_history_profile", TEXT),
    _c("days_past_due", COUNT),
    _c("balance", AMOUNT),
    _c("credit_limit", AMOUNT),
    _c("original_amount", AMOUNT),
    _c("amount_past_due", AMOUNT),
    _c("charge_off_amount", AMOUNT),
    _c("opened_date", DATE),
    _c("closed_date", DATE),
    _c("first_delinquency_date", DATE),
    _c("last_payment_date", DATE),
    _c("period", DATE),
    _c("reported_date", DATE),
    _c("dob", DATE),
    _c("national_id", TEXT),  # the keyed token ingest stores, never the number
    _c("inquiry_date", DATE),
    _c("inquiry_type", TEXT),
    _c("due_date", DATE),
    _c("amount_due", AMOUNT),
    _c("amount_paid", AMOUNT),
    _c("paid_date", DATE),
    _c("days_late", COUNT),
    _c("filed_date", DATE),
    _c("amount", AMOUNT),
    _c("resolved_date", DATE, "satisfied_date", "released_date", "resolved_date"),
)
_BY_NAME = {c.name: c for c in COLUMNS}
SOURCES = frozenset(t for c in COLUMNS for t in c.sources)

# Columns made from the others, for every batch (see ``_derived``); and those read from the
# feed's history: the account's (when the feed has ``account_id`` and ``period``) and the
# consumer's inquiries (``national_id`` and ``inquiry_date``), NULL otherwise.
DERIVED = ("status", "status_rank", "report_date", "load_date", "month")
ACCOUNT_HISTORY = ("account_id", "period")
INQUIRY_HISTORY = ("national_id", "inquiry_date")
# name: (SQL over the account's reports in order, {w} their window; its type). A row without an
# account has no history: NULL (and not consecutive).
_BY_MONTH = "OVER (PARTITION BY account_id ORDER BY month, batch_id, line_no)"
_ACCOUNT_WINDOWS = {
    "prev_status": ("lag(status) {w}", "VARCHAR"),
    "prev_rank": ("lag(status_rank) {w}", "INTEGER"),
    "prev_consecutive": ("lag(month) {w} = month - INTERVAL 1 MONTH", "BOOLEAN"),
    "prev_first_delinquency_date": ("lag(first_delinquency_date) {w}", "DATE"),
    "prev_opened_date": ("lag(opened_date) {w}", "DATE"),
    "prev_product": ("lag(product) {w}", "VARCHAR"),
    "prev_original_amount": ("lag(original_amount) {w}", "DECIMAL(18,2)"),
}
# name: (an aggregate over all the account's reports; its type)
_ACCOUNT_TOTALS = {
    "consumers": ("count(DISTINCT national_id)", "BIGINT"),
    "birth_dates": ("count(DISTINCT dob)", "BIGINT"),
}
_INQUIRY_WINDOWS = {
    "same_day_inquiries": (
        "count(*) OVER (PARTITION BY national_id, inquiry_date, inquiry_type)",
        "BIGINT",
    ),
}
_TYPES = {n: t for n, (_, t) in (_ACCOUNT_WINDOWS | _ACCOUNT_TOTALS | _INQUIRY_WINDOWS).items()}
HISTORY = (*_ACCOUNT_WINDOWS, *_ACCOUNT_TOTALS, *_INQUIRY_WINDOWS)


@dataclass(frozen=True)
class FeedColumns:
    """What the rules can read of a feed: each usable target's ``src_`` column, and why each
    other target a column reads cannot be used."""

    usable: dict[str, str]
    unusable: dict[str, str]
    compared: bool  # the table has ``supersedes`` (rows compared at ingest)

    @classmethod
    def of(cls, spec: SourceSpec, types: dict[str, str]) -> FeedColumns:
        """``types``: the feed table's column types. A field whose type its canonical column
        cannot take (a date declared text in a batch's spec), or whose table column holds
        another type (a date loaded as text by an earlier version), is unusable."""
        usable, unusable = {}, {}
        for f in spec.fields:
            column = next((c for c in COLUMNS if f.target in c.sources), None)
            if column is None:
                continue
            held = types.get(output_column(f), "")
            if not column.takes(f.type):
                unusable[f.target] = f"has type {f.type}"
            elif column.sql_type != TEXT and held.split("(")[0] != column.sql_type.split("(")[0]:
                unusable[f.target] = f"loaded as {held or 'nothing'} by an earlier version"
            else:
                usable[f.target] = output_column(f)
        return cls(usable, unusable, "supersedes" in types)

    def history(self) -> tuple[bool, bool]:
        """Whether the feed's rows can be read beside their account's earlier reports, and
        beside their consumer's other inquiries."""
        return (
            all(t in self.usable for t in ACCOUNT_HISTORY),
            all(t in self.usable for t in INQUIRY_HISTORY),
        )


def column_types(engine: Engine, table: str) -> dict[str, str]:
    """The type of each column of a feed table, as the engine names it."""
    rows = engine.query(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
        [table],
    )
    return {str(name): str(data_type) for name, data_type in rows}


def _status_sql() -> tuple[str, str]:
    """The account's status (as sent, or from its days past due as the ledger ranks a row
    without one) and its rank (vocabulary.STATUS_RANK)."""
    by_days = " ".join(
        f"WHEN days_past_due >= {days} THEN '{status}'"
        for status, days in sorted(DAYS_PAST_DUE.items(), key=lambda item: -item[1])
    )
    status = (
        f"coalesce(payment_status, CASE {by_days} WHEN days_past_due >= 0 THEN '{CURRENT}' END)"
    )
    rank = " ".join(f"WHEN '{s}' THEN {r}" for s, r in STATUS_RANK.items())
    return status, f"CASE status {rank} END"


def _canonical_select(
    spec: SourceSpec, feed: FeedColumns, batch_id: str, load_date: date, history: bool
) -> str:
    """The batch's rows in canonical columns; with ``history``, the feed's rows up to the
    batch that no row up to it superseded (the reports current when it was loaded; a feed
    table from before rows were compared names none)."""
    usable = feed.usable
    cols = []
    for c in COLUMNS:
        present = [ident(usable[t]) for t in c.sources if t in usable]
        expr = present[0] if len(present) == 1 else f"coalesce({', '.join(present)})"
        cols.append(f"CAST({expr if present else 'NULL'} AS {c.sql_type}) AS {c.name}")
    table, batch = ident(spec.table), literal(batch_id)
    rows = f"""SELECT record_id, batch_id, line_no, {", ".join(cols)},
            DATE {literal(load_date.isoformat())} AS load_date
        FROM {table} t"""
    if not history:
        return f"{rows} WHERE batch_id = {batch}"
    if not feed.compared:
        return f"{rows} WHERE batch_id <= {batch}"
    return f"""{rows} ANTI JOIN (SELECT supersedes FROM {table}
            WHERE batch_id <= {batch} AND supersedes IS NOT NULL) s ON s.supersedes = t.record_id
        WHERE t.batch_id <= {batch}"""


def _derived(source: str) -> str:
    """``source`` with the columns every rule may read (``DERIVED``)."""
    status, rank = _status_sql()
    return f"""SELECT *, {rank} AS status_rank FROM (
        SELECT *, {status} AS status,
            coalesce(reported_date, last_day(period), load_date) AS report_date,
            date_trunc('month', period)::DATE AS month
        FROM ({source}))"""


def _history_columns(present: set[str]) -> list[str]:
    """The history columns in ``HISTORY`` order: those ``present`` as they are, the others NULL
    of their types (a boolean: false)."""
    out = []
    for name in HISTORY:
        value = name if name in present else f"NULL::{_TYPES[name]}"
        out.append(f"coalesce({value}, false)" if _TYPES[name] == "BOOLEAN" else value)
        out[-1] += f" AS {name}"
    return out


_HAS_INQUIRY = "national_id IS NOT NULL AND inquiry_date IS NOT NULL"


def _with_history(source: str, batch_id: str, accounts: bool, inquiries: bool) -> str:
    """The batch's rows of ``source`` (the feed's current reports up to the batch), each with
    the previous report of its account (by month), its account's count of consumers (national
    IDs) and birth dates over all its reports, and its consumer's inquiries of the day.

    The windows and totals are computed over the few columns they read, for the accounts and
    consumers of the batch only, and joined to its rows: a window over every column would
    carry them all."""
    batch = literal(batch_id)
    ctes = [f"h AS MATERIALIZED ({source})"]
    joins, present = [], set()
    if accounts:
        mine = f"account_id IN (SELECT account_id FROM h WHERE batch_id = {batch})"
        lags = ", ".join(
            f"{expr.format(w=_BY_MONTH)} AS {name}" for name, (expr, _) in _ACCOUNT_WINDOWS.items()
        )
        totals = ", ".join(f"{expr} AS {name}" for name, (expr, _) in _ACCOUNT_TOTALS.items())
        ctes += [
            f"lags AS (SELECT record_id, {lags} FROM h WHERE {mine})",
            f"totals AS (SELECT account_id, {totals} FROM h WHERE {mine} GROUP BY account_id)",
        ]
        joins += ["LEFT JOIN lags USING (record_id)", "LEFT JOIN totals USING (account_id)"]
        present |= {*_ACCOUNT_WINDOWS, *_ACCOUNT_TOTALS}
    if inquiries:
        mine = f"national_id IN (SELECT national_id FROM h WHERE batch_id = {batch})"
        windows = ", ".join(f"{expr} AS {name}" for name, (expr, _) in _INQUIRY_WINDOWS.items())
        ctes.append(
            f"inquiries AS (SELECT record_id, {windows} FROM h WHERE {_HAS_INQUIRY} AND {mine})"
        )
        joins.append("LEFT JOIN inquiries USING (record_id)")
        present |= set(_INQUIRY_WINDOWS)
    return f"""WITH {", ".join(ctes)}
        SELECT h.*, {", ".join(_history_columns(present))} FROM h {" ".join(joins)}
        WHERE h.batch_id = {batch}"""


def _without_history(source: str) -> str:
    return f"SELECT *, {', '.join(_history_columns(set()))} FROM ({source})"


def stage_rows(
    engine: Engine, spec: SourceSpec, feed: FeedColumns, batch_id: str, load_date: date
) -> int:
    """Make ``ROWS``: the batch's rows of the feed table in canonical columns, with their
    history; return how many there are (the batch's new and superseding reports)."""
    accounts, inquiries = feed.history()
    history = accounts or inquiries
    source = _derived(_canonical_select(spec, feed, batch_id, load_date, history))
    select = (
        _with_history(source, batch_id, accounts, inquiries)
        if history
        else _without_history(source)
    )
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {ROWS} AS {select}")
    return int(engine.scalar(f"SELECT count(*) FROM {ROWS}"))


def column(name: str) -> Column:
    """The canonical column of that name."""
    return _BY_NAME[name]
