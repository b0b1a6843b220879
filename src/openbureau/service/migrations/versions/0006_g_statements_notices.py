"""a person's statement on their file (every version) and lenders' adverse-action notices

Revision ID: 0006g
Revises: 0005e2
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006g"
down_revision = "0005e2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("person_statements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_person_statements_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "adverse_action_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("snapshot_id", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("adverse_action_notices", schema=None) as batch_op:
        for column in ("account_id", "created_at", "person_id"):
            batch_op.create_index(
                batch_op.f(f"ix_adverse_action_notices_{column}"), [column], unique=False
            )


def downgrade() -> None:
    with op.batch_alter_table("adverse_action_notices", schema=None) as batch_op:
        for column in ("person_id", "created_at", "account_id"):
            batch_op.drop_index(batch_op.f(f"ix_adverse_action_notices_{column}"))
    op.drop_table("adverse_action_notices")
    with op.batch_alter_table("person_statements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_statements_person_id"))
    op.drop_table("person_statements")
