"""The ingest tables of the warehouse.

``ingest_batches``  one row per loaded file: batch id, feed, file hash, load time, counts
``quarantine``      one row per rejected input row: line, reason code, field, masked raw text
``identical_rows``  one row per loaded input row that repeated the feed's current report of its
                    key: line, and the ``record_id`` of the ``src_`` row it repeats
``field_catalog``   every loaded field with its data category (protected or not)
``src_<feed>``      one table per feed: one row per new or superseding input row, typed
                    canonical fields

Every ``src_`` row has ``record_id`` (``<batch>.<line>``, unique in the warehouse),
``batch_id``, ``line_no``, ``source_record_id`` (the feed's record key, ``|``-joined) and
``supersedes`` (the ``record_id`` of the feed's earlier report of the same key that this row
replaces; NULL for a new report). Every data line of a batch is in exactly one of ``src_<feed>``,
``identical_rows`` and ``quarantine``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openbureau.engine import Engine

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS ingest_batches (
        batch_id VARCHAR PRIMARY KEY,
        feed VARCHAR NOT NULL,
        furnisher VARCHAR NOT NULL,
        spec_fingerprint VARCHAR NOT NULL,
        spec_yaml VARCHAR NOT NULL,
        file_name VARCHAR NOT NULL,
        file_path VARCHAR NOT NULL,
        file_sha256 VARCHAR NOT NULL,
        file_bytes BIGINT NOT NULL,
        loaded_at TIMESTAMP NOT NULL,
        rows_read BIGINT NOT NULL,
        rows_loaded BIGINT NOT NULL,
        rows_quarantined BIGINT NOT NULL,
        blank_lines BIGINT NOT NULL,
        warnings VARCHAR[] NOT NULL,
        rows_new BIGINT,
        rows_identical BIGINT,
        rows_superseding BIGINT,
        CHECK (rows_read = rows_loaded + rows_quarantined),
        CHECK (rows_new IS NULL
               OR rows_loaded = rows_new + rows_identical + rows_superseding)
    )""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        batch_id VARCHAR NOT NULL,
        feed VARCHAR NOT NULL,
        line_no BIGINT NOT NULL,
        reason VARCHAR NOT NULL,
        field VARCHAR,
        source_column VARCHAR,
        value VARCHAR,
        reasons VARCHAR[] NOT NULL,
        raw VARCHAR,
        PRIMARY KEY (batch_id, line_no)
    )""",
    # (no key: a line is here once by construction, and a re-sent million-row file would
    # otherwise pay for an index it never uses)
    """CREATE TABLE IF NOT EXISTS identical_rows (
        batch_id VARCHAR NOT NULL,
        feed VARCHAR NOT NULL,
        line_no BIGINT NOT NULL,
        record_id VARCHAR NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS field_catalog (
        feed VARCHAR NOT NULL,
        target VARCHAR NOT NULL,
        source_column VARCHAR NOT NULL,
        type VARCHAR NOT NULL,
        category VARCHAR NOT NULL,
        protected BOOLEAN NOT NULL,
        spec_fingerprint VARCHAR NOT NULL,
        PRIMARY KEY (feed, target)
    )""",
]


# What a loaded row is, compared with the feed's earlier reports of the same record key.
REPORTS = ("new", "identical", "superseding")
_REPORT_COLUMNS = tuple(f"rows_{r}" for r in REPORTS)


def ensure_schema(engine: Engine) -> None:
    for ddl in SCHEMA:
        engine.execute(ddl)
    # Batches loaded before rows were compared have no counts (NULL): they read as all new.
    for column in _REPORT_COLUMNS:
        engine.execute(f"ALTER TABLE ingest_batches ADD COLUMN IF NOT EXISTS {column} BIGINT")


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
    return (
        "batch_id, feed, file_name, loaded_at, rows_read, rows_loaded, rows_quarantined, "
        + ", ".join(counts)
    )


def find_loaded(engine: Engine, feed: str, sha256: str) -> BatchRecord | None:
    """The batch that loaded this exact file content for this feed, if loading it again would
    change nothing: no later batch of the feed superseded a report since.

    After a later batch superseded reports, the same bytes are compared row by row again, as a
    re-compressed copy would be, so that the outcome depends on the values, never on the bytes.
    """
    rows = engine.query(
        f"SELECT {_record_columns(engine)} FROM ingest_batches b "
        "WHERE feed = ? AND file_sha256 = ? AND NOT EXISTS ("
        "  SELECT 1 FROM ingest_batches l WHERE l.feed = b.feed AND l.batch_id > b.batch_id"
        "  AND coalesce(l.rows_superseding, 0) > 0) "
        "ORDER BY batch_id DESC LIMIT 1",
        [feed, sha256],
    )
    return BatchRecord(*rows[0]) if rows else None


def current_reports(engine: Engine, table: str) -> str:
    """A FROM item of a feed's loaded rows that are current reports: each report once, in its
    latest version (a row a later batch superseded is left out). For anything that reads
    ``src_`` rows as facts rather than as lineage."""
    name = '"' + table.replace('"', '""') + '"'
    if "supersedes" not in engine.columns(table):  # (never re-sent since rows were compared)
        return name
    return f"(SELECT s.* FROM {name} s ANTI JOIN {name} n ON n.supersedes = s.record_id)"


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
