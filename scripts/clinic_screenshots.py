"""Screenshots of the therapist's side for the docs: docs/screenshots/clinic-*.png.

    .venv/bin/python scripts/clinic_screenshots.py [--out docs/screenshots]

Makes a throwaway clinic in a temporary data folder: a therapist, a patient with a plan
of two exercises, five weeks of sessions imported from the shared rendered clips (real
analyses, dated a few days apart), a walk and a note. Then it starts the app on
127.0.0.1, signs the therapist in in headless Chromium (Debian's), and saves the patient
list, the progress tab, a session's replay and the PDF report's first page (with
pdftoppm, from Debian's poppler-utils, when it is installed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if not os.environ.get("COACH_MODELS_DIR") and (REPO.parent / "shared" / "models").is_dir():
    os.environ["COACH_MODELS_DIR"] = str(REPO.parent / "shared" / "models")

from coach.native_logs import quiet_native_logs  # noqa: E402

quiet_native_logs()  # before mediapipe loads: keep its log lines off the terminal

from coach.accounts import ADMIN  # noqa: E402
from coach.prescription import Prescription  # noqa: E402
from coach.services import build_services  # noqa: E402
from coach.services.config import AppConfig  # noqa: E402
from tests.test_browser_e2e import CLIPS, StreamlitServer, chromium_page  # noqa: E402

PASSWORD = "a long enough password"
# (clip, exercise) per session, oldest first: side-on, table-height and floor cameras.
SESSIONS = [
    ("rendered/xbot_seated_pumps_highcam.mp4", "range_of_motion"),
    ("rendered/seated_pumps_side.mp4", "range_of_motion"),
    ("rendered/standing_heelraise_side.mp4", "heel_raise_standing"),
    ("rendered/xbot_seated_pumps_side.mp4", "range_of_motion"),
    ("rendered/standing_heelraise_side.mp4", "heel_raise_standing"),
    ("rendered/seated_pumps_side.mp4", "range_of_motion"),
    ("rendered/xbot_seated_pumps_side.mp4", "range_of_motion"),
    ("rendered/michelle_standing_heelraise_oblique45.mp4", "heel_raise_standing"),
]


def seed(data_dir: Path) -> str:
    now = [datetime.now(UTC) - timedelta(days=33)]
    services = build_services(AppConfig(data_dir=data_dir), clock=lambda: now[0])
    services.clinic.add_therapist(ADMIN, "ann@clinic.example", "Ann Smith", PASSWORD)
    ann = services.clinic.sign_in_therapist("ann@clinic.example", PASSWORD)
    pid = services.clinic.add_patient(ann, "Maria Lopez", "left").patient.id
    services.clinic.set_prescription(
        ann, pid, Prescription("range_of_motion", 1, 10, per_week=3, notes="Slowly, full range")
    )
    raises = Prescription("heel_raise_standing", 2, 8, per_week=2)
    services.clinic.set_prescription(ann, pid, raises)
    for i, (clip, exercise) in enumerate(SESSIONS):
        now[0] += timedelta(days=4, hours=i % 3)
        record = services.sessions.import_video(
            ann, pid, CLIPS / clip, exercise, model="full", analysis_fps=15, side="auto"
        )
        print(f"{now[0]:%Y-%m-%d} {exercise}: {len(record.reps)} reps", flush=True)
    services.sessions.save_walk(
        ann,
        pid,
        {
            "duration_s": 12.0,
            "summary": {"steps": 16, "valid_steps": 14, "cadence_spm": 92.5, "step_s": 0.65},
            "flags": [{"id": "low_toe_clearance"}],
        },
        "walk.mp4",
    )
    services.clinic.add_note(ann, pid, "Good progress on the pumps; add a 3 s hold next week.")
    services.store.close()
    return pid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="coach-shots-") as tmp:
        work = Path(tmp)
        pid = seed(work / "data")
        env = {"COACH_DATA_DIR": str(work / "data"), "COACH_DATABASE_URL": ""}
        with (
            StreamlitServer(work / "server.log", env=env) as server,
            chromium_page(Path("/dev/null"), work / "profile", viewport=(1300, 1100)) as page,
        ):
            page.goto(f"{server.url}/signin", wait_until="domcontentloaded")
            page.get_by_role("tab", name="I am a therapist").click()
            page.get_by_label("Email").fill("ann@clinic.example")
            page.locator("input[type=password]").last.fill(PASSWORD)
            page.get_by_role("button", name="Sign in").last.click()
            page.get_by_text("You are signed in as").first.wait_for(timeout=30_000)
            page.wait_for_function("() => document.cookie.includes('coach_signin=')")
            page.goto(f"{server.url}/", wait_until="domcontentloaded")
            page.get_by_text("Open a patient").first.wait_for(timeout=30_000)
            time.sleep(2)
            page.screenshot(path=str(out / "clinic-patients.png"), full_page=True)
            page.goto(f"{server.url}/?patient={pid}", wait_until="domcontentloaded")
            page.get_by_role("tab", name="Progress").click()
            page.get_by_text("Adherence, last 8 weeks").first.wait_for(timeout=30_000)
            time.sleep(4)  # the charts draw after the page
            page.screenshot(path=str(out / "clinic-progress.png"), full_page=True)
            page.get_by_role("tab", name="Sessions").click()
            page.get_by_text("Replay").first.wait_for(timeout=30_000)
            time.sleep(2)
            page.get_by_role("button", name="Play").first.click()
            time.sleep(5)
            page.screenshot(path=str(out / "clinic-replay.png"), full_page=False)
        services = build_services(AppConfig(data_dir=work / "data"))
        pdf = services.reports.pdf(ADMIN, pid)
        (work / "report.pdf").write_bytes(pdf)
        if shutil.which("pdftoppm"):
            subprocess.run(
                ["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "2", str(work / "report.pdf"),
                 str(work / "report")],
                check=True,
            )  # fmt: skip
            for i, page_png in enumerate(sorted(work.glob("report-*.png")), 1):
                shutil.copy(page_png, out / f"clinic-report-page{i}.png")
        else:
            print("pdftoppm not found (apt-get install poppler-utils): no PDF page images")
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
