"""The audit log's Merkle tree as stored: tree size, root, proofs, from a few node reads.

Level 0 of the tree is the entries' leaf hashes (``audit_log.hash``); levels 1 and up are the
complete subtrees (``audit_tree``), written with the entries that complete them. Every hash a
root or a proof needs is made of O(log n) of these (merkle.complete_nodes), read in two queries
whatever the log's size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, text
from sqlalchemy.orm import Session

from openbureau.service.merkle import (
    Frontier,
    Node,
    consistency_ranges,
    inclusion_ranges,
    needed_nodes,
    range_hash,
)
from openbureau.service.store import AuditEntry, AuditTreeNode

Conn = Connection | Session


class TreeDamaged(RuntimeError):
    """A node the tree needs is missing or is not a hash: the log was tampered with."""

    def __init__(self, node: Node) -> None:
        level, idx = node
        first, last = idx << level, ((idx + 1) << level) - 1
        where = f"entry {first}" if level == 0 else f"the tree node over entries {first}-{last}"
        super().__init__(f"audit log: {where} is missing or damaged; run `openbureau audit verify`")
        self.node = node


def tree_size(conn: Conn) -> int:
    """The number of leaves: one past the highest position (a gap left by a removed entry
    still counts, so that entries after it keep their positions)."""
    last = conn.execute(select(func.max(AuditEntry.leaf_index))).scalar()
    return 0 if last is None else int(last) + 1


def _ints(ids: Iterable[int]) -> str:
    return ",".join(str(int(i)) for i in ids)


def fetch_nodes(conn: Conn, nodes: Iterable[Node]) -> dict[Node, bytes]:
    """The stored hashes of ``nodes``, in (at most) two queries.

    Raises:
        TreeDamaged: one of them is missing or not a hash.
    """
    wanted = set(nodes)
    by_level: dict[int, list[int]] = defaultdict(list)
    for level, idx in sorted(wanted):
        by_level[level].append(idx)
    found: dict[Node, bytes] = {}
    # (the keys are integers this module computed, written into the SQL: building the same
    # query as expressions with bound parameters costs more than the database's work)
    if leaves := by_level.pop(0, []):
        for idx, digest in conn.execute(
            text(f"SELECT leaf_index, hash FROM audit_log WHERE leaf_index IN ({_ints(leaves)})")
        ):
            try:
                found[(0, int(idx))] = bytes.fromhex(digest)
            except (TypeError, ValueError):
                raise TreeDamaged((0, int(idx))) from None
    if by_level:
        where = " OR ".join(
            f"(level = {int(level)} AND idx IN ({_ints(ids)}))" for level, ids in by_level.items()
        )
        for level, idx, digest in conn.execute(
            text(f"SELECT level, idx, hash FROM audit_tree WHERE {where}")
        ):
            found[(int(level), int(idx))] = bytes(digest)
    bad = [n for n in wanted if len(found.get(n, b"")) != 32]
    if bad:
        raise TreeDamaged(min(bad))
    return found


def frontier(conn: Conn, size: int) -> Frontier:
    """The right edge of the tree of ``size`` leaves, to append to."""
    return Frontier.of(size, fetch_nodes(conn, Frontier.nodes_of(size)))


def root_at(conn: Conn, size: int) -> bytes:
    """The root of the tree over the first ``size`` leaves."""
    return range_hash(0, size, fetch_nodes(conn, Frontier.nodes_of(size)))


def inclusion_proofs(conn: Conn, indexes: Iterable[int], size: int) -> dict[int, list[bytes]]:
    """The audit path of each leaf in ``indexes`` in the tree of ``size`` leaves."""
    ranges = {i: inclusion_ranges(i, size) for i in set(indexes)}
    distinct = {r for rs in ranges.values() for r in rs}  # (paths share their upper part)
    hashes = fetch_nodes(conn, needed_nodes(distinct))
    made = {r: range_hash(*r, hashes) for r in distinct}
    return {i: [made[r] for r in rs] for i, rs in ranges.items()}


def consistency_proof(conn: Conn, old: int, new: int) -> list[bytes]:
    """The proof that the tree of ``old`` leaves is a prefix of the tree of ``new``."""
    ranges = consistency_ranges(old, new)
    hashes = fetch_nodes(conn, needed_nodes(ranges))
    return [range_hash(a, b, hashes) for a, b in ranges]


def drop_nodes_beyond(conn: Conn, size: int) -> int:
    """Delete the nodes that cover leaves at or past ``size`` (left by entries removed from the
    end of the log); return how many there were."""
    stale = or_(
        *(
            and_(AuditTreeNode.level == level, AuditTreeNode.idx >= size >> level)
            for level in range(1, 63)
        )
    )
    result: Any = conn.execute(delete(AuditTreeNode).where(stale))
    return int(result.rowcount or 0)


def count_nodes_beyond(conn: Conn, size: int) -> int:
    """How many nodes cover leaves at or past ``size`` (none in an intact log)."""
    stale = or_(
        *(
            and_(AuditTreeNode.level == level, AuditTreeNode.idx >= size >> level)
            for level in range(1, 63)
        )
    )
    return int(
        conn.execute(select(func.count()).select_from(AuditTreeNode).where(stale)).scalar() or 0
    )
