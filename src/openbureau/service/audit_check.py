"""Checking the audit log: every entry against its hash, the tree against its entries, and the
log against every head the bureau signed (:func:`verify_log`, `openbureau audit verify`); a
saved head against today's log is audit_prove.py's.

What each problem says, and where:

- an entry whose fields no longer give its hash: changed (or, when its hash is that of another
  position, moved: entries reordered);
- positions with no entry: removed;
- a tree node that is not the hash of its entries: an entry rewritten with a new hash;
- a log shorter than a signed head, or nodes past its last entry: the newest entries removed;
- a log whose first ``n`` entries do not give the root of a head of size ``n``: rewritten (an
  entry removed, added or changed with every hash after it recomputed), between the last head
  that still matches and that one;
- two heads of one size with different roots, or successive heads with no consistency proof.

The heads of a log the workspace retired while the store held its entries are checked as its
own (a rewrite of those entries is found as before); a log retired despite problems cannot be
checked, and is reported as ``acknowledged``, not as intact (workspace_log.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openbureau.errors import UserError
from openbureau.service import audit_tree
from openbureau.service.audit import entry_fields, leaf_bytes, unhex
from openbureau.service.audit_heads import (
    HEADS_FILE,
    HeadInvalid,
    SignedHead,
    log_id,
    log_keys,
    read_heads_file,
    verify_head,
)
from openbureau.service.merkle import (
    EMPTY_ROOT,
    Frontier,
    Node,
    leaf_hash,
    verify_consistency,
)
from openbureau.service.store import AuditCheck, AuditEntry, AuditHead, AuditTreeNode
from openbureau.service.workspace_log import WorkspaceLog, read_log

_SHOWN = 20  # changed entries listed one a line; the rest are counted


@dataclass
class LogCheck:
    """The outcome of :func:`verify_log`: ``problems`` one a line (none: intact)."""

    entries: int = 0
    tree_size: int = 0
    heads: list[SignedHead] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: logs retired despite problems: the entries before the new log are not vouched for
    acknowledged: list[str] = field(default_factory=list)
    checked_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def ok(self) -> bool:
        return not self.problems


def _span(first: int, last: int) -> str:
    return f"position {first}" if first == last else f"positions {first}-{last}"


def _heads(
    session: Session,
    ws_root: Path,
    keys: dict[str, Any] | None,
    check: LogCheck,
    retiring: Sequence[str] = (),
) -> list[SignedHead]:
    """Every valid head of the workspace's log (and of the logs it retired while the store held
    their entries, and of ``retiring``), from the store and the file, smallest first; a store
    whose log is another (unless logs are ``retiring`` for it), and heads of a log the
    workspace neither has nor retired, are problems (see workspace_log.py)."""
    lid = log_id(session)
    try:
        own = read_log(ws_root)
    except UserError as exc:
        check.problems.append(str(exc))
        own = None
    expected = own.log_id if own is not None else lid
    checked = {
        expected,
        *retiring,
        *(r.log_id for r in (own.retired if own is not None else ()) if r.acknowledged is None),
    }
    if own is not None and own.log_id != lid and not retiring:
        check.problems.append(
            f"the store's audit log is {lid}, not this workspace's log {own.describe()}: the "
            "store's log id was changed, or the store replaced (or migrated down and up); its "
            "entries are checked against the heads of the workspace's log (a store replaced on "
            "purpose: `openbureau audit sign --new-log REASON`)"
        )
    stored = list(session.execute(select(AuditHead).order_by(AuditHead.id)).scalars())
    in_file = read_heads_file(ws_root)
    if (stored or in_file) and keys is None:
        try:
            keys = log_keys(ws_root)
        except UserError as exc:
            check.problems.append(f"signed heads cannot be checked: {exc}")
            return []
    found: dict[str, SignedHead] = {}
    others: dict[str, _OtherLog] = {}
    for row in stored:
        try:
            head = verify_head(row.jws, keys or {})
        except HeadInvalid as exc:
            check.problems.append(
                f"signed head #{row.id} in the store (size {row.tree_size:,}): {exc}"
            )
            continue
        if (head.log_id, head.tree_size, head.root_hash.hex()) != (
            row.log_id,
            row.tree_size,
            row.root_hash,
        ):
            check.problems.append(
                f"signed head #{row.id} in the store: its log, size or root "
                "is not what its signature says"
            )
            continue
        if head.log_id not in checked:
            others.setdefault(head.log_id, _OtherLog()).add(head, None)
            continue
        found[head.jws] = head
    from_store = set(found)
    file_heads: set[str] = set()
    for number, data in in_file:
        try:
            head = verify_head(data if isinstance(data, dict) else "", keys or {})
        except HeadInvalid as exc:
            check.problems.append(f"{HEADS_FILE}, line {number}: {exc}")
            continue
        if head.log_id not in checked:
            others.setdefault(head.log_id, _OtherLog()).add(head, number)
            continue
        file_heads.add(head.jws)
        found.setdefault(head.jws, head)
    for other, seen in others.items():
        _other_log(other, seen, own, expected, check)
    if missing := len(file_heads - from_store):
        check.notes.append(f"{missing} signed head(s) in {HEADS_FILE} are not in the store")
    if missing := len(from_store - file_heads):
        check.notes.append(f"{missing} signed head(s) in the store are not in {HEADS_FILE}")
    return sorted(found.values(), key=lambda h: (h.tree_size, h.timestamp))


@dataclass
class _OtherLog:
    """Heads of a log other than the workspace's, as found in the store and the heads file."""

    heads: int = 0
    largest: int = 0
    lines: list[int] = field(default_factory=list)
    in_store: int = 0

    def add(self, head: SignedHead, line: int | None) -> None:
        self.heads += 1
        self.largest = max(self.largest, head.tree_size)
        if line is None:
            self.in_store += 1
        else:
            self.lines.append(line)


def _other_log(
    other: str, seen: _OtherLog, own: WorkspaceLog | None, expected: str, check: LogCheck
) -> None:
    """Say what heads of another log are: a log the workspace retired (a note), one signed
    while empty (a note: they cover no entry), else a problem (they no longer check anything)."""
    where = ", ".join(
        [
            *([f"{HEADS_FILE} line(s) {_lines(seen.lines)}"] if seen.lines else []),
            *([f"{seen.in_store} in the store"] if seen.in_store else []),
        ]
    )
    retired = own.retired_log(other) if own is not None else None
    if retired is not None and retired.acknowledged:
        check.acknowledged.append(
            f"log {other} ({seen.heads} signed head(s), up to size {seen.largest:,}: {where}) "
            f"was retired on {retired.until[:10]} by {retired.by} despite problems, "
            f"acknowledged: {retired.acknowledged}; the entries its heads signed are not "
            "checked, and not vouched for"
        )
    elif retired is not None:
        check.notes.append(
            f"{seen.heads} signed head(s) of log {other} ({where}), which this workspace "
            f"retired on {retired.until[:10]} (by {retired.by}: {retired.reason}); not checked "
            "against this store"
        )
    elif seen.largest == 0:
        check.notes.append(
            f"{seen.heads} signed head(s) of log {other} while it was empty ({where}; size 0, "
            "signed at publications before this store was used): they cover no entry"
        )
    else:
        check.problems.append(
            f"{seen.heads} signed head(s) of log {other}, up to size {seen.largest:,} ({where}), "
            f"which is neither this workspace's log ({expected}) nor one it retired: the "
            "store's log was renamed or replaced after they were signed, so they check nothing "
            "now (a store replaced on purpose: `openbureau audit sign --new-log REASON`)"
        )


def _lines(numbers: list[int]) -> str:
    return str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}-{numbers[-1]}"


def _entries(session: Session, batch: int) -> Iterator[AuditEntry]:
    after = -1
    while True:
        rows = (
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.leaf_index > after)
                .order_by(AuditEntry.leaf_index)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return
        yield from rows
        after = rows[-1].leaf_index
        session.expunge_all()


class _NodeCheck:
    """Compares the nodes the entries' hashes make with the stored ones, a batch at a time;
    reports the lowest node that differs (its parents differ because of it)."""

    def __init__(self, session: Session, problems: list[str]) -> None:
        self.session, self.problems = session, problems
        self.pending: dict[Node, bytes] = {}
        self.bad: set[Node] = set()

    def flush(self) -> None:
        if not self.pending:
            return
        stored: dict[Node, bytes] = {}
        by_level: dict[int, list[int]] = {}
        for level, idx in self.pending:
            by_level.setdefault(level, []).append(idx)
        for level, ids in by_level.items():
            stored.update(
                ((level, int(i)), bytes(h))
                for i, h in self.session.execute(
                    select(AuditTreeNode.idx, AuditTreeNode.hash).where(
                        AuditTreeNode.level == level, AuditTreeNode.idx.between(min(ids), max(ids))
                    )
                )
            )
        for node in sorted(self.pending):
            if stored.get(node) == self.pending[node]:
                continue
            self.bad.add(node)
            level, idx = node
            if (level - 1, 2 * idx) in self.bad or (level - 1, 2 * idx + 1) in self.bad:
                continue
            what = "is missing" if node not in stored else "does not match their hashes"
            self.problems.append(
                f"the tree node over {_span(idx << level, ((idx + 1) << level) - 1)} {what}: "
                "an entry there was rewritten with a new hash, or the node was"
            )
        self.pending.clear()


def verify_log(
    factory: sessionmaker[Session],
    ws_root: Path,
    *,
    keys: dict[str, Any] | None = None,
    batch: int = 10_000,
    retiring: Sequence[str] = (),
) -> LogCheck:
    """Check every entry, the tree and every signed head (store and file) of the log.

    Reads every entry once, a batch at a time (and the leaf hashes once more when entries were
    found moved: the tree is then rebuilt with each where it was written, so that one swap is
    one problem). ``keys``: the log's public key set (default: the workspace's
    ``public/audit-log-keys.json``). ``retiring``: logs about to be retired for the store's
    (``audit sign --new-log``): their heads are checked as the workspace's.
    """
    check = LogCheck()
    with factory() as session:
        heads = check.heads = _heads(session, Path(ws_root), keys, check, retiring)
        changed: list[AuditEntry] = []
        tree = _TreePass(session, {h.tree_size for h in heads}, batch)
        for e in _entries(session, batch):
            check.entries += 1
            try:
                stored = bytes.fromhex(e.hash)
            except ValueError:
                stored = b""
            if leaf_hash(leaf_bytes(e.leaf_index, entry_fields(e), e.nonce)) != stored:
                changed.append(e)
            tree.add(e.leaf_index, stored)
        moved = _changed(changed, check)
        if moved:
            tree = _TreePass(session, tree.want, batch)
            for rows in _leaf_hashes(session, batch):
                for i, text in rows:
                    tree.add(i, moved.get(i) or unhex(text))
        tree.finish()
        check.problems += tree.problems
        check.tree_size = tree.expected
        cut = _against_heads(session, heads, tree.roots, tree.expected, tree.gap, check)
        beyond = audit_tree.count_nodes_beyond(session, tree.expected)
        if beyond and not cut:  # (evidence of the same, when no head covers the lost entries)
            check.problems.append(
                f"{beyond} tree node(s) cover positions from {tree.expected} "
                f"on, past the last entry: the entries after position "
                f"{tree.expected - 1} were removed"
            )
    return check


def _leaf_hashes(session: Session, batch: int) -> Iterator[list[tuple[int, str]]]:
    after = -1
    while True:
        rows = [
            (int(i), str(h))
            for i, h in session.execute(
                select(AuditEntry.leaf_index, AuditEntry.hash)
                .where(AuditEntry.leaf_index > after)
                .order_by(AuditEntry.leaf_index)
                .limit(batch)
            )
        ]
        if not rows:
            return
        yield rows
        after = rows[-1][0]


class _TreePass:
    """The tree the leaf hashes make, in order: gaps in the positions, nodes that differ from
    the stored ones, and the root at each signed head's size."""

    def __init__(self, session: Session, want: set[int], batch: int) -> None:
        self.want, self.batch = want, batch
        self.problems: list[str] = []
        self.nodes = _NodeCheck(session, self.problems)
        self.front = Frontier()
        self.roots: dict[int, bytes] = {0: EMPTY_ROOT}
        self.expected = 0
        self.gap: int | None = None  # (past a gap, the tree cannot be rebuilt from hashes)

    def add(self, i: int, leaf: bytes) -> None:
        if i > self.expected:
            self.problems.append(f"{_span(self.expected, i - 1)}: no entry (removed from the log)")
            self.gap = self.expected if self.gap is None else self.gap
        self.expected = i + 1
        if self.gap is not None:
            return
        for node, h in self.front.append(leaf):
            self.nodes.pending[node] = h
        if self.front.size in self.want:
            self.roots[self.front.size] = self.front.root()
        if len(self.nodes.pending) >= self.batch:
            self.nodes.flush()

    def finish(self) -> None:
        self.nodes.flush()


def _changed(changed: list[AuditEntry], check: LogCheck) -> dict[int, bytes]:
    """Report entries that do not match their hashes: moved (their hash is that of another
    changed position: reordered) or changed. Returns, for each position an entry was moved
    from, that entry's hash."""
    where = {e.leaf_index: e for e in changed}
    moved: dict[int, int] = {}  # position now -> position it was written at
    if len(changed) <= 1000:
        for e in changed:
            for p in where.keys() - {e.leaf_index}:
                if leaf_hash(leaf_bytes(p, entry_fields(e), e.nonce)).hex() == e.hash:
                    moved[e.leaf_index] = p
                    break
    lines = []
    for e in changed:
        i, was = e.leaf_index, moved.get(e.leaf_index)
        if was is None:
            lines.append(
                f"entry #{e.seq} at position {i} was changed after it was written "
                "(its fields do not give its hash)"
            )
        elif moved.get(was) == i:
            if i < was:
                lines.append(
                    f"entries #{e.seq} and #{where[was].seq} at positions {i} and "
                    f"{was} were swapped (reordered)"
                )
        else:
            lines.append(
                f"entry #{e.seq} at position {i} was written at position {was} (reordered)"
            )
    check.problems.extend(lines[:_SHOWN])
    if len(lines) > _SHOWN:
        check.problems.append(f"... and {len(lines) - _SHOWN} more entries changed or moved")
    return {was: unhex(where[i].hash) for i, was in moved.items()}


def _against_heads(
    session: Session,
    heads: list[SignedHead],
    roots: dict[int, bytes],
    size: int,
    gap: int | None,
    check: LogCheck,
) -> bool:
    """Report what the heads show; return whether the log is shorter than one of them."""
    by_size: dict[int, SignedHead] = {}
    for h in heads:
        other = by_size.setdefault(h.tree_size, h)
        if other.root_hash != h.root_hash:
            check.problems.append(
                f"two signed heads of size {h.tree_size:,} differ (signed "
                f"{other.signed_at:%Y-%m-%d %H:%M:%S} and "
                f"{h.signed_at:%Y-%m-%d %H:%M:%S} UTC): the bureau signed "
                "two different logs"
            )
    longer = [h for h in heads if h.tree_size > size]
    if longer:
        top = longer[-1]
        lost = top.tree_size - size
        what = (
            f"all {lost:,} entries were removed"
            if size == 0
            else f"the newest {'entry' if lost == 1 else f'{lost:,} entries'} (from position "
            f"{size} on) {'was' if lost == 1 else 'were'} removed"
        )
        check.problems.append(
            f"the log holds {size:,} entries, fewer than the signed head ({top.describe()}): {what}"
        )
    good: SignedHead | None = None
    inconsistent: list[SignedHead] = []
    for h in heads:
        if h.tree_size > size or (gap is not None and h.tree_size > gap):
            continue
        if roots.get(h.tree_size) == h.root_hash:
            if not inconsistent:
                good = h
        else:
            inconsistent.append(h)
    if inconsistent:
        first = inconsistent[0]
        since = (
            f"those up to position {good.tree_size - 1} match the head ({good.describe()})"
            if good is not None and good.tree_size
            else "none of them match"
        )
        more = f" (and {len(inconsistent) - 1} later head(s))" if len(inconsistent) > 1 else ""
        check.problems.append(
            f"the log is inconsistent with the signed head ({first.describe()}){more}: its "
            f"first {first.tree_size:,} entries are not those the bureau signed ({since}); an "
            "entry was removed, added or rewritten with every hash after it recomputed"
        )
        return bool(longer)
    # successive heads, proved as a reader would: a consistency proof from the stored tree
    checked = [h for h in heads if h.tree_size <= size and (gap is None or h.tree_size <= gap)]
    for old, new in pairwise(checked):
        if old.tree_size == new.tree_size:
            continue
        try:
            proof = audit_tree.consistency_proof(session, old.tree_size, new.tree_size)
        except audit_tree.TreeDamaged:
            proof = []
        if not verify_consistency(
            old.tree_size, new.tree_size, old.root_hash, new.root_hash, proof
        ):
            check.problems.append(
                f"no consistency proof from the head {old.describe()} to the "
                f"head {new.describe()} in the stored tree"
            )
    return bool(longer)


# --- the last check, for the auditor page -------------------------------------------------


def record_check(factory: sessionmaker[Session], check: LogCheck, actor: str) -> None:
    with factory() as session:
        session.add(
            AuditCheck(
                at=check.checked_at.replace(tzinfo=None),
                actor=actor,
                entries=check.entries,
                heads=len(check.heads),
                ok=check.ok,
                # (an intact log's acknowledged retirements in their place: never shown as intact)
                problems="\n".join(check.problems or check.acknowledged),
            )
        )
        session.commit()


def last_check(factory: sessionmaker[Session]) -> dict[str, Any] | None:
    """The latest recorded check: when, by whom, what it found."""
    with factory() as session:
        row = session.execute(select(AuditCheck).order_by(AuditCheck.id.desc()).limit(1)).scalar()
    if row is None:
        return None
    return {
        "at": row.at.replace(tzinfo=dt.UTC),
        "actor": row.actor,
        "entries": row.entries,
        "heads": row.heads,
        "ok": row.ok,
        "problems": row.problems.splitlines() if row.problems else [],
    }
