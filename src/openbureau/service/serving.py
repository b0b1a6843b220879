"""Published snapshots as the service reads them (``Published``, ``ServingStore``).

The publication stage (``openbureau.publication``) writes the serving copies; the service
opens the current one, notices a new pointer on its next request and switches without a
restart. Publishing here also signs a head of the service's audit log.
"""

from __future__ import annotations

import datetime as dt
import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import duckdb
import pyarrow as pa
import yaml

from openbureau.config import AgeingSection
from openbureau.engine import Engine
from openbureau.engine.sql import path_literal
from openbureau.errors import UserError
from openbureau.publication import _copy
from openbureau.publication._copy import (
    AGED_OFF_TABLE,
    POINTER,
    SERVING_DIR,
    served_links,
    snapshot_card,
)
from openbureau.publication._records import RECORDS_DIR
from openbureau.scoring.alternative import ALT_COLUMNS
from openbureau.scoring.scorecard import Scorecard
from openbureau.warehouse import identity

__all__ = [
    "AGED_OFF_TABLE",
    "POINTER",
    "SERVING_DIR",
    "Published",
    "ServingStore",
    "publish_snapshot",
    "republish",
    "served_links",
    "snapshot_card",
]

T = TypeVar("T")


def _sign_audit_log(workspace: Path, snapshot_id: str) -> None:
    """Sign the audit log's head at each publication: the reads of the snapshot served until
    now are then covered by a head kept outside the store (audit_heads.py)."""
    from openbureau.service.audit_heads import sign_head
    from openbureau.service.store import default_url, open_store
    from openbureau.workspace import Workspace

    url = Workspace.open(workspace).settings.service.store_url or default_url(workspace)
    try:
        sign_head(open_store(url), workspace)
    except UserError as exc:
        raise UserError(
            f"snapshot {snapshot_id} is published, but the audit log's head was not signed: {exc}"
        ) from None


def publish_snapshot(
    engine: Engine,
    workspace: Path,
    snapshot_id: str,
    features_table: str,
    ageing: AgeingSection | None = None,
) -> Path:
    """``publication.publish_snapshot``, then sign the audit log's head."""
    final = _copy.publish_snapshot(engine, workspace, snapshot_id, features_table, ageing)
    _sign_audit_log(workspace, snapshot_id)
    return final


def republish(engine: Engine, workspace: Path, snapshot_id: str) -> Path:
    """``publication.republish``, then sign the audit log's head."""
    final = _copy.republish(engine, workspace, snapshot_id)
    _sign_audit_log(workspace, snapshot_id)
    return final


@dataclass
class Published:
    """One opened serving copy. ``cursor()`` gives each request its own connection."""

    path: Path
    snapshot_id: str
    as_of: dt.date
    card: Scorecard
    connection: duckdb.DuckDBPyConnection
    tables: frozenset[str]

    scores: pa.Table | None = None  # this snapshot's rows, for the hot path
    index: dict[str, int] = field(default_factory=dict)  # person_id -> row of ``scores``
    moved: dict[str, str] = field(default_factory=dict)  # retired person_id -> survivor
    merged: dict[str, list[str]] = field(default_factory=dict)  # survivor -> its retired IDs
    made_at: dt.datetime | None = None  # when the snapshot was made (UTC, the warehouse clock)
    # the scorecard with alternative data it scored with too (None: the core one only)
    alt_card: Scorecard | None = None
    # person_id -> a row rescored since (a dispute's resolution), laid over ``scores``
    overlay: dict[str, dict[str, Any]] = field(default_factory=dict)

    # table -> its columns, as read once (a copy does not change while open)
    _columns: dict[str, frozenset[str]] = field(default_factory=dict, init=False, repr=False)
    # what :meth:`once` computed, by key
    _once: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)
    _once_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.connection.cursor()

    def once(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()``, computed once while the copy is open (by the first caller; others
        wait for it), for what is read of every file at once (the lender's file summaries)."""
        with self._once_lock:
            if key not in self._once:
                self._once[key] = compute()
            return cast(T, self._once[key])

    def columns_of(self, table: str) -> frozenset[str]:
        """The columns of one of the copy's tables (read once: a query costs a millisecond or
        two, and a lender's lookup asks on every call)."""
        found = self._columns.get(table)
        if found is None:
            cur = self.cursor()
            try:
                found = frozenset(
                    c
                    for (c,) in cur.execute(
                        "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]
                    ).fetchall()
                )
            finally:
                cur.close()
            self._columns[table] = found
        return found

    def score_row(self, person_id: str) -> dict[str, Any] | None:
        """The person's row of this snapshot (following a retired id), from memory."""
        pid = self.moved.get(person_id, person_id)
        rescored = self.overlay.get(pid)
        if rescored is not None:
            return {**rescored, "reasons": [dict(r) for r in rescored["reasons"] or []]}
        i = self.index.get(pid)
        if i is None or self.scores is None:
            return None
        return dict(self.scores.slice(i, 1).to_pylist()[0])

    def load_scores(self) -> None:
        """Hold the snapshot's scores in memory: a score lookup is then a dict lookup, not a
        query (about 0.3 KB a person)."""
        cur = self.cursor()
        try:
            # (and the score with alternative data, served with consent: scoring/alternative.py;
            # a copy published before it has none)
            info = cur.execute("SELECT name FROM pragma_table_info('scores')").fetchall()
            have = {c for (c,) in info}
            alt = "".join(f", {c}" for c in ALT_COLUMNS if c in have)
            scores: pa.Table = cur.sql(
                f"""SELECT person_id, snapshot_id, as_of, score, band, unscorable_reason,
                       unscorable_text, reasons, scorecard_version{alt}
                   FROM scores WHERE snapshot_id = ?""",
                params=[self.snapshot_id],
            ).to_arrow_table()
            if identity.PERSON_IDS.name in self.tables:
                retired = (
                    f"FROM {identity.PERSON_IDS.name} "
                    "WHERE resolves_to IS NOT NULL AND resolves_to <> person_id"
                )
                self.moved = dict(
                    cur.execute(f"SELECT person_id, resolves_to {retired}").fetchall()
                )
                self.merged = dict(
                    cur.execute(
                        f"SELECT resolves_to, list(person_id ORDER BY person_id) {retired} "
                        "GROUP BY resolves_to"
                    ).fetchall()
                )
        finally:
            cur.close()
        self.scores = scores
        self.index = {pid: i for i, pid in enumerate(scores.column("person_id").to_pylist())}


class ServingStore:
    """Follows ``serving/CURRENT``; reopens when it points somewhere new."""

    def __init__(self, workspace: Path, on_open: Callable[[Published], None] | None = None) -> None:
        self.folder = workspace / SERVING_DIR
        self.on_open = on_open
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._current: Published | None = None

    def fresh(self) -> Published | None:
        """The open snapshot if the pointer has not moved since (a stat, no I/O beyond it);
        None when :meth:`current` has work to do."""
        try:
            st = (self.folder / POINTER).stat()
        except FileNotFoundError:
            return None
        if (st.st_mtime_ns, st.st_ino) == self._stamp:
            return self._current
        return None

    def current(self) -> Published | None:
        """The newest published snapshot, or None before the first publish."""
        try:
            st = (self.folder / POINTER).stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_mtime_ns, st.st_ino)
        if stamp == self._stamp and self._current is not None:
            return self._current
        with self._lock:
            if stamp != self._stamp or self._current is None:
                self._current = self._open()
                self._stamp = stamp
        return self._current

    def _open(self) -> Published:
        name = (self.folder / POINTER).read_text(encoding="utf-8").strip()
        path = self.folder / name
        con = duckdb.connect(":memory:")
        con.execute(f"ATTACH {path_literal(path)} AS srv (READ_ONLY)")
        tables = {
            t
            for (t,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'srv'"
            ).fetchall()
        }
        # the lender lookup reads warehouse table names in the main catalog
        for table in tables:
            con.execute(f"CREATE VIEW main.{table} AS SELECT * FROM srv.{table}")
        tables |= self._open_records(con, path, "meta" in tables)
        snapshot_id, as_of = con.execute("SELECT snapshot_id, as_of FROM meta").fetchone() or (
            None,
            None,
        )
        # (a copy published before scores with alternative data has no alt_scorecard_yaml)
        info = con.execute("SELECT name FROM pragma_table_info('snapshots')").fetchall()
        have = {c for (c,) in info}
        alt_yaml = "alt_scorecard_yaml" if "alt_scorecard_yaml" in have else "NULL"
        yaml_text = con.execute(
            f"SELECT scorecard_yaml, created_at, {alt_yaml} FROM snapshots WHERE snapshot_id = ?",
            [snapshot_id],
        ).fetchone()
        card = Scorecard.model_validate(yaml.safe_load(yaml_text[0])) if yaml_text else None
        if snapshot_id is None or card is None:
            raise UserError(f"{path}: not a serving copy of a score snapshot")
        published = Published(path, str(snapshot_id), as_of, card, con, frozenset(tables))
        published.made_at = yaml_text[1] if yaml_text else None
        if yaml_text and yaml_text[2]:
            published.alt_card = Scorecard.model_validate(yaml.safe_load(yaml_text[2]))
        published.load_scores()
        if self.on_open is not None:
            self.on_open(published)
        # What was just loaded lives as long as the snapshot: keep it out of the collector's
        # full passes, which otherwise stall every request for ~0.1 s now and then.
        gc.collect()
        gc.freeze()
        return published

    def _open_records(self, con: duckdb.DuckDBPyConnection, path: Path, has_meta: bool) -> set[str]:
        """Attach the records file the copy names (none: the copy holds its records itself, as
        copies published before records files did); the tables it adds."""
        from openbureau.ledger.records import FILE_RECORDS_TABLE

        named = has_meta and con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE database_name = 'srv' "
            "AND table_name = 'meta' AND column_name = 'records_file'"
        ).fetchone() == (1,)
        if not named:
            return set()
        (name,) = con.execute("SELECT records_file FROM srv.meta").fetchone() or (None,)
        records = self.folder / RECORDS_DIR / str(name)
        if not records.is_file():
            raise UserError(f"{path}: its records file {records} is missing; publish again")
        con.execute(f"ATTACH {path_literal(records)} AS rec (READ_ONLY)")
        con.execute(
            f"CREATE VIEW main.{FILE_RECORDS_TABLE} AS SELECT * FROM rec.{FILE_RECORDS_TABLE}"
        )
        return {FILE_RECORDS_TABLE}
