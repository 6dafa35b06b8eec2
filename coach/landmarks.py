"""Our own pose types: named landmarks and frozen per-frame records.

MediaPipe results are converted into these once, at the adapter boundary
(`coach.pose`), so nothing else in the package depends on MediaPipe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Landmark(IntEnum):
    """The 33 BlazePose landmarks, in MediaPipe's order."""

    NOSE = 0
    LEFT_EYE_INNER = 1
    LEFT_EYE = 2
    LEFT_EYE_OUTER = 3
    RIGHT_EYE_INNER = 4
    RIGHT_EYE = 5
    RIGHT_EYE_OUTER = 6
    LEFT_EAR = 7
    RIGHT_EAR = 8
    MOUTH_LEFT = 9
    MOUTH_RIGHT = 10
    LEFT_SHOULDER = 11
    RIGHT_SHOULDER = 12
    LEFT_ELBOW = 13
    RIGHT_ELBOW = 14
    LEFT_WRIST = 15
    RIGHT_WRIST = 16
    LEFT_PINKY = 17
    RIGHT_PINKY = 18
    LEFT_INDEX = 19
    RIGHT_INDEX = 20
    LEFT_THUMB = 21
    RIGHT_THUMB = 22
    LEFT_HIP = 23
    RIGHT_HIP = 24
    LEFT_KNEE = 25
    RIGHT_KNEE = 26
    LEFT_ANKLE = 27
    RIGHT_ANKLE = 28
    LEFT_HEEL = 29
    RIGHT_HEEL = 30
    LEFT_FOOT_INDEX = 31
    RIGHT_FOOT_INDEX = 32


class Side(StrEnum):
    """A body side, as the person's own left or right."""

    LEFT = "left"
    RIGHT = "right"

    @property
    def other(self) -> Side:
        return Side.RIGHT if self is Side.LEFT else Side.LEFT


@dataclass(frozen=True, slots=True)
class LegLandmarks:
    """The landmarks of one leg, so code can say `leg.knee` instead of an index."""

    shoulder: Landmark
    hip: Landmark
    knee: Landmark
    ankle: Landmark
    heel: Landmark
    toe: Landmark


LEGS: dict[Side, LegLandmarks] = {
    Side.LEFT: LegLandmarks(
        Landmark.LEFT_SHOULDER,
        Landmark.LEFT_HIP,
        Landmark.LEFT_KNEE,
        Landmark.LEFT_ANKLE,
        Landmark.LEFT_HEEL,
        Landmark.LEFT_FOOT_INDEX,
    ),
    Side.RIGHT: LegLandmarks(
        Landmark.RIGHT_SHOULDER,
        Landmark.RIGHT_HIP,
        Landmark.RIGHT_KNEE,
        Landmark.RIGHT_ANKLE,
        Landmark.RIGHT_HEEL,
        Landmark.RIGHT_FOOT_INDEX,
    ),
}

# Segments drawn by the annotator for one leg (plus the trunk line to the shoulder).
LEG_SEGMENTS: tuple[tuple[str, str], ...] = (
    ("shoulder", "hip"),
    ("hip", "knee"),
    ("knee", "ankle"),
    ("ankle", "heel"),
    ("heel", "toe"),
    ("ankle", "toe"),
)


@dataclass(frozen=True, slots=True)
class Keypoint:
    """One landmark in image pixels (origin top-left, y down).

    `visibility` is MediaPipe's likelihood that the point is visible (not
    occluded); `presence` the likelihood that it is in the frame at all.
    """

    x: float
    y: float
    z: float = 0.0
    visibility: float = 1.0
    presence: float = 1.0

    def distance(self, other: Keypoint) -> float:
        return math.hypot(self.x - other.x, self.y - other.y)


@dataclass(frozen=True, slots=True)
class Pose:
    """One detected person in one frame, in pixel coordinates.

    `world` holds MediaPipe's world landmarks (metres, origin between the hips) when the
    model gave them; nothing counts with them yet, but they travel with the pose so both
    pose paths (server model, browser model) carry the same data.
    """

    keypoints: tuple[Keypoint, ...]
    width: int
    height: int
    world: tuple[tuple[float, float, float], ...] | None = None

    def __post_init__(self) -> None:
        if len(self.keypoints) != len(Landmark):
            raise ValueError(f"a pose needs {len(Landmark)} keypoints, got {len(self.keypoints)}")
        if self.world is not None and len(self.world) != len(Landmark):
            raise ValueError(f"a pose needs {len(Landmark)} world points, got {len(self.world)}")

    def __getitem__(self, landmark: Landmark) -> Keypoint:
        return self.keypoints[landmark]

    def inside(self, landmark: Landmark, margin: float = 0.0) -> bool:
        """True when the landmark lies inside the image, `margin` pixels from its edges."""
        k = self[landmark]
        return margin <= k.x <= self.width - margin and margin <= k.y <= self.height - margin

    @staticmethod
    def from_normalized(
        points: Sequence[tuple[float, float, float, float, float]],
        width: int,
        height: int,
        world: Sequence[tuple[float, float, float]] | None = None,
    ) -> Pose:
        """Build from (x, y, z, visibility, presence) tuples with x, y in [0, 1] (and world
        points in metres), as both MediaPipe APIs give them."""
        return Pose(
            tuple(Keypoint(x * width, y * height, z * width, v, p) for x, y, z, v, p in points),
            width,
            height,
            tuple((float(x), float(y), float(z)) for x, y, z in world) if world else None,
        )


def leg_points(pose: Pose | None, side: Side | None) -> tuple[tuple[float, float], ...] | None:
    """One leg's hip, knee, ankle, heel and toe as shares of the picture (x, y; y down):
    what a session keeps for replay (`coach.records.LEG_POINTS` order)."""
    if pose is None or side is None:
        return None
    leg = LEGS[side]
    w, h = max(pose.width, 1), max(pose.height, 1)
    return tuple(
        (pose[lm].x / w, pose[lm].y / h) for lm in (leg.hip, leg.knee, leg.ankle, leg.heel, leg.toe)
    )
