"""The whole gait analysis of one recording, from poses to flags (pure core).

    detections per frame --pick_walker--> one person's poses
      --series_from_poses, drop_glitches, untangle_legs, clean--> leg tracks
      --detect_events--> bouts (direction, sides), contacts, toe-offs
      --measure_steps, summarize, gait_flags--> steps, summary, flags

`coach.gait.analyze` adds video reading and the model; `coach.gait.live` runs the
same chain on a sliding window of the camera stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from coach.gait.events import EventConfig, GaitEvents, detect_events
from coach.gait.flags import DEFAULT_FLAGS, Flag, FlagConfig, gait_flags
from coach.gait.metrics import (
    AngleSeries,
    FloorLine,
    Step,
    angle_series,
    floor_lines,
    measure_steps,
    summarize,
)
from coach.gait.person import WalkerChoice, pick_walker
from coach.gait.series import GaitSeries, clean, drop_glitches, series_from_poses, untangle_legs
from coach.landmarks import Pose


@dataclass(frozen=True)
class GaitAnalysis:
    series: GaitSeries
    angles: AngleSeries
    events: GaitEvents
    floors: dict[tuple[int, int], FloorLine | None]
    steps: list[Step]
    summary: dict[str, object]
    flags: list[Flag]
    notes: list[str]
    walker: WalkerChoice | None = None


def regular_grid(
    t_s: Sequence[float], poses: Sequence[Pose | None]
) -> tuple[list[float], list[Pose | None]]:
    """Place frames on a regular time grid at their median interval.

    Dropped frames (live) or a variable frame rate become empty slots, which the
    cleaning bridges when short, instead of silently squeezing time: every
    per-sample step (smoothing, peak spacing) then means the same duration.
    """
    times = np.asarray(t_s, dtype=float)
    if len(times) < 2:
        return [float(t) for t in times], list(poses)
    dt = float(np.median(np.diff(times)))
    if dt <= 0:
        raise ValueError("timestamps must increase")
    slots = np.round((times - times[0]) / dt).astype(int)
    n = int(slots[-1]) + 1
    grid_t = [float(times[0] + i * dt) for i in range(n)]
    grid_p: list[Pose | None] = [None] * n
    for slot, pose in zip(slots.tolist(), poses, strict=True):
        grid_p[slot] = pose if pose is not None else grid_p[slot]
    return grid_t, grid_p


def prepare_series(
    t_s: Sequence[float], poses: Sequence[Pose | None], width: int, height: int
) -> GaitSeries:
    """Poses to cleaned, untangled leg tracks on a regular time grid."""
    grid_t, grid_p = regular_grid(t_s, poses)
    raw = series_from_poses(grid_t, grid_p, width, height)
    return clean(untangle_legs(drop_glitches(raw)))


def analyze_series(
    s: GaitSeries,
    *,
    event_cfg: EventConfig | None = None,
    flag_cfg: FlagConfig = DEFAULT_FLAGS,
) -> GaitAnalysis:
    """Events, steps, summary and flags of prepared leg tracks."""
    angles = angle_series(s)
    events = detect_events(s, event_cfg, angles.ankle)
    floors = floor_lines(s, events)
    steps = measure_steps(s, events, angles, floors)
    duration = float(s.t[-1] - s.t[0]) if s.n > 1 else 0.0
    summary = summarize(steps, events.bouts, duration)
    flags, notes = gait_flags(steps, str(summary["gait"]), flag_cfg)
    return GaitAnalysis(s, angles, events, floors, steps, summary, flags, notes)


def analyze_detections(
    t_s: Sequence[float],
    detections: Sequence[Sequence[Pose]],
    width: int,
    height: int,
    *,
    event_cfg: EventConfig | None = None,
    flag_cfg: FlagConfig = DEFAULT_FLAGS,
) -> GaitAnalysis:
    """Full analysis from every pose found in each frame (one or more people)."""
    walker = pick_walker(t_s, detections)
    s = prepare_series(t_s, walker.poses, width, height)
    result = analyze_series(s, event_cfg=event_cfg, flag_cfg=flag_cfg)
    return GaitAnalysis(
        result.series,
        result.angles,
        result.events,
        result.floors,
        result.steps,
        result.summary,
        result.flags,
        result.notes,
        walker,
    )
