"""Pose extraction for a whole recorded video, on every core.

MediaPipe runs one landmarker on about one core, so on a 2-core laptop a file
is analysed twice as fast by splitting it into contiguous parts, each tracked
by its own landmarker in its own process (VIDEO mode needs frames in order, so
the parts are contiguous; each part starts with one fresh detection). The
per-frame processor then runs over the poses in order, exactly as it does live.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
from collections.abc import Callable
from pathlib import Path

from coach.landmarks import Pose
from coach.pose import MediaPipePose, PoseEstimator
from coach.video import open_video

Progress = Callable[[int, int], None]
TimedPose = tuple[float, Pose | None]

# Below this many frames, starting extra processes (about a second each) does not pay.
MIN_FRAMES_PER_WORKER = 240
PROGRESS_EVERY = 15


def default_workers() -> int:
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))


def _extract_range(
    path: str, estimator: PoseEstimator, start: int, stop: int | None, tick: Callable[[int], None]
) -> list[TimedPose]:
    out: list[TimedPose] = []
    with open_video(path) as src:
        for i, (t_s, frame) in enumerate(src):
            if i < start:
                continue
            if stop is not None and i >= stop:
                break
            out.append((t_s, estimator.detect(frame, t_s)))
            if len(out) % PROGRESS_EVERY == 0:
                tick(len(out))
    return out


def _worker(path: str, model: str, start: int, stop: int | None, results: mp.Queue) -> None:
    """Runs in a child process: one landmarker tracks frames [start, stop)."""
    try:
        with MediaPipePose(model, mode="video") as est:
            poses = _extract_range(
                path, est, start, stop, lambda n: results.put(("progress", start, n))
            )
        results.put(("done", start, poses))
    except BaseException as exc:  # reported to the parent, which re-raises it
        results.put(("error", start, exc))


def extract_poses(
    path: Path,
    *,
    model: str = "lite",
    estimator: PoseEstimator | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[TimedPose]:
    """(t_s, pose) for every frame, in order. A given `estimator` runs in this process."""
    with open_video(path) as src:
        total = src.frame_count
    n = workers if workers is not None else default_workers()
    if estimator is not None or n <= 1 or total < n * MIN_FRAMES_PER_WORKER:
        if estimator is not None:
            return _extract_range(str(path), estimator, 0, None, _ticker(progress, total))
        with MediaPipePose(model, mode="video") as est:
            return _extract_range(str(path), est, 0, None, _ticker(progress, total))
    return _extract_parallel(path, model, n, total, progress)


def _ticker(progress: Progress | None, total: int) -> Callable[[int], None]:
    return (lambda done: progress(done, total)) if progress is not None else (lambda _: None)


def _extract_parallel(
    path: Path, model: str, n: int, total: int, progress: Progress | None
) -> list[TimedPose]:
    ctx = mp.get_context("spawn")  # never fork a process that holds MediaPipe threads
    results: mp.Queue = ctx.Queue()
    bounds = [round(k * total / n) for k in range(n)] + [None]
    procs = [
        ctx.Process(
            target=_worker,
            args=(str(path), model, bounds[k], bounds[k + 1], results),
            daemon=True,
        )
        for k in range(n)
    ]
    for p in procs:
        p.start()
    parts: dict[int, list[TimedPose]] = {}
    done_by_part: dict[int, int] = {}
    try:
        while len(parts) < n:
            try:
                kind, start, payload = results.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
                if dead:
                    code = dead[0].exitcode
                    raise RuntimeError(f"pose worker stopped unexpectedly ({code})") from None
                continue
            if kind == "error":
                raise payload
            if kind == "progress":
                done_by_part[start] = payload
            else:
                parts[start] = payload
                done_by_part[start] = len(payload)
            if progress is not None:
                progress(min(sum(done_by_part.values()), total), total)
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
    out: list[TimedPose] = []
    for start in sorted(parts):
        out.extend(parts[start])
    return out
