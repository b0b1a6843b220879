"""The records file: every version of every record, for a person's export, beside the serving
copies and written only when the ledger changed.

A publish used to copy the ledger's record versions into each serving copy (287,450 rows and
2.4 s at 3,000 persons; linear in the ledger, minutes at a million). They change only when the
ledger takes in a batch, a correction or a suppression, not when a snapshot is scored, so they
have a file of their own, ``serving/records/<stamp>.duckdb`` (``ledger.records.records_stamp``):
a publish whose stamp names a file already there writes nothing; otherwise it writes one
(``<stamp>.tmp``, renamed into place once whole). The serving copy names its records file in its
``meta`` (``records_file``), so the export the service gives is the ledger as it was when that
copy was published, and the service opens the two together. A records file no kept serving copy
names is removed at the next publish.
"""

from __future__ import annotations

import os
from pathlib import Path

from openbureau.engine import Engine
from openbureau.engine.sql import literal, path_literal

RECORDS_DIR = "records"


def ensure_records_file(engine: Engine, folder: Path) -> str:
    """The name (in ``folder/records``) of the records file of the ledger as it is now,
    written if there is none yet. ``folder``: the serving folder."""
    from openbureau.ledger.records import FILE_RECORDS_SQL, FILE_RECORDS_TABLE, records_stamp

    where = folder / RECORDS_DIR
    where.mkdir(exist_ok=True)
    stamp = records_stamp(engine)
    final = where / f"{stamp}.duckdb"
    if final.is_file():
        return final.name
    tmp = final.with_suffix(".tmp")
    engine.execute(f"ATTACH {path_literal(tmp)} AS rec")
    try:
        # (by identity: an export reads a few identities' row groups, not every one)
        engine.execute(
            f"CREATE TABLE rec.{FILE_RECORDS_TABLE} AS SELECT * FROM ({FILE_RECORDS_SQL}) "
            "ORDER BY identity_id"
        )
        engine.execute(
            f"CREATE TABLE rec.meta AS SELECT {literal(stamp)} AS stamp, now() AS written_at"
        )
    except BaseException:
        engine.execute("DETACH rec")
        remove_records_leftovers(folder)
        raise
    engine.execute("DETACH rec")
    os.replace(tmp, final)
    return final.name


def records_file_of(engine: Engine, copy: Path) -> str | None:
    """The records file a serving copy names (None: it holds its records itself, as copies
    published before the records file did, or it cannot be read)."""
    engine.execute(f"ATTACH {path_literal(copy)} AS older (READ_ONLY)")
    try:
        names = engine.query(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = 'older' "
            "AND table_name = 'meta' AND column_name = 'records_file'"
        )
        return str(engine.scalar("SELECT records_file FROM older.meta")) if names else None
    finally:
        engine.execute("DETACH older")


def remove_unused_records(folder: Path, used: set[str]) -> None:
    """Delete the records files no kept serving copy names."""
    for path in (folder / RECORDS_DIR).glob("*.duckdb"):
        if path.name not in used:
            path.unlink(missing_ok=True)


def remove_records_leftovers(folder: Path) -> None:
    """Delete a half-written records file (and its write-ahead log): never named by a copy."""
    where = folder / RECORDS_DIR
    for path in [*where.glob("*.tmp"), *where.glob("*.tmp.wal")]:
        path.unlink(missing_ok=True)
