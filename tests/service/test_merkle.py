"""The Merkle tree code against RFC 9162's definitions (section 2.1), written out here as the
RFC states them: MTH, PATH and SUBPROOF over a list of leaves, by recursion. For random sizes,
the proofs the log builds from stored complete subtrees are the RFC's, they verify, and any
changed leaf, hash, index, size or root fails."""

from __future__ import annotations

import hashlib

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from openbureau.service.merkle import (
    EMPTY_ROOT,
    Frontier,
    complete_nodes,
    consistency_ranges,
    inclusion_ranges,
    range_hash,
    verify_consistency,
    verify_inclusion,
)


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def _tree(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """What the log stores: each leaf hash, and each complete subtree as appends make it."""
    front = Frontier()
    nodes = {}
    for i, leaf in enumerate(leaves):
        h = hashlib.sha256(b"\x00" + leaf).digest()
        nodes[(0, i)] = h
        nodes.update(front.append(h))
    assert front.root() == mth(leaves)
    return nodes


# distinct leaves (a log's leaves hold their own position): no two leaf hashes are equal
leaves_st = st.lists(st.binary(max_size=8), min_size=1, max_size=130).map(
    lambda xs: [f"{i}:".encode() + x for i, x in enumerate(xs)]
)


def _flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


@settings(max_examples=300, deadline=None)
@given(leaves_st, st.data())
def test_root_and_inclusion_proofs_are_the_rfcs(leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    nodes = _tree(leaves)
    root = mth(leaves)
    assert range_hash(0, n, nodes) == root
    assert set(complete_nodes(0, n)) <= nodes.keys()
    m = data.draw(st.integers(0, n - 1))
    proof = [range_hash(a, b, nodes) for a, b in inclusion_ranges(m, n)]
    assert proof == path(m, leaves)
    leaf = nodes[(0, m)]
    assert verify_inclusion(m, n, leaf, proof, root)
    # any changed leaf, hash, index, size or root fails
    assert not verify_inclusion(m, n, hashlib.sha256(b"\x00other").digest(), proof, root)
    assert not verify_inclusion(m, n, leaf, proof, _flip(root))
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        assert not verify_inclusion(
            m, n, leaf, [*proof[:i], _flip(proof[i]), *proof[i + 1 :]], root
        )
        assert not verify_inclusion(m, n, leaf, proof[:-1], root)
    other = data.draw(st.integers(0, n - 1))
    assume(other != m)
    assert not verify_inclusion(other, n, leaf, proof, root)
    bigger = [*leaves, b"more"]
    assert not verify_inclusion(m, n + 1, leaf, proof, mth(bigger))
    if m < n - 1:
        assert not verify_inclusion(m, n - 1, leaf, proof, mth(leaves[:-1]))
    assert not verify_inclusion(n, n, leaf, proof, root)


@settings(max_examples=300, deadline=None)
@given(leaves_st, st.data())
def test_consistency_proofs_are_the_rfcs(leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    nodes = _tree(leaves)
    m = data.draw(st.integers(0, n))
    proof = [range_hash(a, b, nodes) for a, b in consistency_ranges(m, n)]
    if 0 < m < n:
        assert proof == subproof(m, leaves, True)
    else:
        assert proof == []
    old, new = mth(leaves[:m]), mth(leaves)
    assert verify_consistency(m, n, old, new, proof)
    # any changed leaf of the old tree, hash, size or root fails (the empty tree being a
    # prefix of every tree, whatever its root)
    if m:
        assert not verify_consistency(m, n, old, _flip(new), proof)
        j = data.draw(st.integers(0, m - 1))
        changed = [*leaves[:j], b"changed", *leaves[j + 1 :]]
        assert not verify_consistency(m, n, mth(changed[:m]), new, proof)
        assert not verify_consistency(m, n, old, mth(changed), proof)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        assert not verify_consistency(
            m, n, old, new, [*proof[:i], _flip(proof[i]), *proof[i + 1 :]]
        )
    other = data.draw(st.integers(1, max(1, n - 1)))
    if other not in (m, n):
        assert not verify_consistency(other, n, mth(leaves[:other]), new, proof)
    if 0 < m < n:
        assert not verify_consistency(m, n - 1, old, mth(leaves[:-1]), proof)
    if m:
        assert not verify_consistency(m, n + 1, old, mth([*leaves, b"more"]), proof)


def test_the_empty_tree_and_edge_sizes() -> None:
    assert mth([]) == EMPTY_ROOT
    assert Frontier().root() == EMPTY_ROOT
    assert verify_consistency(0, 5, EMPTY_ROOT, b"x" * 32, [])
    assert not verify_consistency(0, 5, b"y" * 32, b"x" * 32, [])
    assert not verify_consistency(3, 2, b"y" * 32, b"x" * 32, [])
    assert not verify_inclusion(0, 0, b"y" * 32, [], EMPTY_ROOT)
    assert inclusion_ranges(0, 1) == []
