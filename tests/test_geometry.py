"""Angles, view quality and side choice on synthetic poses."""

from __future__ import annotations

import pytest

from coach.angles import ankle_dorsiflexion, height_above_floor, leg_angles
from coach.camera_view import ViewIssue, check_view
from coach.landmarks import Keypoint, Landmark, Pose, Side
from coach.side_select import SideSelector
from tests.conftest import side_view_pose


@pytest.mark.parametrize("deg", [-30.0, -10.0, 0.0, 12.0, 25.0])
@pytest.mark.parametrize("knee", [90.0, 20.0])
def test_ankle_angle_clinical_convention(deg: float, knee: float) -> None:
    la = leg_angles(side_view_pose(deg, knee_deg=knee), Side.LEFT)
    assert la.ankle_deg == pytest.approx(deg, abs=1e-6)
    assert la.knee_deg == pytest.approx(knee, abs=1e-6)


def test_ankle_angle_independent_of_facing_direction() -> None:
    knee, ankle = Keypoint(100, 0), Keypoint(100, 100)
    right = ankle_dorsiflexion(knee, ankle, Keypoint(90, 110), Keypoint(150, 100))
    left = ankle_dorsiflexion(knee, ankle, Keypoint(110, 110), Keypoint(50, 100))
    assert right == pytest.approx(left)
    assert right > 0  # toes above the heel: dorsiflexion


def test_heights_in_shank_lengths() -> None:
    assert height_above_floor(380, 400, 100) == pytest.approx(0.2)


def test_view_ok_side_on() -> None:
    assert check_view(side_view_pose(), Side.LEFT).ok


def test_view_issues() -> None:
    assert check_view(None, Side.LEFT).main_issue is ViewIssue.NO_PERSON
    assert check_view(side_view_pose(frontal=0.7), Side.LEFT).main_issue is ViewIssue.NOT_SIDE_ON
    hidden = check_view(side_view_pose(foot_visibility=0.1), Side.LEFT)
    assert hidden.main_issue is ViewIssue.FOOT_OUT_OF_VIEW
    cut = check_view(side_view_pose(shift_x=-300), Side.LEFT)  # hip off the left edge
    assert cut.main_issue is ViewIssue.MOVE_BACK


def _swap(pose: Pose) -> Pose:
    """Mirror the left/right labels, as MediaPipe sometimes does in side views."""
    kp = list(pose.keypoints)
    for lm in Landmark:
        name = lm.name
        if name.startswith("LEFT_"):
            other = Landmark[name.replace("LEFT_", "RIGHT_")]
            kp[lm], kp[other] = pose.keypoints[other], pose.keypoints[lm]
    return Pose(tuple(kp), pose.width, pose.height)


def test_auto_side_picks_near_leg_and_resists_one_odd_frame() -> None:
    sel = SideSelector("auto")
    pose = side_view_pose()
    for i in range(30):
        assert sel.update(pose, i / 30) is Side.LEFT
    assert sel.update(_swap(pose), 1.0) is Side.LEFT  # one swapped frame: no flip
    for i in range(60):
        side = sel.update(_swap(pose), 1.1 + i / 30)
    assert side is Side.RIGHT  # a lasting swap is followed
    # A chosen side is the person's own: facing image-right they show the camera their
    # right side, whichever MediaPipe label the nearer leg carries.
    chosen = SideSelector("right")
    assert chosen.update(pose, 0) is Side.LEFT and not chosen.far_chosen
    hidden = SideSelector("left")
    assert hidden.update(pose, 0) is Side.RIGHT and hidden.far_chosen
