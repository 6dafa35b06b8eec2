"""The therapist's Live now page under AppTest, on a real SQLite database.

A patient's live session (the real session service, linked to the monitor exactly as
the Exercise page links it) runs in the app's own services; the therapist signs in,
sees it on the board with the measured leg, steps in with a message and a new dose,
and the session takes both. Another therapist's patient never shows.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from coach.accounts import Principal, Role
from coach.live_session import LiveSession
from coach.services import Services
from coach.telehealth.steps import StepIn
from coach.ui.auth import get_services
from coach.ui.monitor_page import leg_svg
from tests.conftest import REPO, wait_until
from tests.test_clinic_pages import _app, _by_label, _ok, _sign_in_therapist, _texts, clinic
from tests.test_live_session import run, stream

__all__ = ["clinic"]  # the fixture, shared with the clinic pages' tests

MONITOR = "coach/ui/pages/monitor.py"


def _exercising(services: Services, patient_id: str) -> tuple[LiveSession, list[StepIn]]:
    me = Principal(Role.PATIENT, patient_id, "")
    session, _ = services.sessions.start_live(me, patient_id, "range_of_motion")
    got: list[StepIn] = []

    def apply(step: StepIn, announce: bool) -> None:
        got.append(step)
        session.step_in(step, announce=announce)

    services.monitor.connect(session, patient_id, apply)
    run(session, stream(8.0))
    return session, got


def test_therapist_sees_a_live_session_and_steps_in(clinic: Services) -> None:
    at = _sign_in_therapist(_app())
    app_services = get_services()  # the services the app's pages use (cached per server)
    ann = clinic.clinic.sign_in_therapist("ann@clinic.example", "a long enough password")
    bob = clinic.clinic.sign_in_therapist("bob@clinic.example", "a long enough password")
    maria = clinic.clinic.add_patient(ann, "Maria Lopez", None).patient
    toms = clinic.clinic.add_patient(bob, "Tom Berg", None).patient
    session, got = _exercising(app_services, maria.id)
    _exercising(app_services, toms.id)
    wait_until(lambda: app_services.monitor.live(ann))

    at.switch_page(MONITOR).run()
    _ok(at)
    text = _texts(at)
    assert "Maria Lopez" in text and "Tom Berg" not in text
    assert ":green[● live]" in text
    reps = [m for m in at.metric if m.label == "Reps"]
    assert reps and reps[0].value == f"{session.status.reps} / 10"
    assert any("data:image/svg+xml;base64," in m.value for m in at.markdown)

    _by_label(at.button, "Step in").click().run()
    _ok(at)
    assert "Step in: Maria Lopez" in _texts(at)
    _by_label(at.text_input, "Message (shown on the patient's screen and read out)").input(
        "Lift your toes a little higher"
    )
    _by_label(at.button, "Send message").click().run()
    _ok(at)
    assert "Message sent." in _texts(at)
    wait_until(lambda: got)
    assert session.status.message == ("Ann Smith", "Lift your toes a little higher")

    _by_label(at.number_input, "Reps per set").set_value(4)
    _by_label(at.button, "Change the dose").click().run()
    _ok(at)
    wait_until(lambda: len(got) == 2)
    assert session.status.plan.reps_per_set == 4

    # A message the service refuses is a plain sentence, and nothing is sent.
    _by_label(at.text_input, "Message (shown on the patient's screen and read out)").input(" ")
    _by_label(at.button, "Send message").click().run()
    _ok(at)
    assert "Please check the message: it is empty." in _texts(at)
    assert len(got) == 2


def test_the_page_is_for_therapists_only(clinic: Services) -> None:
    """Not in a guest's navigation, and the page script itself refuses one too."""
    at = _app()
    at.run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(MONITOR)
    page = AppTest.from_file(str(REPO / MONITOR), default_timeout=60).run()
    _ok(page)
    assert "Sign in as a therapist" in _texts(page)


def test_leg_figure_scales_the_leg_and_says_when_it_is_not_seen() -> None:
    pts = ((0.5, 0.4), (0.52, 0.6), (0.5, 0.8), (0.47, 0.83), (0.6, 0.84))
    svg = leg_svg(pts, True)
    assert svg.count("<line") == 5 and svg.count("<circle") == 4 and "#50c850" in svg
    assert "leg not seen" in leg_svg(None, False)
