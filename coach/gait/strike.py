"""How a foot lands: heel first, flat or toes first (pure core).

The call compares the foot's angle at initial contact with its angle a moment
later, once it is flat on the floor (`StrikeConfig.flat_window_s` after the
contact). Only frames of that one stance are used, so the recorded analysis and
live practice (`coach.gait.live`, which sees a few seconds at a time) make the
same call for the same step once those frames are in. A baseline from the
whole walk (the median flat-stance angle of every stance in it) differs between
a clip and a live window by up to 13 degrees on the shared walk, enough to turn
heel-first into flat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from coach.gait.series import HEEL, TOE, BoolArray, FloatArray, GaitSeries

ContactKind = Literal["heel", "flat", "toe"]


@dataclass(frozen=True)
class StrikeConfig:
    heel_first_deg: float = 7.0
    """Foot pitched up at least this much (vs the same foot flat just after) at contact."""
    toe_first_deg: float = -5.0
    """Foot pitched down at least this much at contact: toe (forefoot) first."""
    flat_window_s: tuple[float, float] = (0.1, 0.25)
    """When, after the contact, the foot is flat: its angle then is the baseline. Measured
    on the shared clips (walk and treadmill run, full and heavy models, also mirrored):
    every labelled heel-first contact reads +11 deg or more against this window, and
    the synthetic flat and toe-first landings read within 2.5 deg of their truth."""


DEFAULT_STRIKE = StrikeConfig()


def foot_pitch(s: GaitSeries, track: int, facing: int) -> FloatArray:
    """Angle of the heel->toe line above the horizontal, degrees, + toes up."""
    dx = facing * (s.xy[:, track, TOE, 0] - s.xy[:, track, HEEL, 0])
    dy = -(s.xy[:, track, TOE, 1] - s.xy[:, track, HEEL, 1])
    return np.asarray(np.degrees(np.arctan2(dy, dx)), dtype=float)


def landing_pitch(
    pitch: FloatArray, t: FloatArray, seen: BoolArray, i: int, cfg: StrikeConfig = DEFAULT_STRIKE
) -> float | None:
    """Foot angle at contact frame `i` minus its angle when flat just after, + toes up.

    None until a seen frame of the flat window exists (the foot was hidden, or the
    recording or live window ends too soon after the contact).
    """
    lo, hi = t[i] + cfg.flat_window_s[0], t[i] + cfg.flat_window_s[1]
    idx = np.flatnonzero((t >= lo - 1e-6) & (t <= hi + 1e-6) & seen)
    flat = pitch[idx][np.isfinite(pitch[idx])]
    if not len(flat) or not math.isfinite(pitch[i]):
        return None
    return float(pitch[i] - np.median(flat))


def classify_contact(pitch_rel: float, cfg: StrikeConfig = DEFAULT_STRIKE) -> ContactKind:
    """Heel first, flat or toes first from `landing_pitch`."""
    if pitch_rel >= cfg.heel_first_deg:
        return "heel"
    if pitch_rel <= cfg.toe_first_deg:
        return "toe"
    return "flat"
