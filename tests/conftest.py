"""Shared test fixtures: paths to the shared models and clips, synthetic poses."""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from coach.landmarks import Keypoint, Landmark, Pose

REPO = Path(__file__).resolve().parents[1]
CLIPS = Path(os.environ.get("COACH_CLIPS_DIR", REPO.parent / "shared" / "clips"))
os.environ.setdefault("COACH_MODELS_DIR", str(REPO.parent / "shared" / "models"))
# The app's records during tests: a throwaway folder, never the user's own data folder.
os.environ["COACH_DATA_DIR"] = tempfile.mkdtemp(prefix="coach-test-data-")
os.environ.pop("COACH_DATABASE_URL", None)


def wait_until(condition: Callable[[], object], timeout_s: float = 10.0) -> float:
    """Poll `condition()` until it is truthy (a background thread's work); the seconds it
    took. Fails the test on timeout."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout_s, "timed out"
        time.sleep(0.01)
    return time.monotonic() - start


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m coach ARGS` as a user runs it (quiet by default: no COACH_DEBUG)."""
    environ = {k: v for k, v in os.environ.items() if k != "COACH_DEBUG"}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "coach", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=environ,
    )


@pytest.fixture(scope="session")
def clips_dir() -> Path:
    assert CLIPS.is_dir(), f"shared clips not found at {CLIPS} (set COACH_CLIPS_DIR)"
    return CLIPS


def side_view_pose(
    ankle_deg: float = 0.0,
    *,
    knee_deg: float = 90.0,
    heel_lift_px: float = 0.0,
    width: int = 640,
    height: int = 480,
    frontal: float = 0.05,
    foot_visibility: float = 0.95,
    shift_x: float = 0.0,
    standing: bool = False,
) -> Pose:
    """A seated person seen side-on, facing right, with a chosen ankle dorsiflexion angle.

    The left leg is the near one (lower z). `frontal` is the shoulder separation as
    a fraction of torso length (large = not side-on). `standing`: the thigh hangs
    straight down from the hip and the knee is straight (`knee_deg` is ignored).
    """
    torso = 160.0
    hip = (250.0 + shift_x, 300.0 if not standing else 130.0)
    shoulder_mid = (hip[0], hip[1] - torso)
    thigh = 140.0
    knee = (hip[0] + thigh, hip[1]) if not standing else (hip[0], hip[1] + thigh)
    shank = 110.0
    # Shank direction: straight down for knee_deg = 90 (seated), along the thigh for 0.
    a = math.radians(knee_deg if not standing else 90.0)
    down = (math.cos(a), math.sin(a))
    ankle = (knee[0] + shank * down[0], knee[1] + shank * down[1])
    # Foot perpendicular to the shank at 0 deg; dorsiflexion turns the toes towards the shin.
    shank_dir = math.atan2(knee[1] - ankle[1], knee[0] - ankle[0])
    foot_dir = shank_dir + math.radians(90 - ankle_deg)
    fu = (math.cos(foot_dir), math.sin(foot_dir))
    heel = (
        ankle[0] + 14 * down[0] - 12 * fu[0],
        ankle[1] + 14 * down[1] - 12 * fu[1] - heel_lift_px,
    )
    toe = (heel[0] + 60 * fu[0], heel[1] + 60 * fu[1])
    pts: dict[Landmark, tuple[float, float, float, float]] = {}
    half = frontal * torso / 2
    for lm in Landmark:
        pts[lm] = (shoulder_mid[0], shoulder_mid[1] - 40, 0.0, 0.9)
    near = {"hip": hip, "knee": knee, "ankle": ankle, "heel": heel, "toe": toe}
    names = {
        "hip": (Landmark.LEFT_HIP, Landmark.RIGHT_HIP),
        "knee": (Landmark.LEFT_KNEE, Landmark.RIGHT_KNEE),
        "ankle": (Landmark.LEFT_ANKLE, Landmark.RIGHT_ANKLE),
        "heel": (Landmark.LEFT_HEEL, Landmark.RIGHT_HEEL),
        "toe": (Landmark.LEFT_FOOT_INDEX, Landmark.RIGHT_FOOT_INDEX),
    }
    for name, (left, right) in names.items():
        x, y = near[name]
        vis = foot_visibility if name in ("ankle", "heel", "toe") else 0.95
        pts[left] = (x, y, -30.0, vis)
        pts[right] = (x + 3, y - 2, 30.0, 0.3)
    pts[Landmark.LEFT_SHOULDER] = (shoulder_mid[0] - half, shoulder_mid[1], -20.0, 0.95)
    pts[Landmark.RIGHT_SHOULDER] = (shoulder_mid[0] + half, shoulder_mid[1], 20.0, 0.5)
    pts[Landmark.LEFT_HIP] = (hip[0] - half / 2, hip[1], -20.0, 0.95)
    pts[Landmark.RIGHT_HIP] = (hip[0] + half / 2, hip[1], 20.0, 0.5)
    return Pose(
        tuple(Keypoint(x, y, z, v, 0.99) for x, y, z, v in (pts[lm] for lm in Landmark)),
        width,
        height,
    )


def ankle_trace(t: float, still_s: float = 3.0, rep_s: float = 3.0) -> float:
    """A session's ankle angle at `t` (degrees from neutral).

    Still at neutral for `still_s`, then one rep every `rep_s`: up to +15, hold, down
    to -10 and back.
    """
    if t < still_s:
        return 0.0
    ph = (t - still_s) % rep_s
    if ph < 1.0:
        return 15 * ph
    if ph < 1.5:
        return 15.0
    if ph < 2.5:
        return 15 - 25 * (ph - 1.5)
    return -10 + 10 * (ph - 2.5) / (rep_s - 2.5)


@contextlib.contextmanager
def mount_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A small RAM file system at `where`, for real "disk full" cases (needs root, as CI is)."""
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, f"cannot mount a tmpfs (run as root): {done.stderr.decode()}"
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture(autouse=True)
def _keep_main_module() -> Iterator[None]:
    """Put back ``sys.modules["__main__"]`` after each test.

    `AppTest` runs a page script as ``__main__`` and leaves it there; a spawned pose
    worker started by a later test would then re-run that script (and fail in it).
    """
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


from typing import TYPE_CHECKING  # noqa: E402  (appended section)

# --- databases (coach.storage): a real SQLite file and a real PostgreSQL server ----------

if TYPE_CHECKING:
    from coach.storage import Store


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL server for the whole run (throwaway, or COACH_TEST_POSTGRES_URL)."""
    from tests.pg_server import NOT_INSTALLED, PgError, find_pg_bin, postgres_server

    if not os.environ.get("COACH_TEST_POSTGRES_URL") and find_pg_bin() is None:
        pytest.fail(NOT_INSTALLED)
    try:
        with postgres_server() as url:
            yield url
    except PgError as error:
        pytest.fail(f"cannot start a PostgreSQL server for the tests: {error}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database: a file in tmp_path, or a new database on the server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'coach.db'}"
        return
    from tests.pg_server import fresh_database

    with fresh_database(request.getfixturevalue("pg_url")) as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A fresh `coach.storage.Store` with its schema at head, on SQLite and on PostgreSQL."""
    from coach.storage import open_database

    opened = open_database(db_url)
    try:
        yield opened
    finally:
        opened.close()
