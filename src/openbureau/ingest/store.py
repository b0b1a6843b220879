"""The ingest tables of the warehouse.

``ingest_batches``  one row per loaded file: batch id, feed, file hash, load time, counts
``quarantine``      one row per rejected input row: line, reason code, field, masked raw text
``identical_rows``  one row per loaded input row that repeated the feed's current report of its
                    key: line, and the ``record_id`` of the ``src_`` row it repeats
``stale_rows``      one row per loaded input row reported earlier than the feed's current report
                    of its key (so not replacing it): line, its reported date, and the
                    ``record_id`` of the current report
``field_catalog``   every loaded field with its data category (protected or not)
``src_<feed>``      one table per feed: one row per new or superseding input row, typed
                    canonical fields
``associated_consumers``  Metro 2 feeds: one row per associated consumer (J1, J2 segment) of
                    a ``src_`` row, with its identity fields (see ``ingest._metro2_rows``)

Every ``src_`` row has ``record_id`` (``<batch>.<line>``, unique in the warehouse),
``batch_id``, ``line_no``, ``source_record_id`` (the feed's record key, ``|``-joined) and
``supersedes`` (the ``record_id`` of the feed's earlier report of the same key that this row
replaces; NULL for a new report). Every data line of a batch is in exactly one of ``src_<feed>``,
``identical_rows``, ``stale_rows`` and ``quarantine``; except in a batch loaded before rows were
compared, whose rows all stay in ``src_<feed>``: when the ledger chains them (``chained_at``),
an identical or superseding one names in ``supersedes`` the row it repeats or replaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openbureau.engine import Engine
from openbureau.warehouse import ingest as tables

# The associated consumers of Metro 2 feeds' rows: ``record_id`` (``<row's record_id>.<n>``),
# ``feed``, ``batch_id``, ``line_no``, ``base_record_id`` (the src_ row), ``segment`` (J1,
# J2), ``seq``, ``account_role`` and the canonical identity fields; each is an identity
# record of its own, and the ledger maps it onto its base row's events.
ASSOCIATED_CONSUMERS = "associated_consumers"

# (created from the declarations: openbureau.warehouse.ingest)
SCHEMA = [
    t.create_sql()
    for t in (
        tables.INGEST_BATCHES,
        tables.QUARANTINE,
        tables.IDENTICAL_ROWS,
        tables.STALE_ROWS,
        tables.FIELD_CATALOG,
    )
]


# What a loaded row is, compared with the feed's earlier reports of the same record key.
REPORTS = ("new", "identical", "superseding", "stale")
_REPORT_COLUMNS = tuple(f"rows_{r}" for r in REPORTS)


# How many of a batch's rows are in its feed table (an expression on ``ingest_batches``): the
# new and superseding ones; all of them in a batch loaded before rows were compared, chained or
# not (NULL counts, or ``chained_at``).
ROWS_IN_FEED_TABLE = (
    "rows_loaded - CASE WHEN chained_at IS NULL "
    "THEN coalesce(rows_identical, 0) + coalesce(rows_stale, 0) ELSE 0 END"
)


def ensure_schema(engine: Engine) -> None:
    """Create the ingest tables, or bring an earlier openbureau's up to date (not inside a
    transaction: ``ingest_batches`` may be made again, in one of its own)."""
    # (columns added since are the warehouse's migrations, openbureau.warehouse._migrate;
    # this table's checks changed too, which cannot be altered in place)
    if engine.table_exists("ingest_batches") and "rows_stale" not in engine.columns(
        "ingest_batches"
    ):
        _rebuild_batches(engine)
    for ddl in SCHEMA:
        engine.execute(ddl)


def _rebuild_batches(engine: Engine) -> None:
    """Make ``ingest_batches`` again with this version's columns and checks, rows kept: its
    CHECK of the report counts cannot be altered in place to count stale rows. Batches loaded
    before rows were compared keep empty counts (they read as all new until the ledger chains
    their rows); those compared at ingest had no stale rows."""
    have = set(engine.columns("ingest_batches"))
    stale = "CASE WHEN rows_new IS NOT NULL THEN 0 END" if "rows_new" in have else "NULL"
    with engine.transaction():
        engine.execute("ALTER TABLE ingest_batches RENAME TO ingest_batches__before")
        engine.execute(tables.INGEST_BATCHES.create_sql())
        engine.execute(
            "INSERT INTO ingest_batches BY NAME "
            f"SELECT *, {stale}::BIGINT AS rows_stale FROM ingest_batches__before"
        )
        engine.execute("DROP TABLE ingest_batches__before")


@dataclass(frozen=True)
class BatchRecord:
    batch_id: str
    feed: str
    file_name: str
    loaded_at: datetime
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    rows_new: int
    rows_identical: int
    rows_superseding: int
    rows_stale: int
    rows_reverting: int | None  # of the superseding rows; None: not counted (loaded before)
    again_of: str | None  # loaded again on purpose (ingest --again): the batch of the same bytes
    # False: loaded before rows were compared, and not chained by the ledger yet (the counts
    # read as all new); chained_at: when the ledger compared the rows of such a batch
    compared: bool
    chained_at: datetime | None


def _record_columns(engine: Engine) -> str:
    """The BatchRecord columns; a warehouse not yet written by this version (read-only) has no
    report counts, and its batches read as all new."""
    have = set(engine.columns("ingest_batches"))
    counts = [
        f"coalesce({c}, {'rows_loaded' if c == 'rows_new' else '0'})"
        if c in have
        else ("rows_loaded" if c == "rows_new" else "0")
        for c in _REPORT_COLUMNS
    ]
    extra = [
        "rows_reverting" if "rows_reverting" in have else "NULL::BIGINT",
        "again_of" if "again_of" in have else "NULL",
        "rows_new IS NOT NULL" if "rows_new" in have else "false",
        "chained_at" if "chained_at" in have else "NULL::TIMESTAMP",
    ]
    return (
        "batch_id, feed, file_name, loaded_at, rows_read, rows_loaded, rows_quarantined, "
        + ", ".join(counts + extra)
    )


def find_loaded(engine: Engine, feed: str, sha256: str) -> BatchRecord | None:
    """The latest batch that loaded this exact file content for this feed, if any: loading
    the same bytes again is a no-op, whatever came after (``ingest --again`` forces it)."""
    rows = engine.query(
        f"SELECT {_record_columns(engine)} FROM ingest_batches "
        "WHERE feed = ? AND file_sha256 = ? ORDER BY batch_id DESC LIMIT 1",
        [feed, sha256],
    )
    return BatchRecord(*rows[0]) if rows else None


def next_batch_id(engine: Engine) -> str:
    """``B000001``, ``B000002``, ...: ids whose text order is the order batches were loaded in
    (the first and last batch of a record are taken by it). Past ``B999999`` a digit is added
    and the letter moves on, so the order holds: ``C1000000``, later ``D10000000``."""
    n = int(
        engine.scalar(
            "SELECT coalesce(max(CAST(substr(batch_id, 2) AS BIGINT)), 0) + 1 FROM ingest_batches"
        )
    )
    digits = max(6, len(str(n)))
    return f"{chr(ord('B') + digits - 6)}{n:0{digits}d}"


def batches(engine: Engine, feed: str | None = None) -> list[BatchRecord]:
    sql = f"SELECT {_record_columns(engine)} FROM ingest_batches"
    params: list[str] = []
    if feed:
        sql += " WHERE feed = ?"
        params.append(feed)
    return [BatchRecord(*r) for r in engine.query(sql + " ORDER BY batch_id", params)]
