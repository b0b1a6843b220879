"""The ingest tables of the warehouse.

``ingest_batches``  one row per loaded file: batch id, feed, file hash, load time, counts
``quarantine``      one row per rejected input row: line, reason code, field, masked raw text
``field_catalog``   every loaded field with its data category (protected or not)
``src_<feed>``      one table per feed: one row per loaded input row, typed canonical fields

Every ``src_`` row has ``record_id`` (``<batch>.<line>``, unique in the warehouse),
``batch_id``, ``line_no`` and ``source_record_id`` (the feed's record key, ``|``-joined).
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
        CHECK (rows_read = rows_loaded + rows_quarantined)
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


def ensure_schema(engine: Engine) -> None:
    for ddl in SCHEMA:
        engine.execute(ddl)


@dataclass(frozen=True)
class BatchRecord:
    batch_id: str
    feed: str
    file_name: str
    loaded_at: datetime
    rows_read: int
    rows_loaded: int
    rows_quarantined: int


def find_loaded(engine: Engine, feed: str, sha256: str) -> BatchRecord | None:
    """The batch that already loaded this exact file content for this feed, if any."""
    rows = engine.query(
        "SELECT batch_id, feed, file_name, loaded_at, rows_read, rows_loaded, rows_quarantined "
        "FROM ingest_batches WHERE feed = ? AND file_sha256 = ?",
        [feed, sha256],
    )
    return BatchRecord(*rows[0]) if rows else None


def next_batch_id(engine: Engine) -> str:
    """``B000001``, ``B000002``, ...: ids whose text order is the order batches were loaded in
    (the first and last batch of a record are taken by it). Past ``B999999`` a digit is added
    and the letter moves on, so the order holds: ``C1000000``, later ``D10000000``."""
    n = int(engine.scalar(
        "SELECT coalesce(max(CAST(substr(batch_id, 2) AS BIGINT)), 0) + 1 FROM ingest_batches"
    ))
    digits = max(6, len(str(n)))
    return f"{chr(ord('B') + digits - 6)}{n:0{digits}d}"


def batches(engine: Engine, feed: str | None = None) -> list[BatchRecord]:
    sql = ("SELECT batch_id, feed, file_name, loaded_at, rows_read, rows_loaded, "
           "rows_quarantined FROM ingest_batches")
    params: list[str] = []
    if feed:
        sql += " WHERE feed = ?"
        params.append(feed)
    return [BatchRecord(*r) for r in engine.query(sql + " ORDER BY batch_id", params)]
