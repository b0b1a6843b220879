"""The Spark warehouse's rollback journal, without Spark: a rollback a stopped process left
half done is finished by the next, never losing a table it had already put back."""

from __future__ import annotations

import os
from pathlib import Path

from openbureau.engine._spark_warehouse import JOURNAL, SCHEMA_FILE, Journal


def _table(root: Path, name: str, rows: str) -> None:
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / SCHEMA_FILE).write_text("k STRING", encoding="utf-8")
    (root / name / "part-0.parquet").write_text(rows, encoding="utf-8")


def test_a_rollback_stopped_half_way_is_finished_on_the_next_open(tmp_path: Path) -> None:
    _table(tmp_path, "a", "a before")
    _table(tmp_path, "b", "b before")
    journal = Journal(tmp_path)
    journal.begin()
    for name in ("a", "b"):
        journal.save(name)
        os.remove(tmp_path / name / "part-0.parquet")  # (Spark replaces files, never edits)
        (tmp_path / name / "part-1.parquet").write_text(f"{name} after", encoding="utf-8")
    # the process stops after the rollback put table a back, before b
    os.rename(tmp_path / "a", tmp_path / "a.gone")
    os.replace(tmp_path / JOURNAL / "a", tmp_path / "a")
    # the next process opens the warehouse: it finds the journal and rolls back again
    assert Journal(tmp_path).open
    Journal(tmp_path).rollback()
    for name in ("a", "b"):
        files = sorted(p.name for p in (tmp_path / name).iterdir())
        assert files == [SCHEMA_FILE, "part-0.parquet"], (name, files)
        assert (tmp_path / name / "part-0.parquet").read_text() == f"{name} before"
    assert not (tmp_path / JOURNAL).exists()
