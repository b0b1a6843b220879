"""who made an account wait: accounts.pending_by (its creator, or who enabled it again)

Revision ID: 0005e2
Revises: 0004f
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005e2"
down_revision = "0004f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # (accounts waiting already were made to wait by their creator: None stands for that)
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_by", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("pending_by")
