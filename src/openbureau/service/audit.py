"""The audit log: every read of a person's data, and every refusal, as a transparency log.

Each entry is a leaf of an RFC 9162 Merkle tree (merkle.py): its leaf hash covers its fields, its
position (``leaf_index``) and a random nonce, and the hashes of the tree's complete subtrees are
written with the entries that complete them (audit_tree.py), so a proof never reads every leaf.
The bureau signs the tree's size and root (audit_heads.py); ``openbureau audit verify``
(audit_check.py) checks the entries against their hashes, the tree and every signed head, and
``openbureau audit prove`` (audit_prove.py) a saved head against today's log.
``leaf_index`` is unique, so two writers (threads or processes) that read the same tree size
cannot both append at it: the loser retries at the new size.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import queue
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from openbureau.service import audit_tree
from openbureau.service.merkle import leaf_hash
from openbureau.service.store import AuditEntry, AuditTreeNode, open_store, utcnow

if TYPE_CHECKING:
    from openbureau.workspace import Workspace

_RETRIES = 20
# Threads of one process take turns; the unique leaf_index settles races between processes.
_append_lock = threading.Lock()
log = logging.getLogger(__name__)

#: The fields of an entry a leaf covers, besides its position and nonce.
FIELDS = ("at", "actor", "actor_role", "subject", "purpose", "action", "outcome", "detail")
#: Called with the tree's size before and after a commit (to sign a head every N entries).
OnAppend = Callable[[int, int], None]


def _utc_text(at: dt.datetime) -> str:
    """An entry's time as its leaf states it: UTC, to the microsecond (the store keeps naive
    UTC; an aware time is converted)."""
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_fields(e: AuditEntry) -> dict[str, Any]:
    """The fields of a stored entry that its leaf covers (with its position and nonce)."""
    return {name: getattr(e, name) for name in FIELDS}


def unhex(text: str) -> bytes:
    """A stored hex hash as bytes; empty when it is not hex (a tampered row)."""
    try:
        return bytes.fromhex(text)
    except (TypeError, ValueError):
        return b""


def leaf_bytes(index: int, entry: Mapping[str, Any], nonce: str) -> bytes:
    """The leaf of the entry at ``index``: its fields, position and nonce as canonical JSON
    (keys sorted, no spaces, UTF-8). What is hashed, and what a person is given to check an
    entry of theirs shown in full. The nonce (16 random bytes, hex) keeps the leaf hash from
    revealing fields a reader is not shown."""
    body = {name: entry[name] for name in FIELDS}
    body.update(v=1, index=index, at=_utc_text(entry["at"]), nonce=nonce)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


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


def _append(factory: sessionmaker[Session], batch: list[_Pending]) -> tuple[int, int]:
    """Append ``batch`` as the next leaves, with the tree nodes they complete, in one
    transaction; retry at the new size when another writer got there first. Returns the tree's
    size before and after."""
    engine = factory.kw["bind"]
    stale = False
    for _ in range(_RETRIES):
        with engine.connect() as conn:
            size = audit_tree.tree_size(conn)
            entries = [p.fields for p in batch]
            if stale and audit_tree.drop_nodes_beyond(conn, size):
                # Nodes of leaves past the last entry: entries were removed from the end of the
                # log. Say so in the log itself before writing over them.
                entries.insert(
                    0,
                    _fields(
                        "openbureau",
                        "system",
                        "audit log cut short",
                        None,
                        None,
                        "allowed",
                        f"tree nodes of entries from position {size} on were found with no entries:"
                        " the newest entries were removed; their nodes are replaced",
                    ),
                )
            front = audit_tree.frontier(conn, size)
            rows, nodes = [], []
            for index, fields in enumerate(entries, start=size):
                nonce = secrets.token_hex(16)
                digest = leaf_hash(leaf_bytes(index, fields, nonce))
                rows.append({**fields, "leaf_index": index, "nonce": nonce, "hash": digest.hex()})
                nodes += [
                    {"level": level, "idx": idx, "hash": h}
                    for (level, idx), h in front.append(digest)
                ]
            try:
                conn.execute(insert(AuditEntry), rows)
                if nodes:
                    conn.execute(insert(AuditTreeNode), nodes)
                conn.commit()
            except IntegrityError:
                conn.rollback()
                # no one else appended: the conflict is with stale nodes (or a bad entry)
                stale = audit_tree.tree_size(conn) == size
                continue
            return size, size + len(rows)
    raise RuntimeError("audit log: could not append after repeated conflicts")


def _fields(
    actor: str,
    actor_role: str,
    action: str,
    subject: str | None,
    purpose: str | None,
    outcome: str,
    detail: str,
) -> dict[str, Any]:
    """An entry's fields; a value longer than its column (anything a caller typed) is cut to
    fit, whole in ``detail``, so that no entry fails to be written (and with it its batch)."""
    fields: dict[str, Any] = {
        "actor": actor,
        "actor_role": actor_role,
        "subject": subject,
        "purpose": purpose,
        "action": action,
        "outcome": outcome,
    }
    for name, value in fields.items():
        size = getattr(AuditEntry.__table__.c[name].type, "length", None)
        if value is not None and size is not None and len(value) > size:
            fields[name] = value[:size]
            detail = f"{detail}; {name} in full: {value}" if detail else f"{name} in full: {value}"
    return {"at": utcnow(), **fields, "detail": detail}


def record(
    factory: sessionmaker[Session],
    *,
    actor: str,
    actor_role: str,
    action: str,
    subject: str | None = None,
    purpose: str | None = None,
    outcome: str = "allowed",
    detail: str = "",
) -> None:
    """Append one entry in its own transaction (so a refused request is logged too)."""
    with _append_lock:
        _append(
            factory,
            [_Pending(_fields(actor, actor_role, action, subject, purpose, outcome, detail))],
        )


def workspace_log(ws: Workspace) -> Callable[..., None]:
    """:func:`record` into the workspace's operational store (its ``[service] store_url``),
    opened at the first entry: the audit log of the command line and the demo, handed to the
    stages that log (governance's reads of protected attributes) as a running service hands
    its :class:`AuditWriter`'s ``record``."""
    from openbureau.service.app import service_config  # (the app imports this module)

    opened: list[sessionmaker[Session]] = []

    def log(**entry: Any) -> None:
        if not opened:
            opened.append(open_store(service_config(ws).store_url))
        record(opened[0], **entry)

    return log


class AuditWriter:
    """Group commit for a busy service: requests hand their entry to one writer thread, which
    chains and commits whatever has queued up in a single transaction, then wakes them. A
    request returns only once its entry is committed, so no read goes unlogged; under load one
    commit serves many requests instead of each paying for its own."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        max_batch: int = 500,
        on_append: OnAppend | None = None,
    ) -> None:
        self.factory = factory
        self.max_batch = max_batch
        self.on_append = on_append
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def record(
        self,
        *,
        actor: str,
        actor_role: str,
        action: str,
        subject: str | None = None,
        purpose: str | None = None,
        outcome: str = "allowed",
        detail: str = "",
    ) -> None:
        pending = _Pending(_fields(actor, actor_role, action, subject, purpose, outcome, detail))
        self._ensure_thread()
        self._queue.put(pending)
        if not pending.done.wait(timeout=30):
            raise RuntimeError("audit log: the writer did not commit within 30 s")
        if pending.error is not None:
            raise RuntimeError("audit log: entry not written") from pending.error

    def record_many(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """:meth:`record` for several entries (keyword arguments each), handed over together:
        they are committed in as few transactions as the batch size allows, and this returns
        once all are."""
        pending = [_Pending(_fields(**e)) for e in entries]
        self._ensure_thread()
        for p in pending:
            self._queue.put(p)
        for p in pending:
            if not p.done.wait(timeout=30):
                raise RuntimeError("audit log: the writer did not commit within 30 s")
            if p.error is not None:
                raise RuntimeError("audit log: entry not written") from p.error

    async def record_async(
        self,
        *,
        actor: str,
        actor_role: str,
        action: str,
        subject: str | None = None,
        purpose: str | None = None,
        outcome: str = "allowed",
        detail: str = "",
    ) -> None:
        """:meth:`record` for ``async`` endpoints: awaits the commit without a thread."""
        pending = _Pending(
            _fields(actor, actor_role, action, subject, purpose, outcome, detail),
            future=asyncio.get_running_loop().create_future(),
        )
        self._ensure_thread()
        self._queue.put(pending)
        assert pending.future is not None
        await asyncio.wait_for(pending.future, timeout=30)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._start_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="audit-writer", daemon=True
                    )
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
        sizes: list[tuple[int, int]] = []
        try:
            with _append_lock:
                sizes.append(_append(self.factory, batch))
            outcomes: list[BaseException | None] = [None] * len(batch)
        except Exception as exc:
            outcomes = [exc] * len(batch)
            if len(batch) > 1:
                for i, p in enumerate(batch):
                    try:
                        with _append_lock:
                            sizes.append(_append(self.factory, [p]))
                        outcomes[i] = None
                    except Exception as one:  # handed to this entry's request
                        outcomes[i] = one
        for p, error in zip(batch, outcomes, strict=True):
            with contextlib.suppress(RuntimeError):  # the waiter's event loop is gone
                p.finish(error)
        if self.on_append is not None and sizes:
            try:  # (after the waiters are woken: signing is no request's business)
                self.on_append(sizes[0][0], sizes[-1][1])
            except Exception:
                log.exception("audit log: signing a tree head after an append failed")


def query(
    factory: sessionmaker[Session],
    *,
    actor: str | None = None,
    subject: str | Sequence[str] | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    periods: Sequence[dict[str, Any]] = (),
    not_roles: Sequence[str] = (),
    where: Sequence[ColumnElement[bool]] = (),
) -> list[dict[str, Any]]:
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
        within = [
            and_(
                AuditEntry.subject == p["person_id"],
                *([AuditEntry.at >= p["since"]] if p["since"] is not None else []),
                *([AuditEntry.at < p["until"]] if p["until"] is not None else []),
            )
            for p in periods
        ]
        stmt = stmt.where(or_(AuditEntry.subject.in_(list(subject)), *within))
        subject = None
    for col, value in (
        (AuditEntry.actor, actor),
        (AuditEntry.subject, subject),
        (AuditEntry.action, action),
        (AuditEntry.outcome, outcome),
    ):
        if value:
            stmt = stmt.where(col == value)
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if until:
        stmt = stmt.where(AuditEntry.at < until)
    # (the log's order is its leaves': an entry's row number says nothing)
    stmt = stmt.order_by(AuditEntry.leaf_index.desc()).limit(limit).offset(offset)
    with factory() as session:
        return [_public(e) for e in session.execute(stmt).scalars()]


def _public(e: AuditEntry) -> dict[str, Any]:
    """An entry as the pages and API read it (not its nonce: proofs read that themselves)."""
    return {
        "seq": e.seq,
        "leaf_index": e.leaf_index,
        "at": e.at.replace(tzinfo=dt.UTC),
        "actor": e.actor,
        "actor_role": e.actor_role,
        "subject": e.subject,
        "purpose": e.purpose,
        "action": e.action,
        "outcome": e.outcome,
        "detail": e.detail,
        "hash": e.hash,
    }
