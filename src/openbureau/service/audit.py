"""The audit log: every read of a person's data, and every refusal, as a hash chain.

Each entry's hash covers its fields and the previous entry's hash, so editing, deleting or
reordering a row breaks the chain from that row on; :func:`verify_chain` finds the first break.
``prev_hash`` is unique, so two writers (threads or processes) that read the same last entry
cannot both append after it: the loser retries on the new last entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from openbureau.service.store import AuditEntry, utcnow

GENESIS = "0" * 64
_RETRIES = 20
# Threads of one process take turns; the unique prev_hash settles races between processes.
_append_lock = threading.Lock()


def _digest(prev_hash: str, at: dt.datetime, actor: str, actor_role: str, subject: str | None,
            purpose: str | None, action: str, outcome: str, detail: str) -> str:
    body = json.dumps([prev_hash, at.isoformat(timespec="microseconds"), actor, actor_role,
                       subject, purpose, action, outcome, detail],
                      separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass
class _Pending:
    fields: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    # set when an async request waits: resolved on its event loop, no thread held meanwhile
    future: asyncio.Future[None] | None = None

    def finish(self, error: BaseException | None) -> None:
        self.error = error
        self.done.set()
        fut = self.future
        if fut is not None:
            fut.get_loop().call_soon_threadsafe(_resolve, fut, error)


def _resolve(fut: asyncio.Future[None], error: BaseException | None) -> None:
    if fut.done():
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(RuntimeError(f"audit log: entry not written ({error})"))


def _append(factory: sessionmaker[Session], batch: list[_Pending]) -> None:
    """Chain ``batch`` after the current last entry and commit it in one transaction; retry
    from the new last entry when another writer got there first."""
    engine = factory.kw["bind"]
    for _ in range(_RETRIES):
        with engine.connect() as conn:
            last = conn.execute(select(AuditEntry.hash).order_by(AuditEntry.seq.desc())
                                .limit(1)).scalar()
            prev = last or GENESIS
            rows = []
            for p in batch:
                f = p.fields
                digest = _digest(prev, f["at"], f["actor"], f["actor_role"], f["subject"],
                                 f["purpose"], f["action"], f["outcome"], f["detail"])
                rows.append({**f, "prev_hash": prev, "hash": digest})
                prev = digest
            try:
                conn.execute(insert(AuditEntry), rows)
                conn.commit()
            except IntegrityError:
                conn.rollback()
                continue
            return
    raise RuntimeError("audit log: could not append after repeated conflicts")


def _fields(actor: str, actor_role: str, action: str, subject: str | None,
            purpose: str | None, outcome: str, detail: str) -> dict[str, Any]:
    """An entry's fields; a value longer than its column (anything a caller typed) is cut to
    fit, whole in ``detail``, so that no entry fails to be written (and with it its batch)."""
    fields: dict[str, Any] = {"actor": actor, "actor_role": actor_role, "subject": subject,
                              "purpose": purpose, "action": action, "outcome": outcome}
    for name, value in fields.items():
        size = getattr(AuditEntry.__table__.c[name].type, "length", None)
        if value is not None and size is not None and len(value) > size:
            fields[name] = value[:size]
            detail = f"{detail}; {name} in full: {value}" if detail else \
                f"{name} in full: {value}"
    return {"at": utcnow(), **fields, "detail": detail}


def record(factory: sessionmaker[Session], *, actor: str, actor_role: str, action: str,
           subject: str | None = None, purpose: str | None = None, outcome: str = "allowed",
           detail: str = "") -> None:
    """Append one entry in its own transaction (so a refused request is logged too)."""
    with _append_lock:
        _append(factory, [_Pending(_fields(actor, actor_role, action, subject, purpose,
                                           outcome, detail))])


class AuditWriter:
    """Group commit for a busy service: requests hand their entry to one writer thread, which
    chains and commits whatever has queued up in a single transaction, then wakes them. A
    request returns only once its entry is committed, so no read goes unlogged; under load one
    commit serves many requests instead of each paying for its own."""

    def __init__(self, factory: sessionmaker[Session], max_batch: int = 500) -> None:
        self.factory = factory
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def record(self, *, actor: str, actor_role: str, action: str, subject: str | None = None,
               purpose: str | None = None, outcome: str = "allowed", detail: str = "") -> None:
        pending = _Pending(_fields(actor, actor_role, action, subject, purpose, outcome,
                                   detail))
        self._ensure_thread()
        self._queue.put(pending)
        if not pending.done.wait(timeout=30):
            raise RuntimeError("audit log: the writer did not commit within 30 s")
        if pending.error is not None:
            raise RuntimeError("audit log: entry not written") from pending.error

    async def record_async(self, *, actor: str, actor_role: str, action: str,
                           subject: str | None = None, purpose: str | None = None,
                           outcome: str = "allowed", detail: str = "") -> None:
        """:meth:`record` for ``async`` endpoints: awaits the commit without a thread."""
        pending = _Pending(_fields(actor, actor_role, action, subject, purpose, outcome,
                                   detail), future=asyncio.get_running_loop().create_future())
        self._ensure_thread()
        self._queue.put(pending)
        assert pending.future is not None
        await asyncio.wait_for(pending.future, timeout=30)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._start_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="audit-writer",
                                                    daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        """Commit the batch; if that fails, each entry on its own, so that one bad entry
        fails its own request only. Every waiter is told, whatever happens to another."""
        try:
            with _append_lock:
                _append(self.factory, batch)
            outcomes: list[BaseException | None] = [None] * len(batch)
        except Exception as exc:
            outcomes = [exc] * len(batch)
            if len(batch) > 1:
                for i, p in enumerate(batch):
                    try:
                        with _append_lock:
                            _append(self.factory, [p])
                        outcomes[i] = None
                    except Exception as one:  # handed to this entry's request
                        outcomes[i] = one
        for p, error in zip(batch, outcomes, strict=True):
            with contextlib.suppress(RuntimeError):  # the waiter's event loop is gone
                p.finish(error)


@dataclass
class ChainCheck:
    entries: int
    ok: bool
    first_bad_seq: int | None = None
    problem: str = ""


def verify_chain(factory: sessionmaker[Session], batch: int = 10_000) -> ChainCheck:
    """Recompute every hash in order; report the first entry that does not fit."""
    prev = GENESIS
    n = 0
    after = -1
    with factory() as session:
        while True:
            rows = session.execute(select(AuditEntry).where(AuditEntry.seq > after)
                                   .order_by(AuditEntry.seq).limit(batch)).scalars().all()
            if not rows:
                return ChainCheck(n, True)
            for e in rows:
                if e.prev_hash != prev:
                    return ChainCheck(n, False, e.seq, "does not follow the entry before it "
                                                        "(an entry was removed or reordered)")
                want = _digest(e.prev_hash, e.at, e.actor, e.actor_role, e.subject, e.purpose,
                               e.action, e.outcome, e.detail)
                if want != e.hash:
                    return ChainCheck(n, False, e.seq, "its content was changed")
                prev = e.hash
                n += 1
                after = e.seq


def query(factory: sessionmaker[Session], *, actor: str | None = None,
          subject: str | Sequence[str] | None = None, action: str | None = None,
          outcome: str | None = None, since: dt.datetime | None = None,
          until: dt.datetime | None = None, limit: int = 100, offset: int = 0,
          periods: Sequence[dict[str, Any]] = (),
          not_roles: Sequence[str] = (),
          where: Sequence[ColumnElement[bool]] = ()) -> list[dict[str, Any]]:
    """Entries newest first, filtered; for the auditor's page and API. ``subject`` may list
    several (a person's ID and the IDs merged into it); ``periods``
    (``{"person_id", "since", "until"}``, None for open) adds the entries of other subjects
    logged within a period each (another file that held the person's records then);
    ``not_roles`` leaves out the entries of actors in those roles; ``where`` adds conditions
    on :class:`AuditEntry` columns."""
    stmt = select(AuditEntry).where(*where)
    if not_roles:
        stmt = stmt.where(AuditEntry.actor_role.not_in(list(not_roles)))
    if subject and not isinstance(subject, str):
        within = [and_(AuditEntry.subject == p["person_id"],
                       *([AuditEntry.at >= p["since"]] if p["since"] is not None else []),
                       *([AuditEntry.at < p["until"]] if p["until"] is not None else []))
                  for p in periods]
        stmt = stmt.where(or_(AuditEntry.subject.in_(list(subject)), *within))
        subject = None
    for col, value in ((AuditEntry.actor, actor), (AuditEntry.subject, subject),
                       (AuditEntry.action, action), (AuditEntry.outcome, outcome)):
        if value:
            stmt = stmt.where(col == value)
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if until:
        stmt = stmt.where(AuditEntry.at < until)
    stmt = stmt.order_by(AuditEntry.seq.desc()).limit(limit).offset(offset)
    with factory() as session:
        return [_public(e) for e in session.execute(stmt).scalars()]


def _public(e: AuditEntry) -> dict[str, Any]:
    return {"seq": e.seq, "at": e.at.replace(tzinfo=dt.UTC), "actor": e.actor,
            "actor_role": e.actor_role, "subject": e.subject, "purpose": e.purpose,
            "action": e.action, "outcome": e.outcome, "detail": e.detail, "hash": e.hash}
