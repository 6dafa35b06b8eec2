"""coach.storage on a real SQLite file and a real PostgreSQL server (see conftest `db_url`).

No mocks: every test writes and reads a real database. The PostgreSQL server is a
throwaway one started for the run (tests/pg_server.py).
"""

from __future__ import annotations

import sqlite3
import stat
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from coach.prescription import Prescription
from coach.records import (
    CueRecord,
    DoseRecord,
    GaitRecord,
    RepRecord,
    SessionRecord,
    SessionSource,
    SessionStatus,
    TraceFrame,
    Unit,
)
from coach.storage import (
    HEAD_REVISION,
    DatabaseBusy,
    DatabaseMissing,
    DatabaseUnreachable,
    DuplicateError,
    NotFound,
    SchemaTooNew,
    SchemaTooOld,
    StorageError,
    Store,
    check_schema,
    current_revision,
    database_url,
    open_database,
    open_engine,
    patient_account_key,
    upgrade,
)
from coach.storage import schema as tables
from coach.storage.database import script_head
from coach.telehealth.steps import StepIn, StepKind
from tests.conftest import mount_tmpfs
from tests.pg_server import free_port

T0 = datetime(2025, 3, 1, 9, 30, 15, 250000, tzinfo=UTC)
CEST = timezone(timedelta(hours=2))
HOSTILE = [
    'Robert"); DROP TABLE patients;--',
    "O'Brien; DELETE FROM sessions WHERE '1'='1",
    "Zoë 🦶🏽 Müller-Łukasz",
    "محمد عبد الله",  # right-to-left
    "שלום \u200f עולם",
    "tab\tand\nnewline",
    "x" * 2000,
]


def assert_plain(message: str) -> None:
    """One sentence for a clinic admin: no traceback, driver, variable names or SQL."""
    assert message.strip() and "\n" not in message
    assert message.endswith("."), message
    for bad in ("Traceback", "sqlite3.", "psycopg", "COACH_", "SELECT", "INSERT", "UPDATE ",
                "PRAGMA", "CREATE", "(Background", "sqlalche.me"):  # fmt: skip
        assert bad not in message, message


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on the fresh (empty) database; disposed before the database is dropped."""
    path = db_url.removeprefix("sqlite:///")
    if db_url.startswith("sqlite"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    eng = open_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()


def is_sqlite(store_or_engine: Store | sa.Engine) -> bool:
    eng = store_or_engine.engine if isinstance(store_or_engine, Store) else store_or_engine
    return eng.dialect.name == "sqlite"


def therapist(store: Store, email: str | None = None) -> str:
    email = email or f"t{uuid.uuid4().hex[:8]}@clinic.example"
    return store.add_therapist(email, "Dr Test", "argon2-hash").id


def patient(store: Store, therapist_id: str, name: str | None = None) -> str:
    name = name or f"Patient {uuid.uuid4().hex[:6]}"
    return store.add_patient(therapist_id, name, "left", None, None).id


def make_session(
    patient_id: str | None, started_at: datetime = T0, **changes: Any
) -> SessionRecord:
    """A session with everything filled in (values already rounded as the store rounds
    traces: t_s to ms, points to 4 decimals, the value to 0.1 of its unit)."""
    record = SessionRecord(
        id=uuid.uuid4().hex,
        patient_id=patient_id,
        exercise_id="range_of_motion",
        exercise_name="Ankle range of motion",
        source=SessionSource.LIVE,
        started_at=started_at,
        unit=Unit.DEG,
        dose=DoseRecord(sets=2, reps=10, hold_s=1.5, rest_s=30.0, per_week=5),
        status=SessionStatus.IN_PROGRESS,
        duration_s=12.345678901234,
        side="left",
        camera="side_on",
        neutral_deg=-3.25,
        prescription_id=uuid.uuid4().hex,
        video_kept=True,
        source_name=None,
        reps=(
            RepRecord(1, 1, 3.0, 5.5, 14.2, 18.9, 1.2, True, 14.2, 18.9),
            RepRecord(2, 1, 6.125, 9.0, 0.1 + 0.2, 11.0, 0.0, False, None, None),
        ),
        cues=(
            CueRecord(4.0, "lift_higher", {"target_deg": 15.0, "side": "gauche"}),
            CueRecord(7.5, "slow_down", {"note": "Zoë 🦶 — «plus lentement»", "n": 3}),
            CueRecord(7.5, "keep_knee_still", {}),
        ),
        warnings=("Camera moved at 12 s", "Éclairage faible"),
        trace=(
            TraceFrame(0.0, 0.0, ((0.1, 0.2), (0.3, 0.4), (0.5, 0.6), (0.55, 0.7), (0.6, 0.71))),
            TraceFrame(0.1, None, None),
            TraceFrame(0.2, 12.5, None),
            TraceFrame(
                0.333, -4.1, ((0.1234, 0.5), (0.2, 0.3), (0.4, 0.5), (0.6, 0.7), (0.8, 0.9))
            ),
        ),
    )
    return replace(record, **changes)


def assert_utc(value: datetime | None) -> None:
    assert value is not None and value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)


# --- migrations ----------------------------------------------------------------------------


def test_head_revision_is_the_scripts_head() -> None:
    assert script_head() == HEAD_REVISION


def test_upgrade_from_empty_to_head(engine: sa.Engine) -> None:
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == HEAD_REVISION
    check_schema(engine)
    names = set(sa.inspect(engine).get_table_names())
    assert names == set(tables.metadata.tables) | {"alembic_version"}
    upgrade(engine)  # again: nothing to do
    assert current_revision(engine) == HEAD_REVISION


def test_migrations_build_exactly_the_schema(engine: sa.Engine) -> None:
    upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, tables.metadata) == []


def _raw_0001_rows(engine: sa.Engine) -> None:
    """A therapist, a patient and a session as version 0001 of the app wrote them."""
    at = "2025-03-01 09:30:15.250000" if is_sqlite(engine) else "2025-03-01 09:30:15.25+00"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO therapists (id, email, name, password_hash, created_at) "
                "VALUES ('t1', 'old@clinic.example', 'Dr Old', 'h', :at)"
            ),
            {"at": at},
        )
        conn.execute(
            sa.text(
                "INSERT INTO patients (id, therapist_id, name, name_key, affected_side, "
                "created_at) VALUES ('p1', 't1', 'Ann Lee', 'ann lee', 'right', :at)"
            ),
            {"at": at},
        )
        conn.execute(
            sa.text(
                "INSERT INTO sessions (id, patient_id, exercise_id, exercise_name, source, "
                "status, started_at, updated_at, duration_s, unit, dose_sets, dose_reps, "
                "dose_hold_s, dose_rest_s, video_kept, warnings) VALUES ('s1', 'p1', "
                "'toe_lift', 'Seated toe lift', 'video', 'completed', :at, :at, 61.5, "
                "'pct_shank', 3, 10, 2.0, 30.0, :no, '[]')"
            ),
            {"at": at, "no": False},
        )
        conn.execute(
            sa.text(
                "INSERT INTO reps (session_id, number, set_no, start_s, end_s, peak, rep_range,"
                " hold_s, reached_target) VALUES ('s1', 1, 1, 1.0, 3.0, 22.5, 20.0, 2.0, :yes)"
            ),
            {"yes": True},
        )


def test_upgrade_from_0001_keeps_the_data(engine: sa.Engine) -> None:
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    _raw_0001_rows(engine)
    with pytest.raises(SchemaTooOld):
        check_schema(engine)
    upgrade(engine)
    assert current_revision(engine) == HEAD_REVISION
    store = Store(engine)
    old = store.therapist_by_email("OLD@clinic.example")
    assert old is not None and old.name == "Dr Old" and old.disabled is False
    assert old.created_at == T0
    assert_utc(old.created_at)
    kept = store.session("s1")
    assert kept is not None and kept.patient_id == "p1" and kept.unit is Unit.PCT_SHANK
    assert kept.started_at == T0 and kept.reps[0].peak == 22.5 and kept.reps[0].reached_target
    # The tables 0002 added work with the old rows.
    note = store.add_note("p1", "t1", "Kept after the upgrade", T0)
    assert store.notes_of("p1") == [note]
    walk = GaitRecord("g1", "p1", T0, 20.0, 30, 90.0, ("low_toe_clearance",), {"x_s": 1.0})
    store.add_gait(walk)
    assert store.gait_of("p1") == [walk]


def test_check_schema_too_old_and_too_new(db_url: str, engine: sa.Engine) -> None:
    with pytest.raises(SchemaTooOld) as empty:
        check_schema(engine)
    assert "db upgrade" in str(empty.value)
    upgrade(engine, "0001")
    with pytest.raises(SchemaTooOld) as old:
        check_schema(engine)
    assert "python -m coach db upgrade" in str(old.value)
    assert_plain(str(old.value))
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    for attempt in (
        lambda: check_schema(engine),
        lambda: upgrade(engine),
        lambda: open_database(db_url, upgrade_schema=False),
        lambda: open_database(db_url),
    ):
        with pytest.raises(SchemaTooNew) as new:
            attempt()
        assert str(new.value) == (
            "The database was made by a newer version of the coach; update the app."
        )


# --- round trips ---------------------------------------------------------------------------


def test_session_round_trip(store: Store) -> None:
    pid = patient(store, therapist(store))
    record = make_session(pid, started_at=T0.astimezone(CEST))
    store.start_session(record)
    back = store.session(record.id)
    assert back == record
    assert back is not None
    assert_utc(back.started_at)
    assert isinstance(back.duration_s, float) and back.duration_s == 12.345678901234
    assert isinstance(back.video_kept, bool) and isinstance(back.reps[0].reached_target, bool)
    assert back.reps[1].peak == 0.1 + 0.2  # double precision, not REAL
    assert store.session(record.id, with_trace=False) == replace(record, trace=())
    assert store.session("no-such-session") is None


def test_session_built_up_rep_by_rep(store: Store) -> None:
    pid = patient(store, therapist(store))
    full = make_session(pid, source=SessionSource.VIDEO, source_name="clip «1».mp4")
    empty = replace(full, reps=(), cues=(), trace=(), warnings=(), duration_s=0.0)
    store.start_session(empty)
    for number, rep in enumerate(full.reps, start=1):
        store.add_rep(full.id, rep, duration_s=number * 5.0)
    store.add_cues(full.id, full.cues[:1])
    store.add_cues(full.id, full.cues[1:])
    store.append_trace(full.id, full.trace[:2])
    store.append_trace(full.id, full.trace[2:])
    store.update_session(
        full.id,
        status=SessionStatus.COMPLETED,
        duration_s=full.duration_s,
        warnings=full.warnings,
        video_kept=False,
    )
    expected = replace(full, status=SessionStatus.COMPLETED, video_kept=False)
    assert store.session(full.id) == expected


def test_sessions_of_window_order_and_no_n_plus_one(store: Store) -> None:
    tid = therapist(store)
    pid, other = patient(store, tid), patient(store, tid)
    days = [make_session(pid, T0 + timedelta(days=d)) for d in (3, 0, 2, 1, 4)]
    for record in days:
        store.start_session(record)
    store.start_session(make_session(other, T0 + timedelta(days=1)))
    got = store.sessions_of(pid)
    assert [s.started_at for s in got] == [T0 + timedelta(days=d) for d in range(5)]
    assert all(s.trace == () and len(s.reps) == 2 and len(s.cues) == 3 for s in got)
    window = store.sessions_of(pid, since=T0 + timedelta(days=1), until=T0 + timedelta(days=3))
    assert [s.started_at for s in window] == [T0 + timedelta(days=1), T0 + timedelta(days=2)]
    with_trace = store.sessions_of(pid, with_trace=True)
    assert sorted(with_trace, key=lambda s: s.id) == sorted(days, key=lambda s: s.id)
    assert store.sessions_of("nobody") == []

    selects: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        store.sessions_of(pid, until=T0 + timedelta(hours=1), with_trace=True)
        one = len(selects)
        selects.clear()
        store.sessions_of(pid, with_trace=True)
        assert len(selects) == one == 4  # sessions, reps, cues, trace: not one per session
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)


def test_gait_round_trip(store: Store) -> None:
    pid = patient(store, therapist(store))
    walks = [
        GaitRecord(
            uuid.uuid4().hex,
            pid,
            T0 + timedelta(minutes=5),
            42.5,
            61,
            None,
            (),
            {},
            None,
        ),
        GaitRecord(
            uuid.uuid4().hex,
            pid,
            T0.astimezone(CEST),
            30.25,
            48,
            96.3,
            ("low_toe_clearance", "foot_slap"),
            {"stance_s": 0.62, "clearance_pct_leg": None, "ankle_at_contact_deg": -4.5},
            "marche 🚶.mp4",
        ),
    ]
    for walk in walks:
        store.add_gait(walk)
    got = store.gait_of(pid)
    assert got == [walks[1], walks[0]]
    assert_utc(got[0].started_at)
    assert store.gait_of(pid, since=T0 + timedelta(minutes=1)) == [walks[0]]
    with pytest.raises(DuplicateError):
        store.add_gait(walks[0])


def test_prescription_round_trip_and_history(store: Store) -> None:
    tid = therapist(store)
    pid = patient(store, tid)
    first = Prescription(
        "range_of_motion", sets=3, reps=12, hold_s=None, rest_s=45.0, per_week=5,
        side="right", target=12.5, notes="Gently — «doucement» 🦶",
    )  # fmt: skip
    saved = store.set_prescription(pid, first, tid, T0)
    assert saved == replace(first, id=saved.id, set_by=tid, set_at=T0)
    assert saved.id is not None
    assert store.active_prescriptions(pid) == [saved]
    other = store.set_prescription(pid, Prescription("toe_lift", 2, 10), tid, T0)
    second = store.set_prescription(
        pid, Prescription("range_of_motion", 2, 8, hold_s=2.0), tid, T0 + timedelta(days=7)
    )
    active = store.active_prescriptions(pid)
    assert active == [second, other]
    history = store.prescription_history(pid)
    assert history[0] == second
    assert replace(saved, active=False) in history and other in history and len(history) == 3
    assert all(p.set_at is not None and p.set_at.utcoffset() == timedelta(0) for p in history)
    store.stop_prescription(other.id or "", T0 + timedelta(days=8))
    store.stop_prescription(other.id or "", T0 + timedelta(days=9))  # already stopped: no-op
    assert store.active_prescriptions(pid) == [second]
    with pytest.raises(NotFound):
        store.stop_prescription("nope", T0)


def test_add_rep_is_committed_before_it_returns(store: Store, db_url: str) -> None:
    pid = patient(store, therapist(store))
    record = make_session(pid, reps=(), cues=(), trace=(), duration_s=0.0)
    store.start_session(record)
    store.add_rep(record.id, make_session(pid).reps[0], duration_s=6.5)
    other = open_engine(db_url)  # a separate connection, as after a kill -9 and restart
    try:
        with other.connect() as conn:
            reps = conn.execute(sa.text("SELECT count(*) FROM reps")).scalar()
            duration = conn.execute(
                sa.text("SELECT duration_s FROM sessions WHERE id = :id"), {"id": record.id}
            ).scalar()
        assert reps == 1 and duration == 6.5
        seen = Store(other).session(record.id)
        assert seen is not None and len(seen.reps) == 1
    finally:
        other.dispose()


def test_naive_datetimes_are_refused(store: Store) -> None:
    """Whose clock? A naive datetime is a bug in the caller, not something to guess at."""
    with pytest.raises(ValueError, match="naive"):
        store.record_login_failure("therapist:x", datetime(2025, 3, 1, 9, 30))
    assert store.login_failures_since("therapist:x", T0 - timedelta(days=9999)) == 0


def test_add_rep_twice_or_to_a_missing_session(store: Store) -> None:
    pid = patient(store, therapist(store))
    record = make_session(pid)
    store.start_session(record)
    with pytest.raises(DuplicateError) as twice:
        store.add_rep(record.id, record.reps[0], 20.0)
    assert str(twice.value) == "Rep 1 of this session is already saved."
    with pytest.raises(NotFound) as missing:
        store.add_rep("gone", record.reps[0], 20.0)
    assert_plain(str(missing.value))
    with pytest.raises(NotFound):
        store.update_session("gone", status=SessionStatus.COMPLETED)
    with pytest.raises(NotFound):
        store.append_trace("gone", record.trace)


# --- accounts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("ann@clinic.example", "ann@clinic.example"),
        ("Ann@Clinic.Example", "ann@clinic.example"),
        ("ann@clinic.example", "  ANN@CLINIC.EXAMPLE "),
    ],
)
def test_duplicate_therapist_email(store: Store, first: str, second: str) -> None:
    made = store.add_therapist(first, "Ann", "h")
    assert made.email == "ann@clinic.example"
    with pytest.raises(DuplicateError) as error:
        store.add_therapist(second, "Ann again", "h2")
    assert (
        str(error.value) == "A therapist with the email ann@clinic.example is already registered."
    )
    assert_plain(str(error.value))
    found = store.therapist_by_email(second)
    assert found == made and store.therapist(made.id) == made


@pytest.mark.parametrize(
    ("first", "second"),
    [("Ann Lee", "Ann Lee"), ("Ann Lee", "  ann   LEE "), ("Zoë Ørsted", "ZOË ØRSTED")],
)
def test_duplicate_patient_name(store: Store, first: str, second: str) -> None:
    tid, colleague = therapist(store), therapist(store)
    store.add_patient(tid, first, "left", None, None)
    with pytest.raises(DuplicateError) as error:
        store.add_patient(tid, second, None, None, None)
    assert str(error.value).startswith("You already have a patient called ")
    assert_plain(str(error.value))
    store.add_patient(colleague, second, "right", None, None)  # another therapist's: fine
    assert len(store.patients_of(tid)) == len(store.patients_of(colleague)) == 1


def test_patient_invite_login_and_update(store: Store) -> None:
    tid = therapist(store)
    invite, stale = "a" * 64, "b" * 64
    pid = store.add_patient(tid, "Bea", "right", invite, T0 + timedelta(days=7)).id
    expired = store.add_patient(tid, "Al", None, stale, T0 - timedelta(seconds=1)).id
    assert [p.name for p in store.patients_of(tid)] == ["Al", "Bea"]
    found = store.patient_by_invite(invite, T0)
    assert found is not None and found.id == pid and found.has_invite
    assert found.invite_expires_at == T0 + timedelta(days=7)
    assert_utc(found.invite_expires_at)
    assert store.patient_by_invite(stale, T0) is None
    assert store.patient_by_invite(invite, T0 + timedelta(days=8)) is None
    store.set_patient_login(pid, "Bea.Walks", "hash")
    after = store.patient(pid)
    assert after is not None and not after.has_invite and after.invite_expires_at is None
    assert after.login_name == "bea.walks" and after.password_hash == "hash"
    assert store.patient_by_invite(invite, T0) is None
    assert store.patient_by_login("BEA.WALKS ") == after
    with pytest.raises(DuplicateError) as taken:
        store.set_patient_login(expired, "bea.walks", "other")
    assert str(taken.value) == "The login name bea.walks is already taken."
    store.set_invite(expired, "c" * 64, T0 + timedelta(days=1))
    renewed = store.patient_by_invite("c" * 64, T0)
    assert renewed is not None and renewed.id == expired
    changed = store.update_patient(pid, name="Beatrice", affected_side=None)
    assert changed.name == "Beatrice" and changed.affected_side is None
    assert store.update_patient(pid).affected_side is None  # unset: unchanged
    assert store.update_patient(pid, affected_side="left").name == "Beatrice"
    with pytest.raises(DuplicateError):
        store.update_patient(pid, name="AL")
    with pytest.raises(NotFound):
        store.set_patient_login("nobody", "x", "y")
    store.set_therapist_password(tid, "new-hash")
    assert (store.therapist(tid) or pytest.fail("gone")).password_hash == "new-hash"


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_stored_unchanged(store: Store, text: str) -> None:
    tid = store.add_therapist(f"{uuid.uuid4().hex}@x.example", text, text).id
    row = store.add_patient(tid, text, None, None, None)
    assert row.name == text.strip()
    note = store.add_note(row.id, tid, text, T0)
    record = make_session(
        row.id,
        exercise_name=text,
        source_name=text,
        warnings=(text,),
        cues=(CueRecord(1.0, "cue", {"word": text}),),
    )
    store.start_session(record)
    got = store.patient(row.id)
    assert got is not None and got.name == text.strip()
    assert (store.therapist(tid) or pytest.fail("gone")).name == text.strip()
    assert store.notes_of(row.id) == [note] and note.text == text
    assert store.session(record.id) == record
    store.audit("therapist", tid, "change", "patient", row.id, detail=text)
    assert store.audit_entries(target_id=row.id)[0].detail == text
    assert {"patients", "sessions", "therapists"} <= set(sa.inspect(store.engine).get_table_names())


# --- notes, login failures, audit ----------------------------------------------------------


def test_notes_login_failures_and_audit(store: Store) -> None:
    tid = therapist(store)
    pid = patient(store, tid)
    first = store.add_note(pid, tid, "Walked 20 m", T0)
    second = store.add_note(pid, tid, "Better clearance", T0 + timedelta(days=2))
    assert store.notes_of(pid) == [first, second]
    assert store.notes_of(pid, since=T0 + timedelta(days=1)) == [second]
    assert_utc(first.written_at)

    key = "therapist:ann@clinic.example"
    for minutes in (0, 5, 10):
        store.record_login_failure(key, T0 + timedelta(minutes=minutes))
    store.record_login_failure("therapist:bob@clinic.example", T0)
    assert store.login_failures_since(key, T0 + timedelta(minutes=5)) == 2
    assert store.login_failures_since(key, T0 - timedelta(days=1)) == 3
    store.clear_login_failures(key)
    assert store.login_failures_since(key, T0 - timedelta(days=1)) == 0
    assert store.login_failures_since("therapist:bob@clinic.example", T0) == 1

    store.audit("therapist", tid, "view", "patient", pid, at=T0)
    store.audit("admin", None, "change", "therapist", tid, "disabled", at=T0 + timedelta(1))
    store.audit("system", None, "login_failed", "therapist", None, at=T0 + timedelta(2))
    store.audit("therapist", tid, "export", "patient", pid)  # now
    entries = store.audit_entries()
    assert [e.action for e in entries] == ["export", "login_failed", "change", "view"]
    assert all(e.at.utcoffset() == timedelta(0) for e in entries)
    assert [e.action for e in store.audit_entries(target_id=pid)] == ["export", "view"]
    assert [e.action for e in store.audit_entries(actor_id=tid)] == ["export", "view"]
    assert len(store.audit_entries(limit=2)) == 2
    with pytest.raises(ValueError):
        store.audit("robot", None, "view", "patient", pid)


# --- erasure ---------------------------------------------------------------------------------


def _fill(store: Store, tid: str, name: str, login: str) -> tuple[str, SessionRecord]:
    pid = store.add_patient(tid, name, "left", None, None).id
    store.set_patient_login(pid, login, "hash")
    record = make_session(pid)
    store.start_session(record)
    store.append_trace(record.id, record.trace)
    store.start_session(make_session(pid, T0 + timedelta(days=1)))
    store.set_prescription(pid, Prescription("toe_lift", 2, 10), tid, T0)
    store.set_prescription(pid, Prescription("toe_lift", 3, 10), tid, T0 + timedelta(1))
    store.add_gait(GaitRecord(uuid.uuid4().hex, pid, T0, 10.0, 12, 80.0, ("foot_slap",)))
    store.add_note(pid, tid, f"About {name}", T0)
    store.add_step_in(StepIn(record.id, StepKind.MESSAGE, text=f"Hello {name}"), pid, tid, T0)
    with store.engine.begin() as conn:  # written by the PostgreSQL live bus
        conn.execute(
            tables.live_states.insert().values(
                session_id=record.id, patient_id=pid, sent_at=T0, state="{}"
            )
        )
    store.record_login_failure(patient_account_key(login), T0)
    store.audit("therapist", tid, "view", "patient", pid)
    return pid, record


def _rows_mentioning(store: Store, values: set[str]) -> dict[str, int]:
    """Rows in any table with any text column holding one of `values` (or a row of a
    session that does)."""
    found: dict[str, int] = {}
    with store.engine.connect() as conn:
        session_ids = {
            r[0]
            for r in conn.execute(
                sa.select(tables.sessions.c.id).where(tables.sessions.c.patient_id.in_(values))
            )
        }
        wanted = values | session_ids
        for table in tables.metadata.sorted_tables:
            columns = [c for c in table.c if isinstance(c.type, sa.String | sa.Text)]
            rows = conn.execute(sa.select(*columns)).all()
            hits = sum(1 for row in rows if wanted & set(row))
            if hits:
                found[table.name] = hits
    return found


def test_erase_patient_leaves_nothing_but_the_audit_log(store: Store) -> None:
    tid = therapist(store)
    gone, _ = _fill(store, tid, "Erase Me", "erase.me")
    kept, kept_session = _fill(store, tid, "Keep Me", "keep.me")
    before = (
        store.sessions_of(kept, with_trace=True),
        store.prescription_history(kept),
        store.gait_of(kept),
        store.notes_of(kept),
        store.patient(kept),
    )
    store.add_sign_in("a" * 64, "patient", gone, datetime.now(UTC))
    store.add_sign_in("b" * 64, "patient", kept, datetime.now(UTC))
    counts = store.erase_patient(gone)
    assert store.sign_in("b" * 64) is not None and store.sign_in("a" * 64) is None
    assert counts == {
        "reps": 4,
        "cues": 6,
        "trace_chunks": 3,
        "sessions": 2,
        "prescriptions": 2,
        "gait_results": 1,
        "notes": 1,
        "live_states": 1,
        "step_ins": 1,
        "login_failures": 1,
        "sign_ins": 1,
        "patients": 1,
    }
    left = _rows_mentioning(store, {gone, patient_account_key("erase.me")})
    assert left == {"audit_log": 1}
    assert store.patient(gone) is None and store.patient_by_login("erase.me") is None
    assert (
        store.sessions_of(gone) == []
        and store.login_failures_since(patient_account_key("erase.me"), T0 - timedelta(days=1)) == 0
    )
    after = (
        store.sessions_of(kept, with_trace=True),
        store.prescription_history(kept),
        store.gait_of(kept),
        store.notes_of(kept),
        store.patient(kept),
    )
    assert after == before and kept_session.id in {s.id for s in after[0]}
    assert store.login_failures_since(patient_account_key("keep.me"), T0) == 1
    assert store.erase_patient(gone)["patients"] == 0  # erasing again erases nothing


def test_deleting_a_patient_row_cascades(store: Store) -> None:
    """The foreign keys cascade on their own too (SQLite only with foreign_keys=ON)."""
    tid = therapist(store)
    pid, _ = _fill(store, tid, "Cascade", "cascade")
    with store.engine.begin() as conn:
        conn.execute(tables.patients.delete().where(tables.patients.c.id == pid))
    assert _rows_mentioning(store, {pid}) == {"audit_log": 1}
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.reps)).scalar() == 0


# --- sessions left open ------------------------------------------------------------------------


def test_open_session_and_mark_stale(store: Store) -> None:
    pid = patient(store, therapist(store))
    old = make_session(pid, T0 - timedelta(hours=2))
    new = make_session(pid, T0 - timedelta(minutes=10))
    done = make_session(pid, T0, status=SessionStatus.COMPLETED)
    other_exercise = make_session(pid, T0, exercise_id="toe_lift")
    for record in (old, new, done, other_exercise):
        store.start_session(record)
    rejoin = store.open_session(pid, "range_of_motion")
    assert rejoin == new  # the newest still in progress, with its trace
    assert store.open_session(pid, "heel_raise") is None
    assert store.mark_stale_sessions(datetime.now(UTC) - timedelta(hours=1)) == 0
    store.add_rep(new.id, replace(new.reps[0], number=3), 14.0)  # keeps it alive
    assert store.mark_stale_sessions(datetime.now(UTC) + timedelta(seconds=1)) == 3
    statuses = {s.id: s.status for s in store.sessions_of(pid)}
    assert statuses[done.id] is SessionStatus.COMPLETED
    assert {statuses[r.id] for r in (old, new, other_exercise)} == {SessionStatus.INTERRUPTED}
    assert store.open_session(pid, "range_of_motion") is None


# --- where the database is, and SQLite failures in plain words --------------------------------


def test_database_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("COACH_DATABASE_URL", raising=False)
    monkeypatch.delenv("COACH_DATA_DIR", raising=False)
    assert database_url(tmp_path) == f"sqlite:///{tmp_path}/coach.db"
    assert database_url().endswith("/.local/share/footdrop-coach/coach.db")
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "d"))
    assert database_url() == f"sqlite:///{tmp_path}/d/coach.db"
    monkeypatch.setenv("COACH_DATABASE_URL", "postgresql://u:p@db.clinic:5433/coach")
    assert database_url() == "postgresql+psycopg://u:p@db.clinic:5433/coach"
    assert database_url(url="postgres://h/x") == "postgresql+psycopg://h/x"
    monkeypatch.setenv("COACH_DATABASE_URL", "postgresql+psycopg://h/y")
    assert database_url(tmp_path) == "postgresql+psycopg://h/y"


def test_first_run_creates_the_data_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'coach.db'}"
    store = open_database(url)
    try:
        assert (tmp_path / "a" / "b" / "coach.db").is_file()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        store.close()


def test_missing_file_without_create(tmp_path: Path) -> None:
    with pytest.raises(DatabaseMissing) as error:
        open_database(f"sqlite:///{tmp_path / 'none' / 'coach.db'}", create=False)
    assert "db upgrade" in str(error.value) and str(tmp_path) in str(error.value)
    assert_plain(str(error.value))
    assert not (tmp_path / "none").exists()


def test_data_folder_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError) as error:
        open_database(f"sqlite:///{blocker / 'data' / 'coach.db'}")
    assert "cannot be created" in str(error.value)
    assert_plain(str(error.value))


def _writes_blocked(path: Path) -> bool:
    try:
        with open(path, "r+b"):
            return False
    except PermissionError:
        return True


@pytest.fixture
def read_only_url(tmp_path: Path) -> Iterator[str]:
    """A database that can be read but not written: by permissions, or (as root, whom
    permissions do not stop) by opening it read-only."""
    folder = tmp_path / "ro"
    path = folder / "coach.db"
    made = open_database(f"sqlite:///{path}")
    made.add_therapist("ann@clinic.example", "Ann", "h")
    made.close()
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        if _writes_blocked(path):
            yield f"sqlite:///{path}"
        else:
            yield f"sqlite:///file:{path}?mode=ro&uri=true"
    finally:
        folder.chmod(stat.S_IRWXU)
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_read_only_database(read_only_url: str, tmp_path: Path) -> None:
    path = tmp_path / "ro" / "coach.db"
    try:
        store = open_database(read_only_url, create=False)
    except StorageError as refused:  # without write access to the folder WAL cannot start
        assert "cannot be written" in str(refused) and str(path) in str(refused)
        assert_plain(str(refused))
        return
    try:
        assert store.therapist_by_email("ann@clinic.example") is not None
        with pytest.raises(StorageError) as error:
            store.add_therapist("bob@clinic.example", "Bob", "h")
        assert str(error.value) == (
            f"The database file {path} cannot be written: check its permissions."
        )
        assert_plain(str(error.value))
    finally:
        store.close()


def test_locked_database_is_busy(tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    store = open_database(f"sqlite:///{path}", busy_timeout_ms=100)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(DatabaseBusy) as error:
            store.add_therapist("ann@clinic.example", "Ann", "h")
        assert str(error.value) == (
            "The database is busy (locked by another program); try again in a moment."
        )
        assert_plain(str(error.value))
        holder.execute("ROLLBACK")
        store.add_therapist("ann@clinic.example", "Ann", "h")  # free again: works
    finally:
        holder.close()
        store.close()


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "coach.db"
    path.write_bytes(b"this is a spreadsheet, not a database" * 100)
    with pytest.raises(StorageError) as error:
        open_database(f"sqlite:///{path}")
    assert "not a coach database" in str(error.value)
    assert_plain(str(error.value))


def test_newer_schema_in_a_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'coach.db'}"
    open_database(url).close()
    with sqlite3.connect(tmp_path / "coach.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'abc123'")
    with pytest.raises(SchemaTooNew) as error:
        open_database(url)
    assert_plain(str(error.value))


# --- PostgreSQL server failures ------------------------------------------------------------


def test_server_that_cannot_be_reached() -> None:
    port = free_port()
    with pytest.raises(DatabaseUnreachable) as error:
        open_database(f"postgresql://coach@127.0.0.1:{port}/coach", create=False)
    assert str(error.value) == f"The database server at 127.0.0.1:{port} cannot be reached."


def test_server_database_missing_or_created(pg_url: str) -> None:
    name = f"coach_new_{uuid.uuid4().hex[:8]}"
    url = sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    with pytest.raises(DatabaseMissing) as error:
        open_database(url, create=False)
    assert name in str(error.value)
    assert_plain(str(error.value))
    store = open_database(url)  # create=True makes the database on the server
    try:
        assert current_revision(store.engine) == HEAD_REVISION
    finally:
        store.close()
        admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_disk_full(tmp_path: Path) -> None:
    with mount_tmpfs(tmp_path / "small", "600k") as folder:
        store = open_database(f"sqlite:///{folder / 'coach.db'}")
        try:
            tid = therapist(store)
            pid = patient(store, tid)
            with pytest.raises(StorageError) as error:
                for _ in range(200):
                    store.add_note(pid, tid, uuid.uuid4().hex * 300, T0)
            assert str(error.value) == (
                "The disk holding the database is full: free some space and try again."
            )
        finally:
            store.close()
