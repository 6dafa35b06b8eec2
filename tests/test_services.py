"""The services on a real database (SQLite file and PostgreSQL): accounts, access, plans,
the live recorder, export and erase. No Streamlit, no camera."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from coach.accounts import ADMIN, Principal, Role
from coach.events import BackgroundSubscriber
from coach.exercise import load_exercises
from coach.prescription import DoseError, Prescription, effective_exercise
from coach.records import SessionStatus
from coach.services import Services, build_services
from coach.services.access import NO_ACCESS, AccessDenied
from coach.services.clinic import InputProblem
from coach.services.config import AppConfig
from coach.storage.store import Store
from tests.conftest import ankle_trace, side_view_pose

PASSWORD = "correct horse battery"
EXS = load_exercises()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services(store: Store, clock: Clock, tmp_path) -> Services:  # type: ignore[no-untyped-def]
    return build_services(AppConfig(data_dir=tmp_path), store=store, clock=clock)


def _therapist(services: Services, email: str) -> Principal:
    services.clinic.add_therapist(ADMIN, email, f"Dr {email.split('@')[0]}", PASSWORD)
    return services.clinic.sign_in_therapist(email, PASSWORD)


def test_therapist_sign_in_rate_limit_and_no_enumeration(services: Services, clock: Clock) -> None:
    t = _therapist(services, "ann@clinic.example")
    assert t.role is Role.THERAPIST and t.name == "Dr ann"
    assert services.clinic.sign_in_therapist("  ANN@clinic.example ", PASSWORD).id == t.id
    with pytest.raises(AccessDenied) as wrong:
        services.clinic.sign_in_therapist("ann@clinic.example", "wrong password!")
    with pytest.raises(AccessDenied) as unknown:
        services.clinic.sign_in_therapist("nobody@clinic.example", "wrong password!")
    assert str(wrong.value) == str(unknown.value)  # nobody learns which emails exist
    for _ in range(4):
        with pytest.raises(AccessDenied):
            services.clinic.sign_in_therapist("ann@clinic.example", "wrong password!")
    with pytest.raises(AccessDenied, match="Too many attempts"):
        services.clinic.sign_in_therapist("ann@clinic.example", PASSWORD)  # locked, even if right
    clock.now += timedelta(minutes=16)
    assert services.clinic.sign_in_therapist("ann@clinic.example", PASSWORD).id == t.id
    entries = services.store.audit_entries(actor_id=t.id)
    assert any(e.action == "login" for e in entries)


@pytest.mark.parametrize(
    ("password", "problem"),
    [("short", "at least 10"), ("aaaaaaaaaaaa", "too easy"), ("x" * 300, "at most")],
)
def test_weak_passwords_are_refused_in_words(
    services: Services, password: str, problem: str
) -> None:
    with pytest.raises(InputProblem, match=problem):
        services.clinic.add_therapist(ADMIN, "bob@clinic.example", "Bob", password)


def test_invitation_code_then_own_login_and_idle_token(services: Services, clock: Clock) -> None:
    t = _therapist(services, "ann@clinic.example")
    new = services.clinic.add_patient(t, "Maria Lopez", "left")
    code = new.invite_code
    with pytest.raises(AccessDenied, match="not right"):
        services.clinic.sign_in_patient_code("AAAA-BBBB-CCCC")
    me = services.clinic.sign_in_patient_code(code.lower().replace("-", " "))
    assert me.role is Role.PATIENT and me.id == new.patient.id
    services.clinic.set_patient_login(me, "maria.l", PASSWORD)
    assert services.clinic.sign_in_patient("Maria.L", PASSWORD).id == me.id
    with pytest.raises(AccessDenied):
        services.clinic.sign_in_patient_code(code)  # a used code is spent
    token = services.clinic.issue_token(me)
    clock.now += timedelta(minutes=10)
    assert services.clinic.resume(token) == me
    clock.now += timedelta(minutes=21)
    assert services.clinic.resume(token) is None  # idle too long: signed out
    assert services.clinic.resume("made-up-token-" + "x" * 20) is None


def test_a_code_expires(services: Services, clock: Clock) -> None:
    t = _therapist(services, "ann@clinic.example")
    code = services.clinic.add_patient(t, "Old Code", None).invite_code
    clock.now += timedelta(days=15)
    with pytest.raises(AccessDenied, match="expired"):
        services.clinic.sign_in_patient_code(code)


def test_access_is_checked_on_the_server_for_every_read(services: Services) -> None:
    ann = _therapist(services, "ann@clinic.example")
    bob = _therapist(services, "bob@clinic.example")
    p1 = services.clinic.add_patient(ann, "Patient One", "left").patient
    p2 = services.clinic.add_patient(bob, "Patient Two", "right").patient
    one = services.clinic.sign_in_patient_code(services.clinic.new_invite(ann, p1.id))
    rx = Prescription("range_of_motion", sets=2, reps=5)
    services.clinic.set_prescription(bob, p2.id, rx)
    attempts = [
        lambda: services.clinic.patient(ann, p2.id),
        lambda: services.clinic.plan(ann, p2.id),
        lambda: services.clinic.set_prescription(ann, p2.id, rx),
        lambda: services.clinic.export_patient(ann, p2.id),
        lambda: services.clinic.erase_patient(ann, p2.id),
        lambda: services.sessions.history(ann, p2.id),
        lambda: services.reports.pdf(ann, p2.id),
        lambda: services.clinic.patient(one, p2.id),
        lambda: services.clinic.plan(one, p2.id),
        lambda: services.sessions.history(one, p2.id),
        lambda: services.clinic.export_patient(one, p2.id),
        lambda: services.clinic.set_prescription(one, p1.id, rx),  # not even their own plan
        lambda: services.clinic.patients(one),
        lambda: services.reports.pdf(one, p1.id),
        lambda: services.clinic.patient(ann, "not-an-id"),
    ]
    for attempt in attempts:
        with pytest.raises(AccessDenied):
            attempt()
    with pytest.raises(AccessDenied) as unknown:
        services.clinic.patient(ann, "0" * 32)
    with pytest.raises(AccessDenied) as other:
        services.clinic.patient(ann, p2.id)
    assert str(unknown.value) == str(other.value) == NO_ACCESS
    assert [p.id for p in services.clinic.patients(ann)] == [p1.id]
    assert services.clinic.patient(one, p1.id).id == p1.id  # their own record: yes


def test_plan_is_the_dose_the_live_session_runs(services: Services) -> None:
    ann = _therapist(services, "ann@clinic.example")
    p = services.clinic.add_patient(ann, "Maria", "right").patient
    with pytest.raises(DoseError, match="sets"):
        Prescription("range_of_motion", sets=0, reps=5)
    with pytest.raises(InputProblem, match="no exercise"):
        services.clinic.set_prescription(ann, p.id, Prescription("moonwalk", sets=1, reps=5))
    services.clinic.set_prescription(ann, p.id, Prescription("range_of_motion", sets=3, reps=4))
    services.clinic.set_prescription(
        ann, p.id, Prescription("range_of_motion", sets=2, reps=3, per_week=3, notes="slowly")
    )
    plan = services.clinic.plan(ann, p.id)
    assert [(x.sets, x.reps) for x in plan] == [(2, 3)]
    assert len(services.clinic.plan_history(ann, p.id)) == 2
    me = services.clinic.sign_in_patient_code(services.clinic.new_invite(ann, p.id))
    [item] = services.clinic.todays_plan(me, p.id)
    assert (item.exercise.dose.sets, item.exercise.dose.reps) == (2, 3)
    assert item.prescription.side == "right"  # the patient's affected side
    session, recorder = services.sessions.start_live(me, p.id, "range_of_motion", calibrate=False)
    assert session.plan.sets == 2 and session.plan.reps_per_set == 3
    assert session.side == "right"
    recorder.close()


def _run_reps(session, seconds: float) -> None:  # type: ignore[no-untyped-def]
    for i in range(int(seconds * 30)):
        t = i / 30
        session.process_pose(side_view_pose(ankle_trace(t)), t, 120)


def test_live_session_is_recorded_rep_by_rep_and_rejoined(services: Services) -> None:
    ann = _therapist(services, "ann@clinic.example")
    # The synthetic person faces right, right leg nearest the camera: their affected side.
    p = services.clinic.add_patient(ann, "Maria", "right").patient
    services.clinic.set_prescription(ann, p.id, Prescription("range_of_motion", sets=1, reps=8))
    me = services.clinic.sign_in_patient_code(services.clinic.new_invite(ann, p.id))
    session, recorder = services.sessions.start_live(me, p.id, "range_of_motion", calibrate=False)
    _run_reps(session, 3.0 + 4 * 3.0)
    assert recorder.flush()
    stored = services.store.session(session.session_id)
    assert stored is not None and stored.status is SessionStatus.IN_PROGRESS
    assert len(stored.reps) == len(session.log.reps) >= 3
    assert stored.trace and stored.trace[-1].points is not None
    # A reload: the page finds the session in progress and carries on counting from it.
    again = services.sessions.open_session(me, p.id, "range_of_motion")
    assert again is not None and again.id == session.session_id
    recorder.close()
    resumed, recorder2 = services.sessions.start_live(
        me, p.id, "range_of_motion", calibrate=False, resume=again
    )
    before = len(again.reps)
    _run_reps(resumed, 3.0 + 3 * 3.0)
    resumed.end()
    recorder2.close()
    final = services.store.session(session.session_id)
    assert final is not None and final.status is SessionStatus.COMPLETED
    assert len(final.reps) == len(resumed.log.reps) > before
    assert [r.number for r in final.reps] == list(range(1, len(final.reps) + 1))
    history = services.sessions.history(ann, p.id)
    assert [s.id for s in history] == [session.session_id]


def test_export_then_erase(services: Services) -> None:
    ann = _therapist(services, "ann@clinic.example")
    keep = services.clinic.add_patient(ann, "Keep Me", None).patient
    p = services.clinic.add_patient(ann, "Erase Me", "right").patient
    services.clinic.set_prescription(ann, p.id, Prescription("range_of_motion", sets=1, reps=3))
    services.clinic.add_note(ann, p.id, 'Good progress; "quotes" & <tags> 👍')
    session, recorder = services.sessions.start_live(
        ADMIN, p.id, "range_of_motion", calibrate=False
    )
    _run_reps(session, 9.0)
    session.end()
    recorder.close()
    doc = services.clinic.export_patient(ann, p.id)
    assert doc["patient"]["name"] == "Erase Me"  # type: ignore[index]
    assert doc["sessions"] and doc["notes"][0]["text"].endswith("👍")  # type: ignore[index]
    counts = services.clinic.erase_patient(ann, p.id)
    assert sum(counts.values()) > 3
    with pytest.raises(AccessDenied):
        services.clinic.patient(ann, p.id)
    assert services.clinic.patient(ann, keep.id).name == "Keep Me"
    actions = [e.action for e in services.store.audit_entries(target_id=p.id)]
    assert "export" in actions and "delete" in actions


def test_duplicate_and_hostile_input(services: Services) -> None:
    ann = _therapist(services, "ann@clinic.example")
    services.clinic.add_patient(ann, "Robert'); DROP TABLE patients;--", None)
    from coach.storage.database import DuplicateError

    with pytest.raises(DuplicateError, match="already have a patient"):
        services.clinic.add_patient(ann, "robert');   drop table patients;--", None)
    with pytest.raises(InputProblem):
        services.clinic.add_patient(ann, "   ", None)
    with pytest.raises(InputProblem, match="control"):
        services.clinic.add_patient(ann, "bell\x07", None)
    with pytest.raises(InputProblem, match="left or right"):
        services.clinic.add_patient(ann, "Someone", "both")
    assert len(services.clinic.patients(ann)) == 1


def test_effective_exercise_is_the_one_resolver() -> None:
    ex = EXS["towel_stretch"]
    rx = Prescription("towel_stretch", sets=2, reps=4, hold_s=20)
    eff = effective_exercise(ex, rx)
    assert (eff.dose.sets, eff.dose.reps, eff.dose.hold_s) == (2, 4, 20)
    assert effective_exercise(ex, None) is ex
    with pytest.raises(DoseError, match="hold"):
        effective_exercise(ex, replace(rx, hold_s=0.0))


def test_background_subscriber_never_blocks_and_keeps_errors() -> None:
    import threading

    from coach.events import CueGiven, Sampled
    from coach.records import TraceFrame

    gate = threading.Event()
    seen: list[object] = []

    def slow(event: object) -> None:
        gate.wait(5)
        seen.append(event)
        if isinstance(event, CueGiven) and event.cue_id == "boom":
            raise RuntimeError("database gone")

    sub = BackgroundSubscriber(slow, max_samples=5)  # type: ignore[arg-type]
    for i in range(50):
        sub(Sampled(TraceFrame(i / 10, 1.0)))  # returns at once although the handler waits
    sub(CueGiven(5.0, "too_fast"))
    sub(CueGiven(5.1, "boom"))
    assert sub.dropped >= 44
    gate.set()
    with pytest.raises(RuntimeError, match="database gone"):
        sub.close()
    assert any(isinstance(e, CueGiven) for e in seen)


def _report(exercise_id: str = "range_of_motion"):  # type: ignore[no-untyped-def]
    from coach.analysis import AnalysisReport, RepAngle, SeriesPoint
    from coach.counter import Rep

    reps = [Rep(i, 3.0 * i, 3.0 * i + 2.0, 30.0, 28.0, 0.5, True) for i in (1, 2, 3)]
    series = [SeriesPoint(t / 10, 5.0, 5.0, 10.0, None, True, "rest") for t in range(120)]
    return AnalysisReport(
        exercise=EXS[exercise_id],
        source="clip.mp4",
        model="heavy",
        duration_s=12.0,
        frames=120,
        fps_processed=30.0,
        neutral_deg=0.0,
        reps=reps,
        series=series,
        cues=[],
        rep_angles=[RepAngle(12.0, 20.0)] * 3,
    )


def test_a_video_is_kept_only_when_the_patient_opts_in_and_goes_with_erase(
    services: Services,
) -> None:
    ann = _therapist(services, "ann@clinic.example")
    p = services.clinic.add_patient(ann, "Maria", "right").patient
    me = services.clinic.sign_in_patient_code(services.clinic.new_invite(ann, p.id))
    plain = services.sessions.save_analysis(me, p.id, _report(), "walk.mp4")
    kept = services.sessions.save_analysis(me, p.id, _report(), "pumps.mp4", keep_video=b"VIDEO")
    assert not plain.video_kept and services.sessions.kept_video(ann, plain.id) is None
    assert kept.video_kept and services.sessions.kept_video(ann, kept.id) == b"VIDEO"
    stored = services.sessions.session(ann, kept.id)
    assert [r.rom_deg for r in stored.reps] == [20.0] * 3 and stored.source_name == "pumps.mp4"
    videos = list(services.config.video_dir.iterdir())
    assert [v.name for v in videos] == [f"{kept.id}.video"]
    other = _therapist(services, "bob@clinic.example")
    with pytest.raises(AccessDenied):
        services.sessions.kept_video(other, kept.id)
    services.clinic.erase_patient(ann, p.id)
    assert not list(services.config.video_dir.iterdir())


def test_a_walk_is_saved_as_a_gait_record(services: Services) -> None:
    ann = _therapist(services, "ann@clinic.example")
    p = services.clinic.add_patient(ann, "Maria", "right").patient
    report = {
        "duration_s": 11.5,
        "summary": {"steps": 14, "valid_steps": 12, "cadence_spm": 96.4, "step_s": 0.62},
        "flags": [{"id": "low_toe_clearance"}, {"id": "low_toe_clearance"}, {"id": "foot_slap"}],
    }
    record = services.sessions.save_walk(ann, p.id, report, "walk.mp4")
    [stored] = services.store.gait_of(p.id)
    assert stored == record
    assert stored.flags == ("low_toe_clearance", "foot_slap") and stored.cadence_spm == 96.4
    assert stored.measures["valid_steps"] == 12.0


def test_patient_details_change_and_duplicates_are_refused(services: Services) -> None:
    ann = _therapist(services, "ann@clinic.example")
    p = services.clinic.add_patient(ann, "Maria", "right").patient
    services.clinic.add_patient(ann, "Ana", None)
    changed = services.clinic.update_patient(ann, p.id, name="Maria Lopez")
    assert changed.name == "Maria Lopez" and changed.affected_side == "right"
    assert services.clinic.update_patient(ann, p.id, side="left").affected_side == "left"
    from coach.storage.database import DuplicateError

    with pytest.raises(DuplicateError):
        services.clinic.update_patient(ann, p.id, name="ana")
    bob = _therapist(services, "bob@clinic.example")
    with pytest.raises(AccessDenied):
        services.clinic.update_patient(bob, p.id, name="Taken over")
