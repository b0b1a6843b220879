"""A warehouse of Parquet tables for Spark: one directory per table, and a rollback journal.

The warehouse is a directory; each table is a subdirectory of Parquet files (Spark's own
layout) with its schema beside them in ``_openbureau_schema`` (Spark skips files whose names
begin with ``_``), so that a table without rows is read back with its columns in another
process. Spark's catalog lives in its session, not on disk: the engine registers each
table directory when it opens the warehouse.

Spark has no transactions on Parquet tables. A transaction here is a rollback journal, as
SQLite keeps one: before its first write in a transaction, a table's directory is copied into
``_journal/`` (hard links: Parquet files are never changed in place, only added and removed,
so a copy costs a directory entry per file), and the journal's manifest records it. Commit
removes the journal (renamed first: the rename is the commit point). Rollback, or opening a
warehouse whose journal a stopped process left, puts each journaled table back as it was and
removes the tables the transaction created. One process writes a warehouse at a time; a
reader in another process during a write sees it half done (docs/engines.md).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

SCHEMA_FILE = "_openbureau_schema"
JOURNAL = "_journal"
MANIFEST = "manifest.json"


def table_dirs(root: Path) -> dict[str, Path]:
    """The warehouse's tables: name -> directory (those with a recorded schema)."""
    if not root.is_dir():
        return {}
    return {
        d.name: d
        for d in sorted(root.iterdir())
        if d.is_dir() and not d.name.startswith(("_", ".")) and (d / SCHEMA_FILE).exists()
    }


def read_schema(directory: Path) -> str:
    return (directory / SCHEMA_FILE).read_text(encoding="utf-8")


def write_schema(directory: Path, ddl: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    written = directory / (SCHEMA_FILE + ".new")
    written.write_text(ddl, encoding="utf-8")
    os.replace(written, directory / SCHEMA_FILE)


def _link_copy(source: Path, dest: Path) -> None:
    """``source``'s tree at ``dest``, each file a hard link (a copy where links fail)."""
    shutil.copytree(source, dest, copy_function=_link_or_copy)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # (another file system, or one without links)
        shutil.copy2(src, dst)


class Journal:
    """The rollback journal of one warehouse directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / JOURNAL
        self.saved: dict[str, bool] = {}  # table -> whether it existed before

    @property
    def open(self) -> bool:
        return self.dir.exists()

    def begin(self) -> None:
        if self.open:
            raise RuntimeError(f"{self.dir}: a transaction is already open")
        self.dir.mkdir(parents=True)
        self.saved = {}
        self._write_manifest()

    def save(self, table: str) -> None:
        """Keep ``table`` as it stands, before the transaction's first write to it."""
        if table in self.saved:
            return
        current = self.root / table
        existed = current.is_dir()
        if existed:
            _link_copy(current, self.dir / table)
        self.saved[table] = existed
        self._write_manifest()  # (after the copy: a table in the manifest has its copy)

    def commit(self) -> None:
        done = self.root / (JOURNAL + ".done")
        shutil.rmtree(done, ignore_errors=True)
        os.replace(self.dir, done)  # (the commit point)
        shutil.rmtree(done, ignore_errors=True)
        self.saved = {}

    def rollback(self) -> list[str]:
        """Put every journaled table's directory back; returns their names (the engine then
        registers them again)."""
        saved = self.saved or self._read_manifest()
        for table, existed in saved.items():
            kept = self.dir / table
            # (a rollback a stopped process left half done is finished here: a table whose
            # copy is gone from the journal was put back already, and is left as it is)
            if existed and not kept.exists():
                continue
            shutil.rmtree(self.root / table, ignore_errors=True)
            if existed:
                os.replace(kept, self.root / table)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.saved = {}
        return list(saved)

    def _write_manifest(self) -> None:
        written = self.dir / (MANIFEST + ".new")
        with written.open("w", encoding="utf-8") as f:
            json.dump(self.saved, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(written, self.dir / MANIFEST)

    def _read_manifest(self) -> dict[str, bool]:
        try:
            loaded: dict[str, bool] = json.loads((self.dir / MANIFEST).read_text("utf-8"))
        except FileNotFoundError:
            return {}
        return loaded
