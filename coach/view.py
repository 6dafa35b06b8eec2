"""Is this view good enough to measure the leg? And if not, what should the patient change?

A 2D ankle angle means something only when the camera sees the leg side-on and
the whole foot is visible. In a side view the shoulders (and hips) overlap, so
their separation is small next to the torso length; from the front, behind or
at 45 degrees it is not (measured on the shared clips: side views 0.02-0.33,
45-degree rear-oblique 0.45, rear view 0.63-0.71).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from coach.landmarks import LEGS, Landmark, Pose, Side

MAX_FRONTAL_WIDTH = 0.40
MIN_VISIBILITY = 0.5
EDGE_MARGIN_PX = 2.0


class ViewIssue(StrEnum):
    """What is wrong with the view, most fundamental first."""

    NO_PERSON = "no_person"
    MOVE_BACK = "move_back"
    FOOT_OUT_OF_VIEW = "foot_out_of_view"
    NOT_SIDE_ON = "turn_side_on"


@dataclass(frozen=True, slots=True)
class ViewCheck:
    """The verdict for one frame and one leg. `ok` means an angle may be reported."""

    issues: tuple[ViewIssue, ...]
    frontal_width: float | None
    foot_visibility: float

    @property
    def ok(self) -> bool:
        return not self.issues

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


def check_view(pose: Pose | None, side: Side) -> ViewCheck:
    """Judge one leg of one pose; issues are ordered so the first is the one to fix first."""
    if pose is None:
        return ViewCheck((ViewIssue.NO_PERSON,), None, 0.0)
    leg = LEGS[side]
    issues: list[ViewIssue] = []
    upper_in = all(
        pose.inside(lm, EDGE_MARGIN_PX) and pose[lm].presence >= MIN_VISIBILITY
        for lm in (leg.hip, leg.knee)
    )
    if not upper_in:
        issues.append(ViewIssue.MOVE_BACK)
    foot = (leg.ankle, leg.heel, leg.toe)
    foot_vis = min(pose[lm].visibility for lm in foot)
    foot_in = all(pose.inside(lm, EDGE_MARGIN_PX) for lm in foot)
    if not foot_in or foot_vis < MIN_VISIBILITY:
        issues.append(ViewIssue.FOOT_OUT_OF_VIEW)
    width = frontal_width(pose)
    if width is None or width > MAX_FRONTAL_WIDTH:
        issues.append(ViewIssue.NOT_SIDE_ON)
    return ViewCheck(tuple(issues), width, foot_vis)
