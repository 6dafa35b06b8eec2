"""Browser sign-ins (a reload stays signed in; idle ones are signed out).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

A new table only. Written by hand to match `coach.storage.schema`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sign_ins",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_active", TS, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_sign_ins"),
    )


def downgrade() -> None:
    op.drop_table("sign_ins")
