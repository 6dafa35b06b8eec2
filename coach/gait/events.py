"""Walking bouts, the person's sides, initial contacts and toe-offs (pure core).

Events use the foot's horizontal position relative to the pelvis (Zeni et al.,
Gait Posture 2008): initial contact is when the heel is furthest forward of the
pelvis. This works the same for overground walking and a treadmill (where the
feet never move forward in the image), needs no floor line, and is measured in
leg lengths so it does not depend on camera distance. On the shared clips it
finds contacts within 1-2.5 frames of hand labels (tests/test_gait_clips.py).
Toe-off starts from Zeni's rearmost toe point and is moved back to when the toe
actually leaves the floor line, because in running the foot keeps moving back
after lift-off.

Side assignment: MediaPipe's left/right labels are not used for the person's
side. Within one walking bout, the leg nearer the camera (MediaPipe depth and
visibility, as `coach.side_select`) is on the side the camera sees: the
person's left when they face image-left, their right when they face image-right.
This is re-decided per bout, so it stays right after the person turns round.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from coach.gait.peaks import find_peaks, refine_peak, rolling_median
from coach.gait.series import (
    ANKLE,
    EDGE_MARGIN_PX,
    HEEL,
    KNEE,
    TOE,
    BoolArray,
    FloatArray,
    GaitSeries,
    IntArray,
)
from coach.gait.strike import (
    DEFAULT_STRIKE,
    ContactKind,
    StrikeConfig,
    classify_contact,
    foot_pitch,
    landing_pitch,
)
from coach.landmarks import Side


@dataclass(frozen=True)
class EventConfig:
    """Tunable thresholds; the defaults are what the shared clips were measured with."""

    min_prominence_legs: float = 0.15
    """A contact's heel must stand this far (leg lengths) in front of its neighbouring minima."""
    edge_drop_legs: float = 0.02
    """A contact at the edge of a bout (recording start/end, a turn) needs the heel to
    have started back by this much over two frames; its other side carries the prominence."""
    toe_lift_legs: float = 0.02
    """Toe-off is the first frame the toe is higher than this above the floor."""
    min_stride_s: float = 0.4
    """Two contacts of the same foot are at least this far apart (fast running: 0.6 s)."""
    facing_window_s: float = 0.5
    view_window_s: float = 1.0
    max_frontal_width: float = 0.36
    """Side-on when the 1-s running median of shoulder separation / torso length
    (`coach.camera_view.frontal_width`) is below this. Per frame it is too jumpy in gait
    (trunk rotation: up to 0.44 on the side-on treadmill clip). Measured running
    medians: side-on clips 0.06-0.31, rear view 0.40-0.74."""
    turn_pad_s: float = 0.3
    """Frames this close to a change of facing direction belong to the turn."""
    min_bout_s: float = 0.8
    max_fill_s: float = 0.15
    """Shorter losses of the person inside a bout are bridged (the foot counts as unseen)."""
    max_jump_legs: float = 0.5
    """A pelvis jump larger than this between frames means another person: a new bout."""
    strike: StrikeConfig = DEFAULT_STRIKE
    """How a landing is called heel first, flat or toes first (`coach.gait.strike`)."""


class FrameIssue(IntEnum):
    """Why a frame is not part of a walking bout."""

    OK = 0
    NO_PERSON = 1
    NOT_SIDE_ON = 2
    TURNING = 3


ISSUE_TEXT: dict[FrameIssue, str] = {
    FrameIssue.NO_PERSON: "walker not detected",
    FrameIssue.NOT_SIDE_ON: "not side-on to the camera",
    FrameIssue.TURNING: "turning",
}


@dataclass(frozen=True)
class Bout:
    """A stretch of side-on walking in one direction; frames `start` to `stop` (exclusive)."""

    index: int
    start: int
    stop: int
    facing: int
    """-1: the person faces image-left; +1: image-right."""
    sides: tuple[Side, Side]
    """The person's own side of track 0 and track 1 in this bout."""
    near_track: int
    side_confidence: float
    """Share of frames (0.5-1) in which the near track looked nearer than the other."""
    leg_px: float
    t0_s: float
    t1_s: float


@dataclass(frozen=True)
class Contact:
    """One initial contact (foot strike)."""

    frame: int
    frame_f: float
    """Sub-frame position of the contact (parabola through the heel's forward peak)."""
    t_s: float
    track: int
    side: Side
    bout: int
    kind: ContactKind | None
    foot_pitch_deg: float | None
    """Foot angle at contact minus its angle when flat just after: + toes up (heel first)."""
    ankle_deg: float | None
    valid: bool
    issues: tuple[str, ...]


@dataclass(frozen=True)
class ToeOff:
    frame: int
    t_s: float
    track: int
    side: Side
    bout: int
    valid: bool


@dataclass(frozen=True)
class GaitEvents:
    bouts: list[Bout]
    contacts: list[Contact]
    toe_offs: list[ToeOff]
    frame_issue: IntArray
    floors: dict[tuple[int, int], FloorLine | None]
    """(bout, track) -> the floor line under that foot (None: no stance seen in the bout)."""


def facing_per_frame(s: GaitSeries, window_s: float) -> IntArray:
    """-1/+1 which way the person faces (heel->toe direction of both feet), 0 unknown."""
    dx = s.xy[:, :, TOE, 0] - s.xy[:, :, HEEL, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames
        mean_dx = np.nanmean(dx, axis=1)
        foot = float(np.nanmedian(np.abs(dx))) if np.isfinite(dx).any() else math.nan
    if not math.isfinite(foot) or foot <= 0:
        return np.zeros(s.n, dtype=int)
    dt = float(np.median(np.diff(s.t))) if s.n > 1 else 1 / 30
    smooth = rolling_median(mean_dx, max(1, round(window_s / dt)))
    out = np.zeros(s.n, dtype=int)
    with np.errstate(invalid="ignore"):
        out[smooth > 0.25 * foot] = 1
        out[smooth < -0.25 * foot] = -1
    return out


def _runs(mask: BoolArray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(int), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def find_bouts(s: GaitSeries, cfg: EventConfig) -> tuple[list[tuple[int, int, int]], IntArray]:
    """(start, stop, facing) of each walking bout, and each frame's `FrameIssue`."""
    issue = np.full(s.n, FrameIssue.OK, dtype=int)
    dt = float(np.median(np.diff(s.t))) if s.n > 1 else 1 / 30
    width = rolling_median(s.frontal, max(1, round(cfg.view_window_s / dt)))
    with np.errstate(invalid="ignore"):
        issue[~(width <= cfg.max_frontal_width)] = FrameIssue.NOT_SIDE_ON
    issue[~s.present] = FrameIssue.NO_PERSON
    for a, b in _runs(issue == FrameIssue.NO_PERSON):
        short = a > 0 and b < s.n and s.t[b] - s.t[a - 1] <= cfg.max_fill_s + 1.5 * dt
        if short and issue[a - 1] == FrameIssue.OK and issue[b] == FrameIssue.OK:
            issue[a:b] = FrameIssue.OK
    facing = facing_per_frame(s, cfg.facing_window_s)
    pad = round(cfg.turn_pad_s / dt)
    ok = issue == FrameIssue.OK
    # A change of facing between two side-on stretches is a turn: pad it on both sides.
    known = np.flatnonzero(ok & (facing != 0))
    for p, q in itertools.pairwise(known.tolist()):
        if facing[p] != facing[q]:
            lo, hi = max(0, p - pad + 1), min(s.n, q + pad)
            issue[lo:hi][issue[lo:hi] == FrameIssue.OK] = FrameIssue.TURNING
    issue[(issue == FrameIssue.OK) & (facing == 0)] = FrameIssue.TURNING
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames without a person
        leg = np.nanmedian(s.leg_px(), axis=1) if s.n else np.zeros(0)
    pelvis = s.pelvis_x
    bouts: list[tuple[int, int, int]] = []
    for a, b in _runs(issue == FrameIssue.OK):
        start = a
        for i in range(a + 1, b + 1):
            jump = (
                i < b
                and abs(pelvis[i] - pelvis[i - 1]) > cfg.max_jump_legs * leg[i]
                and s.t[i] - s.t[i - 1] < 0.5
            )
            if i == b or jump:
                if s.t[i - 1] - s.t[start] >= cfg.min_bout_s:
                    bouts.append((start, i, int(facing[start])))
                start = i
    return bouts, issue


def _nearness(s: GaitSeries, track: int) -> FloatArray:
    """Per frame: higher = nearer the camera and better seen (as `coach.side_select`)."""
    pts = [KNEE, ANKLE, HEEL, TOE]
    shank = np.linalg.norm(s.xy[:, track, KNEE] - s.xy[:, track, ANKLE], axis=-1)
    depth = np.mean(s.z[:, track, pts], axis=1) / np.maximum(shank, 1.0)
    return np.asarray(np.mean(s.vis[:, track, pts], axis=1) - 0.5 * depth, dtype=float)


def assign_sides(
    s: GaitSeries, start: int, stop: int, facing: int
) -> tuple[tuple[Side, Side], int, float]:
    """The person's side of each track in a bout, the near track, and how sure (0.5-1)."""
    diff = _nearness(s, 0)[start:stop] - _nearness(s, 1)[start:stop]
    diff = diff[np.isfinite(diff)]
    share0 = float(np.mean(diff > 0)) if len(diff) else 0.5
    near = 0 if share0 >= 0.5 else 1
    seen_side = Side.LEFT if facing < 0 else Side.RIGHT
    sides = (seen_side, seen_side.other) if near == 0 else (seen_side.other, seen_side)
    return sides, near, max(share0, 1 - share0)


def _forward(s: GaitSeries, track: int, joint: int, facing: int, leg: float) -> FloatArray:
    """How far the joint is in front of the pelvis, in leg lengths (masked to the bout)."""
    return np.asarray(facing * (s.xy[:, track, joint, 0] - s.pelvis_x) / leg, dtype=float)


@dataclass(frozen=True)
class FloorLine:
    """y = intercept + slope * x: the image line the toe point rests on in stance."""

    intercept: float
    slope: float
    samples: int

    def y(self, x: float | FloatArray) -> float | FloatArray:
        return self.intercept + self.slope * x


def fit_floor(points: list[tuple[float, float]], leg_px: float) -> FloorLine | None:
    """Floor line through one (x, y) toe point per stance.

    One median point per stance is robust to MediaPipe's frame-to-frame jitter of
    the toe (several pixels when the person is small). A slope needs three
    stances spread over a leg length or more (the camera may be rolled a little);
    otherwise the floor is taken as level at the median height.
    """
    if not points:
        return None
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    if len(points) < 3 or np.ptp(x) < leg_px:
        return FloorLine(float(np.median(y)), 0.0, len(points))
    slope = float(np.clip(np.polyfit(x, y, 1)[0], -MAX_FLOOR_SLOPE, MAX_FLOOR_SLOPE))
    return FloorLine(float(np.median(y - slope * x)), slope, len(points))


MAX_FLOOR_SLOPE = 0.1
"""A walking surface seen side-on is close to level in the image (about 6 degrees at most)."""


def toe_height(s: GaitSeries, track: int, floor: FloorLine, leg_px: float) -> FloatArray:
    """Toe (foot-index) height above the floor line per frame, in leg lengths."""
    return np.asarray((floor.y(s.xy[:, track, TOE, 0]) - s.xy[:, track, TOE, 1]) / leg_px)


def _floor_points(
    s: GaitSeries, track: int, windows: list[tuple[int, int]], seen: BoolArray
) -> list[tuple[float, float]]:
    """One median toe (x, y) per stance, from 20-60% of contact..rearmost-toe.

    The toe point rests on the floor from foot-flat until toe-off; the window stops
    short of the rearmost-toe time, which in running comes after toe-off.
    """
    out: list[tuple[float, float]] = []
    for a, b in windows:
        idx = np.arange(a + int(0.2 * (b - a)), a + math.ceil(0.6 * (b - a)) + 1)
        idx = idx[seen[idx, track] & np.isfinite(s.xy[idx, track, TOE, 1])]
        if len(idx) >= 2:
            pts = s.xy[idx, track, TOE]
            out.append((float(np.median(pts[:, 0])), float(np.median(pts[:, 1]))))
    return out


def _refine_toe_off(height: FloatArray, a: int, j: int, lift: float) -> int:
    """The first frame the toe is clearly off the floor, searching back from `j`.

    The toe's rearmost point relative to the pelvis (`j`) is a good toe-off in
    walking but late in running, where the foot keeps moving back after it has
    left the ground; so toe-off is moved to just after the last frame in `a..j`
    where the toe was within `lift` leg lengths of the floor.
    """
    low = [m for m in range(a, j + 1) if np.isfinite(height[m]) and height[m] <= lift]
    return min(low[-1] + 1, j) if low else j


def detect_events(
    s: GaitSeries, cfg: EventConfig | None = None, ankle_deg: FloatArray | None = None
) -> GaitEvents:
    """Bouts, contacts and toe-offs of a cleaned, untangled series.

    `ankle_deg` (n, 2) are the per-track ankle angles, reported at each contact.
    """
    cfg = cfg or EventConfig()
    spans, issue = find_bouts(s, cfg)
    seen = s.seen
    dt = float(np.median(np.diff(s.t))) if s.n > 1 else 1 / 30
    min_dist = max(1, round(cfg.min_stride_s / dt))
    frames = np.arange(s.n, dtype=float)
    bouts: list[Bout] = []
    contacts: list[Contact] = []
    toe_offs: list[ToeOff] = []
    floors: dict[tuple[int, int], FloorLine | None] = {}
    for b, (start, stop, facing) in enumerate(spans):
        sides, near, conf = assign_sides(s, start, stop, facing)
        leg = float(np.nanmedian(s.leg_px()[start:stop]))
        bout = Bout(b, start, stop, facing, sides, near, conf, leg, s.t[start], s.t[stop - 1])
        bouts.append(bout)
        mask = np.zeros(s.n, dtype=bool)
        mask[start:stop] = True
        raw: dict[int, list[tuple[int, float]]] = {}
        tos: dict[int, list[int]] = {}
        windows: dict[int, list[tuple[int, int]]] = {}
        for k in range(2):
            heel = np.where(mask, _forward(s, k, HEEL, facing, leg), np.nan)
            toe = np.where(mask, _forward(s, k, TOE, facing, leg), np.nan)
            peaks = find_peaks(heel, cfg.min_prominence_legs, min_dist, cfg.edge_drop_legs)
            # A heel outside the picture cannot be seen landing: such a peak is the model's
            # guess as the walker leaves (or enters) the view, not a contact.
            raw[k] = [(i, refine_peak(heel, i)) for i in peaks if heel_in_view(s, i, k)]
            tos[k] = _toe_offs(toe, peaks, start, stop)
            windows[k] = [(max([start, *[i for i in peaks if i < j]]), j) for j in tos[k]]
            floors[(b, k)] = fit_floor(_floor_points(s, k, windows[k], seen), leg)
        for k in range(2):
            if floors[(b, k)] is None:
                floors[(b, k)] = floors[(b, 1 - k)]
            floor = floors[(b, k)]
            if floor is not None:
                height = toe_height(s, k, floor, leg)
                tos[k] = [_refine_toe_off(height, a, j, cfg.toe_lift_legs) for a, j in windows[k]]
            pitch = foot_pitch(s, k, facing)
            for i, fi in raw[k]:
                issues: list[str] = []
                if not contact_seen(s, seen, i, k):
                    issues.append("foot hidden or out of frame at contact")
                valid = not issues
                rel = landing_pitch(pitch, s.t, seen[:, k] & mask, i, cfg.strike) if valid else None
                kind = classify_contact(rel, cfg.strike) if rel is not None else None
                ankle = float(ankle_deg[i, k]) if ankle_deg is not None and valid else None
                contacts.append(
                    Contact(
                        frame=i,
                        frame_f=fi,
                        t_s=float(np.interp(fi, frames, s.t)),
                        track=k,
                        side=sides[k],
                        bout=b,
                        kind=kind,
                        foot_pitch_deg=rel,
                        ankle_deg=ankle if ankle is None or math.isfinite(ankle) else None,
                        valid=valid,
                        issues=tuple(issues),
                    )
                )
            for i in tos[k]:
                ok = contact_seen(s, seen, i, k)
                toe_offs.append(ToeOff(i, float(s.t[i]), k, sides[k], b, ok))
    contacts.sort(key=lambda c: c.t_s)
    toe_offs.sort(key=lambda e: e.t_s)
    return GaitEvents(bouts, contacts, toe_offs, issue, floors)


def heel_in_view(s: GaitSeries, i: int, track: int) -> bool:
    """The heel point of frame `i` lies inside the picture (whatever its visibility)."""
    x, y = s.xy[i, track, HEEL]
    m = EDGE_MARGIN_PX
    return bool(m <= x <= s.width - m and m <= y <= s.height - m)


def contact_seen(s: GaitSeries, seen: BoolArray, i: int, track: int) -> bool:
    """The foot was seen around frame `i`: in every frame of i-1..i+1 that has a pose,
    and at least two of them have one (a single dropped frame is bridged, a hidden
    or out-of-frame foot is not)."""
    lo, hi = max(i - 1, 0), min(i + 2, s.n)
    present = s.present[lo:hi]
    return int(present.sum()) >= 2 and bool(seen[lo:hi, track][present].all())


def _toe_offs(toe: FloatArray, contacts: list[int], start: int, stop: int) -> list[int]:
    """The toe's rearmost point between consecutive contacts (and before the first one).

    A minimum on the edge of the searched span is not reported: the toe may still
    have been moving back when it was lost.
    """
    out: list[int] = []
    bounds = [start, *contacts] if contacts else []
    for a, b in itertools.pairwise(bounds):
        seg = toe[a:b]
        if len(seg) < 3 or np.isnan(seg).all():
            continue
        j = int(np.nanargmin(seg))
        if 0 < j < len(seg) - 1 and not np.isnan(seg[j - 1]) and not np.isnan(seg[j + 1]):
            out.append(a + j)
    return out
