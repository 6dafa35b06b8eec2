"""Gait results and therapist notes.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

Only new tables, so no SQLite batch mode is needed. Written by hand to match
`coach.storage.schema`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)
TS = sa.DateTime(timezone=True)
FLOAT: sa.Double[float] = sa.Double()


def upgrade() -> None:
    op.create_table(
        "gait_results",
        sa.Column("id", ID, nullable=False),
        sa.Column("patient_id", ID, nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("duration_s", FLOAT, nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("cadence_spm", FLOAT, nullable=True),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.Column("measures", sa.Text(), nullable=False),
        sa.Column("source_name", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_gait_results"),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name="fk_gait_results_patient_id_patients",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_gait_results_patient_id_started_at", "gait_results", ["patient_id", "started_at"]
    )
    op.create_table(
        "notes",
        sa.Column("id", ID, nullable=False),
        sa.Column("patient_id", ID, nullable=False),
        sa.Column("therapist_id", ID, nullable=False),
        sa.Column("written_at", TS, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notes"),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name="fk_notes_patient_id_patients",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"], ["therapists.id"], name="fk_notes_therapist_id_therapists"
        ),
    )
    op.create_index("ix_notes_patient_id_written_at", "notes", ["patient_id", "written_at"])


def downgrade() -> None:
    op.drop_table("notes")
    op.drop_table("gait_results")
