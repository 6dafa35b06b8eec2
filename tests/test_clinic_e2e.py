"""Therapist and patient end to end in a real browser, on a real database.

The app runs with `streamlit run` on 127.0.0.1 on a fresh database holding one therapist
(made with the admin service, as `python -m coach therapist add` does). In headless
Chromium the therapist signs in, adds a patient and prescribes the exercise; the patient
signs in with the invitation code shown, the page is reloaded (the sign-in survives in a
cookie), and the patient does a live session from a shared clip (Chromium's fake camera).
Every rep is in the database as it completes. The therapist comes back in the same
browser (still signed in), finds the session in the patient's progress and Sessions tab
(with the replay) and in the PDF report; a made-up patient id in the address is refused.

With COACH_E2E_SCREENSHOTS=DIR the pages are also saved as PNGs there.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from coach.accounts import ADMIN
from coach.prescription import Prescription
from coach.records import SessionStatus
from coach.services import build_services
from coach.services.config import AppConfig
from tests.test_browser_e2e import (
    PAD_START_S,
    StreamlitServer,
    _check_prerequisites,
    chromium_page,
    e2e_params,
    make_fake_camera,
    run_live,
)

PASSWORD = "a long enough password"


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("COACH_E2E_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def _wait_text(page: Any, text: str, timeout_s: float = 30.0) -> None:
    page.get_by_text(text, exact=False).first.wait_for(timeout=timeout_s * 1000)


def _sign_in_therapist(page: Any, url: str) -> None:
    page.goto(f"{url}/signin", wait_until="domcontentloaded")
    page.get_by_role("tab", name="I am a therapist").click()
    page.get_by_label("Email").fill("ann@clinic.example")
    page.locator("input[type=password]").last.fill(PASSWORD)
    page.get_by_role("button", name="Sign in").last.click()
    _wait_text(page, "You are signed in as")
    page.wait_for_function("() => document.cookie.includes('coach_signin=')")


def _choose(page: Any, label: str, option: str) -> None:
    """Pick an option of a Streamlit selectbox by its visible text."""
    page.get_by_label(label).first.click()
    page.get_by_role("option", name=option).first.click()


def _therapist_adds_patient_and_plan(
    page: Any, url: str, exercise_name: str, default_sets: int, reps: int
) -> str:
    """In the browser: sign in, add Maria, prescribe; returns her invitation code."""
    _sign_in_therapist(page, url)
    page.goto(f"{url}/", wait_until="domcontentloaded")  # Patients: the therapist's default
    _wait_text(page, "No patients yet")
    page.get_by_label("Name").fill("Maria Lopez")
    page.get_by_text("left", exact=True).first.click()  # the clip's near leg
    page.get_by_role("button", name="Add patient").click()
    _wait_text(page, "Their invitation code is")
    text = page.get_by_text("Their invitation code is").first.inner_text()
    code = text.split("code is")[1].split(":")[0].strip()
    _choose(page, "Open a patient", "Maria Lopez")
    _wait_text(page, "No exercises prescribed yet.")
    _choose(page, "Exercise", exercise_name)
    # The exercise's own form replaces the previous one (a different default dose): wait
    # until only it is left.
    page.wait_for_function(
        "(sets) => { const f = document.querySelectorAll('input[aria-label=\"Sets\"]');"
        " return f.length === 1 && f[0].value === sets; }",
        arg=str(default_sets),
    )
    for label, value in (("Sets", "1"), ("Reps", str(reps)), ("Days a week", "5")):
        field = page.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Tab")  # a number input takes its value when it loses focus
    page.get_by_role("button", name="Save to plan").click()
    _wait_text(page, "Saved:")
    return code


def test_patient_session_reaches_the_therapist_dashboard_and_report(tmp_path: Path) -> None:
    params = e2e_params()
    _check_prerequisites(params)
    data_dir = tmp_path / "data"
    services = build_services(AppConfig(data_dir=data_dir))
    services.clinic.add_therapist(ADMIN, "ann@clinic.example", "Ann Smith", PASSWORD)
    ann = services.clinic.sign_in_therapist("ann@clinic.example", PASSWORD)
    exercise = services.sessions.exercises()[params.exercise]
    exercise_name = exercise.name
    first = next(iter(services.sessions.exercises().values()))
    assert first.dose.sets != exercise.dose.sets  # the test can tell the two forms apart
    camera = make_fake_camera(params.clip, tmp_path)
    env = {"COACH_DATA_DIR": str(data_dir), "COACH_DATABASE_URL": ""}
    try:
        with StreamlitServer(tmp_path / "server.log", env=env) as server:
            with chromium_page(camera.path, tmp_path / "profile-therapist") as page:
                code = _therapist_adds_patient_and_plan(
                    page, server.url, exercise_name, exercise.dose.sets, params.reps
                )
            [patient] = services.clinic.patients(ann)
            pid = patient.id
            [rx] = services.clinic.plan(ann, pid)
            assert (rx.exercise_id, rx.sets, rx.reps, rx.per_week) == (
                params.exercise, 1, params.reps, 5,
            )  # fmt: skip
            assert patient.affected_side == "left"
            with chromium_page(camera.path, tmp_path / "profile-patient") as page:
                page.goto(f"{server.url}/signin", wait_until="domcontentloaded")
                page.get_by_label("Invitation code from your therapist").fill(code)
                page.get_by_role("button", name="Sign in with my code").click()
                _wait_text(page, "You are signed in as")
                page.wait_for_function("() => document.cookie.includes('coach_signin=')")
                # run_live reloads the page: the cookie keeps the patient signed in.
                settle_s = PAD_START_S + camera.clip_s + 4.0

                def done(run: Any, now: float) -> bool:
                    return (run.count_at(now) or 0) >= params.reps and now > settle_s - 2

                run = run_live(
                    page, server.url, params.exercise, until_s=settle_s + 6, stop_when=done
                )
                reps_shown = run.count_at(settle_s + 6) or 0
                assert reps_shown >= params.reps - 1, (run.readings[::8], server.log())
                _wait_text(page, "Your plan this week")
                _shot(page, "patient-live.png")
            # Every rep shown was committed as it completed.
            [record] = services.store.sessions_of(pid)
            assert record.source.value == "live" and len(record.reps) >= reps_shown
            assert record.side == "left"
            deadline = time.monotonic() + 10
            while not services.store.session(record.id).trace and time.monotonic() < deadline:  # type: ignore[union-attr]
                time.sleep(0.5)
            # The therapist comes back later: the same browser is still signed in (cookie).
            with chromium_page(camera.path, tmp_path / "profile-therapist") as page:
                page.goto(f"{server.url}/", wait_until="domcontentloaded")
                _wait_text(page, "Your patients")
                _wait_text(page, "Open a patient")
                time.sleep(1.5)  # the table is drawn on a canvas: let it paint
                _shot(page, "patients.png")
                page.goto(f"{server.url}/?patient={pid}", wait_until="domcontentloaded")
                page.get_by_role("tab", name="Progress").click()
                _wait_text(page, "Adherence, last 8 weeks")
                _shot(page, "patient-progress.png")
                page.get_by_role("tab", name="Sessions").click()
                _wait_text(page, "Replay")
                page.wait_for_function(
                    "() => [...document.querySelectorAll('iframe, div')].length > 0"
                )
                time.sleep(2)
                _shot(page, "session-replay.png")
                # Another therapist's view of a made-up id: refused in words.
                page.goto(f"{server.url}/?patient={'0' * 32}", wait_until="load")
                _wait_text(page, "You do not have access to this patient's records.")
        pdf = services.reports.pdf(ann, pid)
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
        assert "Maria Lopez" in text and record.exercise_name.split(" (")[0] in text
        folder = os.environ.get("COACH_E2E_SCREENSHOTS")
        if folder:
            (Path(folder) / "report.pdf").write_bytes(pdf)
    finally:
        camera.path.unlink(missing_ok=True)
        for profile in tmp_path.glob("profile-*"):
            shutil.rmtree(profile, ignore_errors=True)


def test_server_killed_mid_set_keeps_every_rep_and_the_reload_rejoins(tmp_path: Path) -> None:
    """The crash test on the real server: `kill -9` of `streamlit run` mid-set; a new server
    on the same database; the patient's reload continues the same session."""
    params = e2e_params()
    _check_prerequisites(params)
    data_dir = tmp_path / "data"
    services = build_services(AppConfig(data_dir=data_dir))
    services.clinic.add_therapist(ADMIN, "ann@clinic.example", "Ann Smith", PASSWORD)
    new = services.clinic.add_patient(
        ADMIN, "Maria Lopez", "left", therapist_email="ann@clinic.example"
    )
    pid = new.patient.id
    services.clinic.set_prescription(
        ADMIN, pid, Prescription(params.exercise, sets=1, reps=params.reps, per_week=5)
    )
    camera = make_fake_camera(params.clip, tmp_path)
    env = {"COACH_DATA_DIR": str(data_dir), "COACH_DATABASE_URL": ""}
    shown = 0
    try:
        with chromium_page(camera.path, tmp_path / "profile-patient") as page:
            with StreamlitServer(tmp_path / "server-1.log", env=env) as server:
                page.goto(f"{server.url}/signin", wait_until="domcontentloaded")
                page.get_by_label("Invitation code from your therapist").fill(new.invite_code)
                page.get_by_role("button", name="Sign in with my code").click()
                _wait_text(page, "You are signed in as")
                page.wait_for_function("() => document.cookie.includes('coach_signin=')")

                def mid_set(run: Any, now: float) -> bool:
                    return (run.count_at(now) or 0) >= 4

                run = run_live(page, server.url, params.exercise, until_s=60, stop_when=mid_set)
                shown = run.count_at(1e9) or 0
                assert server.proc is not None
                server.proc.send_signal(signal.SIGKILL)  # mid-set: no goodbye, no flush
                server.proc.wait(10)
            assert 4 <= shown < params.reps, run.readings[::8]
            [record] = services.store.sessions_of(pid)
            assert record.status is SessionStatus.IN_PROGRESS
            assert len(record.reps) >= shown, (len(record.reps), shown)
            assert [r.number for r in record.reps] == list(range(1, len(record.reps) + 1))
            # A new server on the same records; the patient's page reloads and rejoins.
            with StreamlitServer(tmp_path / "server-2.log", env=env) as server:
                page.goto(f"{server.url}/?exercise={params.exercise}", wait_until="load")
                _wait_text(page, "your session continues with the", timeout_s=60)
                _shot(page, "patient-rejoined.png")
        [again] = services.store.sessions_of(pid)
        assert again.id == record.id  # the same session, not a new one
    finally:
        camera.path.unlink(missing_ok=True)
        for profile in tmp_path.glob("profile-*"):
            shutil.rmtree(profile, ignore_errors=True)
