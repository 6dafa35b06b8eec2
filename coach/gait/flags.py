"""Plain-language gait flags for foot drop, with the numbers behind them (pure core).

Each flag says what was seen, on which side, the figures and thresholds, and how
sure the app is. The thresholds are starting points from the gait literature
and from what a healthy walker measured on the shared clips with MediaPipe; they
are not validated on patients, and the therapist can override them
(`FlagConfig`). Flags describe walking: for running (no double support) they
are not evaluated, since forefoot landings and high knees are normal there.

Flags come only from steps the app sees well: valid steps of the foot nearer the
camera. The far foot is partly hidden behind the near leg in swing, and MediaPipe
then guesses it: on the shared healthy walk its toe read below the floor in
mid-swing and gave a "toe drag" flag. Its steps still count for cadence and
step times; to judge that side the patient walks back the other way.

Confidence (0-1) multiplies four things a reader can check:
- how many clear steps support it (full from `min_steps_full` steps),
- how consistent they are (share of steps beyond the threshold),
- how well the foot was seen (MediaPipe visibility; a person smaller than
  `full_resolution_leg_px` counts in proportion; in the timing asymmetry, which
  uses both feet, the far foot counts at `far_foot_weight`),
- how sure the side assignment is.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from coach.gait.metrics import Step, symmetry_index, values
from coach.landmarks import Side


@dataclass(frozen=True)
class FlagConfig:
    low_clearance_legs: float = 0.015
    """Mid-swing toe height below this (leg lengths, ~1.4 cm for a 90 cm leg) is low.
    A healthy walker's near foot read 0.026-0.078 per step (median 0.042) on the shared
    outdoor clip; single steps scatter by about +-0.03, so only a side's median counts."""
    slap_share: float = 0.5
    """Flag foot slap / toe-first when this share of a side's contacts are not heel-first."""
    steppage_hip_deg: float = 45.0
    """Peak hip flexion in swing above this is exaggerated (typical walking: 25-35 deg)."""
    steppage_knee_deg: float = 85.0
    """Peak knee flexion in swing above this is exaggerated (typical walking: 55-70 deg)."""
    steppage_excess_deg: float = 10.0
    """...or one side's hip and knee peaks exceed the other side's by this much."""
    asymmetry_si_pct: float = 10.0
    """Symmetry index (|L-R| / mean) above this for step or swing time is asymmetric."""
    clearance_gap_legs: float = 0.03
    """A left/right difference in toe clearance above this is asymmetric."""
    min_separation: float = 2.0
    """...and only if the difference is this many standard errors (step-to-step scatter)."""
    min_steps: int = 2
    min_steps_full: int = 4
    far_foot_weight: float = 0.7
    full_resolution_leg_px: float = 300.0
    """Leg length in pixels from which the figure is big enough for full confidence."""


DEFAULT_FLAGS = FlagConfig()


@dataclass(frozen=True)
class Flag:
    id: str
    side: Side | None
    message: str
    values: dict[str, float | int | str | None]
    thresholds: dict[str, float]
    confidence: float
    evidence: str
    """Which steps support the flag, in words."""
    cue: str | None = None
    """What to tell the patient during live practice."""

    @property
    def confidence_label(self) -> str:
        return confidence_label(self.confidence)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "side": self.side.value if self.side else None,
            "message": self.message,
            "values": {k: _r(v) for k, v in self.values.items()},
            "thresholds": self.thresholds,
            "confidence": round(self.confidence, 2),
            "confidence_label": self.confidence_label,
            "evidence": self.evidence,
            "cue": self.cue,
        }


def confidence_label(c: float) -> str:
    return "high" if c >= 0.7 else "medium" if c >= 0.4 else "low"


def _r(v: object) -> object:
    if isinstance(v, float):
        return round(v, 3) if math.isfinite(v) else None
    return v


CUES: dict[str, str] = {
    "low_toe_clearance": "Lift your toes as you swing your leg through.",
    "foot_slap_or_toe_first": "Land on your heel first.",
    "steppage": "Lift your toes rather than your knee.",
}


@dataclass
class _Evidence:
    steps: list[Step] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.steps)

    def quality(self, cfg: FlagConfig) -> float:
        if not self.steps:
            return 0.0
        q = [
            st.foot_visibility
            * (1.0 if st.near_camera else cfg.far_foot_weight)
            * min(1.0, st.leg_px / cfg.full_resolution_leg_px)
            for st in self.steps
        ]
        side = [min(1.0, 2 * (st.side_confidence - 0.5)) for st in self.steps]
        return statistics.mean(q) * max(0.5, statistics.mean(side))


def _confidence(n: int, consistency: float, quality: float, cfg: FlagConfig) -> float:
    return max(0.0, min(1.0, min(1.0, n / cfg.min_steps_full) * consistency * quality))


def seen_well(step: Step) -> bool:
    """A step whose swing and landing figures may support a flag or a cue."""
    return step.valid and step.near_camera


def _side_steps(steps: Sequence[Step], side: Side) -> list[Step]:
    return [st for st in steps if st.side is side and seen_well(st)]


def clearance_flag(steps: Sequence[Step], side: Side, cfg: FlagConfig) -> Flag | None:
    ev = _Evidence([st for st in _side_steps(steps, side) if st.toe_clearance is not None])
    if ev.n < cfg.min_steps:
        return None
    clear = [st.toe_clearance for st in ev.steps if st.toe_clearance is not None]
    med = statistics.median(clear)
    if med >= cfg.low_clearance_legs:
        return None
    low = sum(1 for c in clear if c < cfg.low_clearance_legs)
    drag = sum(1 for c in clear if c <= 0.0)
    conf = _confidence(ev.n, low / ev.n, ev.quality(cfg), cfg)
    name = side.value
    message = (
        f"Low toe clearance on the {name} side: in mid-swing the {name} toes came to "
        f"{med:.3f} leg lengths above the floor (median of {ev.n} steps; below "
        f"{cfg.low_clearance_legs:.3f} is low)"
        + (f", and at or below floor level in {drag} of them (toe drag)." if drag else ".")
    )
    return Flag(
        id="low_toe_clearance",
        side=side,
        message=message,
        values={
            "toe_clearance_median_legs": med,
            "toe_clearance_min_legs": min(clear),
            "steps": ev.n,
            "steps_low": low,
            "steps_at_floor": drag,
        },
        thresholds={"low_clearance_legs": cfg.low_clearance_legs},
        confidence=conf,
        evidence=f"{low} of {ev.n} clear {name} steps below the threshold",
        cue=CUES["low_toe_clearance"],
    )


def contact_flag(steps: Sequence[Step], side: Side, cfg: FlagConfig) -> Flag | None:
    ev = _Evidence([st for st in _side_steps(steps, side) if st.kind is not None])
    if ev.n < cfg.min_steps:
        return None
    flat = sum(1 for st in ev.steps if st.kind == "flat")
    toe = sum(1 for st in ev.steps if st.kind == "toe")
    share = (flat + toe) / ev.n
    if share < cfg.slap_share:
        return None
    pitches = [st.foot_pitch_ic_deg for st in ev.steps if st.foot_pitch_ic_deg is not None]
    ankles = [st.ankle_ic_deg for st in ev.steps if st.ankle_ic_deg is not None]
    name = side.value
    what = []
    if flat:
        what.append(f"flat-footed in {flat}")
    if toe:
        what.append(f"toes first in {toe}")
    message = (
        f"The {name} foot did not land heel first: it landed {' and '.join(what)} of {ev.n} "
        f"steps (foot slap or toe-first contact, a sign of weak lifting of the foot)."
    )
    return Flag(
        id="foot_slap_or_toe_first",
        side=side,
        message=message,
        values={
            "steps": ev.n,
            "flat_contacts": flat,
            "toe_contacts": toe,
            "foot_pitch_at_contact_median_deg": statistics.median(pitches) if pitches else None,
            "ankle_at_contact_median_deg": statistics.median(ankles) if ankles else None,
        },
        thresholds={"share_not_heel_first": cfg.slap_share},
        confidence=_confidence(ev.n, share, ev.quality(cfg), cfg),
        evidence=f"{flat + toe} of {ev.n} clear {name} contacts were not heel-first",
        cue=CUES["foot_slap_or_toe_first"],
    )


def steppage_flag(steps: Sequence[Step], side: Side, cfg: FlagConfig) -> Flag | None:
    own = _Evidence(
        [
            st
            for st in _side_steps(steps, side)
            if st.hip_flexion_peak_swing_deg is not None
            and st.knee_flexion_peak_swing_deg is not None
        ]
    )
    if own.n < cfg.min_steps:
        return None
    hip = statistics.median(values(own.steps, None, "hip_flexion_peak_swing_deg"))
    knee = statistics.median(values(own.steps, None, "knee_flexion_peak_swing_deg"))
    other_hip = values(steps, side.other, "hip_flexion_peak_swing_deg")
    other_knee = values(steps, side.other, "knee_flexion_peak_swing_deg")
    excess_hip = hip - statistics.median(other_hip) if len(other_hip) >= cfg.min_steps else None
    excess_knee = knee - statistics.median(other_knee) if len(other_knee) >= cfg.min_steps else None
    absolute = hip > cfg.steppage_hip_deg or knee > cfg.steppage_knee_deg
    relative = (
        excess_hip is not None
        and excess_knee is not None
        and excess_hip > cfg.steppage_excess_deg
        and excess_knee > cfg.steppage_excess_deg
    )
    if not (absolute or relative):
        return None
    high = sum(
        1
        for st in own.steps
        if (st.hip_flexion_peak_swing_deg or 0) > cfg.steppage_hip_deg
        or (st.knee_flexion_peak_swing_deg or 0) > cfg.steppage_knee_deg
        or relative
    )
    name = side.value
    parts = [f"peak hip flexion {hip:.0f} deg and knee flexion {knee:.0f} deg in swing"]
    if relative and excess_hip is not None and excess_knee is not None:
        parts.append(
            f"{excess_hip:.0f} and {excess_knee:.0f} deg more than the {side.other.value} side"
        )
    message = (
        f"Possible steppage gait on the {name} side: the {name} leg is lifted high to clear "
        f"the foot ({'; '.join(parts)}; median of {own.n} steps)."
    )
    return Flag(
        id="steppage",
        side=side,
        message=message,
        values={
            "hip_flexion_peak_median_deg": hip,
            "knee_flexion_peak_median_deg": knee,
            "hip_excess_over_other_side_deg": excess_hip,
            "knee_excess_over_other_side_deg": excess_knee,
            "steps": own.n,
        },
        thresholds={
            "hip_deg": cfg.steppage_hip_deg,
            "knee_deg": cfg.steppage_knee_deg,
            "excess_deg": cfg.steppage_excess_deg,
        },
        # Joint angles from 2D video are the least accurate figures (5-10 deg errors).
        confidence=0.8 * _confidence(own.n, high / own.n, own.quality(cfg), cfg),
        evidence=f"{high} of {own.n} clear {name} swings above the thresholds",
        cue=CUES["steppage"],
    )


def _separation(left: list[float], right: list[float]) -> float:
    """Difference of the side medians over its standard error (a Welch-style t).

    Single steps scatter (especially the far foot's toe-off, partly hidden), so a
    left/right difference counts only when it stands out from that scatter.
    """
    se = math.sqrt(statistics.variance(left) / len(left) + statistics.variance(right) / len(right))
    diff = abs(statistics.median(left) - statistics.median(right))
    return math.inf if se == 0 else diff / se


def asymmetry_flag(steps: Sequence[Step], cfg: FlagConfig) -> Flag | None:
    found: dict[str, float | int | str | None] = {}
    reasons: list[str] = []
    strength: list[tuple[int, float]] = []
    for measure, label in (("step_s", "step time"), ("swing_s", "swing time")):
        left = values(steps, Side.LEFT, measure)
        right = values(steps, Side.RIGHT, measure)
        if len(left) < cfg.min_steps or len(right) < cfg.min_steps:
            continue
        ml, mr = statistics.median(left), statistics.median(right)
        si = symmetry_index(ml, mr)
        sep = _separation(left, right)
        found[f"{measure}_left"], found[f"{measure}_right"], found[f"{measure}_si_pct"] = ml, mr, si
        if si is not None and si > cfg.asymmetry_si_pct and sep >= cfg.min_separation:
            longer = "left" if ml > mr else "right"
            reasons.append(
                f"{label} {ml:.2f} s left vs {mr:.2f} s right ({longer} longer, {si:.0f}%)"
            )
            strength.append((min(len(left), len(right)), sep))
    well = [st for st in steps if seen_well(st)]
    lc = values(well, Side.LEFT, "toe_clearance")
    rc = values(well, Side.RIGHT, "toe_clearance")
    if len(lc) >= cfg.min_steps and len(rc) >= cfg.min_steps:
        ml, mr = statistics.median(lc), statistics.median(rc)
        found["toe_clearance_left_legs"], found["toe_clearance_right_legs"] = ml, mr
        sep = _separation(lc, rc)
        if abs(ml - mr) > cfg.clearance_gap_legs and sep >= cfg.min_separation:
            lower = "left" if ml < mr else "right"
            reasons.append(f"toe clearance {ml:.3f} vs {mr:.3f} leg lengths ({lower} lower)")
            strength.append((min(len(lc), len(rc)), sep))
    if not reasons:
        return None
    n = min(k for k, _ in strength)
    sep = min(s for _, s in strength)
    quality = _Evidence([st for st in steps if st.valid]).quality(cfg)
    return Flag(
        id="asymmetry",
        side=None,
        message="Left and right steps differ: " + "; ".join(reasons) + ".",
        values=found,
        thresholds={
            "symmetry_index_pct": cfg.asymmetry_si_pct,
            "clearance_gap_legs": cfg.clearance_gap_legs,
            "min_separation": cfg.min_separation,
        },
        confidence=_confidence(n, min(1.0, sep / (2 * cfg.min_separation)), quality, cfg),
        evidence=f"at least {n} clear steps per side; difference {min(sep, 99):.1f} times its "
        "standard error",
    )


def gait_flags(
    steps: Sequence[Step], mode: str, cfg: FlagConfig = DEFAULT_FLAGS
) -> tuple[list[Flag], list[str]]:
    """All flags for a walk, and notes on what could not be judged and why."""
    notes: list[str] = []
    if mode == "running":
        notes.append(
            "This looks like running (the feet are both off the ground between steps): the "
            "foot-drop flags are for walking and were not evaluated."
        )
        return [], notes
    flags: list[Flag] = []
    for side in Side:
        clear = _side_steps(steps, side)
        if len(clear) < cfg.min_steps:
            notes.append(
                f"Too few clearly seen {side.value} steps ({len(clear)}) to judge the {side.value} "
                f"side: the {side.value} foot is seen well only while it faces the camera."
            )
            continue
        for make in (clearance_flag, contact_flag, steppage_flag):
            flag = make(steps, side, cfg)
            if flag is not None:
                flags.append(flag)
    sym = asymmetry_flag(steps, cfg)
    if sym is not None:
        flags.append(sym)
    return flags, notes


def step_signs(step: Step, cfg: FlagConfig = DEFAULT_FLAGS) -> list[str]:
    """Flag ids this single step shows (for live cues); empty unless it is `seen_well`."""
    if not seen_well(step):
        return []
    signs = []
    if step.toe_clearance is not None and step.toe_clearance < cfg.low_clearance_legs:
        signs.append("low_toe_clearance")
    if step.kind in ("flat", "toe"):
        signs.append("foot_slap_or_toe_first")
    hip, knee = step.hip_flexion_peak_swing_deg, step.knee_flexion_peak_swing_deg
    if (hip is not None and hip > cfg.steppage_hip_deg) or (
        knee is not None and knee > cfg.steppage_knee_deg
    ):
        signs.append("steppage")
    return signs
