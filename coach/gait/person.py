"""Which detected person is the walker? (pure core)

Gait clips are not always private: the shared outdoor clip has a second person
jumping off a box, and a single-person detector locks onto whoever it finds
first (on that clip: the jumper, for 170 of 230 frames). Given every pose found
in each frame, `pick_walker` links detections into person tracks by continuity
of the pelvis and body size, then keeps the track that *walks*: whose feet pass
each other the most often (a person standing, jumping or exercising does not).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from coach.landmarks import Landmark, Pose

MAX_GAP_S = 0.5
"""A track is continued across missing detections up to this long."""
GATE_LEGS = 0.6
"""A detection continues a track if its pelvis is within this many leg lengths of it."""
SCALE_RANGE = (0.6, 1.6)
"""...and its leg length is within this ratio of the track's."""
REJOIN_MIN_STEPS = 2
"""Another track that walks this many steps, does not overlap the walker in time and..."""
REJOIN_SCALE = 0.25
"""...has a leg length within this fraction of the walker's is the walker seen again."""


def pelvis(pose: Pose) -> tuple[float, float]:
    lh, rh = pose[Landmark.LEFT_HIP], pose[Landmark.RIGHT_HIP]
    return (lh.x + rh.x) / 2, (lh.y + rh.y) / 2


def leg_length_px(pose: Pose) -> float:
    """Mean over both legs of hip-knee + knee-ankle, in pixels (the person's scale)."""
    total = 0.0
    for hip, knee, ankle in (
        (Landmark.LEFT_HIP, Landmark.LEFT_KNEE, Landmark.LEFT_ANKLE),
        (Landmark.RIGHT_HIP, Landmark.RIGHT_KNEE, Landmark.RIGHT_ANKLE),
    ):
        total += pose[hip].distance(pose[knee]) + pose[knee].distance(pose[ankle])
    return max(total / 2, 1.0)


def _foot_gap(pose: Pose) -> float:
    """Signed horizontal distance between the feet, in leg lengths."""
    left = (pose[Landmark.LEFT_HEEL].x + pose[Landmark.LEFT_ANKLE].x) / 2
    right = (pose[Landmark.RIGHT_HEEL].x + pose[Landmark.RIGHT_ANKLE].x) / 2
    return (left - right) / leg_length_px(pose)


def _running_median(values: list[float], window: int = 5) -> list[float]:
    half = window // 2
    return [statistics.median(values[max(0, i - half) : i + half + 1]) for i in range(len(values))]


def count_foot_crossings(gaps: list[float], level: float = 0.3, min_frames: int = 3) -> int:
    """How many times the feet pass each other: one per step when walking.

    The signed foot gap is median-filtered (MediaPipe flips a far person's legs for
    single frames) and must stay beyond +-`level` leg lengths for `min_frames`
    frames on each side, so jitter and label flips of a standing person do not count.
    """
    state, candidate, run, crossings = 0, 0, 0, 0
    for value in _running_median(gaps):
        sign = 1 if value > level else -1 if value < -level else 0
        if sign == 0 or sign == state:
            candidate, run = 0, 0
            continue
        run = run + 1 if sign == candidate else 1
        candidate = sign
        if run >= min_frames:
            crossings += state != 0
            state, candidate, run = sign, 0, 0
    return crossings


@dataclass
class PersonTrack:
    """Detections of one person over time, linked by continuity."""

    frames: dict[int, Pose] = field(default_factory=dict)
    last_t: float = -math.inf
    pelvises: list[tuple[float, float]] = field(default_factory=list)
    legs: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)

    @property
    def leg(self) -> float:
        return statistics.median(self.legs[-15:]) if self.legs else 1.0

    @property
    def where(self) -> tuple[float, float]:
        """Median of the last three pelvis positions: one wild frame cannot drag the track."""
        recent = self.pelvises[-3:]
        return statistics.median(p[0] for p in recent), statistics.median(p[1] for p in recent)

    def accepts(self, pose: Pose, t_s: float) -> float | None:
        """Matching cost (leg lengths) if `pose` can continue this track, else None."""
        if t_s - self.last_t > MAX_GAP_S:
            return None
        ratio = leg_length_px(pose) / self.leg
        if not SCALE_RANGE[0] <= ratio <= SCALE_RANGE[1]:
            return None
        px, py = pelvis(pose)
        wx, wy = self.where
        dist = math.hypot(px - wx, py - wy) / self.leg + abs(math.log(ratio))
        return dist if dist <= GATE_LEGS else None

    def add(self, i: int, pose: Pose, t_s: float) -> None:
        self.frames[i] = pose
        self.last_t = t_s
        self.pelvises.append(pelvis(pose))
        self.legs.append(leg_length_px(pose))
        self.gaps.append(_foot_gap(pose))

    def steps(self) -> int:
        return count_foot_crossings(self.gaps)


@dataclass(frozen=True)
class WalkerChoice:
    """The chosen walker's poses (None where not seen) and why it was chosen."""

    poses: list[Pose | None]
    people: int
    """Most people detected in one frame (more than 1: someone else was in view)."""
    steps: int
    """Foot crossings of the chosen walker (about one per step)."""
    runner_up_steps: int
    """The same for the best other person (a second walker when close to `steps`)."""
    tracks: int = 1
    """Person tracks of half a second or more: above 1 with one detection per frame
    means the detector switched between people."""


def pick_walker(t_s: Sequence[float], detections: Sequence[Sequence[Pose]]) -> WalkerChoice:
    """Link each frame's detections into person tracks and keep the one that walks."""
    tracks: list[PersonTrack] = []
    for i, (t, poses) in enumerate(zip(t_s, detections, strict=True)):
        # Greedy matching, cheapest pairs first: with a few people this is as good as optimal.
        options = []
        for p, pose in enumerate(poses):
            for k, track in enumerate(tracks):
                cost = track.accepts(pose, t)
                if cost is not None:
                    options.append((cost, p, k))
        used_poses: set[int] = set()
        used_tracks: set[int] = set()
        for _, p, k in sorted(options):
            if p not in used_poses and k not in used_tracks:
                tracks[k].add(i, poses[p], t)
                used_poses.add(p)
                used_tracks.add(k)
        for p, pose in enumerate(poses):
            if p not in used_poses:
                track = PersonTrack()
                track.add(i, pose, t)
                tracks.append(track)
    n = len(detections)
    if not tracks:
        return WalkerChoice([None] * n, 0, 0, 0, 0)
    steps = {id(tr): tr.steps() for tr in tracks}
    ranked = sorted(tracks, key=lambda tr: (steps[id(tr)], len(tr.frames)), reverse=True)
    best = ranked[0]
    chosen: list[Pose | None] = [None] * n
    runner_up = 0
    total = 0
    # The walker may be lost and found again (behind a tree, out of frame and back): other
    # tracks of the same size that also walk and do not overlap in time are the same person.
    for track in ranked:
        same_size = abs(track.leg / best.leg - 1.0) <= REJOIN_SCALE
        overlaps = any(chosen[i] is not None for i in track.frames)
        if track is best or (steps[id(track)] >= REJOIN_MIN_STEPS and same_size and not overlaps):
            for i, pose in track.frames.items():
                chosen[i] = pose
            total += steps[id(track)]
        else:
            runner_up = max(runner_up, steps[id(track)])
    people = max(len(poses) for poses in detections)
    long_tracks = sum(1 for tr in tracks if tr.last_t - min(t_s[i] for i in tr.frames) >= 0.5)
    return WalkerChoice(chosen, people, total, runner_up, long_tracks)
