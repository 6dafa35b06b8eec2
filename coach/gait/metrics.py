"""Per-step gait measures and their summary (pure core).

A *step* here is one foot's swing and landing: it ends at that foot's initial
contact. Its timings look back (step time from the other foot's previous
contact, stride time from the same foot's previous contact, stance and swing of
the stride that ends here) so that every measure of a step belongs to one foot.

Heights are above the floor line (`events.FloorLine`, per foot and bout), in leg
lengths (hip-knee + knee-ankle), so they do not depend on camera distance. A 2D
side view sees the foot-index point, not the shoe's lowest point, so
`toe_clearance` is a proxy for minimum toe clearance (MTC), to be read as a
trend and side-to-side, not as centimetres.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from coach.angles import ankle_dorsiflexion, hip_flexion, knee_flexion
from coach.gait.events import Bout, Contact, FloorLine, GaitEvents, ToeOff
from coach.gait.series import (
    ANKLE,
    HEEL,
    HIP,
    KNEE,
    SHOULDER,
    TOE,
    BoolArray,
    FloatArray,
    GaitSeries,
)
from coach.landmarks import Keypoint, Side

MID_SWING = (0.25, 0.75)
"""Toe clearance is the lowest toe height in this part of the swing (mid-swing,
where minimum toe clearance occurs); early and late swing are near the floor anyway."""
MIN_SEEN_SWING = 0.9
"""A swing's measures are reported only if the foot was seen in this share of its frames."""
MIN_PRESENT_SWING = 0.6
"""...and at least this share of its frames had a pose (the rest: dropped frames)."""
FLOOR_TOLERANCE_LEGS = 0.01
"""The toe point's jitter about the floor line (about 1 cm): a toe this little below it
is on the floor (clearance 0, a drag); further below is a measurement failure. The
shared walk's far foot read -0.02 to -0.05 in swing while the walker was healthy."""
BELOW_FLOOR = "toe tracked below the floor in swing: toe height not measured"
"""A step's note (it keeps its other measures) when its toe heights are not measured."""
RUNNING_DUTY = 0.5
"""Walking has double support, so stance is over half the stride; running has flight
phases, so it is under half (treadmill clip: 0.45-0.47 as measured here, walk: 0.62)."""


@dataclass(frozen=True)
class AngleSeries:
    """Per-frame joint angles, (n, 2) per track, NaN where a landmark is missing."""

    ankle: FloatArray
    knee: FloatArray
    hip: FloatArray


def _kp(xy: FloatArray) -> Keypoint:
    return Keypoint(float(xy[0]), float(xy[1]))


def angle_series(s: GaitSeries) -> AngleSeries:
    """Ankle dorsiflexion, knee and hip flexion per frame, with `coach.angles`.

    Hip flexion uses the trunk line to the mid-shoulder point: in a side view the
    two shoulders overlap and their mean is steadier than either.
    """
    ankle = np.full((s.n, 2), np.nan)
    knee = np.full((s.n, 2), np.nan)
    hip = np.full((s.n, 2), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        shoulder = np.nanmean(s.xy[:, :, SHOULDER], axis=1)
    for i in range(s.n):
        for k in range(2):
            p = s.xy[i, k]
            if np.isnan(p[[HIP, KNEE, ANKLE, HEEL, TOE]]).any():
                continue
            h, kn, an = _kp(p[HIP]), _kp(p[KNEE]), _kp(p[ANKLE])
            ankle[i, k] = ankle_dorsiflexion(kn, an, _kp(p[HEEL]), _kp(p[TOE]))
            knee[i, k] = knee_flexion(h, kn, an)
            if not np.isnan(shoulder[i]).any():
                hip[i, k] = hip_flexion(_kp(shoulder[i]), h, kn)
    return AngleSeries(ankle, knee, hip)


def floor_lines(s: GaitSeries, ev: GaitEvents) -> dict[tuple[int, int], FloorLine | None]:
    """Per (bout, track) floor line, as found with the events."""
    del s
    return dict(ev.floors)


@dataclass(frozen=True)
class Step:
    """One foot's swing and the contact that ends it. None: not measurable."""

    index: int
    side: Side
    track: int
    bout: int
    t_s: float
    """Time of the initial contact that ends this step."""
    frame: int
    kind: str | None
    ankle_ic_deg: float | None
    foot_pitch_ic_deg: float | None
    toe_off_t_s: float | None
    step_s: float | None
    stride_s: float | None
    stance_s: float | None
    swing_s: float | None
    stance_swing_ratio: float | None
    peak_dorsiflexion_swing_deg: float | None
    toe_clearance: float | None
    """Lowest toe (foot-index) height above the floor in mid-swing, leg lengths (never
    negative: a toe tracked below the floor is a measurement failure, reported as None)."""
    toe_height_max: float | None
    """Highest toe height in swing, leg lengths."""
    knee_flexion_peak_swing_deg: float | None
    hip_flexion_peak_swing_deg: float | None
    valid: bool
    issues: tuple[str, ...]
    foot_visibility: float
    """Mean MediaPipe visibility of the foot during the swing (0-1)."""
    near_camera: bool
    """The foot nearer the camera: the far one is partly hidden in swing, so less sure."""
    side_confidence: float
    """How sure the person's side is (0.5-1, from the bout's near/far decision)."""
    leg_px: float
    """The person's leg length in pixels: small figures give noisier measures."""

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["side"] = self.side.value
        return {k: _round(v) for k, v in d.items()}


def _round(v: object) -> object:
    if isinstance(v, float):
        return None if not math.isfinite(v) else round(v, 4)
    if isinstance(v, tuple):
        return list(v)
    return v


def _peak(values: FloatArray) -> float | None:
    values = values[np.isfinite(values)]
    return float(values.max()) if len(values) else None


def measure_steps(
    s: GaitSeries,
    ev: GaitEvents,
    angles: AngleSeries | None = None,
    floors: dict[tuple[int, int], FloorLine | None] | None = None,
) -> list[Step]:
    """Measure every step (one per initial contact) of a series with its events."""
    angles = angles or angle_series(s)
    floors = floors if floors is not None else floor_lines(s, ev)
    seen = s.seen
    bouts = {b.index: b for b in ev.bouts}
    steps: list[Step] = []
    for n, c in enumerate(ev.contacts):
        bout = bouts[c.bout]
        same = [p for p in ev.contacts if p.bout == c.bout and p.track == c.track and p.t_s < c.t_s]
        other = [
            p for p in ev.contacts if p.bout == c.bout and p.track != c.track and p.t_s < c.t_s
        ]
        prev_same = same[-1] if same else None
        prev_other = other[-1] if other else None
        if prev_other is not None and prev_same is not None and prev_other.t_s < prev_same.t_s:
            prev_other = None  # the other foot's contact in between was missed: no step time
        toe_off = _toe_off_before(ev.toe_offs, c, prev_same)
        steps.append(
            _measure_one(n, s, c, bout, prev_same, prev_other, toe_off, angles, floors, seen)
        )
    return steps


def _toe_off_before(toe_offs: Sequence[ToeOff], c: Contact, prev: Contact | None) -> ToeOff | None:
    start = prev.t_s if prev is not None else -math.inf
    found = [
        e for e in toe_offs if e.bout == c.bout and e.track == c.track and start < e.t_s < c.t_s
    ]
    return found[-1] if found else None


def _measure_one(
    n: int,
    s: GaitSeries,
    c: Contact,
    bout: Bout,
    prev_same: Contact | None,
    prev_other: Contact | None,
    toe_off: ToeOff | None,
    angles: AngleSeries,
    floors: dict[tuple[int, int], FloorLine | None],
    seen: BoolArray,
) -> Step:
    k = c.track
    issues = list(c.issues)
    # Timings only between events that were seen: a hidden foot's event time is a guess.
    timed = c.valid
    other_ok = timed and prev_other is not None and prev_other.valid
    same_ok = timed and prev_same is not None and prev_same.valid
    off_ok = timed and toe_off is not None and toe_off.valid
    step_s = c.t_s - prev_other.t_s if other_ok and prev_other is not None else None
    stride_s = c.t_s - prev_same.t_s if same_ok and prev_same is not None else None
    swing_s = c.t_s - toe_off.t_s if off_ok and toe_off is not None else None
    stance_s = (
        toe_off.t_s - prev_same.t_s
        if off_ok and same_ok and toe_off is not None and prev_same is not None
        else None
    )
    ratio = stance_s / swing_s if stance_s is not None and swing_s else None
    peak_df = clearance = height_max = knee_pk = hip_pk = None
    vis = 0.0
    if toe_off is None:
        issues.append("toe-off not seen: swing not measured")
    else:
        a, b = toe_off.frame, c.frame
        window = slice(a, b + 1)
        present = s.present[window]
        # Dropped frames (no pose at all) are bridged; a hidden foot is not.
        seen_share = float(seen[window, k][present].mean()) if present.sum() >= 2 else 0.0
        if b > a and present.mean() < MIN_PRESENT_SWING:
            seen_share = 0.0
        vis = float(np.mean(s.vis[window, k][:, [ANKLE, HEEL, TOE]])) if b > a else 0.0
        if seen_share < MIN_SEEN_SWING or not toe_off.valid:
            issues.append("foot hidden during swing")
        else:
            peak_df = _peak(angles.ankle[window, k])
            knee_pk = _peak(angles.knee[window, k])
            hip_pk = _peak(angles.hip[window, k])
            floor = floors.get((c.bout, k))
            if floor is not None:
                heights = (floor.y(s.xy[window, k, TOE, 0]) - s.xy[window, k, TOE, 1]) / bout.leg_px
                m0 = a + round(MID_SWING[0] * (b - a))
                m1 = a + round(MID_SWING[1] * (b - a))
                mid = heights[m0 - a : m1 - a + 1]
                mid = mid[np.isfinite(mid)]
                clearance = float(mid.min()) if len(mid) else None
                height_max = _peak(np.asarray(heights, dtype=float))
            else:
                issues.append("no floor line (no flat-foot stance seen)")
    valid = c.valid and toe_off is not None and not issues
    if clearance is not None and clearance < -FLOOR_TOLERANCE_LEGS:
        # A toe below the floor in mid-swing is a tracking error (the toe point or the
        # floor line is wrong in this swing), not a toe drag: its heights are not reported.
        clearance = height_max = None
        issues.append(BELOW_FLOOR)
    elif clearance is not None:
        clearance = max(clearance, 0.0)  # within the toe point's jitter of the floor: at it
    return Step(
        index=n,
        side=c.side,
        track=k,
        bout=c.bout,
        t_s=c.t_s,
        frame=c.frame,
        kind=c.kind,
        ankle_ic_deg=c.ankle_deg,
        foot_pitch_ic_deg=c.foot_pitch_deg,
        toe_off_t_s=toe_off.t_s if toe_off is not None else None,
        step_s=step_s,
        stride_s=stride_s,
        stance_s=stance_s,
        swing_s=swing_s,
        stance_swing_ratio=ratio,
        peak_dorsiflexion_swing_deg=peak_df,
        toe_clearance=clearance,
        toe_height_max=height_max,
        knee_flexion_peak_swing_deg=knee_pk,
        hip_flexion_peak_swing_deg=hip_pk,
        valid=valid,
        issues=tuple(issues),
        foot_visibility=vis,
        near_camera=bout.near_track == k,
        side_confidence=bout.side_confidence,
        leg_px=bout.leg_px,
    )


# --- summary -------------------------------------------------------------------------------

SIDE_MEASURES: tuple[str, ...] = (
    "step_s",
    "stride_s",
    "stance_s",
    "swing_s",
    "stance_swing_ratio",
    "ankle_ic_deg",
    "peak_dorsiflexion_swing_deg",
    "toe_clearance",
    "toe_height_max",
    "knee_flexion_peak_swing_deg",
    "hip_flexion_peak_swing_deg",
)
ASYMMETRY_MEASURES: tuple[str, ...] = (
    "step_s",
    "stance_s",
    "swing_s",
    "toe_clearance",
    "peak_dorsiflexion_swing_deg",
    "ankle_ic_deg",
    "knee_flexion_peak_swing_deg",
    "hip_flexion_peak_swing_deg",
)


TIMINGS = frozenset({"step_s", "stride_s", "stance_s", "swing_s", "stance_swing_ratio"})


def values(steps: Sequence[Step], side: Side | None, measure: str) -> list[float]:
    """A measure over the steps of one side (or both), None and NaN dropped.

    Timings are set only between seen events, so any step may contribute one;
    the swing and contact measures count only from fully valid steps.
    """
    out = []
    for st in steps:
        if side is not None and st.side is not side:
            continue
        v = getattr(st, measure)
        if (st.valid or measure in TIMINGS) and v is not None and math.isfinite(v):
            out.append(float(v))
    return out


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def symmetry_index(left: float | None, right: float | None) -> float | None:
    """|L - R| / mean(L, R) in percent (Robinson et al. 1987); None if undefined."""
    if left is None or right is None:
        return None
    mean = (abs(left) + abs(right)) / 2
    return None if mean < 1e-9 else 100.0 * abs(left - right) / mean


def summarize(steps: Sequence[Step], bouts: Sequence[Bout], duration_s: float) -> dict[str, object]:
    """Clip-level figures: cadence, gait mode, per-side medians, asymmetry."""
    valid = [st for st in steps if st.valid]
    step_times = values(steps, None, "step_s")
    cadence = 60.0 / statistics.median(step_times) if step_times else None
    duty = [st.stance_s / st.stride_s for st in steps if st.stance_s is not None and st.stride_s]
    duty_factor = _median(duty)
    mode = (
        "unknown" if duty_factor is None else "running" if duty_factor < RUNNING_DUTY else "walking"
    )
    per_side: dict[str, dict[str, object]] = {}
    for side in Side:
        own = [st for st in steps if st.side is side]
        kinds = {kind: sum(1 for st in own if st.kind == kind) for kind in ("heel", "flat", "toe")}
        entry: dict[str, object] = {
            "steps": len(own),
            "valid_steps": sum(1 for st in own if st.valid),
            "contacts_by_kind": kinds,
        }
        for m in SIDE_MEASURES:
            entry[m] = _r(_median(values(steps, side, m)))
        per_side[side.value] = entry
    asym: dict[str, dict[str, float | None]] = {}
    for m in ASYMMETRY_MEASURES:
        left = _median(values(steps, Side.LEFT, m))
        right = _median(values(steps, Side.RIGHT, m))
        asym[m] = {"left": _r(left), "right": _r(right), "si_pct": _r(symmetry_index(left, right))}
    walking_s = float(sum(b.t1_s - b.t0_s for b in bouts))
    return {
        "duration_s": _r(duration_s),
        "bouts": len(bouts),
        "steps": len(steps),
        "valid_steps": len(valid),
        "cadence_spm": _r(cadence),
        "step_s": _r(_median(step_times)),
        "stride_s": _r(_median(values(steps, None, "stride_s"))),
        "duty_factor": _r(duty_factor),
        "gait": mode,
        "walking_s": _r(walking_s),
        "per_side": per_side,
        "asymmetry": asym,
    }


def _r(v: float | None, nd: int = 4) -> float | None:
    return None if v is None or not math.isfinite(v) else round(v, nd)
