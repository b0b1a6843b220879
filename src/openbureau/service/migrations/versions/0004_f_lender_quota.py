"""a lender's lookup quota: accounts.lookups_per_minute, and lookup_windows to count it

Revision ID: 0004f
Revises: 0003e
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004f"
down_revision = "0003e"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lookups_per_minute", sa.Integer(), nullable=True))

    op.create_table(
        "lookup_windows",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("window_minute", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
        ),
        sa.PrimaryKeyConstraint("account_id", "window_minute"),
    )


def downgrade() -> None:
    op.drop_table("lookup_windows")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("lookups_per_minute")
