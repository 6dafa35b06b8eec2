"""Real processes, real kills: an analysis that dies leaves nothing running and no half files.

Each test starts the CLI (or a small script) in its own session without a terminal, as a
server or a cron job would, kills it with SIGKILL and then looks at /proc.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from coach.pose_batch import extract_poses
from coach.video import VideoWriter, open_video
from tests.conftest import CLIPS, REPO

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

CLIP = CLIPS / "rendered" / "xbot_seated_pumps_side.mp4"
FAST = ("--model", "lite")
"""These tests are about files and processes, not accuracy: the quickest model."""
needs_clip = pytest.mark.skipif(not CLIP.is_file(), reason=f"shared clip not found: {CLIP}")


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from the state on (index 0 = state), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[1] == str(pid) and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _reading(pid: int, path: Path) -> bool:
    """True once `pid` has `path` open (a pose worker opens the clip after its model)."""
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def _wait_for(what: str, check: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


def _start(args: list[str]) -> subprocess.Popen[bytes]:
    """`python -m coach ARGS` in a new session with no terminal and no output."""
    return subprocess.Popen(
        [sys.executable, "-m", "coach", *args],
        cwd=REPO,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill_all(proc: subprocess.Popen[bytes], others: list[int]) -> None:
    for pid in [proc.pid, *others]:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=10)


@pytest.fixture()
def spawned() -> Iterator[tuple[list[subprocess.Popen[bytes]], list[int]]]:
    """Processes started by a test and pids seen under them, all SIGKILLed afterwards."""
    procs: list[subprocess.Popen[bytes]] = []
    seen: list[int] = []
    yield procs, seen
    for proc in procs:
        _kill_all(proc, seen)


@needs_clip
def test_sigkill_of_the_cli_takes_its_pose_workers_and_resource_tracker_along(
    spawned: tuple[list[subprocess.Popen[bytes]], list[int]],
) -> None:
    procs, seen = spawned
    proc = _start(["analyze", str(CLIP), "--exercise", "range_of_motion", *FAST])
    procs.append(proc)

    def workers() -> list[int]:
        return [c for c in _children(proc.pid) if "spawn_main" in _cmdline(c)]

    _wait_for("two pose workers", lambda: len(workers()) == 2, 60)
    busy = workers()
    seen.extend(busy)
    # past start-up (imports, model load; a kill then ends them anyway): both are tracking
    _wait_for("the workers to track", lambda: all(_reading(w, CLIP) for w in busy), 60)
    tracker = [c for c in _children(proc.pid) if "resource_tracker" in _cmdline(c)]
    seen.extend(tracker)
    assert _alive(proc.pid), "the analysis ended before it could be killed"

    proc.kill()
    proc.wait(timeout=10)
    _wait_for(
        f"workers {busy} and tracker {tracker} to end",
        lambda: not any(_alive(pid) for pid in busy + tracker),
        10,
    )


def _child_pid_script(tmp_path: Path) -> Path:
    """A parent that spawns one pose-worker-like child and prints its pid."""
    script = tmp_path / "orphan_probe.py"
    script.write_text(
        "import multiprocessing as mp, os, sys, time\n"
        "from coach import pose_batch\n"
        "def child(parent_pid):\n"
        "    sys.platform = 'elsewhere'  # no prctl: only the portable watcher is left\n"
        "    pose_batch._die_with_parent(parent_pid)\n"
        "    time.sleep(120)\n"
        "if __name__ == '__main__':\n"
        "    p = mp.get_context('spawn').Process(target=child, args=(os.getpid(),))\n"
        "    p.start()\n"
        "    print(p.pid, flush=True)\n"
        "    time.sleep(120)\n"
    )
    return script


def test_without_prctl_the_watcher_thread_ends_the_worker(
    tmp_path: Path, spawned: tuple[list[subprocess.Popen[bytes]], list[int]]
) -> None:
    procs, seen = spawned
    proc = subprocess.Popen(
        [sys.executable, str(_child_pid_script(tmp_path))],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    procs.append(proc)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    seen.append(child)

    def watching() -> bool:
        status = Path(f"/proc/{child}/status").read_text()
        return int(status.split("Threads:")[1].split()[0]) >= 2

    _wait_for("the parent-watch thread", watching, 30)
    proc.kill()
    proc.wait(timeout=10)
    _wait_for(f"worker {child} to end", lambda: not _alive(child), 5)


def test_a_worker_whose_parent_is_already_gone_exits_at_once() -> None:
    # pid 1 is never our parent: as if the parent died before the worker got going
    done = subprocess.run(
        [sys.executable, "-c", "from coach import pose_batch; pose_batch._die_with_parent(1)\n"
         "print('still running')"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (1, "")


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 18 s of the clip: 540 frames, enough for two workers, quicker to track."""
    out = tmp_path_factory.mktemp("clip") / "short.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(CLIP), "-t", "18", "-c:v", "libx264",
         "-preset", "ultrafast", "-an", str(out)],
        check=True,
        timeout=120,
    )  # fmt: skip
    return out


@needs_clip
def test_parallel_poses_come_back_in_order_with_progress(short_clip: Path) -> None:
    seen: list[tuple[int, int]] = []
    poses = extract_poses(short_clip, workers=2, progress=lambda d, n: seen.append((d, n)))
    with open_video(short_clip) as src:
        total = src.frame_count
    assert len(poses) == total
    stamps = [t for t, _ in poses]
    assert stamps == sorted(stamps) and len(set(stamps)) == total
    assert sum(p is not None for _, p in poses) > 0.9 * total
    assert seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@needs_clip
def test_a_worker_killed_mid_way_is_reported(short_clip: Path) -> None:
    killed: list[int] = []

    def progress(done: int, total: int) -> None:
        if not killed:
            victim = next(c for c in _children(os.getpid()) if "spawn_main" in _cmdline(c))
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"pose worker stopped unexpectedly \(-9\)"):
        extract_poses(short_clip, workers=2, progress=progress)
    assert time.monotonic() - started < 60
    # and the other worker did not outlive the call
    assert not [c for c in _children(os.getpid()) if "spawn_main" in _cmdline(c)]


@needs_clip
def test_an_error_in_a_worker_is_raised_in_the_caller(short_clip: Path) -> None:
    with pytest.raises(Exception, match="no-such-model"):
        extract_poses(short_clip, workers=2, model="no-such-model")
    assert not [c for c in _children(os.getpid()) if "spawn_main" in _cmdline(c)]


def _temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".coach-tmp-" in p.name]


@needs_clip
def test_sigkill_while_writing_the_annotated_video_leaves_the_previous_one(
    tmp_path: Path, short_clip: Path, spawned: tuple[list[subprocess.Popen[bytes]], list[int]]
) -> None:
    procs, seen = spawned
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "out.mp4"
    with VideoWriter(out, 30.0) as writer, open_video(short_clip) as src:
        for i, (_, frame) in enumerate(src):
            if i == 10:
                break
            writer.write(frame)
    previous = out.read_bytes()

    proc = _start(
        ["analyze", str(CLIP), "--exercise", "range_of_motion", *FAST, "--annotated", str(out)]
    )
    procs.append(proc)
    _wait_for("the annotated pass", lambda: bool(_temp_files(out_dir)), 120)
    (tmp,) = _temp_files(out_dir)
    assert f".coach-tmp-{proc.pid}-" in tmp.name
    children = _children(proc.pid)
    seen.extend(children)
    assert not [c for c in children if "ffmpeg" in _cmdline(c)], "an ffmpeg child is running"
    assert _alive(proc.pid), "the analysis ended before it could be killed"

    proc.kill()
    proc.wait(timeout=10)
    _wait_for("its children to end", lambda: not any(_alive(c) for c in children), 10)
    assert out.read_bytes() == previous  # the killed run replaced nothing

    # the next run in the same folder tidies up what the killed one left
    again = _start(["analyze", str(short_clip), "--exercise", "range_of_motion", *FAST,
                    "--annotated", str(out)])  # fmt: skip
    procs.append(again)
    assert again.wait(timeout=180) == 0
    assert _temp_files(out_dir) == []
    with open_video(out) as src, open_video(short_clip) as original:
        assert src.frame_count == original.frame_count
        assert sum(1 for _ in src) == original.frame_count
