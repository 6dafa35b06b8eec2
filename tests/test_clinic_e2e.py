"""Therapist and patient end to end in a real browser, on a real database.

A therapist, a patient and a plan are made with the admin services; the app runs with
`streamlit run` on 127.0.0.1; in headless Chromium the patient signs in with the
invitation code, the page is reloaded (the sign-in survives in a cookie), and the
patient does a live session from a shared clip (Chromium's fake camera). Every rep is
in the database as it completes. Then the therapist signs in in a fresh browser, finds
the session in the patient's Sessions tab (with the replay) and in the PDF report.

With COACH_E2E_SCREENSHOTS=DIR the pages are also saved as PNGs there (docs/screenshots).
"""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from coach.accounts import ADMIN
from coach.prescription import Prescription
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


def test_patient_session_reaches_the_therapist_dashboard_and_report(tmp_path: Path) -> None:
    params = e2e_params()
    _check_prerequisites(params)
    data_dir = tmp_path / "data"
    services = build_services(AppConfig(data_dir=data_dir))
    services.clinic.add_therapist(ADMIN, "ann@clinic.example", "Ann Smith", PASSWORD)
    ann = services.clinic.sign_in_therapist("ann@clinic.example", PASSWORD)
    new = services.clinic.add_patient(ann, "Maria Lopez", "left")  # the clip's near leg
    pid = new.patient.id
    services.clinic.set_prescription(
        ann, pid, Prescription(params.exercise, sets=1, reps=params.reps, per_week=5)
    )
    camera = make_fake_camera(params.clip, tmp_path)
    env = {"COACH_DATA_DIR": str(data_dir), "COACH_DATABASE_URL": ""}
    try:
        with StreamlitServer(tmp_path / "server.log", env=env) as server:
            with chromium_page(camera.path, tmp_path / "profile-patient") as page:
                page.goto(f"{server.url}/signin", wait_until="domcontentloaded")
                page.get_by_label("Invitation code from your therapist").fill(new.invite_code)
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
            with chromium_page(camera.path, tmp_path / "profile-therapist") as page:
                page.goto(f"{server.url}/signin", wait_until="domcontentloaded")
                page.get_by_role("tab", name="I am a therapist").click()
                page.get_by_label("Email").fill("ann@clinic.example")
                page.locator("input[type=password]").last.fill(PASSWORD)
                page.get_by_role("button", name="Sign in").last.click()
                _wait_text(page, "You are signed in as")
                page.wait_for_function("() => document.cookie.includes('coach_signin=')")
                page.goto(f"{server.url}/", wait_until="domcontentloaded")  # Patients: the default page
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
