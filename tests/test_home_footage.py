"""Home set-ups, synthetically, frame by frame: compressed ranges, drift, low frame rates,
a neutral taken mid-movement, oblique and facing views, the leg that moves, the
prescribed side, and saying why movement is not counted.

The same scenes on real footage are in test_clip_rates.py.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import pytest

from coach.camera_view import CameraView, ViewIssue
from coach.exercise import load_exercises
from coach.feedback import CountingIssue
from coach.landmarks import LEGS, Keypoint, Landmark, Pose, Side
from coach.processor import FrameProcessor, FrameResult
from tests.conftest import side_view_pose

EXS = load_exercises()
PUMPS = EXS["range_of_motion"]

Trace = Callable[[float], float]


def rep_trace(n_reps: int, peak: float, *, rest_s: float = 2.0, rep_s: float = 3.0) -> Trace:
    """Degrees from neutral: still, then `n_reps` smooth up-hold-down reps, then still."""

    def at(t: float) -> float:
        k, ph = divmod(t - rest_s, rep_s)
        if t < rest_s or k >= n_reps or ph > 2.0:
            return 0.0
        return peak * math.sin(math.pi * ph / 2.0) ** 2

    return at


def mirrored(pose: Pose) -> Pose:
    """The same scene seen from the other side: the person faces image-left."""
    return Pose(
        tuple(dataclasses.replace(k, x=pose.width - k.x) for k in pose.keypoints),
        pose.width,
        pose.height,
    )


def two_legs(near_deg: float, far_deg: float, *, frontal: float = 0.05) -> Pose:
    """Both legs visible (as at 45 degrees): the near leg labelled left, the far one right."""
    near = side_view_pose(near_deg, frontal=frontal)
    far = side_view_pose(far_deg, frontal=frontal, shift_x=25.0)
    points = list(near.keypoints)
    for name in ("hip", "knee", "ankle", "heel", "toe"):
        src: Landmark = getattr(LEGS[Side.LEFT], name)
        dst: Landmark = getattr(LEGS[Side.RIGHT], name)
        k = far[src]
        points[dst] = Keypoint(k.x, k.y, 30.0, 0.9, 0.99)
    return Pose(tuple(points), near.width, near.height)


def play(
    proc: FrameProcessor, scene: Callable[[float], Pose | None], seconds: float, fps: float
) -> list[FrameResult]:
    return [proc.process_pose(scene(i / fps), i / fps) for i in range(int(seconds * fps))]


# -- counting relative to the patient's own movement --------------------------------------


@pytest.mark.parametrize("fps", [30.0, 10.0, 5.0])
@pytest.mark.parametrize(
    ("gain", "drift_deg_per_s", "bias_deg"),
    [
        (1.0, 0.0, 0.0),
        (0.35, 0.0, 0.0),  # a table-height or floor camera sees about a third of the movement
        (0.6, 0.3, 0.0),  # and a camera that slowly tips
        (0.6, 0.0, -25.0),  # MediaPipe's per-person bias
    ],
    ids=["side-on", "compressed", "drifting", "biased"],
)
def test_reps_count_whatever_the_camera_does_to_the_range(
    fps: float, gain: float, drift_deg_per_s: float, bias_deg: float
) -> None:
    trace = rep_trace(6, peak=25.0)
    scene = lambda t: side_view_pose(  # noqa: E731
        bias_deg + drift_deg_per_s * t + gain * trace(t)
    )
    proc = FrameProcessor(PUMPS)
    results = play(proc, scene, 2.0 + 6 * 3.0 + 2.0, fps)
    assert results[-1].reps == 6
    assert results[-1].counting_issue is None


@pytest.mark.parametrize("fps", [30.0, 5.0])
def test_a_neutral_taken_mid_movement_still_counts_every_rep(fps: float) -> None:
    """The stream starts with the toes held up (the still second the neutral comes from)."""
    reps = rep_trace(5, peak=25.0, rest_s=4.0)
    scene = lambda t: side_view_pose(18.0 if t < 3.0 else reps(t))  # noqa: E731
    proc = FrameProcessor(PUMPS)
    results = play(proc, scene, 4.0 + 5 * 3.0 + 2.0, fps)
    assert proc.neutral is not None and proc.neutral.ankle_deg > 10.0  # taken at the top
    assert results[-1].reps == 5


def test_a_still_leg_with_jitter_counts_nothing_and_nags_nobody() -> None:
    jitter = lambda t: side_view_pose(1.5 * math.sin(37.0 * t) + 1.0 * math.sin(91.0 * t))  # noqa: E731
    proc = FrameProcessor(PUMPS)
    results = play(proc, jitter, 30.0, 30.0)
    assert results[-1].reps == 0
    assert all(r.counting_issue is None for r in results)
    assert not proc.cues


def test_a_movement_too_small_to_count_is_named_within_seconds() -> None:
    small = rep_trace(10, peak=4.0)
    proc = FrameProcessor(PUMPS)
    results = play(proc, lambda t: side_view_pose(small(t)), 2.0 + 30.0, 30.0)
    assert results[-1].reps == 0
    first = next(r.t_s for r in results if r.counting_issue is CountingIssue.MOVEMENT_TOO_SMALL)
    assert first < 2.0 + 8.0
    assert "movement_too_small" in {c.id for c in proc.cues}


def test_a_rep_never_brought_back_is_named() -> None:
    """Up and held far past the hold time: the coach asks for the return, not 'keep going'."""
    scene = lambda t: side_view_pose(0.0 if t < 3.0 else 20.0)  # noqa: E731
    proc = FrameProcessor(PUMPS)
    results = play(proc, scene, 20.0, 30.0)
    assert results[-1].reps == 0
    assert results[-1].counting_issue is CountingIssue.NOT_BACK_TO_REST
    assert "not_back_to_rest" in {c.id for c in proc.cues}


# -- views --------------------------------------------------------------------------------


def test_an_oblique_view_counts_reps_and_withholds_the_angle() -> None:
    trace = rep_trace(4, peak=25.0)
    proc = FrameProcessor(PUMPS)
    results = play(proc, lambda t: side_view_pose(trace(t), frontal=0.5), 16.0, 30.0)
    assert results[-1].reps == 4
    assert all(r.view.camera is CameraView.OBLIQUE for r in results)
    assert all(r.ankle_deg is None for r in results)  # not clinical degrees from here
    assert all(r.view.ok and not r.view.angle_ok for r in results)


def test_a_side_on_view_shows_the_angle() -> None:
    trace = rep_trace(2, peak=20.0)
    results = play(FrameProcessor(PUMPS), lambda t: side_view_pose(trace(t)), 10.0, 30.0)
    shown = [r.ankle_deg for r in results if r.ankle_deg is not None]
    assert results[-1].view.angle_ok and max(shown) == pytest.approx(20.0, abs=2.0)


def test_a_front_view_counts_nothing_and_says_turn() -> None:
    trace = rep_trace(4, peak=25.0)
    proc = FrameProcessor(PUMPS)
    results = play(proc, lambda t: side_view_pose(trace(t), frontal=0.8), 16.0, 30.0)
    assert results[-1].reps == 0
    assert results[-1].view.main_issue is ViewIssue.NOT_SIDE_ON
    assert "turn_side_on" in {c.id for c in proc.cues}


# -- the right leg ------------------------------------------------------------------------


def test_auto_measures_the_leg_that_moves_not_the_nearer_one() -> None:
    """An oblique view with the exercising leg the far one: the near leg is still."""
    trace = rep_trace(5, peak=25.0)
    proc = FrameProcessor(PUMPS)
    results = play(proc, lambda t: two_legs(0.0, trace(t), frontal=0.5), 20.0, 30.0)
    assert results[-1].side is Side.RIGHT
    assert results[-1].reps == 5


def scene_facing_left(trace: Trace) -> Callable[[float], Pose]:
    """Facing image-left the person shows the camera their left side (the near leg)."""
    return lambda t: mirrored(side_view_pose(trace(t)))


@pytest.mark.parametrize("choice", ["left", "right"])
def test_the_prescribed_side_is_the_persons_own(choice: str) -> None:
    trace = rep_trace(3, peak=25.0)
    proc = FrameProcessor(PUMPS, side=choice)  # type: ignore[arg-type]
    results = play(proc, scene_facing_left(trace), 14.0, 30.0)
    if choice == "left":  # the left leg faces the camera: measured and counted
        assert results[-1].reps == 3 and results[-1].view.ok
    else:  # the right leg is hidden behind it: ask the patient to turn round
        assert results[-1].reps == 0
        assert results[-1].view.main_issue is ViewIssue.OTHER_LEG_NEAREST
        assert "other_leg_nearest" in {c.id for c in proc.cues}


def test_the_band_exercises_count_their_own_direction() -> None:
    """Plantar flexion pushes the toes away (down), dorsiflexion pulls them up."""
    push = rep_trace(4, peak=-30.0)
    pull = rep_trace(4, peak=20.0)
    for ex_id, trace in (("plantar_flexion_band", push), ("dorsiflexion_band", pull)):
        proc = FrameProcessor(EXS[ex_id])
        results = play(proc, lambda t, tr=trace: side_view_pose(tr(t), knee_deg=5.0), 16.0, 30.0)
        assert results[-1].reps == 4, ex_id
