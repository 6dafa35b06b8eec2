"""Telehealth: the live monitor's latest states and the therapist's step-ins.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

New tables only. Written by hand to match `coach.storage.schema`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "live_states",
        sa.Column("session_id", ID, nullable=False),
        sa.Column("patient_id", ID, nullable=False),
        sa.Column("sent_at", TS, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name="fk_live_states_patient_id_patients",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name="pk_live_states"),
    )
    op.create_index("ix_live_states_sent_at", "live_states", ["sent_at"])
    op.create_table(
        "step_ins",
        sa.Column("id", ID, nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("patient_id", ID, nullable=False),
        sa.Column("therapist_id", ID, nullable=False),
        sa.Column("sent_at", TS, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("step", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name="fk_step_ins_patient_id_patients",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"], ["therapists.id"], name="fk_step_ins_therapist_id_therapists"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_step_ins"),
    )
    op.create_index("ix_step_ins_session_id_sent_at", "step_ins", ["session_id", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_step_ins_session_id_sent_at", table_name="step_ins")
    op.drop_table("step_ins")
    op.drop_index("ix_live_states_sent_at", table_name="live_states")
    op.drop_table("live_states")
