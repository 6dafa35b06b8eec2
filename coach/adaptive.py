"""Counting thresholds that follow the range the patient actually shows.

Fixed thresholds fail on home footage: a table-height or floor camera, a view
45 degrees off side-on and MediaPipe's own compression shrink the measured
movement to 0.2-0.8 of the true one, and a neutral taken mid-movement shifts
it. `AdaptiveLevels` keeps the last `window_s` seconds of the counted signal
(oriented so a rep moves it up) and puts the counter's thresholds at fixed
fractions between its rolling 10th and 90th percentiles: a rep is the
patient's own movement from their own rest, in whatever units and scale the
camera gives (docs/studies/counting-signals.md: the true count on every
rendered clip at 30 and 6 frames a second).

The levels freeze while a rep is in progress, so a long hold at the top does
not drag the rest level up to meet it; below `min_range` (in the signal's
units) the movement is too small to tell from noise and nothing is counted.
Pure Python; timestamps, not frame counts, so dropped frames change nothing.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Levels:
    """Where a rep starts and ends on the signal, in the signal's own units."""

    rest: float
    """The patient's rest level (rolling low percentile)."""
    top: float
    """The level the patient's reps reach (rolling high percentile)."""
    enter: float
    exit: float

    @property
    def range(self) -> float:
        return self.top - self.rest


@dataclass
class AdaptiveLevels:
    """Rolling percentiles of the oriented signal, turned into counting levels."""

    min_range: float
    window_s: float = 10.0
    low_pct: float = 10.0
    high_pct: float = 90.0
    exit_fraction: float = 0.25
    enter_fraction: float = 0.5
    min_span_s: float = 1.0
    """The window must cover this long before levels are given (one second of signal)."""
    _samples: deque[tuple[float, float]] = field(default_factory=deque, init=False)
    _frozen: Levels | None = field(default=None, init=False)
    _sorted: list[float] | None = field(default=None, init=False)
    """The window's values in order, kept until the next sample (levels and spread share it)."""

    def __post_init__(self) -> None:
        if self.min_range <= 0 or self.window_s <= 0:
            raise ValueError("min_range and window_s must be above 0")
        if not 0 <= self.low_pct < self.high_pct <= 100:
            raise ValueError("need 0 <= low_pct < high_pct <= 100")
        if not 0 < self.exit_fraction < self.enter_fraction < 1:
            raise ValueError("need 0 < exit_fraction < enter_fraction < 1")

    def reset(self) -> None:
        self._samples.clear()
        self._frozen = None
        self._sorted = None

    def add(self, t_s: float, value: float | None) -> None:
        """Record one frame's oriented signal; None (not measurable) records nothing."""
        if value is None or math.isnan(value):
            return
        self._samples.append((t_s, value))
        self._sorted = None
        while self._samples and t_s - self._samples[0][0] > self.window_s:
            self._samples.popleft()

    def freeze(self, frozen: bool) -> None:
        """Keep the rest level while a rep is in progress; release it after.

        The top may still grow: a first rep made within seconds of the start shows
        more range than the window held when it began, and its return must be judged
        on that range (else a rep that started in a deep stretch never ends).
        """
        if not frozen:
            self._frozen = None
            return
        now = self._compute()
        if self._frozen is None or now is None:
            self._frozen = self._frozen or now
            return
        if now.top > self._frozen.top:
            self._frozen = self._levels(self._frozen.rest, now.top)

    def levels(self) -> Levels | None:
        """The counting levels now; None until the window spans `min_span_s`.

        While the movement seen is small, the entry level sits `min_range` above the
        rest level: a first rep counts once it moves that far, and the jitter of a
        still leg never does.

        The rest level is the low percentile of a window that holds reps, but the
        median of one that holds none (spread below `min_range`): the low percentile
        of a still leg is the bottom of its jitter, 2-3 units below where it rests
        when the pose model wobbles (a webcam stream that begins with seconds of
        standing still). Frozen there for the first rep, that rest put the return
        level below the leg's real rest, and a first rep that came straight back
        into a second ran on into it. (A jitter nearly as wide as `min_range` is tipped
        over it by the first frames of a rep, and keeps the low percentile.)
        """
        return self._frozen if self._frozen is not None else self._compute()

    @property
    def spread(self) -> float:
        """The movement seen in the window (high minus low percentile); 0 when too short."""
        values = self._values()
        if values is None:
            return 0.0
        return _percentile(values, self.high_pct) - _percentile(values, self.low_pct)

    def _values(self) -> list[float] | None:
        if len(self._samples) < 3 or self._samples[-1][0] - self._samples[0][0] < self.min_span_s:
            return None
        if self._sorted is None:
            self._sorted = sorted(v for _, v in self._samples)
        return self._sorted

    def _compute(self) -> Levels | None:
        values = self._values()
        if values is None:
            return None
        low, high = _percentile(values, self.low_pct), _percentile(values, self.high_pct)
        if high - low < self.min_range:
            # No movement in the window: all of it is rest, and a still leg rests in the
            # middle of its jitter, not at its low tail (see `levels`).
            low = _percentile(values, 50.0)
        return self._levels(low, high)

    def _levels(self, low: float, high: float) -> Levels:
        # Never closer together than `min_range` above the rest level at entry.
        span = max(high - low, self.min_range / self.enter_fraction)
        return Levels(
            rest=low,
            top=low + span,
            enter=low + self.enter_fraction * span,
            exit=low + self.exit_fraction * span,
        )


def _percentile(ordered: list[float], pct: float) -> float:
    """Linear-interpolated percentile of an already sorted list (numpy's default)."""
    pos = (len(ordered) - 1) * pct / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
