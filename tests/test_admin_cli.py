"""The admin CLI as a clinic runs it (real processes, a real SQLite file and a real
PostgreSQL server), and the crash test: a recording process killed with SIGKILL mid-set."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import CLIPS, REPO, run_cli
from tests.test_bad_input import assert_one_line_error

CLIP = CLIPS / "rendered" / "seated_pumps_side.mp4"


def _env(db_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "COACH_DATABASE_URL": db_url,
        "COACH_DATA_DIR": str(tmp_path / "data"),
        "COACH_PASSWORD": "a long enough password",
        **extra,
    }


def test_a_clinic_from_empty_database_to_report(db_url: str, tmp_path: Path) -> None:
    env = _env(db_url, tmp_path)
    up = run_cli("db", "upgrade", env=env)
    assert up.returncode == 0, up.stderr
    add = run_cli("therapist", "add", "ann@clinic.example", "--name", "Ann Smith", env=env)
    assert add.returncode == 0, add.stderr
    dup = run_cli("therapist", "add", "ANN@clinic.example", "--name", "Ann again", env=env)
    assert_one_line_error(dup, "already registered")
    patient = run_cli(
        "patient", "add", "--therapist", "ann@clinic.example", "--name", "Maria Lopez",
        "--side", "left", env=env,
    )  # fmt: skip
    assert patient.returncode == 0, patient.stderr
    lines = patient.stdout.splitlines()
    pid = lines[0].strip()
    assert len(pid) == 32 and "invitation code" in lines[1]
    plan = run_cli(
        "plan", "set", pid, "--exercise", "range_of_motion", "--sets", "2", "--reps", "5",
        "--per-week", "5", env=env,
    )  # fmt: skip
    assert plan.returncode == 0 and "2 x 5" in plan.stdout, plan.stderr
    bad = run_cli("plan", "set", pid, "--exercise", "range_of_motion", "--sets", "0",
                  "--reps", "5", env=env)  # fmt: skip
    assert_one_line_error(bad, "--sets", "between 1 and 10")
    imported = run_cli(
        "session", "import", pid, str(CLIP), "--exercise", "range_of_motion",
        "--model", "full", "--fps", "10", env=env,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert "10 reps" in imported.stdout
    pdf, csv_path = tmp_path / "out" / "report.pdf", tmp_path / "out" / "report.csv"
    pdf.parent.mkdir()
    report = run_cli("report", pid, "--pdf", str(pdf), "--csv", str(csv_path), env=env)
    assert report.returncode == 0, report.stderr
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.read_bytes())).pages)
    assert "Maria Lopez" in text and "Ankle range of motion" in text and "Ann Smith" in text
    assert len(csv_path.read_text(encoding="utf-8").splitlines()) == 1 + 10
    out = tmp_path / "out" / "export.json"
    exported = run_cli("patient", "export", pid, "--json", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["patient"]["name"] == "Maria Lopez"
    [session] = doc["sessions"]
    assert session["source"] == "video" and session["source_name"] == CLIP.name
    assert len(session["reps"]) == 10 and session["unit"] == "pct_shank"
    refused = run_cli("patient", "erase", pid, env=env)  # no --yes and no terminal
    assert_one_line_error(refused, "--yes")
    erased = run_cli("patient", "erase", pid, "--yes", env=env)
    assert erased.returncode == 0, erased.stderr
    gone = run_cli("patient", "export", pid, "--json", str(out), env=env)
    assert_one_line_error(gone, "no patient")
    assert json.loads(out.read_text(encoding="utf-8"))["patient"]["name"] == "Maria Lopez"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("patient", "add", "--therapist", "nobody@x.example", "--name", "A"), ("No therapist",)),
        (("therapist", "add", "not-an-email", "--name", "A"), ("not an email",)),
        (
            (
                "plan",
                "set",
                "f" * 32,
                "--exercise",
                "range_of_motion",
                "--sets",
                "1",
                "--reps",
                "1",
            ),
            ("no patient",),
        ),
        (("report", "f" * 32, "--pdf", "/proc/nope/r.pdf"), ("cannot save r.pdf",)),
    ],
)
def test_admin_errors_are_one_plain_line(
    args: tuple[str, ...], words: tuple[str, ...], tmp_path: Path
) -> None:
    env = _env(f"sqlite:///{tmp_path / 'coach.db'}", tmp_path)
    assert run_cli("db", "upgrade", env=env).returncode == 0
    assert_one_line_error(run_cli(*args, env=env), *words)


def test_a_database_made_by_a_newer_version_is_refused(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'coach.db'}"
    env = _env(url, tmp_path)
    assert run_cli("db", "upgrade", env=env).returncode == 0
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    proc = run_cli("patient", "add", "--therapist", "a@b.example", "--name", "X", env=env)
    assert_one_line_error(proc, "newer version")
    assert "COACH_" not in proc.stderr


def test_a_database_that_cannot_be_reached_is_said_plainly(tmp_path: Path) -> None:
    env = _env("postgresql://coach@127.0.0.1:1/none", tmp_path)
    proc = run_cli("therapist", "add", "a@b.example", "--name", "A", env=env)
    assert_one_line_error(proc, "cannot be reached")


# -- crash: a real process, a real kill -9 mid-set -------------------------------------------

_RECORDER = r"""
import os, time
from coach.accounts import ADMIN
from coach.events import RepCompleted
from coach.prescription import Prescription
from coach.services import build_services
from tests.conftest import ankle_trace, side_view_pose

os.environ["COACH_DATABASE_URL"] = os.environ["CRASH_DATABASE_URL"]  # conftest resets it

services = build_services()
t = services.clinic.add_therapist(ADMIN, "ann@clinic.example", "Ann", "a long enough password")
patient = services.clinic.add_patient(ADMIN, "Maria", "right", therapist_email="ann@clinic.example")
services.clinic.set_prescription(ADMIN, patient.patient.id, Prescription("range_of_motion", 3, 10))
session, recorder = services.sessions.start_live(
    ADMIN, patient.patient.id, "range_of_motion", calibrate=False
)
session.bus.subscribe(
    lambda e: print(f"rep {e.rep.number} {session.session_id}", flush=True)
    if isinstance(e, RepCompleted) else None
)
start = time.monotonic()
i = 0
while True:  # real time, 30 frames a second, until killed
    t_s = i / 30
    session.process_pose(side_view_pose(ankle_trace(t_s, rep_s=1.5)), t_s, 120)
    i += 1
    time.sleep(max(0.0, start + i / 30 - time.monotonic()))
"""


def test_kill_9_mid_set_loses_no_completed_rep(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, **_env(db_url, tmp_path), "CRASH_DATABASE_URL": db_url}
    proc = subprocess.Popen(
        [sys.executable, "-c", _RECORDER],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    announced: list[str] = []
    deadline = time.monotonic() + 60
    try:
        assert proc.stdout is not None
        while len(announced) < 4 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            announced.append(line.strip())
        time.sleep(0.3)  # mid-way through the next rep
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(announced) == 4, proc.stderr.read() if proc.stderr else ""
    session_id = announced[0].split()[2]
    from coach.records import SessionStatus
    from coach.storage import open_database

    store = open_database(db_url)
    try:
        record = store.session(session_id)
        assert record is not None and record.status is SessionStatus.IN_PROGRESS
        numbers = [r.number for r in record.reps]
        assert numbers[:4] == [1, 2, 3, 4], numbers  # every rep announced is stored
        assert record.trace, "the replay trace up to the last completed rep is stored"
        later = datetime.now(UTC) + timedelta(hours=1)
        assert store.mark_stale_sessions(later) == 1  # the next server start marks it
        after = store.session(session_id)
        assert after is not None and after.status is SessionStatus.INTERRUPTED
    finally:
        store.close()
