"""Progress over many sessions: adherence to the plan, range and hold trends, and whether a
change is larger than the camera can measure.

A webcam reads the ankle with an error of several degrees (docs/benchmark.md), so a trend
without its uncertainty invites reading noise as progress. Every session value here
carries a band (camera error and the session's own rep-to-rep spread), and a change is
called "better" or "worse" only when it exceeds the minimal detectable change (MDC95).
Pure: plain Python and numpy, no database, no Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

import numpy as np

from coach.prescription import Prescription
from coach.records import GaitRecord, SessionRecord, Unit

MEASUREMENT_ERROR_DEG = 5.0
"""Camera error of a session's ankle range, degrees. docs/benchmark.md: 1.5-5.1° MAE with
the heavy model on rendered clips, up to about 8° with full/lite live; 5° is a typical
home set-up, not the best case. Used for the uncertainty band of each session."""

MEASUREMENT_ERROR_PCT_SHANK = 3.0
"""Camera error of a toe or heel lift, percentage points of shin length (a few pixels of
landmark jitter on a shin of about 150 px at 640x480)."""

SEM_DEG = 2.5
"""Standard error of measurement between two sessions, degrees: MDC95 = 1.96·√2·2.5 ≈ 6.9°.

Smaller than `MEASUREMENT_ERROR_DEG` because much of the camera error against the truth
is a steady bias of one set-up (the model reads only part of the movement, gain 0.5-0.9)
that cancels when the same patient is compared with themselves, calibrated to their own
neutral. 6.9° sits at the top of what clinical.md cites (MDC95 4.6° for an inclinometer,
5-7° MAE for video angles): a webcam is not better than an inclinometer, so the higher end
is the honest one."""

SEM_PCT_SHANK = 1.5
"""SEM for lifts, percentage points of shin length: half `MEASUREMENT_ERROR_PCT_SHANK`, the
same ratio as for degrees (MDC95 ≈ 4.2 points)."""

SEM_S = 0.5
"""SEM for hold times, seconds (MDC95 ≈ 1.4 s). A hold starts and stops on thresholds of
a smoothed signal, which moves its edges by a few frames, and patients vary more in when
they let go than the camera does in seeing it."""

UNIT_DEG = Unit.DEG.value
UNIT_PCT_SHANK = Unit.PCT_SHANK.value
UNIT_S = "s"

MEASUREMENT_ERROR: dict[str, float] = {
    UNIT_DEG: MEASUREMENT_ERROR_DEG,
    UNIT_PCT_SHANK: MEASUREMENT_ERROR_PCT_SHANK,
}
SEM: dict[str, float] = {UNIT_DEG: SEM_DEG, UNIT_PCT_SHANK: SEM_PCT_SHANK, UNIT_S: SEM_S}

BASELINE_SESSIONS = 3
"""Sessions averaged at each end of a trend: one session alone is too noisy to compare."""


def mdc95(unit: str) -> float:
    """Minimal detectable change at 95% confidence for `unit`: 1.96 · √2 · SEM."""
    return 1.96 * math.sqrt(2.0) * SEM[unit]


def _clean(value: float | None) -> float | None:
    """`value` as a float, or None when missing or not finite (NaN never reaches a mean)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _local(when: datetime) -> datetime:
    """Local time (naive datetimes are taken as local already, as `astimezone` does)."""
    return when.astimezone()


def week_start(day: date) -> date:
    """The Monday of `day`'s ISO week."""
    return day - timedelta(days=day.weekday())


# --- adherence ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WeekAdherence:
    """One ISO week (Monday to Sunday, local dates): sessions done against sessions planned."""

    week_start: date
    done: int
    """Sessions with at least one rep that started in this week (any exercise)."""
    planned: int
    """Sum of `per_week` over the prescriptions in force this week (0: nothing planned)."""
    current: bool = False
    """The week containing `today`: not over yet, so a low share may still rise."""

    @property
    def week_end(self) -> date:
        return self.week_start + timedelta(days=6)

    @property
    def share(self) -> float | None:
        """Done over planned, capped at 1 (extra sessions do not make up for another week);
        None when nothing was planned (a share of nothing means nothing)."""
        if self.planned <= 0:
            return None
        return min(self.done, self.planned) / self.planned


def adherence(
    sessions: Iterable[SessionRecord],
    plan: Iterable[Prescription],
    *,
    today: date,
    weeks: int,
) -> list[WeekAdherence]:
    """The last `weeks` ISO weeks up to and including `today`'s, oldest first.

    A prescription counts from the week of its `set_at` (always, if it has none) until now;
    an inactive one is left out, because the plan keeps no date it stopped. Sessions
    without a rep (started and left) are not sessions done.
    """
    if weeks <= 0:
        return []
    last = week_start(today)
    starts = [last - timedelta(weeks=k) for k in range(weeks - 1, -1, -1)]
    done: dict[date, int] = dict.fromkeys(starts, 0)
    for s in sessions:
        if not s.reps:
            continue
        monday = week_start(_local(s.started_at).date())
        if monday in done:
            done[monday] += 1
    active = [p for p in plan if p.active]
    out = []
    for monday in starts:
        planned = sum(
            p.per_week
            for p in active
            if p.set_at is None or week_start(_local(p.set_at).date()) <= monday
        )
        out.append(WeekAdherence(monday, done[monday], planned, current=monday == last))
    return out


def adherence_share(
    weeks: Sequence[WeekAdherence], *, include_current: bool = True
) -> float | None:
    """Sessions done over planned across `weeks` (each week capped at its plan), or None
    when nothing was planned. `include_current=False` leaves out the unfinished week."""
    chosen = [w for w in weeks if w.planned > 0 and (include_current or not w.current)]
    planned = sum(w.planned for w in chosen)
    if planned == 0:
        return None
    return sum(min(w.done, w.planned) for w in chosen) / planned


# --- trends ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One session's value with its uncertainty band (`low`..`high`)."""

    started_at: datetime
    value: float
    low: float
    high: float
    n_reps: int
    """Reps averaged into `value` (those with a usable measure)."""
    unit: str
    """"deg", "pct_shank" or "s"."""
    measured_in_degrees: bool
    """True for the clinical angle (`rom_deg`, camera side-on): comparable across views."""
    session_id: str = ""


@dataclass(frozen=True, slots=True)
class Trend:
    """One exercise's sessions in time order."""

    exercise_id: str
    points: tuple[TrendPoint, ...]

    @property
    def unit(self) -> str | None:
        """The unit of the latest session (what a change is reported in)."""
        return self.points[-1].unit if self.points else None

    def in_unit(self, unit: str) -> tuple[TrendPoint, ...]:
        return tuple(p for p in self.points if p.unit == unit)


def _mean_band(values: Sequence[float], error: float) -> tuple[float, float]:
    """Mean and its half-width: camera error and the standard error of the reps (SD/√n),
    combined in quadrature (independent sources)."""
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    spread = float(arr.std(ddof=1)) / math.sqrt(arr.size) if arr.size >= 2 else 0.0
    return mean, math.hypot(error, spread)


def _ordered(sessions: Iterable[SessionRecord], exercise_id: str) -> list[SessionRecord]:
    chosen = [s for s in sessions if s.exercise_id == exercise_id and s.reps]
    return sorted(chosen, key=lambda s: _local(s.started_at))


def session_range(record: SessionRecord) -> TrendPoint | None:
    """The session's range: the clinical angle when at least half its reps have one (seen
    side-on), else the counted range in the session's unit. None without usable reps."""
    degs = [v for v in (_clean(r.rom_deg) for r in record.reps) if v is not None]
    if degs and 2 * len(degs) >= len(record.reps):
        values, unit, clinical = degs, UNIT_DEG, True
    else:
        values = [v for v in (_clean(r.range) for r in record.reps) if v is not None]
        unit, clinical = record.unit.value, False
    if not values:
        return None
    mean, half = _mean_band(values, MEASUREMENT_ERROR[unit])
    return TrendPoint(
        record.started_at, mean, mean - half, mean + half, len(values), unit, clinical, record.id
    )


def exercise_trend(sessions: Iterable[SessionRecord], exercise_id: str) -> Trend:
    """One point per session of `exercise_id` (with reps), oldest first."""
    points = [session_range(s) for s in _ordered(sessions, exercise_id)]
    return Trend(exercise_id, tuple(p for p in points if p is not None))


def hold_trend(sessions: Iterable[SessionRecord], exercise_id: str) -> Trend:
    """Mean hold per session, ± SD/√n of its reps (hold timing error is small beside the
    patient's own variation, so it is left out of the band)."""
    points = []
    for s in _ordered(sessions, exercise_id):
        holds = [v for v in (_clean(r.hold_s) for r in s.reps) if v is not None]
        if not holds:
            continue
        mean, half = _mean_band(holds, 0.0)
        points.append(
            TrendPoint(
                s.started_at, mean, mean - half, mean + half, len(holds), UNIT_S, False, s.id
            )
        )
    return Trend(exercise_id, tuple(points))


# --- change ------------------------------------------------------------------------------

BETTER = "better"
WORSE = "worse"
NO_CHANGE = "no detectable change"


@dataclass(frozen=True, slots=True)
class Change:
    """The latest sessions against the first ones, and whether the difference is real."""

    unit: str
    baseline: float
    latest: float
    delta: float
    mdc95: float
    detectable: bool
    direction: str
    """"better" (larger range or longer hold), "worse", or "no detectable change"."""
    n_baseline: int
    n_latest: int


def change_vs_baseline(trend: Trend) -> Change | None:
    """Mean of the last (up to 3) sessions minus the mean of the first (up to 3).

    Only sessions in the latest session's unit are compared (degrees are not shin
    lengths); the two groups never share a session, so at least 2 are needed (None
    otherwise). Both groups have the same size, so neither end is more averaged.
    """
    unit = trend.unit
    if unit is None:
        return None
    values = [p.value for p in trend.in_unit(unit) if math.isfinite(p.value)]
    k = min(BASELINE_SESSIONS, len(values) // 2)
    if k < 1:
        return None
    baseline = float(np.mean(values[:k]))
    latest = float(np.mean(values[-k:]))
    delta = latest - baseline
    limit = mdc95(unit)
    detectable = abs(delta) > limit
    direction = NO_CHANGE if not detectable else BETTER if delta > 0 else WORSE
    return Change(unit, baseline, latest, delta, limit, detectable, direction, k, k)


# --- cues and gait -----------------------------------------------------------------------


def recent_cues(
    sessions: Iterable[SessionRecord],
    *,
    top: int = 5,
    since: datetime | date | None = None,
) -> list[tuple[str, int]]:
    """The most frequent corrections (most first, ties by id), in sessions started at or
    after `since` (a date means from that local day on): what to work on next."""
    counts: dict[str, int] = {}
    for s in sessions:
        if since is not None:
            started = _local(s.started_at)
            if isinstance(since, datetime):
                if started < _local(since):
                    continue
            elif started.date() < since:
                continue
        for c in s.cues:
            counts[c.cue_id] = counts.get(c.cue_id, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ranked[: max(0, top)]


class GaitPoint(NamedTuple):
    """One analysed walk for a trend chart (local date)."""

    date: date
    cadence_spm: float | None
    steps: int
    flags: tuple[str, ...]


def gait_trend(gait_records: Iterable[GaitRecord]) -> list[GaitPoint]:
    """Walks oldest first; a missing or non-finite cadence is None (not plotted as 0)."""
    ordered = sorted(gait_records, key=lambda g: _local(g.started_at))
    return [
        GaitPoint(
            _local(g.started_at).date(),
            _clean(g.cadence_spm),
            int(g.steps),
            tuple(g.flags),
        )
        for g in ordered
    ]
