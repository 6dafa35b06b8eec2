"""The coach's tables (SQLAlchemy Core), the one description the store and the tests use.

The Alembic migrations in `migrations/versions/` are written by hand and must build
exactly this (a test compares them with `compare_metadata` on SQLite and PostgreSQL).
Free text is `Text` (no length that PostgreSQL would enforce and SQLite would not);
ids and enum-like values are short strings. JSON values are kept as text so both
databases give back the same thing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so migrations and reflection agree on both databases."""

metadata = sa.MetaData(naming_convention=NAMING)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always given back timezone-aware in UTC.

    SQLite has no time zones (it would hand back naive values, or keep a local wall
    time); PostgreSQL hands back the session's zone. A naive datetime is refused: it
    is a bug (whose clock?), not a value.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: give the database timezone-aware datetimes")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


ID = sa.String(64)
"""Record ids: `uuid4().hex`, with room for ids made elsewhere."""
Float = sa.Double
"""Double precision on both databases (PostgreSQL's plain FLOAT would be fine too, but
`REAL` would lose digits)."""


def _patient_fk(nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(
        "patient_id",
        ID,
        sa.ForeignKey("patients.id", ondelete="CASCADE"),
        nullable=nullable,
    )


def _session_fk() -> sa.Column[Any]:
    return sa.Column(
        "session_id",
        ID,
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
    )


therapists = sa.Table(
    "therapists",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("email", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
)

patients = sa.Table(
    "patients",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("therapist_id", ID, sa.ForeignKey("therapists.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("name_key", sa.Text, nullable=False),
    sa.Column("affected_side", sa.String(8), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("invite_hash", sa.String(64), nullable=True, unique=True),
    sa.Column("invite_expires_at", UTCDateTime, nullable=True),
    sa.Column("login_name", sa.Text, nullable=True, unique=True),
    sa.Column("password_hash", sa.Text, nullable=True),
    sa.UniqueConstraint("therapist_id", "name_key"),
)

prescriptions = sa.Table(
    "prescriptions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    _patient_fk(),
    sa.Column("exercise_id", sa.String(100), nullable=False),
    sa.Column("sets", sa.Integer, nullable=False),
    sa.Column("reps", sa.Integer, nullable=False),
    sa.Column("hold_s", Float, nullable=True),
    sa.Column("rest_s", Float, nullable=True),
    sa.Column("per_week", sa.Integer, nullable=False),
    sa.Column("side", sa.String(8), nullable=True),
    sa.Column("target", Float, nullable=True),
    sa.Column("notes", sa.Text, nullable=False),
    sa.Column("set_by", ID, sa.ForeignKey("therapists.id"), nullable=False),
    sa.Column("set_at", UTCDateTime, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("ended_at", UTCDateTime, nullable=True),
    sa.Index(None, "patient_id", "exercise_id"),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    _patient_fk(nullable=True),
    sa.Column("exercise_id", sa.String(100), nullable=False),
    sa.Column("exercise_name", sa.Text, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("source_name", sa.Text, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("duration_s", Float, nullable=False),
    sa.Column("side", sa.String(8), nullable=True),
    sa.Column("camera", sa.String(16), nullable=True),
    sa.Column("unit", sa.String(16), nullable=False),
    sa.Column("neutral_deg", Float, nullable=True),
    sa.Column("prescription_id", ID, nullable=True),
    sa.Column("dose_sets", sa.Integer, nullable=False),
    sa.Column("dose_reps", sa.Integer, nullable=False),
    sa.Column("dose_hold_s", Float, nullable=False),
    sa.Column("dose_rest_s", Float, nullable=False),
    sa.Column("dose_per_week", sa.Integer, nullable=True),
    sa.Column("video_kept", sa.Boolean, nullable=False),
    sa.Column("warnings", sa.Text, nullable=False),
    sa.Index(None, "patient_id", "started_at"),
    sa.Index(None, "status", "updated_at"),
)

reps = sa.Table(
    "reps",
    metadata,
    _session_fk(),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("set_no", sa.Integer, nullable=False),
    sa.Column("start_s", Float, nullable=False),
    sa.Column("end_s", Float, nullable=False),
    sa.Column("peak", Float, nullable=False),
    sa.Column("rep_range", Float, nullable=False),
    sa.Column("hold_s", Float, nullable=False),
    sa.Column("reached_target", sa.Boolean, nullable=False),
    sa.Column("peak_deg", Float, nullable=True),
    sa.Column("rom_deg", Float, nullable=True),
    sa.PrimaryKeyConstraint("session_id", "number"),
)

cues = sa.Table(
    "cues",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _session_fk(),
    sa.Column("t_s", Float, nullable=False),
    sa.Column("cue_id", sa.String(100), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Index(None, "session_id"),
)

trace_chunks = sa.Table(
    "trace_chunks",
    metadata,
    _session_fk(),
    sa.Column("chunk_no", sa.Integer, nullable=False),
    sa.Column("frames", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("session_id", "chunk_no"),
)

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_key", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index(None, "account_key", "at"),
)

sign_ins = sa.Table(
    "sign_ins",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("actor_id", ID, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_active", UTCDateTime, nullable=False),
)
"""A browser's sign-in (by the sha256 of its random token), so a reload stays signed in
and an idle one is signed out; shared by every app server."""

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor_kind", sa.String(16), nullable=False),
    sa.Column("actor_id", ID, nullable=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target_kind", sa.String(32), nullable=False),
    sa.Column("target_id", ID, nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index(None, "target_id"),
    sa.Index(None, "actor_id"),
)

# Added by migration 0002 (gait results and therapist notes).

gait_results = sa.Table(
    "gait_results",
    metadata,
    sa.Column("id", ID, primary_key=True),
    _patient_fk(nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("duration_s", Float, nullable=False),
    sa.Column("steps", sa.Integer, nullable=False),
    sa.Column("cadence_spm", Float, nullable=True),
    sa.Column("flags", sa.Text, nullable=False),
    sa.Column("measures", sa.Text, nullable=False),
    sa.Column("source_name", sa.Text, nullable=True),
    sa.Index(None, "patient_id", "started_at"),
)

notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", ID, primary_key=True),
    _patient_fk(),
    sa.Column("therapist_id", ID, sa.ForeignKey("therapists.id"), nullable=False),
    sa.Column("written_at", UTCDateTime, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Index(None, "patient_id", "written_at"),
)

# Added by migration 0004 (telehealth: the live monitor and the therapist's step-ins).

live_states = sa.Table(
    "live_states",
    metadata,
    sa.Column("session_id", ID, primary_key=True),
    _patient_fk(),
    sa.Column("sent_at", UTCDateTime, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Index(None, "sent_at"),
)
"""The newest `coach.telehealth.state.LiveState` of each live session, for monitors on
any app server (only `coach.telehealth.postgres` writes it)."""

step_ins = sa.Table(
    "step_ins",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("session_id", ID, nullable=False),
    _patient_fk(),
    sa.Column("therapist_id", ID, sa.ForeignKey("therapists.id"), nullable=False),
    sa.Column("sent_at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("step", sa.Text, nullable=False),
    sa.Index(None, "session_id", "sent_at"),
)
"""What a therapist sent into a live session (`coach.telehealth.steps.StepIn` as JSON),
with who and when."""

PATIENT_TABLES = ("sessions", "prescriptions", "gait_results", "notes", "live_states", "step_ins")
"""Tables with a `patient_id` column (reps, cues and traces hang off sessions)."""
