"""Proofs for readers of the audit log: a person's access log with the latest signed head and an
inclusion proof for each entry; consistency proofs between two sizes of the log.

An entry the person is shown in full comes with its leaf (the canonical JSON its hash is over,
nonce included), so they can check what it says as well as that it is in the log. An entry with
a field hidden or reworded (another file's entry; a refused caller's own words; an ID now
another person's) comes with its leaf hash and path only: the leaf's random nonce keeps the hash
from revealing what is hidden, so the person can check that it is in the log, not its content.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openbureau.errors import UserError
from openbureau.service import audit_tree
from openbureau.service.audit import FIELDS, leaf_bytes
from openbureau.service.audit_heads import latest_head
from openbureau.service.audit_signing import HeadSigner
from openbureau.service.errors import ApiError
from openbureau.service.store import AuditEntry

UNSIGNED = (
    "The bureau's audit log does not match the last head it signed, so these entries "
    "come without proofs; the bureau's auditors find why with `openbureau audit "
    "verify`."
)


def with_proofs(
    factory: sessionmaker[Session], signer: HeadSigner, entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """``entries`` (from ``audit.query``, as shown to a reader) with a proof each, and the
    signed head the proofs are for: the latest, or a new one when it does not cover them (at
    most once every few seconds: an entry newer than the head has ``pending`` instead, its
    position, leaf hash and leaf, to prove once a head covers it). Takes out each entry's
    position, which is given inside its proof."""
    positions = [e.pop("leaf_index") for e in entries]
    try:
        head = signer.covering(max(positions, default=-1) + 1)
        covered = [i for i in positions if i < head.tree_size]
        with factory() as session:
            paths = audit_tree.inclusion_proofs(session, covered, head.tree_size)
            stored = {
                e.leaf_index: e
                for e in session.execute(
                    select(AuditEntry).where(AuditEntry.leaf_index.in_(positions))
                ).scalars()
            }
    except (UserError, audit_tree.TreeDamaged):  # (LogInconsistent, LogMismatch among them)
        for e in entries:
            e["proof"] = e["pending"] = None
        return {"signed_head": None, "entries": entries, "warning": UNSIGNED}
    for e, i in zip(entries, positions, strict=True):
        row = stored[i]
        as_stored = {name: getattr(row, name) for name in FIELDS}
        # the leaf as stored (not as re-made from what is shown): an entry changed in the
        # store then shows as a leaf that does not give its hash, which the person can see
        full = all(e[name] == as_stored[name] for name in FIELDS if name != "at")
        leaf = leaf_bytes(i, as_stored, row.nonce).decode("utf-8") if full else None
        if i >= head.tree_size:
            e["proof"] = None
            e["pending"] = {"leaf_index": i, "leaf_hash": row.hash, "leaf": leaf}
            continue
        e["pending"] = None
        e["proof"] = {
            "leaf_index": i,
            "tree_size": head.tree_size,
            "leaf_hash": row.hash,
            "audit_path": [h.hex() for h in paths[i]],
            "leaf": leaf,
        }
    return {"signed_head": head.as_json(), "entries": entries, "warning": None}


def consistency(factory: sessionmaker[Session], first: int, second: int | None) -> dict[str, Any]:
    """The proof that the log's first ``first`` entries are the start of its first ``second``
    (default: the latest signed head's size, which is returned with it).

    Raises:
        ApiError: a size the log does not have.
    """
    with factory() as session:
        size = audit_tree.tree_size(session)
        head = latest_head(session) if second is None else None
        if second is None:
            if head is None:
                raise ApiError(404, "not_found", "the audit log has no signed head yet")
            second = head.tree_size
        if not first <= second <= size:
            raise ApiError(
                422,
                "invalid_input",
                f"first and second: 0 <= first <= second <= {size:,} (the log's size)",
                "second",
            )
        try:
            proof = audit_tree.consistency_proof(session, first, second)
        except audit_tree.TreeDamaged as exc:
            raise ApiError(503, "log_damaged", str(exc)) from None
    return {
        "first": first,
        "second": second,
        "proof": [h.hex() for h in proof],
        "signed_head": head.as_json() if head is not None else None,
    }
