"""A saved signed head against today's log: `openbureau audit prove`.

A person's head from their access log (or a line of the heads file) is checked with RFC 9162
consistency proofs built from the stored tree, never by reading every entry: today's log must
extend it, and so must the bureau's latest signed head.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openbureau.errors import UserError
from openbureau.service import audit_tree
from openbureau.service.audit import entry_fields, leaf_bytes, unhex
from openbureau.service.audit_heads import SignedHead, latest_head, log_id
from openbureau.service.merkle import leaf_hash, verify_consistency, verify_inclusion
from openbureau.service.store import AuditEntry


@dataclass
class HeadProof:
    """What :func:`prove_head` found: ``problems`` one a line (none: the head holds)."""

    head: SignedHead
    tree_size: int = 0
    root_hash: bytes = b""
    proof_hashes: int = 0
    latest: SignedHead | None = None
    entry: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)


def prove_head(
    factory: sessionmaker[Session], head: SignedHead, entry: int | None = None
) -> HeadProof:
    """Prove today's log consistent with ``head`` (an already verified head), and the latest
    signed head too; with ``entry``, prove that entry in ``head`` and check its content.

    Raises:
        UserError: ``entry`` is not a position the head covers.
    """
    out = HeadProof(head)
    if entry is not None and not 0 <= entry < head.tree_size:
        raise UserError(f"entry {entry}: the head covers positions 0-{head.tree_size - 1}")
    with factory() as session:
        lid = log_id(session)
        if head.log_id != lid:
            out.problems.append(
                f"the head is of another log ({head.log_id}); this store's log is {lid}"
            )
            return out
        size = out.tree_size = audit_tree.tree_size(session)
        if head.tree_size > size:
            out.problems.append(
                f"the log holds {size:,} entries, fewer than the head's "
                f"{head.tree_size:,}: entries were removed since it was signed"
            )
            return out
        try:
            out.root_hash = audit_tree.root_at(session, size)
            proof = audit_tree.consistency_proof(session, head.tree_size, size)
        except audit_tree.TreeDamaged as exc:
            out.problems.append(str(exc))
            return out
        out.proof_hashes = len(proof)
        if not verify_consistency(head.tree_size, size, head.root_hash, out.root_hash, proof):
            out.problems.append(
                f"today's log is not consistent with the head: its first "
                f"{head.tree_size:,} entries are not those signed then "
                "(changed, removed or reordered since)"
            )
        latest = out.latest = latest_head(session)
        if latest is not None and latest.tree_size >= head.tree_size:
            later = audit_tree.consistency_proof(session, head.tree_size, latest.tree_size)
            if not verify_consistency(
                head.tree_size, latest.tree_size, head.root_hash, latest.root_hash, later
            ):
                out.problems.append(
                    f"the bureau's latest head ({latest.describe()}) is not "
                    "consistent with this one"
                )
        if entry is not None:
            _prove_entry(session, head, entry, out)
    return out


def _prove_entry(session: Session, head: SignedHead, index: int, out: HeadProof) -> None:
    e = session.execute(select(AuditEntry).where(AuditEntry.leaf_index == index)).scalar()
    if e is None:
        out.problems.append(f"entry {index}: not in the log (removed)")
        return
    out.entry = {"seq": e.seq, **entry_fields(e)}
    try:
        path = audit_tree.inclusion_proofs(session, [index], head.tree_size)[index]
    except audit_tree.TreeDamaged as exc:
        out.problems.append(str(exc))
        return
    if not verify_inclusion(index, head.tree_size, unhex(e.hash), path, head.root_hash):
        out.problems.append(
            f"entry {index}: its hash is not the one at position {index} in "
            "the head (no inclusion proof)"
        )
    if leaf_hash(leaf_bytes(index, entry_fields(e), e.nonce)).hex() != e.hash:
        out.problems.append(
            f"entry {index}: its fields were changed after it was written "
            "(they do not give its hash)"
        )
