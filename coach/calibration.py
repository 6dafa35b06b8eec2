"""Per-patient neutral: the leg at rest, captured once and subtracted.

MediaPipe's ankle angle carries a per-person, per-camera bias (up to 28 degrees
on the shared clips) that a neutral capture removes, and foot heights need a
floor line. `NeutralCapture` takes the neutral from the first stretch of
`window_s` seconds in which the leg is visible and still; the live app runs it
during its calibration step, and recorded videos use it on their first still
second.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from coach.angles import LegAngles, height_above_floor
from coach.exercise import Signal


@dataclass(frozen=True, slots=True)
class Neutral:
    """The leg at rest, in raw measurement units (degrees, pixels)."""

    ankle_deg: float
    knee_deg: float
    heel_y: float
    toe_y: float
    shank_px: float

    @property
    def floor_y(self) -> float:
        """The floor line: the lowest foot point at rest (image y grows downwards)."""
        return max(self.heel_y, self.toe_y)

    @staticmethod
    def from_angles(samples: list[LegAngles]) -> Neutral:
        """Median of each measure, so a stray frame in the window cannot shift it."""
        if not samples:
            raise ValueError("need at least one sample")
        return Neutral(
            ankle_deg=statistics.median(a.ankle_deg for a in samples),
            knee_deg=statistics.median(a.knee_deg for a in samples),
            heel_y=statistics.median(a.heel_y for a in samples),
            toe_y=statistics.median(a.toe_y for a in samples),
            shank_px=statistics.median(a.shank_px for a in samples),
        )


class FootMeasure(Protocol):
    """What a signal is computed from: a live `LegAngles` or a stored `Neutral`."""

    @property
    def ankle_deg(self) -> float: ...
    @property
    def heel_y(self) -> float: ...
    @property
    def toe_y(self) -> float: ...
    @property
    def shank_px(self) -> float: ...


def signal_value(signal: Signal, m: FootMeasure, neutral: Neutral | None) -> float | None:
    """The exercise's signal in its own units; heights above the floor need a neutral."""
    if signal is Signal.ANKLE:
        return m.ankle_deg
    if signal is Signal.TOE_LIFT:
        return 100.0 * height_above_floor(m.toe_y, m.heel_y, m.shank_px)
    if neutral is None:
        return None
    if signal is Signal.HEEL_HEIGHT:
        y = m.heel_y
    elif signal is Signal.TOE_HEIGHT:
        y = m.toe_y
    else:
        y = max(m.heel_y, m.toe_y)  # the lower of the two points
    return 100.0 * height_above_floor(y, neutral.floor_y, m.shank_px)


def neutral_signal(signal: Signal, neutral: Neutral) -> float:
    """The signal's value in the neutral pose, the zero of every excursion."""
    value = signal_value(signal, neutral, neutral)
    return 0.0 if value is None else value


def _spread(values: list[float]) -> float:
    """10th-90th percentile range of a 5-sample running mean: robust to single-frame jitter."""
    if len(values) < 5:
        return max(values) - min(values)
    means = sorted(statistics.fmean(values[i : i + 5]) for i in range(len(values) - 4))
    return means[int(0.9 * (len(means) - 1))] - means[int(0.1 * (len(means) - 1))]


@dataclass
class NeutralCapture:
    """Finds the first still window and returns its neutral.

    Also remembers the stillest window seen so far (`best`), the fallback when
    the patient never keeps still long enough.
    """

    window_s: float = 1.0
    max_spread_deg: float = 5.0
    max_spread_shank: float = 0.05
    _buffer: deque[tuple[float, LegAngles]] = field(default_factory=deque)
    _best: tuple[float, Neutral] | None = None

    @property
    def was_still(self) -> bool:
        """Whether the best window met the stillness limits (else it is only the least bad)."""
        return self._best is not None and self._best[0] <= 1.0

    @property
    def best(self) -> Neutral | None:
        return self._best[1] if self._best is not None else None

    def reset(self) -> None:
        self._buffer.clear()
        self._best = None

    def update(self, t: float, angles: LegAngles | None) -> Neutral | None:
        if angles is None or math.isnan(angles.ankle_deg):
            self._buffer.clear()  # stillness must be continuous and fully visible
            return None
        self._buffer.append((t, angles))
        while self._buffer and t - self._buffer[0][0] > self.window_s:
            self._buffer.popleft()
        if len(self._buffer) < 5 or t - self._buffer[0][0] < self.window_s * 0.9:
            return None
        samples = [a for _, a in self._buffer]
        shank = statistics.median(a.shank_px for a in samples)
        angle_spread = _spread([a.ankle_deg for a in samples])
        foot_spread = max(_spread([a.heel_y for a in samples]), _spread([a.toe_y for a in samples]))
        badness = max(
            angle_spread / self.max_spread_deg, foot_spread / (self.max_spread_shank * shank)
        )
        if self._best is None or badness < self._best[0]:
            self._best = (badness, Neutral.from_angles(samples))
        if badness > 1.0:
            return None
        return self._best[1] if self._best[0] == badness else Neutral.from_angles(samples)
