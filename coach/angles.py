"""Joint angles and foot heights from 2D keypoints, in clinical conventions.

All angles are in degrees in the image plane, which is only meaningful when the
camera looks at the leg side-on (`coach.camera_view` decides that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from coach.landmarks import LEGS, Keypoint, Pose, Side


def _angle_between(ax: float, ay: float, bx: float, by: float) -> float:
    """Unsigned angle between two vectors, in degrees (0..180)."""
    na, nb = math.hypot(ax, ay), math.hypot(bx, by)
    if na == 0.0 or nb == 0.0:
        return math.nan
    cos = (ax * bx + ay * by) / (na * nb)
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


def ankle_dorsiflexion(knee: Keypoint, ankle: Keypoint, heel: Keypoint, toe: Keypoint) -> float:
    """Clinical ankle angle: 0 = foot perpendicular to shank, + dorsiflexion, - plantar flexion.

    90 minus the angle between the shank (ankle->knee) and the foot (heel->toe),
    the convention of Pose2Sim/Sports2D and of the shared clips' truth.
    """
    shank_foot = _angle_between(knee.x - ankle.x, knee.y - ankle.y, toe.x - heel.x, toe.y - heel.y)
    return 90.0 - shank_foot


def knee_flexion(hip: Keypoint, knee: Keypoint, ankle: Keypoint) -> float:
    """Knee flexion: 0 = straight leg, grows as the knee bends."""
    return 180.0 - _angle_between(
        hip.x - knee.x, hip.y - knee.y, ankle.x - knee.x, ankle.y - knee.y
    )


def hip_flexion(shoulder: Keypoint, hip: Keypoint, knee: Keypoint) -> float:
    """Hip flexion: 0 = thigh in line with the trunk, grows as the thigh comes forward."""
    return 180.0 - _angle_between(
        shoulder.x - hip.x, shoulder.y - hip.y, knee.x - hip.x, knee.y - hip.y
    )


@dataclass(frozen=True, slots=True)
class LegAngles:
    """Everything measured on one leg in one frame.

    Heights are above the floor line, in shank lengths, so they do not depend on
    how far the camera is; they are None until a floor line is known.
    """

    side: Side
    ankle_deg: float
    knee_deg: float
    hip_deg: float
    shank_px: float
    foot_px: float
    heel_y: float
    toe_y: float


def leg_angles(pose: Pose, side: Side) -> LegAngles:
    """Measure one leg; the caller decides (with `coach.camera_view`) whether it means anything."""
    leg = LEGS[side]
    knee, ankle, heel, toe = pose[leg.knee], pose[leg.ankle], pose[leg.heel], pose[leg.toe]
    return LegAngles(
        side=side,
        ankle_deg=ankle_dorsiflexion(knee, ankle, heel, toe),
        knee_deg=knee_flexion(pose[leg.hip], knee, ankle),
        hip_deg=hip_flexion(pose[leg.shoulder], pose[leg.hip], knee),
        shank_px=knee.distance(ankle),
        foot_px=heel.distance(toe),
        heel_y=heel.y,
        toe_y=toe.y,
    )


def height_above_floor(point_y: float, floor_y: float, shank_px: float) -> float:
    """Height of an image point above the floor line, in shank lengths (y grows downwards)."""
    if shank_px <= 0:
        return math.nan
    return (floor_y - point_y) / shank_px
