"""accounts and keys: who created them, approval, last use; failed logins kept in the store

Revision ID: 0003e
Revises: 0002d
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003e"
down_revision = "0002d"
branch_labels = None
depends_on = None

NAMES = ("created_by", "created_by_role", "pending", "approved_by", "approved_at")


def _common() -> list[sa.Column]:
    """What accounts and keys both gain. (Those that exist already were made before any of
    this was recorded: they are active, their creator unknown.)"""
    return [
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.Column("created_by_role", sa.String(length=16), nullable=True),
        sa.Column("pending", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        for column in _common():
            batch_op.add_column(column)
        batch_op.add_column(sa.Column("last_login_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        for column in _common():
            batch_op.add_column(column)
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(), nullable=True))

    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_failures_at"), ["at"], unique=False)
        batch_op.create_index(
            "ix_login_failures_scope_key_at", ["scope", "key", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_scope_key_at")
        batch_op.drop_index(batch_op.f("ix_login_failures_at"))
    op.drop_table("login_failures")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
        for name in reversed(NAMES):
            batch_op.drop_column(name)
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("last_login_at")
        for name in reversed(NAMES):
            batch_op.drop_column(name)
