"""The Merkle tree of RFC 9162 (Certificate Transparency 2.0), section 2.1, for the audit log.

A leaf is hashed ``SHA-256(0x00 || leaf)``, two nodes ``SHA-256(0x01 || left || right)``, and
the tree over the first ``n`` leaves splits at the largest power of two below ``n``, so it is
defined for every ``n``. A *complete* subtree (``2**level`` leaves from a multiple of
``2**level``, named ``(level, index)``) never changes once its last leaf is in; every subtree a
proof names is a few complete ones put together (:func:`complete_nodes`), so the log keeps the
complete subtrees' hashes and builds any proof from O(log n) of them, never from every leaf.

Proofs are generated as the ranges of leaves whose hashes they list (``inclusion_ranges``,
``consistency_ranges``: RFC 9162's PATH and PROOF) and checked with the RFC's verification
algorithms (``verify_inclusion``, 2.1.3.2; ``verify_consistency``, 2.1.4.2), which need nothing
but hashes: a person can run them on what the access log gives them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "EMPTY_ROOT",
    "Frontier",
    "Node",
    "complete_nodes",
    "consistency_ranges",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "verify_consistency",
    "verify_inclusion",
]

#: The root of the empty tree: SHA-256 of nothing.
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]  # (level, index): the hash of leaves [index << level, (index+1) << level)
Range = tuple[int, int]  # [start, end) of leaves


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def complete_nodes(start: int, end: int) -> list[Node]:
    """The complete subtrees that make up the subtree over leaves ``[start, end)``, left to
    right. ``start`` must be a multiple of the largest of them, as it is for every subtree the
    RFC's definitions name (the whole tree, and the ranges in its proofs)."""
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start % (1 << level):
            raise ValueError(f"[{start}, {end}) is not a subtree of the log's tree")
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def range_hash(start: int, end: int, nodes: Mapping[Node, bytes]) -> bytes:
    """MTH of leaves ``[start, end)`` from the hashes of its complete subtrees: the rightmost
    pairs with the one before it, and so on leftwards (what splitting at the largest power of
    two gives)."""
    if start == end:
        return EMPTY_ROOT
    parts = [nodes[n] for n in complete_nodes(start, end)]
    acc = parts[-1]
    for left in reversed(parts[:-1]):
        acc = node_hash(left, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The subtrees whose hashes make the audit path of leaf ``index`` in a tree of ``size``
    leaves (RFC 9162 2.1.3.1, PATH), in the order the path lists them: bottom up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start += k
    return path[::-1]


def consistency_ranges(old: int, new: int) -> list[Range]:
    """The subtrees whose hashes prove the tree of ``old`` leaves a prefix of the tree of
    ``new`` (RFC 9162 2.1.4.1, PROOF = SUBPROOF(old, D[new], true)), in the proof's order.
    Empty when ``old`` is 0 or equals ``new`` (nothing to prove)."""
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from {old} leaves to {new}")
    if old in (0, new):
        return []
    proof: list[Range] = []
    start, end, m, whole = 0, new, old, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append((start + k, end))
            end = start + k
        else:
            proof.append((start, start + k))
            m -= k
            start += k
            whole = False
    if not whole:
        proof.append((start, end))
    return proof[::-1]


def needed_nodes(ranges: Iterable[Range]) -> set[Node]:
    """Every complete subtree the hashes of ``ranges`` are made of."""
    return {n for start, end in ranges for n in complete_nodes(start, end)}


def _shift_while_odd(fn: int, sn: int) -> tuple[int, int]:
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 2.1.3.2: is the leaf hash ``leaf`` at ``index`` in the tree of ``size`` leaves
    whose root is ``root``, by ``path``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: is the tree of ``old`` leaves (root ``old_root``) a prefix of the tree
    of ``new`` leaves (root ``new_root``), by ``path``? Trees of equal size are consistent when
    their roots are equal; the empty tree is a prefix of every tree."""
    if not 0 <= old <= new:
        return False
    if old == new:
        return not path and old_root == new_root
    if old == 0:
        return not path and old_root == EMPTY_ROOT
    if not path:
        return False
    hashes = list(path)
    if old & (old - 1) == 0:  # an exact power of two: the old tree is a node of the new one
        hashes.insert(0, old_root)
    fn, sn = _shift_while_odd(old - 1, new - 1)
    fr = sr = hashes[0]
    for c in hashes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0


@dataclass
class Frontier:
    """The right edge of a tree: its complete subtrees of the binary decomposition of its size,
    largest first. Appending a leaf gives the complete subtrees it completes (to store), and
    :meth:`root` is the tree's root, from O(log n) hashes."""

    size: int = 0
    nodes: list[tuple[Node, bytes]] = field(default_factory=list)

    @staticmethod
    def nodes_of(size: int) -> list[Node]:
        """The complete subtrees a tree of ``size`` leaves ends with (its decomposition)."""
        return complete_nodes(0, size)

    @classmethod
    def of(cls, size: int, hashes: Mapping[Node, bytes]) -> Frontier:
        """The frontier of a tree of ``size`` leaves, from the hashes of :meth:`nodes_of`."""
        return cls(size, [(n, hashes[n]) for n in cls.nodes_of(size)])

    def append(self, leaf: bytes) -> list[tuple[Node, bytes]]:
        """Add a leaf hash; return the complete subtrees of two or more leaves it completes."""
        made: list[tuple[Node, bytes]] = []
        node, h = (0, self.size), leaf
        while self.nodes and self.nodes[-1][0][0] == node[0]:
            (level, index), left = self.nodes.pop()
            node, h = (level + 1, index >> 1), node_hash(left, h)
            made.append((node, h))
        self.nodes.append((node, h))
        self.size += 1
        return made

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        acc = self.nodes[-1][1]
        for _, left in reversed(self.nodes[:-1]):
            acc = node_hash(left, acc)
        return acc
