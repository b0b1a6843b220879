"""a person's consent to alternative data counting in their score (every change kept)

Revision ID: 0008consent
Revises: 0007h
Create Date: 2026-12-09

(Made beside 0007 of the disputes work, and re-chained after it when merged.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008consent"
down_revision = "0007h"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("given", sa.Boolean(), nullable=False),
        sa.Column("erase", sa.Boolean(), nullable=False),
        sa.Column("erased_at", sa.DateTime(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("person_consents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_person_consents_person_id"), ["person_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("person_consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_consents_person_id"))
    op.drop_table("person_consents")
