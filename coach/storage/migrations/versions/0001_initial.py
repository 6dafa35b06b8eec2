"""Initial schema: therapists, patients, prescriptions, sessions and their reps, cues
and traces, login failures and the audit log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand to match `coach.storage.schema` (a test compares them). Types are
spelled out here rather than imported, so this file keeps building the same tables
whatever later versions of the schema module say.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)
TS = sa.DateTime(timezone=True)
FLOAT: sa.Double[float] = sa.Double()


def upgrade() -> None:
    op.create_table(
        "therapists",
        sa.Column("id", ID, nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name="pk_therapists"),
        sa.UniqueConstraint("email", name="uq_therapists_email"),
    )
    op.create_table(
        "patients",
        sa.Column("id", ID, nullable=False),
        sa.Column("therapist_id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("affected_side", sa.String(8), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("invite_hash", sa.String(64), nullable=True),
        sa.Column("invite_expires_at", TS, nullable=True),
        sa.Column("login_name", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_patients"),
        sa.ForeignKeyConstraint(
            ["therapist_id"], ["therapists.id"], name="fk_patients_therapist_id_therapists"
        ),
        sa.UniqueConstraint("therapist_id", "name_key", name="uq_patients_therapist_id_name_key"),
        sa.UniqueConstraint("invite_hash", name="uq_patients_invite_hash"),
        sa.UniqueConstraint("login_name", name="uq_patients_login_name"),
    )
    op.create_table(
        "prescriptions",
        sa.Column("id", ID, nullable=False),
        sa.Column("patient_id", ID, nullable=False),
        sa.Column("exercise_id", sa.String(100), nullable=False),
        sa.Column("sets", sa.Integer(), nullable=False),
        sa.Column("reps", sa.Integer(), nullable=False),
        sa.Column("hold_s", FLOAT, nullable=True),
        sa.Column("rest_s", FLOAT, nullable=True),
        sa.Column("per_week", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(8), nullable=True),
        sa.Column("target", FLOAT, nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("set_by", ID, nullable=False),
        sa.Column("set_at", TS, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_prescriptions"),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name="fk_prescriptions_patient_id_patients",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["set_by"], ["therapists.id"], name="fk_prescriptions_set_by_therapists"
        ),
    )
    op.create_index(
        "ix_prescriptions_patient_id_exercise_id", "prescriptions", ["patient_id", "exercise_id"]
    )
    op.create_table(
        "sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column("patient_id", ID, nullable=True),
        sa.Column("exercise_id", sa.String(100), nullable=False),
        sa.Column("exercise_name", sa.Text(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_name", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("duration_s", FLOAT, nullable=False),
        sa.Column("side", sa.String(8), nullable=True),
        sa.Column("camera", sa.String(16), nullable=True),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("neutral_deg", FLOAT, nullable=True),
        sa.Column("prescription_id", ID, nullable=True),
        sa.Column("dose_sets", sa.Integer(), nullable=False),
        sa.Column("dose_reps", sa.Integer(), nullable=False),
        sa.Column("dose_hold_s", FLOAT, nullable=False),
        sa.Column("dose_rest_s", FLOAT, nullable=False),
        sa.Column("dose_per_week", sa.Integer(), nullable=True),
        sa.Column("video_kept", sa.Boolean(), nullable=False),
        sa.Column("warnings", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name="fk_sessions_patient_id_patients",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_sessions_patient_id_started_at", "sessions", ["patient_id", "started_at"])
    op.create_index("ix_sessions_status_updated_at", "sessions", ["status", "updated_at"])
    op.create_table(
        "reps",
        sa.Column("session_id", ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("set_no", sa.Integer(), nullable=False),
        sa.Column("start_s", FLOAT, nullable=False),
        sa.Column("end_s", FLOAT, nullable=False),
        sa.Column("peak", FLOAT, nullable=False),
        sa.Column("rep_range", FLOAT, nullable=False),
        sa.Column("hold_s", FLOAT, nullable=False),
        sa.Column("reached_target", sa.Boolean(), nullable=False),
        sa.Column("peak_deg", FLOAT, nullable=True),
        sa.Column("rom_deg", FLOAT, nullable=True),
        sa.PrimaryKeyConstraint("session_id", "number", name="pk_reps"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_reps_session_id_sessions",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "cues",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("t_s", FLOAT, nullable=False),
        sa.Column("cue_id", sa.String(100), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cues"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_cues_session_id_sessions",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_cues_session_id", "cues", ["session_id"])
    op.create_table(
        "trace_chunks",
        sa.Column("session_id", ID, nullable=False),
        sa.Column("chunk_no", sa.Integer(), nullable=False),
        sa.Column("frames", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "chunk_no", name="pk_trace_chunks"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_trace_chunks_session_id_sessions",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_key", sa.Text(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_failures"),
    )
    op.create_index("ix_login_failures_account_key_at", "login_failures", ["account_key", "at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_id", ID, nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target_kind", sa.String(32), nullable=False),
        sa.Column("target_id", ID, nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_target_id", "audit_log", ["target_id"])
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor_id"])


def downgrade() -> None:
    for table in (
        "audit_log",
        "login_failures",
        "trace_chunks",
        "cues",
        "reps",
        "sessions",
        "prescriptions",
        "patients",
        "therapists",
    ):
        op.drop_table(table)
