"""Pose extraction for a whole recorded video, on every core.

MediaPipe runs one landmarker on about one core, so on a 2-core laptop a file
is analysed twice as fast by splitting it into contiguous parts, each tracked
by its own landmarker in its own process (VIDEO mode needs frames in order, so
the parts are contiguous; each part starts with one fresh detection). The
per-frame processor then runs over the poses in order, exactly as it does live.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing import connection as mp_connection
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from coach.landmarks import Pose
from coach.native_logs import quiet_native_logs
from coach.pose import MediaPipePose, PoseEstimator
from coach.pose_models import DEFAULT_MODEL, check_model_file, resolve_model
from coach.video import open_video

Progress = Callable[[int, int], None]
TimedPose = tuple[float, Pose | None]

# Below this many frames, starting extra processes (about a second each) does not pay.
MIN_FRAMES_PER_WORKER = 240
PROGRESS_EVERY = 15
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def default_workers() -> int:
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))


def _extract_range(
    path: str,
    estimator: PoseEstimator,
    start: int,
    stop: int | None,
    tick: Callable[[int], None],
    every: int = 1,
) -> list[TimedPose]:
    out: list[TimedPose] = []
    with open_video(path) as src:
        for i, (t_s, frame) in enumerate(src):
            if i < start or i % every:
                continue
            if stop is not None and i >= stop:
                break
            out.append((t_s, estimator.detect(frame, t_s)))
            if len(out) % PROGRESS_EVERY == 0:
                tick(len(out))
    tick(len(out))  # the stage ends at its end, not at the last multiple of PROGRESS_EVERY
    return out


def _worker(
    path: str,
    model: str,
    start: int,
    stop: int | None,
    every: int,
    results: Connection,
    parent_pid: int,
) -> None:
    """Runs in a child process: one landmarker tracks frames [start, stop)."""
    _die_with_parent(parent_pid)
    quiet_native_logs()  # a filter of its own, before MediaPipe loads (see coach.native_logs)
    try:
        with MediaPipePose(model, mode="video") as est:
            poses = _extract_range(
                path, est, start, stop, lambda n: results.send(("progress", n)), every
            )
        results.send(("done", poses))
    except BaseException as exc:  # reported to the parent, which re-raises it
        with contextlib.suppress(OSError):  # the parent stopped listening: it knows already
            results.send(("error", _picklable(exc)))
    finally:
        results.close()


def _picklable(exc: BaseException) -> BaseException:
    """`exc` if it survives the trip to the parent, else a RuntimeError that says what it was."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker end as soon as the process that started it does, however it ends.

    A parent killed with SIGKILL runs no cleanup, and spawned workers would otherwise carry
    on for minutes holding a landmarker each. Linux: the kernel sends SIGKILL on the
    parent's death (strictly, the death of the thread that started us; `extract_poses`
    blocks that thread until the workers are done). Elsewhere, and as a second line: a
    thread waits on the spawn pipe that the parent holds open, which closes when it dies.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # it died before the line above took effect
        os._exit(1)
    parent = mp.parent_process()
    if parent is not None:
        threading.Thread(
            target=_exit_when_ready, args=(parent.sentinel,), name="parent-watch", daemon=True
        ).start()


def _exit_when_ready(sentinel: int) -> None:
    mp_connection.wait([sentinel])
    os._exit(1)


def extract_poses(
    path: Path,
    *,
    model: str = DEFAULT_MODEL,
    estimator: PoseEstimator | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    every: int = 1,
) -> list[TimedPose]:
    """(t_s, pose) for every `every`-th frame, in order. A given `estimator` runs here.

    `every` > 1 analyses fewer frames a second (a slow computer), as live analysis does
    when the machine is busy: the model tracks across the gaps, as it would live.
    """
    if every < 1:
        raise ValueError(f"every must be 1 or more, not {every}")
    with open_video(path) as src:
        total = src.frame_count
    n = workers if workers is not None else default_workers()
    analysed = -(-total // every)
    if estimator is not None or n <= 1 or analysed < n * MIN_FRAMES_PER_WORKER:
        tick = _ticker(progress, analysed)
        if estimator is not None:
            return _extract_range(str(path), estimator, 0, None, tick, every)
        with MediaPipePose(model, mode="video") as est:
            return _extract_range(str(path), est, 0, None, tick, every)
    # Find and check the model once, here: a missing or damaged file is one clear error
    # before any worker starts, not one per worker.
    model_path = resolve_model(model)
    check_model_file(model_path)
    return _extract_parallel(path, str(model_path), n, total, progress, every)


def _ticker(progress: Progress | None, total: int) -> Callable[[int], None]:
    return (lambda done: progress(done, total)) if progress is not None else (lambda _: None)


def _extract_parallel(
    path: Path, model: str, n: int, total: int, progress: Progress | None, every: int = 1
) -> list[TimedPose]:
    # spawn: never fork a process that holds MediaPipe threads. One pipe per worker rather
    # than an mp.Queue: no named semaphores for the resource tracker to mop up after a kill,
    # and a worker that dies shows up at once as the end of its pipe.
    ctx = mp.get_context("spawn")
    bounds = [round(k * total / n) for k in range(n)] + [None]
    procs: list[BaseProcess] = []
    readers: dict[Connection, int] = {}
    parts: dict[int, list[TimedPose]] = {}
    done_by_part: dict[int, int] = {}
    try:
        for k in range(n):
            reader, writer = ctx.Pipe(duplex=False)
            readers[reader] = k
            proc = ctx.Process(
                target=_worker,
                args=(str(path), model, bounds[k], bounds[k + 1], every, writer, os.getpid()),
                daemon=True,
            )
            procs.append(proc)
            proc.start()
            writer.close()  # the worker holds the only write end now
        while len(parts) < n:
            for conn in mp_connection.wait(list(readers), timeout=1.0):
                assert isinstance(conn, Connection)
                k = readers[conn]
                try:
                    kind, payload = conn.recv()
                except EOFError:
                    procs[k].join(timeout=2)
                    code = procs[k].exitcode
                    raise RuntimeError(f"pose worker stopped unexpectedly ({code})") from None
                if kind == "error":
                    raise payload
                if kind == "progress":
                    done_by_part[k] = payload
                else:
                    parts[k] = payload
                    done_by_part[k] = len(payload)
                    del readers[conn]
                    conn.close()
                if progress is not None:
                    analysed = -(-total // every)
                    progress(min(sum(done_by_part.values()), analysed), analysed)
    finally:
        for conn in readers:
            conn.close()
        for p in procs:
            p.join(timeout=0 if len(parts) < n else 5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
    out: list[TimedPose] = []
    for k in sorted(parts):
        out.extend(parts[k])
    return out
