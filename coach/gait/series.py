"""Per-frame leg trajectories of one walker, as numpy arrays (pure core, no I/O).

MediaPipe's left/right labels are not trustworthy in a side view: the two legs
overlap and the model can label the near leg "right" in one clip and "left" in
the next, or swap mid-clip. So the two legs are handled as *tracks* (0 and 1):
`untangle_legs` keeps each track on the same physical leg by continuity, and the
person's own side is assigned later, per walking bout, from geometry
(`coach.gait.events.assign_sides`): which track is nearer the camera and which
way the person faces.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from coach.camera_view import frontal_width
from coach.filters import zero_phase_smooth
from coach.landmarks import LEGS, Landmark, Pose, Side

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int_]

JOINTS: tuple[str, ...] = ("shoulder", "hip", "knee", "ankle", "heel", "toe")
SHOULDER, HIP, KNEE, ANKLE, HEEL, TOE = range(len(JOINTS))
FOOT_JOINTS = (ANKLE, HEEL, TOE)

MIN_FOOT_VISIBILITY = 0.5
"""Below this MediaPipe visibility a foot point counts as hidden (its position is a guess)."""
EDGE_MARGIN_PX = 2.0


@dataclass(frozen=True)
class GaitSeries:
    """One person's legs over time. Index order: frame, track, joint, (x, y).

    `xy` is in image pixels (y down), NaN where unknown. `mp_side[i, k]` is the
    MediaPipe side whose landmarks track `k` holds in frame `i` (after untangling
    it can differ from the frame before). `seen[i, k]` says the foot of track `k`
    was really observed in frame `i` (inside the image and visible), as opposed
    to hidden, guessed by the model or filled in.
    """

    t: FloatArray  # (n,)
    xy: FloatArray  # (n, 2, 6, 2)
    z: FloatArray  # (n, 2, 6)
    vis: FloatArray  # (n, 2, 6)
    present: BoolArray  # (n,)
    frontal: FloatArray  # (n,) shoulder separation / torso length
    nose_dx: FloatArray  # (n,) nose x minus mean ear x: its sign says which way the face points
    mp_side: npt.NDArray[np.int8]  # (n, 2): 0 = MediaPipe LEFT, 1 = RIGHT
    width: int
    height: int

    @property
    def n(self) -> int:
        return len(self.t)

    @property
    def seen(self) -> BoolArray:
        """(n, 2): the foot of each track is observed: person found, foot in frame and visible."""
        foot = self.xy[:, :, FOOT_JOINTS, :]
        with np.errstate(invalid="ignore"):
            inside = (
                (foot[..., 0] >= EDGE_MARGIN_PX)
                & (foot[..., 0] <= self.width - EDGE_MARGIN_PX)
                & (foot[..., 1] >= EDGE_MARGIN_PX)
                & (foot[..., 1] <= self.height - EDGE_MARGIN_PX)
            ).all(axis=2)
            visible = (self.vis[:, :, FOOT_JOINTS] >= MIN_FOOT_VISIBILITY).all(axis=2)
        return np.asarray(inside & visible & self.present[:, None])

    @property
    def pelvis_x(self) -> FloatArray:
        """Mid-hip x per frame, from one hip where the other is unknown (NaN where both are).

        Side-on the hips are close together, and the outlier filter of `clean` can
        drop one hip in the last frames of a recording, where no later sample fills it.
        """
        hips = self.xy[:, :, HIP, 0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # frames without a person
            return np.asarray(np.nanmean(hips, axis=1), dtype=float)

    def leg_px(self) -> FloatArray:
        """(n, 2) hip-knee plus knee-ankle length in pixels: the scale for heights."""
        thigh = np.linalg.norm(self.xy[:, :, HIP] - self.xy[:, :, KNEE], axis=-1)
        shank = np.linalg.norm(self.xy[:, :, KNEE] - self.xy[:, :, ANKLE], axis=-1)
        return np.asarray(thigh + shank, dtype=float)


_LEG_LANDMARKS: dict[Side, tuple[Landmark, ...]] = {
    side: (leg.shoulder, leg.hip, leg.knee, leg.ankle, leg.heel, leg.toe)
    for side, leg in LEGS.items()
}


def series_from_poses(
    t_s: Sequence[float], poses: Sequence[Pose | None], width: int, height: int
) -> GaitSeries:
    """Arrays from our `Pose` records; track 0 starts as MediaPipe's LEFT leg."""
    n = len(poses)
    if len(t_s) != n:
        raise ValueError(f"{len(t_s)} timestamps for {n} poses")
    xy = np.full((n, 2, len(JOINTS), 2), np.nan)
    z = np.full((n, 2, len(JOINTS)), np.nan)
    vis = np.zeros((n, 2, len(JOINTS)))
    present = np.zeros(n, dtype=bool)
    frontal = np.full(n, np.nan)
    nose_dx = np.full(n, np.nan)
    for i, pose in enumerate(poses):
        if pose is None:
            continue
        present[i] = True
        for k, side in enumerate((Side.LEFT, Side.RIGHT)):
            for j, lm in enumerate(_LEG_LANDMARKS[side]):
                p = pose[lm]
                xy[i, k, j] = (p.x, p.y)
                z[i, k, j] = p.z
                vis[i, k, j] = min(p.visibility, p.presence)
        fw = frontal_width(pose)
        frontal[i] = np.nan if fw is None else fw
        ears = (pose[Landmark.LEFT_EAR].x + pose[Landmark.RIGHT_EAR].x) / 2
        nose_dx[i] = pose[Landmark.NOSE].x - ears
    mp_side = np.tile(np.array([0, 1], dtype=np.int8), (n, 1))
    return GaitSeries(
        t=np.asarray(t_s, dtype=float),
        xy=xy,
        z=z,
        vis=vis,
        present=present,
        frontal=frontal,
        nose_dx=nose_dx,
        mp_side=mp_side,
        width=width,
        height=height,
    )


LEG_GROUPS: tuple[tuple[int, ...], ...] = ((SHOULDER, HIP, KNEE), (ANKLE, HEEL, TOE))
"""Untangled separately: MediaPipe sometimes swaps only the feet between its two legs."""
_GROUP_KEYS: tuple[tuple[int, ...], ...] = ((KNEE,), (ANKLE, HEEL, TOE))
"""The joints whose continuity decides each group (shoulders and hips overlap side-on)."""


def _swap_groups(s: GaitSeries, swaps: list[BoolArray]) -> GaitSeries:
    xy, z, vis, mp_side = s.xy.copy(), s.z.copy(), s.vis.copy(), s.mp_side.copy()
    for group, swap in zip(LEG_GROUPS, swaps, strict=True):
        rows = np.flatnonzero(swap)
        cols = list(group)
        for arr in (xy, z, vis):
            sub = arr[rows][:, :, cols]
            arr[rows[:, None], 0, np.asarray(cols)[None, :]] = sub[:, 1]
            arr[rows[:, None], 1, np.asarray(cols)[None, :]] = sub[:, 0]
    feet = np.flatnonzero(swaps[1])
    mp_side[feet] = mp_side[feet][:, ::-1]
    return replace(s, xy=xy, z=z, vis=vis, mp_side=mp_side)


def untangle_legs(
    s: GaitSeries,
    max_gap_s: float = 0.3,
    ratio: float = 0.5,
    max_speed_legs_s: float = 15.0,
    wild_legs: float = 0.2,
) -> GaitSeries:
    """Keep each track on one physical leg when MediaPipe swaps its left/right labels.

    Thigh (knee) and foot are untangled separately: a frame's two knees (feet) are
    matched to the tracks' constant-velocity predictions and swapped when the
    swapped match costs less than `ratio` times the kept one, or when keeping them
    would make a foot jump faster than `max_speed_legs_s` (leg lengths per second;
    90% of foot movements on the shared clips are under 6) while swapping would
    halve the jump: a label swap moves a foot by the gap between the feet at once.
    Where the legs cross (similar costs) the labels are kept, so real crossings in
    mid-swing are not mistaken for swaps.

    A lone frame that fits neither way (its points are on average more than
    `wild_legs` leg lengths from the prediction; the median frame of the shared
    clips is within 0.02-0.12) is not used to predict the next one: MediaPipe now
    and then draws both legs together for a frame, more often when it re-detects
    the person in every frame (as it does when asked for several people), and a
    velocity through that frame would point the tracks at the wrong legs (on the
    treadmill clip, asked for two people: six frames). After a gap over
    `max_gap_s` the model's labels are taken as they come.
    `mp_side` records the MediaPipe side of each track's foot.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        leg = float(np.nanmedian(s.leg_px())) if s.n and s.present.any() else 1.0
    swaps = []
    for keys in _GROUP_KEYS:
        cols = list(keys)
        swap = np.zeros(s.n, dtype=bool)
        pts = np.array(s.xy[:, :, cols])  # (n, 2, joints, 2), untangled as we go
        wild = np.zeros(s.n, dtype=bool)
        prev: list[int] = []  # the last untangled frames with a person, oldest first
        for i in range(s.n):
            if not s.present[i] or np.isnan(pts[i]).any():
                continue
            if prev and s.t[i] - s.t[prev[-1]] > max_gap_s:
                prev = []
            base = prev[-3:]
            if len(base) >= 2 and wild[base[-1]] and not wild[base[-2]]:
                base = base[:-1]  # predict past a single wild frame, from the one before it
            if base:
                last = pts[base[-1]]
                pred = last
                if len(base) >= 2:
                    step = s.t[base[-1]] - s.t[base[-2]]
                    pred = last + (last - pts[base[-2]]) * (s.t[i] - s.t[base[-1]]) / step
                cur = pts[i]
                keep = np.linalg.norm(cur - pred, axis=-1)
                crossed = np.linalg.norm(cur[::-1] - pred, axis=-1)
                jump_keep = float(np.linalg.norm(cur - last, axis=-1).max())
                jump_cross = float(np.linalg.norm(cur[::-1] - last, axis=-1).max())
                too_fast = max_speed_legs_s * leg * (s.t[i] - s.t[base[-1]])
                teleport = jump_keep > too_fast and jump_cross < 0.5 * jump_keep
                swap[i] = float(crossed.sum()) < ratio * float(keep.sum()) or teleport
                wild[i] = float(min(keep.mean(), crossed.mean())) > wild_legs * leg
                if swap[i]:
                    pts[i] = cur[::-1]
            prev = [*prev[-2:], i]
        swaps.append(swap)
    return _swap_groups(s, swaps) if any(sw.any() for sw in swaps) else s


def drop_glitches(s: GaitSeries, max_jump_legs: float = 0.3) -> GaitSeries:
    """Forget single frames where the whole pose jumps away and straight back.

    MediaPipe occasionally puts a whole skeleton somewhere else for one frame
    (seen on the outdoor clip as the walker nears the frame edge). Such a frame
    is a spike in the pelvis position relative to both neighbours; it is dropped
    (as if nobody had been detected) and `clean` fills it from the neighbours.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames without a person
        pelvis = np.nanmean(s.xy[:, :, HIP, :], axis=1) if s.n else np.zeros((0, 2))
        leg = np.nanmedian(s.leg_px(), axis=1) if s.n else np.zeros(0)
    bad = np.zeros(s.n, dtype=bool)
    for i in range(1, s.n - 1):
        if not (s.present[i - 1] and s.present[i] and s.present[i + 1]):
            continue
        middle = (pelvis[i - 1] + pelvis[i + 1]) / 2
        spike = np.linalg.norm(pelvis[i] - middle)
        steady = np.linalg.norm(pelvis[i + 1] - pelvis[i - 1])
        if spike > max_jump_legs * leg[i - 1] and spike > 2 * steady:
            bad[i] = True
    if not bad.any():
        return s
    xy, z, vis = s.xy.copy(), s.z.copy(), s.vis.copy()
    xy[bad], z[bad], vis[bad] = np.nan, np.nan, 0.0
    present = s.present & ~bad
    return replace(s, xy=xy, z=z, vis=vis, present=present)


def clean(s: GaitSeries, sigma_s: float = 0.035, max_gap_s: float = 0.15) -> GaitSeries:
    """Outliers out, short gaps filled, light zero-phase smoothing of every coordinate.

    `sigma_s` is small on purpose: contacts must stay within a frame or two at
    30 fps, and running steps last a third of a second.
    """
    if s.n == 0:
        return s
    flat = s.xy.reshape(s.n, -1)
    xy = zero_phase_smooth(s.t, flat, sigma_s, max_gap_s).reshape(s.xy.shape)
    return replace(s, xy=xy)
