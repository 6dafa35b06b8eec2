"""Storage benchmark: what recording costs the camera path, and how far the dashboard scales.

    .venv/bin/python benchmarks/storage_bench.py                    # SQLite, 500 sessions
    .venv/bin/python benchmarks/storage_bench.py --sessions 2000
    .venv/bin/python benchmarks/storage_bench.py --postgres auto    # also a throwaway PostgreSQL
    .venv/bin/python benchmarks/storage_bench.py --postgres postgresql://user@host/db

1. Camera path: a `LiveSession` fed synthetic side-on poses (tests/conftest.py) for
   `--seconds` of session time at 30 fps, paced in real time, once with no recorder and
   once recorded as the app does it (`services.sessions.start_live`: the recorder behind
   a `BackgroundSubscriber`). Per-frame `process_pose` time (mean, p99) in both, and
   how long after each `RepCompleted` event its rep is committed (the store's `add_rep`
   is wrapped to time-stamp the commit). The same frames fed flat out (no
   pacing, both ways) to show the recorder falling behind: samples dropped, reps delayed,
   never lost. "x" compares with no recorder at the same pacing.
2. Dashboard: one patient with `--sessions` stored sessions (10 reps and a 33 s trace
   each, spread over a year); time the history list, one session with its trace, the
   range trend and the PDF report.

`--postgres URL` must allow CREATE DATABASE: each part runs in a fresh database that is
dropped afterwards (as the tests' COACH_TEST_POSTGRES_URL). Prints figures, never
asserts: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("COACH_MODELS_DIR", str(REPO.parent / "shared" / "models"))

from coach.accounts import ADMIN  # noqa: E402
from coach.events import RepCompleted, SessionEvent  # noqa: E402
from coach.exercise import Exercise  # noqa: E402
from coach.landmarks import Pose  # noqa: E402
from coach.live_session import LiveSession, dose_of  # noqa: E402
from coach.records import (  # noqa: E402
    RepRecord,
    SessionRecord,
    SessionSource,
    SessionStatus,
    TraceFrame,
    Unit,
    utc_now,
)
from coach.services import Services, build_services  # noqa: E402
from coach.services.config import AppConfig  # noqa: E402
from coach.trends import exercise_trend  # noqa: E402
from tests.conftest import ankle_trace, side_view_pose  # noqa: E402

EXERCISE = "range_of_motion"
FPS = 30
PASSWORD = "correct horse battery"
THERAPIST = "bench@clinic.example"
T = TypeVar("T")


# -- set-up ---------------------------------------------------------------------------------


@contextlib.contextmanager
def opened(url: str | None) -> Iterator[Services]:
    """Services over a fresh database: SQLite in a temporary folder, or a new PostgreSQL
    database on the server at `url` (dropped afterwards)."""
    with tempfile.TemporaryDirectory(prefix="coach-storage-bench-") as tmp:
        if url is None:
            services = build_services(AppConfig(data_dir=Path(tmp)))
            try:
                yield services
            finally:
                services.store.close()
            return
        from tests.pg_server import fresh_database

        with fresh_database(url) as db_url:
            services = build_services(AppConfig(data_dir=Path(tmp), database_url=db_url))
            try:
                yield services
            finally:
                services.store.close()


def new_patient(services: Services) -> str:
    if services.store.therapist_by_email(THERAPIST) is None:
        services.clinic.add_therapist(ADMIN, THERAPIST, "Dr Bench", PASSWORD)
    name = f"Patient {uuid.uuid4().hex[:6]}"
    # The synthetic person faces right, the right leg nearest the camera.
    return services.clinic.add_patient(ADMIN, name, "right", therapist_email=THERAPIST).patient.id


# -- 1. the camera path ---------------------------------------------------------------------


@dataclass
class CameraRun:
    label: str
    paced: bool
    frame_ms: list[float]
    reps: int = 0
    commit_ms: list[float] | None = None
    dropped: int | None = None
    wall_s: float = 0.0

    @property
    def mean_ms(self) -> float:
        return float(np.mean(self.frame_ms))

    @property
    def p99_ms(self) -> float:
        return float(np.percentile(self.frame_ms, 99))


def poses(seconds: float) -> list[tuple[float, Pose]]:
    """The session's frames, made before timing (making a pose is not the camera's cost)."""
    out = []
    for i in range(int(seconds * FPS)):
        t = i / FPS
        out.append((t, side_view_pose(ankle_trace(t))))
    return out


def feed(session: LiveSession, frames: list[tuple[float, Pose]], paced: bool) -> list[float]:
    """Feed the frames as the camera thread does; per-frame `process_pose` time in ms."""
    times = []
    start = time.perf_counter()
    for t, pose in frames:
        if paced:
            wait = start + t - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        a = time.perf_counter()
        session.process_pose(pose, t, 120.0)
        times.append(1000 * (time.perf_counter() - a))
    return times


def unrecorded(services: Services, frames: list[tuple[float, Pose]], paced: bool) -> CameraRun:
    pid = new_patient(services)
    exercise, _ = services.sessions.effective(pid, EXERCISE)
    session = LiveSession(exercise, side="right", calibrate=False)
    start = time.perf_counter()
    times = feed(session, frames, paced)
    session.end()
    label = "no recorder, " + ("real time" if paced else "flat out")
    run = CameraRun(label, paced, times, reps=len(session.log.reps))
    run.wall_s = time.perf_counter() - start
    return run


def recorded(services: Services, frames: list[tuple[float, Pose]], paced: bool) -> CameraRun:
    pid = new_patient(services)
    store = services.store
    published: dict[int, float] = {}
    committed: dict[int, float] = {}
    lock = threading.Lock()
    add_rep = store.add_rep

    def timed_add_rep(session_id: str, rep: RepRecord, duration_s: float) -> None:
        add_rep(session_id, rep, duration_s)
        with lock:
            committed[rep.number] = time.perf_counter()

    store.add_rep = timed_add_rep  # type: ignore[method-assign]
    try:
        session, recorder = services.sessions.start_live(ADMIN, pid, EXERCISE, calibrate=False)

        def on_event(event: SessionEvent) -> None:
            if isinstance(event, RepCompleted):
                with lock:
                    published[event.rep.number] = time.perf_counter()

        # Subscribed after the recorder: it sees each event just after it is queued.
        session.bus.subscribe(on_event)
        start = time.perf_counter()
        times = feed(session, frames, paced)
        session.end()
        recorder.close(timeout_s=120.0)
        wall = time.perf_counter() - start
    finally:
        del store.add_rep  # back to the class's method
    stored = store.session(session.session_id, with_trace=True)
    assert stored is not None
    assert len(stored.reps) == len(session.log.reps), "a completed rep was not stored"
    latency = [1000 * (committed[n] - published[n]) for n in published if n in committed]
    label = "recorder, real time" if paced else "recorder, flat out"
    run = CameraRun(label, paced, times, len(stored.reps), latency, recorder.dropped, wall)
    run.label += f" ({len(stored.trace)}/{len(session.log.trace)} trace frames stored)"
    return run


def camera_part(url: str | None, seconds: float) -> list[CameraRun]:
    frames = poses(seconds)
    with opened(url) as services:
        # Warm up: the first session pays for imports, the exercise library, the connection.
        session, recorder = services.sessions.start_live(
            ADMIN, new_patient(services), EXERCISE, calibrate=False
        )
        feed(session, frames[: 5 * FPS], paced=False)
        recorder.close()
        return [
            unrecorded(services, frames, paced=True),
            recorded(services, frames, paced=True),
            unrecorded(services, frames, paced=False),
            recorded(services, frames, paced=False),
        ]


def print_camera(runs: list[CameraRun], seconds: float) -> None:
    print(f"\nCamera path: {seconds:.0f} s of session at {FPS} fps, process_pose per frame")
    head = ("run", "mean ms", "x", "p99 ms", "x", "reps", "commit med", "max ms", "dropped")
    print("{:58} {:>8} {:>5} {:>7} {:>5} {:>5} {:>10} {:>7} {:>8}".format(*head))
    for r in runs:
        base = next(b for b in runs if b.paced == r.paced)  # x: against no recorder
        if r.commit_ms:
            med = f"{statistics.median(r.commit_ms):10.1f}"
            top = f"{max(r.commit_ms):7.1f}"
        else:
            med, top = f"{'-':>10}", f"{'-':>7}"
        dropped = "-" if r.dropped is None else str(r.dropped)
        print(
            f"{r.label:58} {r.mean_ms:8.3f} {r.mean_ms / base.mean_ms:5.2f} {r.p99_ms:7.3f} "
            f"{r.p99_ms / base.p99_ms:5.2f} {r.reps:5} {med} {top} {dropped:>8}"
        )
    print(f"(wall time: {', '.join(f'{r.wall_s:.1f} s' for r in runs)})")


# -- 2. the dashboard -----------------------------------------------------------------------


def stored_session(pid: str, i: int, n: int, exercise: Exercise) -> SessionRecord:
    """Session `i` of `n`, a year ago to now: 3 s still, then 10 reps of 3 s, 10 Hz trace."""
    gain = 0.6 + 0.4 * i / max(1, n - 1)  # the range improves over the year
    reps = tuple(
        RepRecord(
            number=k + 1,
            set_no=k // 10 + 1,
            start_s=3.0 + 3 * k,
            end_s=6.0 + 3 * k,
            peak=15 * gain + 0.3 * (k % 3),
            range=25 * gain,
            hold_s=0.5,
            reached_target=gain > 0.8,
            peak_deg=15 * gain,
            rom_deg=25 * gain,
        )
        for k in range(10)
    )
    trace = []
    for j in range(330):
        t = j / 10
        a = np.radians(ankle_trace(t) * gain)
        ankle = (0.61, 0.85)
        toe = (ankle[0] + 0.12 * float(np.cos(a)), ankle[1] - 0.12 * float(np.sin(a)))
        points = ((0.39, 0.63), (0.61, 0.63), ankle, (0.58, 0.87), toe)
        trace.append(TraceFrame(t, ankle_trace(t) * gain, points))
    started = utc_now() - timedelta(days=365 * (n - i) / n, hours=1)
    return SessionRecord(
        id=uuid.uuid4().hex,
        patient_id=pid,
        exercise_id=EXERCISE,
        exercise_name=exercise.name,
        source=SessionSource.LIVE,
        started_at=started,
        unit=Unit.DEG,
        dose=dose_of(exercise),
        status=SessionStatus.COMPLETED,
        duration_s=33.0,
        side="right",
        camera="side_on",
        neutral_deg=2.0,
        reps=reps,
        trace=tuple(trace),
    )


def timed(call: Callable[[], T], repeat: int) -> tuple[float, T]:
    """Median wall time in ms of `repeat` calls, and the last result."""
    times = []
    for _ in range(max(1, repeat)):
        a = time.perf_counter()
        result = call()
        times.append(1000 * (time.perf_counter() - a))
    return statistics.median(times), result


def dashboard_part(url: str | None, n: int, repeat: int) -> list[tuple[str, float, str]]:
    with opened(url) as services:
        pid = new_patient(services)
        exercise, _ = services.sessions.effective(pid, EXERCISE)
        records = [stored_session(pid, i, n, exercise) for i in range(n)]
        a = time.perf_counter()
        for r in records:
            services.store.start_session(r)
        seed_ms = 1000 * (time.perf_counter() - a)
        store = services.store
        one = records[n // 2].id
        list_ms, sessions = timed(lambda: store.sessions_of(pid), repeat)
        assert len(sessions) == n
        one_ms, record = timed(lambda: store.session(one), repeat)
        assert record is not None and len(record.trace) == 330
        trend_ms, trend = timed(lambda: exercise_trend(sessions, EXERCISE), repeat)
        pdf_ms, pdf = timed(lambda: services.reports.pdf(ADMIN, pid), repeat)
        points = len(trend.points)
        return [
            ("seed: start_session (10 reps, 330 trace frames)", seed_ms, f"{seed_ms / n:.2f}"),
            ("store.sessions_of(pid), no trace", list_ms, f"{list_ms / n:.3f}"),
            ("store.session(id), 330 trace frames", one_ms, "-"),
            (f"exercise_trend ({points} points)", trend_ms, f"{trend_ms / n:.3f}"),
            (f"reports.pdf ({len(pdf) // 1024} kB)", pdf_ms, f"{pdf_ms / n:.2f}"),
        ]


def print_dashboard(rows: list[tuple[str, float, str]], n: int, repeat: int) -> None:
    print(f"\nDashboard: one patient, {n} sessions over a year (median of {repeat} calls)")
    print(f"{'call':50} {'ms':>9} {'ms/session':>11}")
    for what, ms, per in rows:
        print(f"{what:50} {ms:9.1f} {per:>11}")


# -- main -----------------------------------------------------------------------------------


def run(label: str, url: str | None, args: argparse.Namespace) -> None:
    print(f"\n== {label} ==")
    print_camera(camera_part(url, args.seconds), args.seconds)
    print_dashboard(dashboard_part(url, args.sessions, args.repeat), args.sessions, args.repeat)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=500, help="stored sessions (dashboard)")
    ap.add_argument("--seconds", type=float, default=60.0, help="session time (camera path)")
    ap.add_argument("--repeat", type=int, default=3, help="calls per dashboard timing")
    ap.add_argument("--postgres", metavar="URL", help="also on PostgreSQL ('auto': throwaway)")
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}   python {sys.version.split()[0]}")
    run("SQLite (file in a temporary folder)", None, args)
    if args.postgres == "auto":
        from tests.pg_server import postgres_server

        with postgres_server() as url:
            run("PostgreSQL (throwaway local server, fsync off)", url, args)
    elif args.postgres:
        from tests.pg_server import as_url

        run("PostgreSQL", as_url(args.postgres), args)


if __name__ == "__main__":
    main()
