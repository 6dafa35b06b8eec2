"""Repetition counting and hold timing on one conditioned signal.

The counter works on the *excursion*: how far the signal has moved from the
patient's neutral in the exercise's direction (so one counter serves toe lifts,
heel raises and foot lifts). Two thresholds (hysteresis) and a minimum time in
each state keep jitter from making reps; timestamps, not frame counts, drive
every duration because live frames get dropped. A frame whose measurement is
not valid (foot out of view, wrong camera angle) pauses the counter: it neither
counts nor resets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class CounterConfig:
    """Thresholds on the excursion from neutral (degrees, or % of shank length)."""

    enter: float
    exit: float
    target: float
    target_tolerance: float = 2.0
    min_up_s: float = 0.2
    min_rest_s: float = 0.1
    max_gap_s: float = 1.0
    attempt_fraction: float = 0.5
    min_range: float | None = None
    """Set: thresholds follow the patient's own range (`coach.adaptive`) above this floor."""

    def __post_init__(self) -> None:
        if not self.exit < self.enter:
            raise ValueError(f"exit ({self.exit}) must be below enter ({self.enter})")
        if self.min_up_s < 0 or self.min_rest_s < 0 or self.max_gap_s <= 0:
            raise ValueError("durations must not be negative")
        if self.min_range is not None and self.min_range <= 0:
            raise ValueError(f"min_range ({self.min_range}) must be above 0")

    @property
    def hold_floor(self) -> float:
        """Excursion from which a position counts as 'at target' for the hold timer."""
        return self.target - self.target_tolerance


class Phase(StrEnum):
    REST = "rest"
    RISING = "rising"
    ACTIVE = "active"
    RETURNING = "returning"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class Rep:
    """One completed repetition, in the units of the counted signal."""

    index: int
    start_s: float
    end_s: float
    peak: float
    rom: float
    hold_s: float
    reached_target: bool

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Attempt:
    """A movement that started but never reached the counting threshold."""

    start_s: float
    end_s: float
    peak: float


@dataclass
class HoldTimer:
    """Time spent continuously inside the target band while the posture is valid.

    Invalid frames pause the timer (no time accrues, nothing resets); leaving
    the band for longer than `grace_s` ends the hold, so a one-frame wobble at
    the edge of the band does not cost the patient their hold.
    """

    grace_s: float = 0.3
    held_s: float = 0.0
    best_s: float = 0.0
    _last_t: float | None = None
    _out_since: float | None = None

    def reset(self) -> None:
        self.held_s = 0.0
        self.best_s = 0.0
        self._last_t = None
        self._out_since = None

    def update(self, t: float, in_band: bool, valid: bool = True) -> float:
        last, self._last_t = self._last_t, t
        if not valid:
            self._last_t = None  # pause: the invalid stretch never counts as held
            return self.held_s
        if in_band:
            self._out_since = None
            if last is not None and t > last:
                self.held_s += t - last
            self.best_s = max(self.best_s, self.held_s)
        else:
            if self._out_since is None:
                self._out_since = t
            if t - self._out_since > self.grace_s:
                self.held_s = 0.0
        return self.held_s


@dataclass
class CounterUpdate:
    """What one frame changed: the finished rep or failed attempt, if any."""

    phase: Phase
    rep: Rep | None = None
    attempt: Attempt | None = None


@dataclass
class RepCounter:
    """Hysteresis rep counter on the excursion from neutral."""

    config: CounterConfig
    reps: list[Rep] = field(default_factory=list)
    phase: Phase = Phase.REST
    hold: HoldTimer = field(default_factory=HoldTimer)
    _last_rest_t: float | None = None
    _since: float | None = None
    _start_s: float = 0.0
    _peak: float = -math.inf
    _low: float = math.inf
    _last_valid_t: float | None = None
    _resume_phase: Phase = Phase.REST
    _attempt_peak: float = -math.inf
    _attempt_start: float | None = None
    _enter: float = field(default=math.nan, init=False)
    _exit: float = field(default=math.nan, init=False)
    _armed: bool = field(default=False, init=False)
    _entered_t: float = field(default=0.0, init=False)
    _below_since: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._enter, self._exit = self.config.enter, self.config.exit

    @property
    def count(self) -> int:
        return len(self.reps)

    def reset(self) -> None:
        self.reps.clear()
        self.phase = Phase.REST
        self.hold.reset()
        self._last_rest_t = self._since = self._last_valid_t = self._attempt_start = None
        self._peak, self._low, self._attempt_peak = -math.inf, math.inf, -math.inf
        self._armed, self._below_since = False, None

    @property
    def armed(self) -> bool:
        """Whether the signal has been at rest long enough for a rep to start."""
        return self._armed

    @property
    def rep_started_s(self) -> float | None:
        """When the rep in progress began (None at rest)."""
        return self._start_s if self.phase in (Phase.ACTIVE, Phase.RETURNING) else None

    def arm(self, since_s: float) -> None:
        """Treat the signal as at rest since `since_s` (a stream that began at rest)."""
        if not self._armed and self.phase is Phase.REST:
            self._armed = True
            self._last_rest_t = since_s

    def update(
        self, t: float, excursion: float | None, levels: tuple[float, float] | None = None
    ) -> CounterUpdate:
        """Feed one frame; `excursion` None means the measurement is not valid now.

        `levels` (enter, exit) replaces the configured thresholds for this frame
        (`coach.adaptive`); a rep can start only after `min_rest_s` at rest, so the
        first frames of a stream (often far off) and a start mid-movement count nothing.
        """
        if levels is None:
            self._enter, self._exit = self.config.enter, self.config.exit
        else:
            self._enter, self._exit = levels
        if excursion is None or math.isnan(excursion):
            if self.phase is not Phase.PAUSED:
                self._resume_phase = self.phase
                self.phase = Phase.PAUSED
            self.hold.update(t, False, valid=False)
            return CounterUpdate(self.phase)
        if self.phase is Phase.PAUSED:
            gap = t - (self._last_valid_t if self._last_valid_t is not None else t)
            # A short gap resumes the rep in progress; a long one abandons it
            # (never counted, never subtracted).
            resumed = gap <= self.config.max_gap_s
            self.phase = self._resume_phase if resumed else Phase.REST
            if self.phase is Phase.REST:
                self._since = None
                self._last_rest_t = t
                self._attempt_start = None
            if not resumed:
                self._armed, self._below_since = False, None  # at rest again before the next
        # A state reached in this frame is taken to hold since the previous frame: at
        # 5-10 analysed frames a second one frame above a threshold is 0.1-0.2 s of
        # movement, while at 30 a one-frame blip stays a blip.
        prev = self._last_valid_t
        self._entered_t = prev if prev is not None and t - prev <= self.config.max_gap_s else t
        self._last_valid_t = t
        self.hold.update(t, self._in_hold_band(excursion))
        if self.phase in (Phase.REST, Phase.RISING):
            return self._update_rest(t, excursion)
        return self._update_active(t, excursion)

    def _in_hold_band(self, x: float) -> bool:
        """At the top: inside the target band, or within the tolerance of this rep's own peak.

        MediaPipe reads only 0.5-0.9 of the true ankle movement, so a patient who
        holds steadily just short of the band is still holding; the range shortfall
        is reported separately (`reached_target`, the "not far enough" cue).
        """
        if self.phase not in (Phase.ACTIVE, Phase.RETURNING):
            return False
        cfg = self.config
        floor = max(self._enter, min(cfg.hold_floor, self._peak - cfg.target_tolerance))
        return x >= floor

    def _update_rest(self, t: float, x: float) -> CounterUpdate:
        cfg = self.config
        if x <= self._exit:
            self._last_rest_t = t
            if self._below_since is None:
                self._below_since = self._entered_t
            self._armed = self._armed or t - self._below_since >= cfg.min_rest_s
        else:
            self._below_since = None
        attempt = self._track_attempt(t, x) if self._armed else None
        if x > self._enter and self._armed:
            if self._since is None:
                self._since = self._entered_t
                self.phase = Phase.RISING
            if t - self._since >= cfg.min_up_s:
                self.phase = Phase.ACTIVE
                self._start_s = self._last_rest_t if self._last_rest_t is not None else self._since
                self._peak, self._low = x, min(x, self._low)
                self._since = None
                self._attempt_start = None
                self.hold.held_s = 0.0
                self.hold.best_s = 0.0
                self.hold.update(t, self._in_hold_band(x))
        else:
            self._since = None
            self.phase = Phase.REST
        self._low = min(self._low, x)
        return CounterUpdate(self.phase, attempt=attempt)

    def _track_attempt(self, t: float, x: float) -> Attempt | None:
        """Notice movements that rise past part of the threshold and fall back."""
        cfg = self.config
        floor = self._exit + cfg.attempt_fraction * (self._enter - self._exit)
        if x > floor:
            if self._attempt_start is None:
                self._attempt_start = self._last_rest_t if self._last_rest_t is not None else t
                self._attempt_peak = x
            self._attempt_peak = max(self._attempt_peak, x)
            return None
        if self._attempt_start is not None and x <= self._exit:
            attempt = Attempt(self._attempt_start, t, self._attempt_peak)
            self._attempt_start = None
            return attempt
        return None

    def _update_active(self, t: float, x: float) -> CounterUpdate:
        cfg = self.config
        self._peak = max(self._peak, x)
        self._low = min(self._low, x)
        if x >= self._exit:
            self._since = None
            self.phase = Phase.ACTIVE
            return CounterUpdate(self.phase)
        if self._since is None:
            self._since = self._entered_t
            self.phase = Phase.RETURNING
        if t - self._since < cfg.min_rest_s:
            return CounterUpdate(self.phase)
        rep = Rep(
            index=len(self.reps) + 1,
            start_s=self._start_s,
            end_s=self._since,
            peak=self._peak,
            rom=self._peak - self._low,
            hold_s=self.hold.best_s,
            reached_target=self._peak >= cfg.hold_floor,
        )
        self.reps.append(rep)
        self.phase = Phase.REST
        self._last_rest_t = t
        self._since = None
        self._low = x
        self.hold.held_s = 0.0
        return CounterUpdate(self.phase, rep=rep)
