"""audit log as a transparency log: Merkle tree leaves and nodes, signed heads, checks

The hash chain's entries become the first leaves of an RFC 9162 tree, in their order; the chain
is checked first, and an entry after them says how it stood (intact, or where it was broken), so
a chain broken before the conversion stays visible after it. The leaf format and the chain's
hash are written out here as they are at this revision (the code may change; this must not).

Revision ID: 0002d
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002d"
down_revision = "0001"
branch_labels = None
depends_on = None

_FIELDS = ("at", "actor", "actor_role", "subject", "purpose", "action", "outcome", "detail")
_BATCH = 5000
_log = sa.table(
    "audit_log",
    sa.column("seq", sa.BigInteger),
    sa.column("at", sa.DateTime),
    *(sa.column(f, sa.String) for f in _FIELDS[1:]),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
    sa.column("leaf_index", sa.BigInteger),
    sa.column("nonce", sa.String),
)


def _chain_digest(prev: str, e: Any) -> str:
    body = json.dumps(
        [
            prev,
            e.at.isoformat(timespec="microseconds"),
            e.actor,
            e.actor_role,
            e.subject,
            e.purpose,
            e.action,
            e.outcome,
            e.detail,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _leaf_hash(index: int, e: Any, nonce: str) -> bytes:
    body = {f: getattr(e, f) for f in _FIELDS}
    body.update(v=1, index=index, at=e.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), nonce=nonce)
    leaf = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(b"\x00" + leaf.encode("utf-8")).digest()


class _Edge:
    """The tree's right edge: appending a leaf yields the complete subtrees it completes."""

    def __init__(self) -> None:
        self.size = 0
        self.nodes: list[tuple[int, int, bytes]] = []

    def append(self, leaf: bytes) -> list[dict[str, Any]]:
        made = []
        level, idx, h = 0, self.size, leaf
        while self.nodes and self.nodes[-1][0] == level:
            _, left_idx, left = self.nodes.pop()
            level, idx = level + 1, left_idx >> 1
            h = hashlib.sha256(b"\x01" + left + h).digest()
            made.append({"level": level, "idx": idx, "hash": h})
        self.nodes.append((level, idx, h))
        self.size += 1
        return made


def _rows(conn: sa.Connection, order: Any, *extra: Any) -> Any:
    """Every entry in ``order`` (a unique column), a page at a time."""
    cols = [_log.c.seq, *(_log.c[f] for f in _FIELDS), _log.c.hash, *extra, order]
    last = None
    while True:
        stmt = sa.select(*cols).order_by(order).limit(_BATCH)
        if last is not None:
            stmt = stmt.where(order > last)
        rows = conn.execute(stmt).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][-1]


def _convert(conn: sa.Connection) -> None:
    nodes = sa.table(
        "audit_tree",
        sa.column("level", sa.SmallInteger),
        sa.column("idx", sa.BigInteger),
        sa.column("hash", sa.LargeBinary),
    )
    edge, prev, broken = _Edge(), "0" * 64, None
    updates: list[dict[str, Any]] = []
    made: list[dict[str, Any]] = []

    def flush() -> None:
        if updates:
            conn.execute(
                _log.update()
                .where(_log.c.seq == sa.bindparam("b_seq"))
                .values(
                    leaf_index=sa.bindparam("b_index"),
                    nonce=sa.bindparam("b_nonce"),
                    hash=sa.bindparam("b_hash"),
                ),
                updates,
            )
        if made:
            conn.execute(nodes.insert(), made)
        updates.clear()
        made.clear()

    for e in _rows(conn, _log.c.seq, _log.c.prev_hash):
        if broken is None and (e.prev_hash != prev or _chain_digest(prev, e) != e.hash):
            broken = e.seq
        prev = e.hash
        nonce = secrets.token_hex(16)
        leaf = _leaf_hash(edge.size, e, nonce)
        updates.append(
            {"b_seq": e.seq, "b_index": edge.size, "b_nonce": nonce, "b_hash": leaf.hex()}
        )
        made.extend(edge.append(leaf))
        if len(updates) >= _BATCH:
            flush()
    if edge.size:
        state = (
            "the chain checked out"
            if broken is None
            else f"the chain was broken at entry #{broken} (changed, removed or reordered "
            "before this conversion); the entries were converted as they stood"
        )
        note = sa.table(
            "audit_log",
            *(
                sa.column(c)
                for c in ("at", *_FIELDS[1:], "prev_hash", "hash", "leaf_index", "nonce")
            ),
        )
        fields = {
            "at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
            "actor": "openbureau",
            "actor_role": "system",
            "subject": None,
            "purpose": None,
            "action": "convert audit log",
            "outcome": "allowed",
            "detail": f"{edge.size:,} entries of the hash chain are positions 0 to "
            f"{edge.size - 1} of the Merkle tree; {state}",
        }
        nonce = secrets.token_hex(16)
        leaf = _leaf_hash(edge.size, _Entry(fields), nonce)
        index = edge.size
        made.extend(edge.append(leaf))
        flush()
        conn.execute(
            note.insert().values(
                **fields, prev_hash=leaf.hex(), hash=leaf.hex(), leaf_index=index, nonce=nonce
            )
        )
    flush()


class _Entry:
    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__.update(fields)


def upgrade() -> None:
    log_ids = op.create_table(
        "transparency_log",
        sa.Column("log_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("log_id"),
    )
    op.bulk_insert(
        log_ids,
        [
            {
                "log_id": secrets.token_hex(16),
                "created_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
            }
        ],
    )
    op.create_table(
        "audit_tree",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    op.create_table(
        "audit_heads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("log_id", sa.String(length=32), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_heads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_heads_tree_size"), ["tree_size"], unique=False)
    op.create_table(
        "audit_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("heads", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("leaf_index", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("nonce", sa.String(length=32), nullable=True))
    _convert(op.get_bind())
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("leaf_index", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("nonce", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint("audit_log_leaf_index_key", ["leaf_index"])
        batch_op.drop_column("prev_hash")


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    prev = "0" * 64
    updates: list[dict[str, Any]] = []
    rechain = (
        _log.update()
        .where(_log.c.seq == sa.bindparam("b_seq"))
        .values(prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash"))
    )
    for e in _rows(conn, _log.c.leaf_index):
        digest = _chain_digest(prev, e)
        updates.append({"b_seq": e.seq, "b_prev": prev, "b_hash": digest})
        prev = digest
        if len(updates) >= _BATCH:
            conn.execute(rechain, updates)
            updates.clear()
    if updates:
        conn.execute(rechain, updates)
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("audit_log_prev_hash_key", ["prev_hash"])
        batch_op.drop_constraint("audit_log_leaf_index_key", type_="unique")
        batch_op.drop_column("nonce")
        batch_op.drop_column("leaf_index")
    op.drop_table("audit_checks")
    with op.batch_alter_table("audit_heads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_heads_tree_size"))
    op.drop_table("audit_heads")
    op.drop_table("audit_tree")
    op.drop_table("transparency_log")
