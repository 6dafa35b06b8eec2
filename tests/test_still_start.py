"""A live session that begins with the patient standing still, as the webcam path sees it.

The browser stream starts with seconds of the patient in place before the first rep (the
camera connecting, the get-into-place countdown, the set-up check and calibration), which
file analysis never sees: each rendered clip's settled first pose, repeated for 11 s at
30 frames a second, then the clip, through a `LiveSession` with its 5 s countdown, must
count the true reps (a browser recording of the 45-degree heel raise merged reps 1 and 2
this way: docs/studies/counting-signals.md, `coach.adaptive`).

The poses come from the real model (full, video mode), once per clip, at `MODEL_FPS` (what
a browser on a modest computer analyses; it also keeps this test to about a minute). The
repeated pose is the first after `TRACK_WARMUP_S`: the model's first pose of a new track
can be far off (20-45 units on the floor camera), which a live stream, where the model
keeps tracking the still patient, never holds for seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from coach.exercise import load_exercises
from coach.landmarks import Pose
from coach.live_session import LiveSession
from coach.processor import TRACK_WARMUP_S
from tests.conftest import CLIPS
from tests.test_clip_rates import RENDERED, Clip

STILL_S = 11.0
MODEL_FPS = 15.0

Poses = list[tuple[float, Pose | None]]


@pytest.fixture(scope="session")
def clip_poses() -> Callable[[str], Poses]:
    """Each clip's poses (time, pose), from one video-mode model run per clip."""
    from coach.pose import MediaPipePose
    from coach.video import open_video

    cache: dict[str, Poses] = {}

    def poses(path: str) -> Poses:
        if path not in cache:
            estimator = MediaPipePose("full", mode="video")
            try:
                out: Poses = []
                for t, frame in open_video(CLIPS / path):
                    if not out or t - out[-1][0] >= 1.0 / MODEL_FPS - 1e-6:
                        out.append((t, estimator.detect(frame, t)))
                cache[path] = out
            finally:
                estimator.close()
        return cache[path]

    return poses


def still_then_clip(poses: Poses, fps: float) -> Poses:
    """`STILL_S` of the settled first pose, then the clip from that frame on, at `fps`."""
    first = next(i for i, (t, pose) in enumerate(poses) if t >= TRACK_WARMUP_S and pose)
    t0, pose0 = poses[first]
    n = round(STILL_S * MODEL_FPS)
    stream = [(i / MODEL_FPS, pose0) for i in range(n)]
    stream += [(STILL_S + t - t0, pose) for t, pose in poses[first:]]
    kept: Poses = []
    for t, pose in stream:  # a slower camera: frames dropped, timestamps kept
        if not kept or t - kept[-1][0] >= 1.0 / fps - 1e-6:
            kept.append((t, pose))
    return kept


@pytest.mark.parametrize("fps", [MODEL_FPS])
@pytest.mark.parametrize("clip", RENDERED, ids=[Path(c.path).stem for c in RENDERED])
def test_a_live_session_after_a_long_still_start_counts_true(
    clip_poses: Callable[[str], Poses], clip: Clip, fps: float
) -> None:
    session = LiveSession(load_exercises()[clip.exercise], countdown_s=5.0)
    for t, pose in still_then_clip(clip_poses(clip.path), fps):
        session.process_pose(pose, t)
    assert session.counting
    assert len(session.log.reps) == clip.reps
    assert all(r.start_s >= STILL_S for r in session.log.reps)  # nothing counted while still
