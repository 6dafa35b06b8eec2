"""Gait analysis on synthetic side-view walkers with known events (no model, no video).

`synth_walk` builds MediaPipe-like poses of a 2D stick walker: stance feet stay
on the floor, swing feet follow a toe-height profile with a set mid-swing
clearance and landing pitch, and knee/hip come from two-link inverse kinematics.
The truth (every initial contact, its side and kind) comes with it.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest

from coach.gait.core import GaitAnalysis, analyze_detections, regular_grid
from coach.gait.events import FrameIssue
from coach.gait.flags import FlagConfig, step_signs
from coach.gait.live import GaitTracker
from coach.gait.peaks import find_peaks
from coach.gait.person import count_foot_crossings, pick_walker
from coach.gait.report import build_report
from coach.gait.series import series_from_poses, untangle_legs
from coach.gait.strike import landing_pitch
from coach.landmarks import LEGS, Keypoint, Landmark, Pose, Side

W, H = 1920, 1080
LEG = 180.0  # hip-knee + knee-ankle, pixels
FOOT = 0.25 * LEG
FLOOR = 1000.0
HIP_H = 0.92 * LEG + 0.35 * FOOT
FPS = 30.0


@dataclass
class Walk:
    """Parameters of a synthetic walk; per-side values are keyed by the person's side."""

    duration_s: float = 7.0
    stride_s: float = 1.1
    stance: float = 0.62
    stride_len: float = 1.3 * LEG
    facing: int = -1
    treadmill: bool = False
    clearance: dict[Side, float] = field(
        default_factory=lambda: {Side.LEFT: 0.05, Side.RIGHT: 0.05}
    )
    """Toe height above the floor in mid-swing, leg lengths."""
    pitch_ic: dict[Side, float] = field(default_factory=lambda: {Side.LEFT: 20.0, Side.RIGHT: 20.0})
    """Foot angle at contact, degrees: + toes up (heel first), 0 flat, - toes first."""
    lift: dict[Side, float] = field(default_factory=lambda: {Side.LEFT: 0.0, Side.RIGHT: 0.0})
    """Extra foot lift in swing (steppage), leg lengths."""
    right_phase: float = 0.5
    """When the right foot lands, as a fraction of the left foot's stride (0.5: symmetric)."""
    mislabel: bool = False
    """Put the person's left leg in MediaPipe's RIGHT slots (as MediaPipe can do side-on)."""
    swap_labels_every_s: float | None = None
    """Swap MediaPipe's leg labels back and forth this often (label flicker)."""
    hidden: tuple[float, float] | None = None
    """Time span when the far foot is hidden (MediaPipe visibility 0.1)."""
    noise_px: float = 0.8
    start_x: float | None = None
    t0: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class TrueContact:
    t_s: float
    side: Side
    kind: str


def _smooth(w: float) -> float:
    return (1 - math.cos(math.pi * min(max(w, 0.0), 1.0))) / 2


def _foot(walk: Walk, side: Side, t: float, pelvis0: float) -> tuple[np.ndarray, np.ndarray, float]:
    """World (x right, y up from the floor) heel and toe of one foot, and its pitch."""
    f = walk.facing
    v = walk.stride_len / walk.stride_s
    phase = 0.0 if side is Side.LEFT else walk.right_phase
    cyc = (t - walk.t0) / walk.stride_s - phase
    m = math.floor(cyc)
    u = cyc - m
    t_ic = walk.t0 + (m + phase) * walk.stride_s
    # heel lands a quarter stride ahead of the pelvis (both measured over the ground)
    x_ic = pelvis0 + f * v * (t_ic - walk.t0) + f * 0.25 * walk.stride_len
    p_ic = math.radians(walk.pitch_ic[side])
    st = walk.stance
    roll = -math.radians(30.0)

    def contact_pose(x_heel_flat: float, p: float) -> tuple[np.ndarray, np.ndarray]:
        if p >= 0:  # rotate about the heel
            heel = np.array([x_heel_flat, 0.0])
        else:  # rotate about the toe
            toe_fixed = np.array([x_heel_flat + f * FOOT, 0.0])
            heel = toe_fixed - np.array([f * FOOT * math.cos(p), FOOT * math.sin(p)])
        toe = heel + np.array([f * FOOT * math.cos(p), FOOT * math.sin(p)])
        return heel, toe

    if u < st:
        if u < 0.1:
            p = p_ic * (1 - u / 0.1)
            heel, toe = contact_pose(x_ic, p)
        elif u < st - 0.15:
            p = 0.0
            heel, toe = contact_pose(x_ic, 0.0)
        else:  # heel rise about the toe
            p = roll * (u - (st - 0.15)) / 0.15
            toe = np.array([x_ic + f * FOOT, 0.0])
            heel = toe - np.array([f * FOOT * math.cos(p), FOOT * math.sin(p)])
    else:
        w = (u - st) / (1 - st)
        toe_off = np.array([x_ic + f * FOOT, 0.0])
        _heel_next, toe_next = contact_pose(x_ic + f * walk.stride_len, p_ic)
        x = toe_off[0] + (toe_next[0] - toe_off[0]) * _smooth(w)
        h_end = toe_next[1]
        bump = math.sin(math.pi * w) ** 0.4
        h = h_end * _smooth(w) ** 3 + bump * (walk.clearance[side] + walk.lift[side]) * LEG
        p = roll + (p_ic - roll) * _smooth(w)
        toe = np.array([x, h])
        heel = toe - np.array([f * FOOT * math.cos(p), FOOT * math.sin(p)])
    if walk.treadmill:
        shift = f * v * (t - walk.t0)
        heel = heel - [shift, 0.0]
        toe = toe - [shift, 0.0]
    return heel, toe, p


def _leg_points(
    walk: Walk, side: Side, t: float, pelvis0: float, hip: np.ndarray
) -> dict[str, np.ndarray]:
    f = walk.facing
    heel, toe, p = _foot(walk, side, t, pelvis0)
    d = np.array([f * math.cos(p), math.sin(p)])
    n = np.array([-f * math.sin(p), math.cos(p)])
    ankle = heel + 0.25 * FOOT * d + 0.35 * FOOT * n
    seg = LEG / 2
    vec = ankle - hip
    dist = min(float(np.linalg.norm(vec)), 2 * seg * 0.999)
    u = vec / np.linalg.norm(vec)
    ankle = hip + u * dist
    mid = (hip + ankle) / 2
    perp = np.array([-u[1], u[0]])
    if perp[0] * f < 0:
        perp = -perp
    knee = mid + perp * math.sqrt(max(seg**2 - (dist / 2) ** 2, 0.0))
    return {"hip": hip, "knee": knee, "ankle": ankle, "heel": heel, "toe": toe}


def _to_image(p: np.ndarray) -> tuple[float, float]:
    return float(p[0]), float(FLOOR - p[1])


def synth_walk(walk: Walk) -> tuple[list[float], list[Pose], list[TrueContact]]:
    """Poses at `FPS` and the true initial contacts of a synthetic walk."""
    rng = np.random.default_rng(walk.seed)
    v = walk.stride_len / walk.stride_s
    n = int(walk.duration_s * FPS)
    if walk.start_x is not None:
        pelvis0 = walk.start_x
    elif walk.treadmill:
        pelvis0 = W / 2
    else:
        pelvis0 = W / 2 - walk.facing * v * walk.duration_s / 2
    near = Side.LEFT if walk.facing < 0 else Side.RIGHT
    times, poses = [], []
    for i in range(n):
        t = walk.t0 + i / FPS
        px = pelvis0 if walk.treadmill else pelvis0 + walk.facing * v * (t - walk.t0)
        hip = np.array([px, HIP_H])
        shoulder = hip + np.array([walk.facing * 0.02 * LEG, 0.85 * LEG])
        pts: dict[Landmark, tuple[float, float, float, float]] = {}
        for lm in Landmark:
            pts[lm] = (*_to_image(shoulder + np.array([0, 0.2 * LEG])), 0.0, 0.99)
        pts[Landmark.NOSE] = (
            *_to_image(shoulder + np.array([walk.facing * 0.12 * LEG, 0.3 * LEG])),
            0,
            0.99,
        )
        for ear in (Landmark.LEFT_EAR, Landmark.RIGHT_EAR):
            pts[ear] = (*_to_image(shoulder + np.array([0.0, 0.3 * LEG])), 0.0, 0.99)
        swapped = walk.mislabel
        if walk.swap_labels_every_s:
            swapped ^= int((t - walk.t0) / walk.swap_labels_every_s) % 2 == 1
        for side in Side:
            mp_side = side.other if swapped else side
            leg = LEGS[mp_side]
            is_near = side is near
            z = -0.25 * LEG if is_near else 0.25 * LEG
            vis = 0.98 if is_near else 0.85
            points = _leg_points(walk, side, t, pelvis0, hip)
            sh = shoulder + np.array([0.0, 0.0 if is_near else 0.03 * LEG])
            pts[leg.shoulder] = (*_to_image(sh), z, 0.99)
            for name in ("hip", "knee", "ankle", "heel", "toe"):
                foot_vis = vis
                hidden = walk.hidden is not None and walk.hidden[0] <= t <= walk.hidden[1]
                if hidden and not is_near and name in ("ankle", "heel", "toe"):
                    foot_vis = 0.1
                pts[getattr(leg, name)] = (*_to_image(points[name]), z, foot_vis)
        kps = tuple(
            Keypoint(
                x + rng.normal(0, walk.noise_px), y + rng.normal(0, walk.noise_px), z, vis, 0.99
            )
            for (x, y, z, vis) in (pts[lm] for lm in Landmark)
        )
        times.append(t)
        poses.append(Pose(kps, W, H))
    contacts = []
    for side in Side:
        phase = 0.0 if side is Side.LEFT else walk.right_phase
        p = walk.pitch_ic[side]
        kind = "heel" if p >= 7 else "toe" if p <= -5 else "flat"
        m = 0
        while True:
            t_ic = walk.t0 + (m + phase) * walk.stride_s
            if t_ic > walk.t0 + walk.duration_s:
                break
            if t_ic >= walk.t0:
                contacts.append(TrueContact(t_ic, side, kind))
            m += 1
    contacts.sort(key=lambda c: c.t_s)
    return times, poses, contacts


def frontal_pose(t: float, x: float) -> Pose:
    """Someone standing facing the camera (a turn or a front/rear view)."""
    pts = {lm: (x, FLOOR - HIP_H - 0.9 * LEG, 0.0, 0.99) for lm in Landmark}
    for side, sign in ((Side.LEFT, 1), (Side.RIGHT, -1)):
        leg = LEGS[side]
        dx = sign * 0.12 * LEG
        pts[leg.shoulder] = (x + 2.2 * dx, FLOOR - HIP_H - 0.85 * LEG, 0.0, 0.99)
        pts[leg.hip] = (x + dx, FLOOR - HIP_H, 0.0, 0.99)
        pts[leg.knee] = (x + dx, FLOOR - HIP_H + 0.5 * LEG, 0.0, 0.99)
        pts[leg.ankle] = (x + dx, FLOOR - 0.35 * FOOT, 0.0, 0.99)
        pts[leg.heel] = (x + dx, FLOOR - 0.1 * FOOT, 0.0, 0.99)
        pts[leg.toe] = (x + dx * 1.1, FLOOR + 0.05 * FOOT, 0.0, 0.99)
    return Pose(tuple(Keypoint(x_, y_, z, v, 0.99) for x_, y_, z, v in pts.values()), W, H)


def analyse(times: Sequence[float], poses: Sequence[Pose | None]) -> GaitAnalysis:
    return analyze_detections(times, [[p] if p else [] for p in poses], W, H)


def match(
    found: list[tuple[float, Side]], truth: list[TrueContact], tol_s: float
) -> tuple[
    list[tuple[TrueContact, tuple[float, Side]]], list[TrueContact], list[tuple[float, Side]]
]:
    """Pair found contacts with true ones within `tol_s`; returns pairs, misses, extras."""
    used: set[int] = set()
    pairs, misses = [], []
    for c in truth:
        best = None
        for j, (t, _) in enumerate(found):
            closer = best is None or abs(t - c.t_s) < abs(found[best][0] - c.t_s)
            if j not in used and abs(t - c.t_s) <= tol_s and closer:
                best = j
        if best is None:
            misses.append(c)
        else:
            used.add(best)
            pairs.append((c, found[best]))
    extras = [f for j, f in enumerate(found) if j not in used]
    return pairs, misses, extras


def inner(truth: list[TrueContact], t0: float, t1: float) -> list[TrueContact]:
    """True contacts at least half a stride from the ends (edges may not be findable)."""
    return [c for c in truth if t0 + 0.6 <= c.t_s <= t1 - 0.3]


# --- events --------------------------------------------------------------------------------


@pytest.mark.parametrize("facing", [-1, 1])
@pytest.mark.parametrize("treadmill", [False, True])
def test_contacts_sides_and_kinds_on_a_synthetic_walk(facing: int, treadmill: bool) -> None:
    walk = Walk(facing=facing, treadmill=treadmill)
    times, poses, truth = synth_walk(walk)
    a = analyse(times, poses)
    found = [(c.t_s, c.side) for c in a.events.contacts]
    pairs, misses, extras = match(found, truth, tol_s=1.5 / FPS)
    expected = inner(truth, times[0], times[-1])
    assert not [m for m in misses if m in expected]
    assert not extras
    assert all(c.side is f[1] for c, f in pairs)
    assert all(c.kind == "heel" for c in a.events.contacts if c.valid)
    assert a.summary["gait"] == "walking"
    assert a.summary["cadence_spm"] == pytest.approx(120 / walk.stride_s, rel=0.03)
    assert not a.flags


def test_sides_come_from_geometry_not_mediapipe_labels() -> None:
    """MediaPipe may label the near leg 'right' in a side view, or flip labels mid-clip."""
    for walk in (Walk(mislabel=True), Walk(swap_labels_every_s=1.7, seed=3)):
        times, poses, truth = synth_walk(walk)
        a = analyse(times, poses)
        pairs, misses, extras = match(
            [(c.t_s, c.side) for c in a.events.contacts], truth, tol_s=1.5 / FPS
        )
        assert not extras
        assert not [m for m in misses if m in inner(truth, times[0], times[-1])]
        assert all(c.side is f[1] for c, f in pairs), "side taken from MediaPipe's labels"


def _legs_together(pose: Pose) -> Pose:
    """Both legs drawn at their midpoint, as MediaPipe now and then does for a frame."""
    kps = list(pose.keypoints)
    for name in ("knee", "ankle", "heel", "toe"):
        a, b = getattr(LEGS[Side.LEFT], name), getattr(LEGS[Side.RIGHT], name)
        x, y = (kps[a].x + kps[b].x) / 2, (kps[a].y + kps[b].y) / 2
        kps[a], kps[b] = replace(kps[a], x=x, y=y), replace(kps[b], x=x, y=y)
    return Pose(tuple(kps), pose.width, pose.height)


@pytest.mark.parametrize("walk", [Walk(seed=4), Walk(stride_s=0.7, treadmill=True, seed=4)])
def test_a_frame_with_the_legs_drawn_together_does_not_swap_the_tracks(walk: Walk) -> None:
    times, poses, truth = synth_walk(walk)
    wild = [round((c.t_s - times[0]) * FPS) for c in truth]  # feet furthest apart
    wild = [i for i in wild if 2 <= i < len(poses) - 2]
    for i in wild:
        poses[i] = _legs_together(poses[i])
    s = untangle_legs(series_from_poses(times, poses, W, H))
    # The labels are right in every frame: no track may change legs, not even for a while.
    assert not np.flatnonzero(s.mp_side[:, 0] != 0).tolist()


def test_dropped_frames_are_bridged() -> None:
    walk = Walk(seed=5)
    times, poses, truth = synth_walk(walk)
    rng = np.random.default_rng(7)
    keep = rng.random(len(times)) > 0.2  # 20% of frames never arrive
    keep[0] = keep[-1] = True
    t2 = [t for t, k in zip(times, keep, strict=True) if k]
    p2 = [p for p, k in zip(poses, keep, strict=True) if k]
    a = analyse(t2, p2)
    _pairs, misses, extras = match(
        [(c.t_s, c.side) for c in a.events.contacts], truth, tol_s=2 / FPS
    )
    assert not extras
    assert not [m for m in misses if m in inner(truth, times[0], times[-1])]
    assert sum(c.valid for c in a.events.contacts) >= len(a.events.contacts) - 2


def test_hidden_foot_is_marked_not_guessed() -> None:
    walk = Walk(hidden=(3.0, 5.0))  # the far (right) foot is hidden for 2 s
    times, poses, truth = synth_walk(walk)
    a = analyse(times, poses)
    hidden_truth = [c for c in truth if c.side is Side.RIGHT and 3.0 <= c.t_s <= 5.0]
    assert hidden_truth
    for c in a.events.contacts:
        if c.side is Side.RIGHT and 3.0 <= c.t_s <= 5.0:
            assert not c.valid and c.kind is None and c.ankle_deg is None
    for st in a.steps:
        swing_hidden = st.toe_off_t_s is not None and st.t_s > 3.0 and st.toe_off_t_s < 5.0
        if st.side is Side.RIGHT and swing_hidden:
            assert not st.valid
            assert st.toe_clearance is None and st.peak_dorsiflexion_swing_deg is None
    # the near foot keeps being measured meanwhile
    assert any(st.valid and st.side is Side.LEFT and 3.0 <= st.t_s <= 5.0 for st in a.steps)
    report = build_report(a)
    assert any("hidden" in w for w in report["warnings"])


def test_turning_splits_bouts_and_keeps_sides_right() -> None:
    """Walk image-right, turn (facing the camera for a second), walk back image-left."""
    first = Walk(facing=1, duration_s=5.0, start_x=250.0)
    t1, p1, c1 = synth_walk(first)
    end_x = 250.0 + first.stride_len / first.stride_s * 5.0
    turn_t = [t1[-1] + (i + 1) / FPS for i in range(30)]
    turn_p = [frontal_pose(t, end_x) for t in turn_t]
    second = Walk(facing=-1, duration_s=5.0, start_x=end_x, t0=turn_t[-1] + 1 / FPS, seed=2)
    t2, p2, c2 = synth_walk(second)
    a = analyse(t1 + turn_t + t2, p1 + turn_p + p2)
    bouts = a.events.bouts
    assert len(bouts) == 2
    assert bouts[0].facing == 1 and bouts[1].facing == -1
    # facing image-right the camera sees the right side; image-left, the left side
    assert bouts[0].sides[bouts[0].near_track] is Side.RIGHT
    assert bouts[1].sides[bouts[1].near_track] is Side.LEFT
    turn = (turn_t[0], turn_t[-1])
    assert not [c for c in a.events.contacts if turn[0] <= c.t_s <= turn[1]]
    found = [(c.t_s, c.side) for c in a.events.contacts]
    truth = inner(c1, t1[0], t1[-1]) + inner(c2, t2[0], t2[-1])
    pairs, misses, _ = match(found, truth, tol_s=1.5 / FPS)
    assert not misses
    assert all(c.side is f[1] for c, f in pairs)
    excluded = build_report(a)["excluded"]
    assert any(
        e["reason"] in ("not side-on to the camera", "turning")
        and e["start_s"] <= turn[0] + 0.5
        and e["end_s"] >= turn[1] - 0.5
        for e in excluded
    )


def test_front_or_rear_view_reports_nothing_valid() -> None:
    times = [i / FPS for i in range(150)]
    poses: list[Pose | None] = [frontal_pose(t, 640 + 5 * math.sin(t)) for t in times]
    a = analyse(times, poses)
    assert not a.events.bouts and not a.events.contacts and not a.steps
    assert (a.events.frame_issue == FrameIssue.NOT_SIDE_ON).mean() > 0.9
    report = build_report(a)
    assert "not seen side-on" in report["warnings"][0]
    assert report["summary"]["cadence_spm"] is None


# --- flags ---------------------------------------------------------------------------------


def flag_ids(a: GaitAnalysis) -> set[tuple[str, str | None]]:
    return {(f.id, f.side.value if f.side else None) for f in a.flags}


def test_low_toe_clearance_is_flagged_on_the_low_side_only() -> None:
    walk = Walk(
        clearance={Side.LEFT: 0.0, Side.RIGHT: 0.05}, pitch_ic={Side.LEFT: 8.0, Side.RIGHT: 20.0}
    )
    a = analyse(*synth_walk(walk)[:2])
    ids = flag_ids(a)
    assert ("low_toe_clearance", "left") in ids
    assert ("low_toe_clearance", "right") not in ids
    flag = next(f for f in a.flags if f.id == "low_toe_clearance")
    assert flag.values["toe_clearance_median_legs"] < 0.015  # type: ignore[operator]
    assert "left" in flag.message and "leg lengths" in flag.message
    assert 0.4 <= flag.confidence <= 1.0
    right = [st.toe_clearance for st in a.steps if st.side is Side.RIGHT and st.toe_clearance]
    assert np.median(right) == pytest.approx(0.043, abs=0.01)  # 0.05 set, min over mid-swing


def test_toe_first_and_flat_contacts_are_classified_and_flagged() -> None:
    walk = Walk(pitch_ic={Side.LEFT: -15.0, Side.RIGHT: 20.0})
    a = analyse(*synth_walk(walk)[:2])
    kinds = {
        side: {c.kind for c in a.events.contacts if c.side is side and c.valid} for side in Side
    }
    assert kinds == {Side.LEFT: {"toe"}, Side.RIGHT: {"heel"}}
    assert ("foot_slap_or_toe_first", "left") in flag_ids(a)
    assert ("foot_slap_or_toe_first", "right") not in flag_ids(a)

    # Facing image-right, the right foot is the near one.
    flat_walk = Walk(facing=1, pitch_ic={Side.LEFT: 20.0, Side.RIGHT: 0.0})
    flat = analyse(*synth_walk(flat_walk)[:2])
    kinds_r = {c.kind for c in flat.events.contacts if c.side is Side.RIGHT and c.valid}
    assert kinds_r == {"flat"}
    flag = next(f for f in flat.flags if f.id == "foot_slap_or_toe_first")
    assert flag.side is Side.RIGHT and "flat-footed" in flag.message


@pytest.mark.parametrize(
    "walk",
    [
        Walk(clearance={Side.LEFT: 0.05, Side.RIGHT: 0.0}),
        Walk(pitch_ic={Side.LEFT: 20.0, Side.RIGHT: 0.0}),
        Walk(pitch_ic={Side.LEFT: 20.0, Side.RIGHT: -15.0}),
        Walk(lift={Side.LEFT: 0.0, Side.RIGHT: 0.25}),
    ],
    ids=["low-clearance", "flat", "toe-first", "steppage"],
)
def test_the_far_foot_raises_no_flag_or_cue_and_says_why(walk: Walk) -> None:
    """Facing image-left the right foot is the far one: partly hidden in swing, so its
    signs are not flagged (the same signs on the near foot are: the tests above)."""
    a = analyse(*synth_walk(walk)[:2])
    assert not [f for f in a.flags if f.side is Side.RIGHT]
    right = [st for st in a.steps if st.side is Side.RIGHT and st.valid]
    assert right and not any(step_signs(st) for st in right)
    assert any("right foot is seen well only while it faces the camera" in n for n in a.notes)


def test_steppage_is_flagged() -> None:
    walk = Walk(lift={Side.LEFT: 0.25, Side.RIGHT: 0.0})
    a = analyse(*synth_walk(walk)[:2])
    assert ("steppage", "left") in flag_ids(a)
    assert ("steppage", "right") not in flag_ids(a)
    flag = next(f for f in a.flags if f.id == "steppage")
    assert flag.values["hip_excess_over_other_side_deg"] > 10  # type: ignore[operator]
    normal = analyse(*synth_walk(Walk())[:2])
    assert not any(f.id == "steppage" for f in normal.flags)


def test_asymmetry_is_flagged_with_its_numbers() -> None:
    walk = Walk(right_phase=0.6)  # right lands late: left-to-right steps 0.66 s, right-to-left 0.44
    a = analyse(*synth_walk(walk)[:2])
    flag = next(f for f in a.flags if f.id == "asymmetry")
    assert flag.values["step_s_si_pct"] == pytest.approx(40, abs=5)
    assert "step time" in flag.message
    assert not any(f.id == "asymmetry" for f in analyse(*synth_walk(Walk())[:2]).flags)


def test_running_is_recognised_and_not_flagged_as_foot_drop() -> None:
    run = Walk(
        stride_s=0.7, stance=0.32, treadmill=True, pitch_ic={Side.LEFT: -10, Side.RIGHT: -10}
    )
    a = analyse(*synth_walk(run)[:2])
    assert a.summary["gait"] == "running"
    assert not a.flags
    assert any("running" in note for note in a.notes)


def test_step_signs_for_live_cues() -> None:
    a = analyse(*synth_walk(Walk(clearance={Side.LEFT: 0.0, Side.RIGHT: 0.05}))[:2])
    left = [st for st in a.steps if st.side is Side.LEFT and st.valid]
    assert left and all("low_toe_clearance" in step_signs(st) for st in left)
    strict = FlagConfig(low_clearance_legs=-1.0)
    assert not any("low_toe_clearance" in step_signs(st, strict) for st in left)


@pytest.mark.parametrize(
    ("clearance", "reported"),
    [
        (0.05, "measured"),  # healthy swing
        (-0.005, "zero"),  # a drag, read a little below the floor: the toe point's jitter
        (-0.04, "none"),  # well below the floor: a tracking failure, as the far foot reads
    ],
)
def test_a_toe_below_the_floor_is_never_a_negative_clearance(
    clearance: float, reported: str
) -> None:
    walk = Walk(clearance={Side.LEFT: clearance, Side.RIGHT: 0.05})
    a = analyse(*synth_walk(walk)[:2])
    left = [st for st in a.steps if st.side is Side.LEFT and st.valid]
    assert len(left) >= 3
    found = [st.toe_clearance for st in left]
    assert all(c is None or c >= 0 for c in found)
    if reported == "measured":
        assert all(c is not None and c == pytest.approx(clearance, abs=0.015) for c in found)
    elif reported == "zero":
        assert all(c is not None and c < 0.01 for c in found) and 0.0 in found
        assert ("low_toe_clearance", "left") in flag_ids(a)
    else:
        assert found == [None] * len(left)
        assert all(any("below the floor" in i for i in st.issues) for st in left)
        assert ("low_toe_clearance", "left") not in flag_ids(a)
    report = build_report(a, source="synthetic", model="none", fps_processed=None)
    clear = [st["toe_clearance"] for st in report["steps"]]
    assert all(c is None or c >= 0 for c in clear)


@pytest.mark.parametrize("facing", [-1, 1])
@pytest.mark.parametrize("exit_s", [4.0, 4.5])
def test_no_contact_is_invented_as_the_walker_leaves_the_picture(
    facing: int, exit_s: float
) -> None:
    """The pose model goes on placing the legs outside the picture as the walker leaves."""
    v = Walk().stride_len / Walk().stride_s
    start = v * exit_s if facing < 0 else W - v * exit_s  # the pelvis leaves at `exit_s`
    walk = Walk(facing=facing, duration_s=exit_s + 1.5, start_x=start)
    times, poses, truth = synth_walk(walk)
    a = analyse(times, poses)
    # A heel lands a quarter stride ahead of the pelvis: out of the picture after this.
    heel_out = exit_s - 0.25 * walk.stride_s
    assert a.events.contacts
    assert not [c for c in a.events.contacts if c.t_s > heel_out]
    pairs, _, extras = match([(c.t_s, c.side) for c in a.events.contacts], truth, 1.5 / FPS)
    assert not extras
    seen_truth = [c for c in inner(truth, times[0], heel_out)]
    assert len(pairs) >= len(seen_truth)


@pytest.mark.parametrize("pitch", [20.0, 8.0, 0.0, -15.0])
@pytest.mark.parametrize("facing", [-1, 1])
def test_live_and_recorded_make_the_same_landing_call(pitch: float, facing: int) -> None:
    walk = Walk(duration_s=9.0, facing=facing, pitch_ic={Side.LEFT: pitch, Side.RIGHT: pitch})
    times, poses, truth = synth_walk(walk)
    recorded = analyse(times, poses)
    tracker = GaitTracker()
    for t, pose in zip(times, poses, strict=True):
        tracker.update(pose, t)
    live = tracker.steps
    pairs = [
        (st, min(recorded.steps, key=lambda r: abs(r.t_s - st.t_s)))
        for st in live
        if min(abs(r.t_s - st.t_s) for r in recorded.steps) < 1 / FPS
    ]
    assert len(pairs) == len(live) >= len(recorded.steps) - 2
    for st, rec in pairs:
        assert st.kind == rec.kind
        if rec.foot_pitch_ic_deg is not None:
            assert st.foot_pitch_ic_deg == pytest.approx(rec.foot_pitch_ic_deg, abs=0.5)
    if abs(pitch - 7.0) > 3:  # 8 deg lies at the heel-first threshold: either call is fair
        assert {rec.kind for _, rec in pairs if rec.valid} == {truth[0].kind}


@pytest.mark.parametrize(
    ("pitch", "times", "seen", "expected"),
    [
        ([20, 15, 8, 2, 0, 0, 0, 0, 0], None, None, 20.0),  # heel first, flat from 0.1 s
        ([-12, -6, -2, 0, 0, 0, 0, 0, 0], None, None, -12.0),  # toes first
        ([3, 1, 0, 0, 0, 0, 0, 0, 0], None, None, 3.0),  # flat
        ([20, 15, 8], None, None, None),  # the recording ends before the foot is flat
        ([20, 15, 8, 2, 0, 0, 0, 0, 0], None, [1, 1, 1, 0, 0, 0, 0, 0, 0], None),  # hidden
        ([20, 0, 0], [0.0, 0.2, 0.4], None, 20.0),  # 5 frames a second
    ],
)
def test_landing_pitch_is_against_the_same_foot_flat_just_after(
    pitch: list[float],
    times: list[float] | None,
    seen: list[int] | None,
    expected: float | None,
) -> None:
    t = np.array(times if times is not None else [i / FPS for i in range(len(pitch))])
    mask = np.array(seen if seen is not None else [1] * len(pitch), dtype=bool)
    got = landing_pitch(np.array(pitch, dtype=float), t, mask, 0)
    assert got == (None if expected is None else pytest.approx(expected))


# --- live ----------------------------------------------------------------------------------


def test_live_tracker_counts_steps_and_cues_with_dropped_frames() -> None:
    walk = Walk(duration_s=10.0, clearance={Side.LEFT: 0.0, Side.RIGHT: 0.05})
    times, poses, truth = synth_walk(walk)
    rng = np.random.default_rng(11)
    tracker = GaitTracker()
    cues: list[tuple[float, str]] = []
    last = None
    for t, pose in zip(times, poses, strict=True):
        if rng.random() < 0.15:
            continue  # dropped frame
        last = tracker.update(pose, t)
        if last.cue:
            cues.append((t, last.cue))
    assert last is not None
    findable = inner(truth, times[0], times[-1])
    assert len(findable) <= last.steps <= len(truth)
    assert last.walking and last.gait == "walking"
    assert cues and all(c == "Lift your toes as you swing your leg through." for _, c in cues)
    assert all(b - a >= tracker.cooldown_s for (a, _), (b, _) in itertools.pairwise(cues))
    counted = [st.t_s for st in tracker.steps]
    _pairs, _, extras = match([(t, Side.LEFT) for t in counted], truth, tol_s=2 / FPS)
    assert not extras


def test_live_tracker_healthy_walk_gives_no_cue_and_out_of_view_message() -> None:
    times, poses, _ = synth_walk(Walk(duration_s=6.0))
    tracker = GaitTracker()
    frames = [tracker.update(p, t) for t, p in zip(times, poses, strict=True)]
    assert not any(f.cue for f in frames)
    assert frames[-1].steps >= 8
    gone = tracker.update(None, times[-1] + 2.0)
    assert not gone.walking and gone.message
    same = tracker.update(None, times[-1] + 2.0)  # repeated timestamp: ignored
    assert same.steps == gone.steps


# --- building blocks -----------------------------------------------------------------------


def test_pick_walker_prefers_the_person_who_walks() -> None:
    times, walker, _ = synth_walk(Walk(duration_s=5.0))
    bystander = [frontal_pose(t, 150 + 20 * math.sin(4 * t)) for t in times]
    detections = [
        [b, w] if i % 2 else [w, b] for i, (w, b) in enumerate(zip(walker, bystander, strict=True))
    ]
    choice = pick_walker(times, detections)
    assert all(p is w for p, w in zip(choice.poses, walker, strict=True))
    assert choice.people == 2 and choice.steps >= 6 and choice.runner_up_steps == 0


def test_foot_crossings_ignore_single_frame_flips() -> None:
    walking = [0.6 * math.sin(2 * math.pi * i / 36) for i in range(144)]  # 8 crossings
    assert count_foot_crossings(walking) == 7
    flicker = [0.5 if i % 7 else -0.5 for i in range(144)]
    assert count_foot_crossings(flicker) == 0


def test_find_peaks_edges_and_prominence() -> None:
    x = np.array([0.0, 0.5, 0.2, 0.3, 0.25, 1.0, 0.0, np.nan, 0.0, 0.8, 0.9, 0.85, 0.8])
    assert find_peaks(x, 0.3) == [1, 5]
    # the run after the NaN rises to 0.9 and falls back 0.1: an edge peak only with edge_drop
    assert find_peaks(x, 0.3, edge_drop=0.05) == [1, 5, 10]
    assert find_peaks(x, 0.3, min_distance=6) == [5]


def test_regular_grid_turns_dropped_frames_into_gaps() -> None:
    times = [0.0, 1 / 30, 2 / 30, 4 / 30, 5 / 30]
    grid_t, grid_p = regular_grid(times, ["a", "b", "c", "d", "e"])  # type: ignore[list-item]
    assert len(grid_t) == 6 and grid_p[3] is None and grid_p[4] == "d"


def test_report_is_json_and_has_the_cli_keys() -> None:
    a = analyse(*synth_walk(Walk(clearance={Side.LEFT: 0.0, Side.RIGHT: 0.05}))[:2])
    report = build_report(a, source="synthetic", model="none", fps_processed=300.0, video_fps=30.0)
    text = json.dumps(report, allow_nan=False)
    back = json.loads(text)
    for key in ("contacts", "steps", "summary", "flags", "warnings", "fps_processed"):
        assert key in back
    c = back["contacts"][0]
    assert set(c) >= {"t_s", "side", "kind", "ankle_deg", "valid"}
    f = back["flags"][0]
    assert set(f) >= {"id", "message", "values", "confidence"}
    assert back["realtime_factor"] == 10.0
    assert back["summary"]["per_side"]["left"]["toe_clearance"] < 0.015


def test_seen_side_on_but_not_walking_says_so() -> None:
    times = [i / FPS for i in range(90)]
    still = synth_walk(Walk(duration_s=3.0))[1][0]
    a = analyse(times, [still] * len(times))
    assert a.events.bouts and not a.events.contacts
    assert "no steps were found" in build_report(a)["warnings"][0]


# --- the video edge, with a fake pose model ------------------------------------------------


class FakeModel:
    """Stands in for MediaPipe: serves synthetic poses (scaled to the video) by timestamp."""

    def __init__(self, times: list[float], poses: list[Pose], scale: float, others: bool) -> None:
        self.times, self.poses, self.scale, self.others = times, poses, scale, others
        self.closed = False

    def _pose(self, t_s: float) -> Pose:
        i = int(np.argmin(np.abs(np.asarray(self.times) - t_s)))
        p = self.poses[i]
        w, h = round(p.width * self.scale), round(p.height * self.scale)
        kps = tuple(
            Keypoint(k.x * self.scale, k.y * self.scale, k.z * self.scale, k.visibility, 0.99)
            for k in p.keypoints
        )
        return Pose(kps, w, h)

    def detect(self, frame_bgr: np.ndarray, t_s: float) -> Pose | None:
        return self._pose(t_s)

    def detect_all(self, frame_bgr: np.ndarray, t_s: float) -> list[Pose]:
        bystander = frontal_pose(t_s, 200.0)
        scaled = Pose(
            tuple(Keypoint(k.x * self.scale, k.y * self.scale) for k in bystander.keypoints),
            round(W * self.scale),
            round(H * self.scale),
        )
        return [scaled, self._pose(t_s)] if self.others else [self._pose(t_s)]

    def close(self) -> None:
        self.closed = True


def test_analyze_gait_video_wiring(tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    from coach.gait.analyze import analyze_gait_video
    from coach.progress import Stage

    scale = 0.25
    times, poses, truth = synth_walk(Walk(duration_s=5.0))
    video = tmp_path / "walk.mp4"
    size = (round(W * scale), round(H * scale))
    out = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), FPS, size)
    for _ in times:
        out.write(np.full((size[1], size[0], 3), 90, np.uint8))
    out.release()
    model = FakeModel(times, poses, scale, others=True)
    ticks: list[tuple[Stage, int, int]] = []
    report = analyze_gait_video(
        video,
        estimator=model,
        annotated=tmp_path / "out.mp4",
        progress=lambda stage, done, total: ticks.append((stage, done, total)),
    )
    assert not model.closed  # a caller's model stays open for the caller
    stages = [s for s, *_ in ticks]
    assert stages == sorted(stages, key=list(Stage).index)  # each stage once, in order
    assert set(stages) == set(Stage)
    assert max(d for s, d, _ in ticks if s is Stage.POSE) == len(times)
    drawn = [(d, n) for s, d, n in ticks if s is Stage.DRAWING]
    assert drawn and drawn[-1][0] <= drawn[-1][1] == len(times)
    assert (tmp_path / "out.mp4").stat().st_size > 0
    found = [(c["t_s"], Side(c["side"])) for c in report["contacts"]]
    pairs, misses, extras = match(found, truth, tol_s=2 / FPS)
    assert not extras and not [m for m in misses if m in inner(truth, times[0], times[-1])]
    assert all(c.side is f[1] for c, f in pairs)
    assert report["fps_processed"] > 0 and report["model"] == "FakeModel"
    assert any("More than one person" in w for w in report["warnings"])
    short = analyze_gait_video(video, estimator=model, max_s=2.0)
    assert short["frames"] <= 2.0 * FPS + 2


class CountingModel:
    """A fake model answering with `people(t_s)`, recording when it was asked."""

    def __init__(self, people: Callable[[float], list[Pose]]) -> None:
        self.people = people
        self.asked: list[float] = []
        self.closed = False

    def detect(self, frame_bgr: np.ndarray, t_s: float) -> Pose | None:
        found = self.detect_all(frame_bgr, t_s)
        return found[0] if found else None

    def detect_all(self, frame_bgr: np.ndarray, t_s: float) -> list[Pose]:
        assert not self.closed
        self.asked.append(t_s)
        return self.people(t_s)

    def close(self) -> None:
        self.closed = True


def test_one_person_is_tracked_until_a_look_for_several_finds_a_second() -> None:
    pytest.importorskip("cv2")
    from coach.gait.analyze import TrackOneUntilMore

    walker, other = frontal_pose(0.0, 600.0), frontal_pose(0.0, 1400.0)
    single = CountingModel(lambda t: [walker])
    multi = CountingModel(lambda t: [walker, other] if t >= 0.95 else [walker])
    model = TrackOneUntilMore(single, multi, scan_every_s=0.2)
    frame = np.zeros((8, 8, 3), np.uint8)
    times = [i / FPS for i in range(60)]
    found = [model.detect_all(frame, t) for t in times]
    # Looks every 6th frame (0.2 s) and finds the second person at 1.0 s (frame 30) ...
    assert multi.asked == [times[i] for i in (0, 6, 12, 18, 24)] + times[30:]
    assert model.crowded_since_s == times[30]
    # ... until then the lone person comes from the tracking model, which is then closed.
    assert single.asked == times[:30] and single.closed
    assert [len(f) for f in found] == [1] * 30 + [2] * 30
    assert all(f[0] is walker for f in found)
    model.close()
    assert multi.closed


def _shifted(pose: Pose, dx: float, dy: float, scale: float) -> Pose:
    return replace(
        pose,
        keypoints=tuple(replace(k, x=k.x * scale + dx, y=k.y * scale + dy) for k in pose.keypoints),
    )


def test_live_tracker_measures_the_walker_not_a_bystander_the_model_follows() -> None:
    # The shared outdoor clip: a one-person model follows a bystander jumping in the
    # background for most of the walk, then the walker; the tracker used to measure
    # whoever it was given (156 steps/min live against 97 recorded).
    walk = Walk(duration_s=8.0)
    times, poses, truth = synth_walk(walk)
    _, bystander, _ = synth_walk(Walk(duration_s=8.0, treadmill=True, stride_s=0.55, seed=3))
    expected = 60.0 / (walk.stride_s / 2)
    for crowd in (True,):
        tracker = GaitTracker()
        cadences = []
        for i, (t, pose) in enumerate(zip(times, poses, strict=True)):
            other = _shifted(_legs_together(bystander[i]), 300.0, -250.0, 0.6)
            seen: Pose | list[Pose] = [other, pose] if crowd else other if t < 4.0 else pose
            frame = tracker.update(seen, t)
            if frame.cadence_spm is not None:
                cadences.append(frame.cadence_spm)
        assert cadences
        assert all(abs(c - expected) < 0.1 * expected for c in cadences), (crowd, cadences)
        _pairs, _, extras = match([(s.t_s, s.side) for s in tracker.steps], truth, tol_s=2 / FPS)
        assert not extras
