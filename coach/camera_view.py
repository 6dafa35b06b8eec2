"""Is this view good enough to measure the leg? And if not, what should the patient change?

Two questions with different answers. Reps and holds can be counted from any
view that shows the whole leg and foot: the counted signal (toe height over
the heel, in shank lengths) moves with the ankle from the side, from 45 degrees
in front or behind, and from a table-height or floor camera
(docs/studies/counting-signals.md). A 2D ankle angle in clinical degrees means
something only side-on: 45 degrees off, the image-plane angle reads 11-16
degrees off at rest and swings up to 1.6 times the true movement. The camera
direction comes from the shoulder (or hip) separation over the torso length:
small when side-on (measured on the shared clips: side views 0.02-0.33,
45-degree obliques 0.45-0.6, front and rear views 0.63 and more).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from coach.landmarks import LEGS, Landmark, Pose, Side

MAX_FRONTAL_WIDTH = 0.40
"""Up to this shoulder separation (torso lengths) the view is side-on and angles are shown."""
MAX_OBLIQUE_WIDTH = 0.62
"""Up to this it is oblique (about 45 degrees); beyond, the camera faces the front or back."""
MIN_VISIBILITY = 0.5
MIN_RELATIVE_VISIBILITY = 0.25
VISIBILITY_RATIO = 3.0
EDGE_MARGIN_PX = 2.0


class ViewIssue(StrEnum):
    """What is wrong with the view, most fundamental first."""

    NO_PERSON = "no_person"
    MOVE_BACK = "move_back"
    FOOT_OUT_OF_VIEW = "foot_out_of_view"
    NOT_SIDE_ON = "turn_side_on"
    OTHER_LEG_NEAREST = "other_leg_nearest"
    """Side-on, the exercised leg is behind the other one, hidden."""


class CameraView(StrEnum):
    """Where the camera looks at the person from; decides whether angles are shown."""

    SIDE_ON = "side_on"
    OBLIQUE = "oblique"
    FACING = "facing"
    """Front or back: the foot points at (or away from) the camera."""

    @staticmethod
    def from_width(width: float | None) -> CameraView | None:
        if width is None:
            return None
        if width <= MAX_FRONTAL_WIDTH:
            return CameraView.SIDE_ON
        return CameraView.OBLIQUE if width <= MAX_OBLIQUE_WIDTH else CameraView.FACING


@dataclass(frozen=True, slots=True)
class ViewCheck:
    """The verdict for one frame and one leg.

    `ok`: the leg and foot are seen, so reps and holds count. `angle_ok`: the view
    is also side-on, so the ankle angle means clinical degrees. A view that is not
    side-on is not an issue (nothing to fix for counting); the page says the angle
    needs a side-on camera.
    """

    issues: tuple[ViewIssue, ...]
    frontal_width: float | None
    foot_visibility: float

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def camera(self) -> CameraView | None:
        return CameraView.from_width(self.frontal_width)

    @property
    def angle_ok(self) -> bool:
        return self.ok and self.camera is CameraView.SIDE_ON

    @property
    def main_issue(self) -> ViewIssue | None:
        return self.issues[0] if self.issues else None


def frontal_width(pose: Pose) -> float | None:
    """Shoulder (or, failing that, hip) separation over torso length: small when side-on."""
    ls, rs = pose[Landmark.LEFT_SHOULDER], pose[Landmark.RIGHT_SHOULDER]
    lh, rh = pose[Landmark.LEFT_HIP], pose[Landmark.RIGHT_HIP]
    mid_s = ((ls.x + rs.x) / 2, (ls.y + rs.y) / 2)
    mid_h = ((lh.x + rh.x) / 2, (lh.y + rh.y) / 2)
    torso = ((mid_s[0] - mid_h[0]) ** 2 + (mid_s[1] - mid_h[1]) ** 2) ** 0.5
    if torso < 1.0:
        return None
    shoulders_seen = min(ls.presence, rs.presence) >= MIN_VISIBILITY
    pair = (ls, rs) if shoulders_seen else (lh, rh)
    return pair[0].distance(pair[1]) / torso


def _foot_seen(pose: Pose, side: Side, foot_vis: float) -> bool:
    """Visible enough to measure: MediaPipe's visibility, or clearly the unhidden foot.

    The heavy model rates the near foot only 0.3-0.45 visible from a floor camera, while
    it rates the hidden far foot under 0.15; a foot several times more visible than the
    other one is the one the camera sees.
    """
    if foot_vis >= MIN_VISIBILITY:
        return True
    other = LEGS[side.other]
    other_vis = min(pose[lm].visibility for lm in (other.ankle, other.heel, other.toe))
    return foot_vis >= MIN_RELATIVE_VISIBILITY and foot_vis >= VISIBILITY_RATIO * other_vis


def check_view(pose: Pose | None, side: Side, *, far_leg: bool = False) -> ViewCheck:
    """Judge one leg of one pose; issues are ordered so the first is the one to fix first.

    `far_leg`: the leg to measure is the one away from the camera; side-on it is
    hidden behind the other, so it cannot be measured (at 45 degrees it can).
    """
    if pose is None:
        return ViewCheck((ViewIssue.NO_PERSON,), None, 0.0)
    leg = LEGS[side]
    issues: list[ViewIssue] = []
    width = frontal_width(pose)
    camera = CameraView.from_width(width)
    upper_in = all(
        pose.inside(lm, EDGE_MARGIN_PX) and pose[lm].presence >= MIN_VISIBILITY
        for lm in (leg.hip, leg.knee)
    )
    if not upper_in:
        issues.append(ViewIssue.MOVE_BACK)
    foot = (leg.ankle, leg.heel, leg.toe)
    foot_vis = min(pose[lm].visibility for lm in foot)
    if far_leg and camera is CameraView.SIDE_ON:
        issues.append(ViewIssue.OTHER_LEG_NEAREST)  # why its foot is hidden: say that
        return ViewCheck(tuple(issues), width, foot_vis)
    foot_in = all(pose.inside(lm, EDGE_MARGIN_PX) for lm in foot)
    if not foot_in or not _foot_seen(pose, side, foot_vis):
        issues.append(ViewIssue.FOOT_OUT_OF_VIEW)
    if camera in (None, CameraView.FACING):
        issues.append(ViewIssue.NOT_SIDE_ON)  # the foot points at the camera: no toe lift seen
    return ViewCheck(tuple(issues), width, foot_vis)
