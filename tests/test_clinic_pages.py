"""The therapist's and the patient's pages under AppTest, on a real SQLite database.

Each test gets its own data folder (so its own database); the services are the real
ones, made by `build_services` from the environment, exactly as the app makes them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from coach.accounts import ADMIN
from coach.prescription import Prescription
from coach.services import Services, build_services
from coach.services.config import AppConfig
from coach.ui.state import HOOKS_KEY, AppHooks
from tests.test_app_pages import APP, FakePose, FakeStreamer

PASSWORD = "a long enough password"
SIGNIN = "coach/ui/pages/signin.py"
PATIENTS = "coach/ui/pages/patients.py"


@pytest.fixture
def clinic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Services:
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path / "data"))
    services = build_services(AppConfig.from_env())
    services.clinic.add_therapist(ADMIN, "ann@clinic.example", "Ann Smith", PASSWORD)
    services.clinic.add_therapist(ADMIN, "bob@clinic.example", "Bob Jones", PASSWORD)
    return services


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[HOOKS_KEY] = AppHooks(
        estimator_factory=lambda model: FakePose(), streamer=FakeStreamer(False)
    )
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def _by_label(widgets, label: str):  # type: ignore[no-untyped-def]
    found = [w for w in widgets if w.label == label]
    assert found, f"no widget labelled {label!r}"
    return found[0]


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [e.value for e in at.error]
    parts += [s.value for s in at.success] + [i.value for i in at.info]
    parts += [c.value for c in at.caption] + [s.value for s in at.subheader]
    return "\n".join(str(p) for p in parts)


def _sign_in_therapist(at: AppTest, email: str = "ann@clinic.example") -> AppTest:
    at.run()
    at.switch_page(SIGNIN).run()
    _by_label(at.text_input, "Email").input(email)
    at.text_input(key="coach_therapist_pw").input(PASSWORD)
    [b for b in at.button if b.label == "Sign in"][-1].click().run()
    _ok(at)
    return at


def test_therapist_signs_in_adds_a_patient_and_prescribes(clinic: Services) -> None:
    at = _sign_in_therapist(_app())
    assert "signed in as **Ann Smith**" in _texts(at)
    at.switch_page(PATIENTS).run()
    _ok(at)
    assert "No patients yet" in _texts(at)
    _by_label(at.text_input, "Name").input("Maria Lopez")
    _by_label(at.button, "Add patient").click().run()
    _ok(at)
    assert "invitation code is" in _texts(at)
    [patient] = clinic.store.patients_of(clinic.store.therapist_by_email("ann@clinic.example").id)  # type: ignore[union-attr]
    at.query_params["patient"] = patient.id
    at.run()
    _ok(at)
    assert "Maria Lopez" in _texts(at)
    assert "No exercises prescribed yet." in _texts(at)
    _by_label(at.selectbox, "Exercise").set_value("range_of_motion").run()
    _by_label(at.number_input, "Sets").set_value(2)
    _by_label(at.number_input, "Reps").set_value(6)
    _by_label(at.button, "Save to plan").click().run()
    _ok(at)
    [rx] = clinic.store.active_prescriptions(patient.id)
    assert (rx.exercise_id, rx.sets, rx.reps) == ("range_of_motion", 2, 6)
    _by_label(at.button, "Make the report").click().run()
    _ok(at)
    assert any(b.label == "Download PDF" for b in at.get("download_button"))


def test_another_therapists_patient_in_the_address_is_refused(clinic: Services) -> None:
    bob = clinic.clinic.sign_in_therapist("bob@clinic.example", PASSWORD)
    theirs = clinic.clinic.add_patient(bob, "Bob's Patient", "left").patient
    clinic.clinic.set_prescription(bob, theirs.id, Prescription("range_of_motion", 1, 5))
    at = _sign_in_therapist(_app())
    at.switch_page(PATIENTS)
    at.query_params["patient"] = theirs.id
    at.run()
    _ok(at)
    text = _texts(at)
    assert "You do not have access to this patient's records." in text
    assert "Bob's Patient" not in text
    assert not [b for b in at.get("download_button")]
    entries = clinic.store.audit_entries(target_id=theirs.id)
    assert not any(e.action == "view" and e.actor_id != bob.id for e in entries)


def test_patient_signs_in_with_a_code_and_sees_only_their_plan(clinic: Services) -> None:
    ann = clinic.clinic.sign_in_therapist("ann@clinic.example", PASSWORD)
    new = clinic.clinic.add_patient(ann, "Maria Lopez", "right")
    clinic.clinic.set_prescription(
        ann, new.patient.id, Prescription("ankle_dorsiflexion", 2, 4, hold_s=3, notes="gently")
    )
    at = _app()
    at.run()
    at.switch_page(SIGNIN).run()
    _by_label(at.text_input, "Invitation code from your therapist").input(new.invite_code)
    _by_label(at.button, "Sign in with my code").click().run()
    _ok(at)
    assert "signed in as **Maria Lopez**" in _texts(at)
    at.switch_page("coach/ui/pages/exercise.py").run()
    _ok(at)
    text = _texts(at)
    assert "Your plan this week" in text and "gently" in text
    picker = _by_label(at.selectbox, "Today's exercise")
    assert (
        picker.options == ["Active ankle dorsiflexion (seated toe lift)"]
        or len(picker.options) == 1
    )
    # The therapist's page is not even offered (and its services refuse a patient anyway:
    # tests/test_services.py).
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PATIENTS)


def test_wrong_password_is_a_plain_message(clinic: Services) -> None:
    at = _app()
    at.run()
    at.switch_page(SIGNIN).run()
    _by_label(at.text_input, "Email").input("ann@clinic.example")
    at.text_input(key="coach_therapist_pw").input("not the password")
    [b for b in at.button if b.label == "Sign in"][-1].click().run()
    _ok(at)
    assert "The email or password is not right." in _texts(at)


@pytest.mark.parametrize(
    "url",
    ["postgresql://coach@127.0.0.1:1/none", "sqlite:////proc/no/such/folder/coach.db"],
)
def test_records_out_of_reach_leave_the_coach_working(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COACH_DATABASE_URL", url)
    at = _app()
    at.run()
    _ok(at)
    text = "\n".join(str(w.value) for w in at.warning)
    assert "Signing in is not available right now" in text
    assert "COACH_" not in text and "/proc" not in text and "127.0.0.1" not in text
    assert any(s.label == "Today's exercise" for s in at.selectbox)  # guests still exercise
    at.switch_page(SIGNIN).run()
    _ok(at)
    errors = "\n".join(str(e.value) for e in at.error)
    assert "records cannot be reached" in errors and "COACH_" not in errors


def test_patient_sees_their_own_progress_and_sessions(clinic: Services) -> None:
    from tests.test_services import _report

    ann = clinic.clinic.sign_in_therapist("ann@clinic.example", PASSWORD)
    mine = clinic.clinic.add_patient(ann, "Maria Lopez", "right")
    other = clinic.clinic.add_patient(ann, "Someone Else", "left")
    clinic.clinic.set_prescription(ann, mine.patient.id, Prescription("range_of_motion", 1, 10))
    clinic.sessions.save_analysis(ann, mine.patient.id, _report(), "mine.mp4")
    clinic.sessions.save_analysis(ann, other.patient.id, _report(), "theirs.mp4")
    clinic.clinic.add_note(ann, mine.patient.id, "private therapist note")
    at = _app()
    at.run()
    at.switch_page(SIGNIN).run()
    _by_label(at.text_input, "Invitation code from your therapist").input(mine.invite_code)
    _by_label(at.button, "Sign in with my code").click().run()
    at.switch_page("coach/ui/pages/history.py").run()
    _ok(at)
    text = _texts(at)
    assert "Adherence, last 8 weeks" in text and "Ankle range of motion" in text
    assert "Someone Else" not in text and "private therapist note" not in text
    [picker] = [s for s in at.selectbox if s.label == "Open a session"]
    assert len(picker.options) == 1  # their one session, not the other patient's
