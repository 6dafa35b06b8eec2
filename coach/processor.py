"""The one per-frame processor: frame + timestamp in, `FrameResult` out.

The live camera callback, uploaded-video review and the CLI all drive this same
object, so a rep on the patient's screen is the same rep in the report. It
takes timestamps (live frames are dropped) and holds no UI or I/O state; the
pose model comes in as a `PoseEstimator`, so tests can feed poses directly
through `process_pose`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coach.adaptive import AdaptiveLevels
from coach.angles import LegAngles, leg_angles
from coach.calibration import Neutral, NeutralCapture, neutral_signal, signal_value
from coach.camera_view import ViewCheck, ViewIssue, check_view
from coach.counter import CounterUpdate, Phase, Rep, RepCounter
from coach.exercise import Exercise, Mode, Signal
from coach.feedback import CountingIssue, Cue, CueArbiter, FrameFacts, propose
from coach.filters import LiveSmoother
from coach.landmarks import Pose, Side
from coach.side_select import SideChoice, SideSelector

if TYPE_CHECKING:
    import numpy as np

    from coach.pose import PoseEstimator

# Automatic neutral: the stillest second within this long of first seeing the leg.
AUTO_NEUTRAL_SEARCH_S = 2.0
CUE_DISPLAY_S = 4.0
# A usable view must last this long before anything is measured (see `_settle`).
SETTLE_S = 1.0
UNSETTLE_S = 2.0
# The counted signal's smoothing (One-Euro minimum cutoff): 3 Hz keeps a fast rep's top
# at 5 analysed frames a second (1.5 Hz, the angle read-out's, lost 2 of 10 there).
SIGNAL_CUTOFF_HZ = 3.0
# The pose model's first frames of a new track are often 10-20 degrees off (worst at low
# frame rates, where they are a large share of a one-second window): no neutral from them.
TRACK_WARMUP_S = 0.4
# The first this long of a leg's signal tells whether the stream began at rest.
START_S = 0.3
# Saying why movement is not counted: after this long without a rep, for movement at
# least this share of the exercise's smallest counted range; and for a rep left open
# this long after its hold time.
QUIET_S = 5.0
SMALL_MOVEMENT = 0.5
STUCK_AFTER_HOLD_S = 5.0


@dataclass(frozen=True, slots=True)
class FrameResult:
    """Everything one frame produced. Angles are None when the view makes them meaningless."""

    t_s: float
    pose: Pose | None
    side: Side | None
    view: ViewCheck
    angles: LegAngles | None
    ankle_deg: float | None
    ankle_raw_deg: float | None
    excursion: float | None
    calibrated: bool
    phase: Phase
    reps: int
    hold_s: float
    new_rep: Rep | None
    cue: Cue | None
    active_cue: Cue | None
    counting_issue: CountingIssue | None = None
    """Why the movement seen is not being counted now (None: counting, or nothing to count)."""

    @property
    def measurable(self) -> bool:
        return self.ankle_deg is not None


@dataclass
class FrameProcessor:
    """Stateful pipeline for one exercise on one stream."""

    exercise: Exercise
    estimator: PoseEstimator | None = None
    side: SideChoice = "auto"
    neutral: Neutral | None = None
    auto_neutral: bool = True
    neutral_search_s: float = AUTO_NEUTRAL_SEARCH_S
    settle_s: float = SETTLE_S
    warnings: list[str] = field(default_factory=list)
    _selector: SideSelector = field(init=False)
    _capture: NeutralCapture = field(init=False)
    _counters: dict[Side, RepCounter] = field(init=False)
    _updates: dict[Side, CounterUpdate] = field(init=False)
    _arbiter: CueArbiter = field(init=False)
    _angle_filter: LiveSmoother = field(init=False)
    _signal_filters: dict[Side, LiveSmoother] = field(init=False)
    _levels: dict[Side, AdaptiveLevels] = field(init=False)
    _start_values: dict[Side, list[tuple[float, float]]] = field(default_factory=dict, init=False)
    _last_rep_t: float | None = field(default=None, init=False)
    _knee_filter: LiveSmoother = field(init=False)
    _first_valid_t: float | None = field(default=None, init=False)
    _ok_since: float | None = field(default=None, init=False)
    _bad_since: float | None = field(default=None, init=False)
    _settled: bool = field(default=False, init=False)
    _issue: ViewIssue | None = field(default=None, init=False)
    _issue_since: float = field(default=0.0, init=False)
    _active_cue: Cue | None = field(default=None, init=False)
    _cues: list[Cue] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        floor = self.exercise.counter.min_range or 1.0  # fixed-threshold exercises: any
        self._selector = SideSelector(self.side, min_movement=floor)
        self._capture = NeutralCapture()
        self._counters = {s: RepCounter(self.exercise.counter) for s in Side}
        self._updates = {s: CounterUpdate(Phase.REST) for s in Side}
        self._arbiter = CueArbiter()
        self._angle_filter = LiveSmoother()
        self._signal_filters = {s: LiveSmoother(min_cutoff_hz=SIGNAL_CUTOFF_HZ) for s in Side}
        self._levels = {s: AdaptiveLevels(min_range=floor) for s in Side}
        self._knee_filter = LiveSmoother()

    # -- public API ---------------------------------------------------------------------------

    def change_exercise(self, exercise: Exercise) -> None:
        """The same exercise with a new dose or target (a therapist stepped in): reps so
        far stay; the counters judge the next ones against the new target and hold."""
        if exercise.id != self.exercise.id:
            raise ValueError(f"cannot change {self.exercise.id} into {exercise.id} mid-stream")
        self.exercise = exercise
        for counter in self._counters.values():
            counter.config = exercise.counter

    @property
    def reps(self) -> list[Rep]:
        """The reps that count (in hold exercises: holds that lasted long enough)."""
        return [r for r in self._counter.reps if self._counts(r)]

    @property
    def rep_count(self) -> int:
        return len(self.reps)

    def _counts(self, rep: Rep) -> bool:
        return self.exercise.mode is Mode.REPS or rep.hold_s >= self.exercise.dose.hold_s

    @property
    def cues(self) -> list[Cue]:
        """Every cue emitted so far, in order."""
        return list(self._cues)

    def calibrate(self, neutral: Neutral | None) -> None:
        """Set (or clear, to recapture) the patient's neutral; the count carries on."""
        self.neutral = neutral
        self._capture.reset()

    def reset(self) -> None:
        """Start a fresh set/session with the same exercise and calibration."""
        for counter in self._counters.values():
            counter.reset()
        self._last_rep_t = None
        self._arbiter.reset()
        self._cues.clear()
        self._active_cue = None

    def process(self, frame_bgr: np.ndarray, t_s: float) -> FrameResult:
        """Run the pose model on a frame, then the rest of the pipeline."""
        if self.estimator is None:
            raise RuntimeError("FrameProcessor.process needs an estimator; use process_pose")
        return self.process_pose(self.estimator.detect(frame_bgr, t_s), t_s)

    def process_pose(self, pose: Pose | None, t_s: float) -> FrameResult:
        """The pipeline after the model: view, side, angles, calibration, count, cues."""
        ex = self.exercise
        leg_values = self._leg_values(pose, t_s)
        side = self._selector.update(pose, t_s, self._movement())
        view = check_view(
            pose, side if side is not None else Side.LEFT, far_leg=self._selector.far_chosen
        )
        angles = leg_angles(pose, side) if pose is not None and side is not None else None
        if angles is not None and (not view.ok or math.isnan(angles.ankle_deg)):
            angles = None
        self._track_issue(view, t_s)
        if angles is not None and self._first_valid_t is None:
            self._first_valid_t = t_s
        settled = self._settle(view.ok, t_s)
        self._maybe_calibrate(angles, t_s)  # calibration may use the settling second
        if not settled:
            angles = None

        # Degrees only where they mean clinical degrees: side-on (`coach.camera_view`).
        raw = angles.ankle_deg if angles is not None and view.angle_ok else None
        smoothed = self._angle_filter(raw, t_s)
        ankle = None
        if smoothed is not None:
            ankle = smoothed - self.neutral.ankle_deg if self.neutral is not None else smoothed

        knee_change: float | None = None
        heel_rise: float | None = None
        knee_bent = False
        # Adaptive counting needs no neutral; fixed thresholds count from one.
        ready = (
            self.neutral is not None or not self.auto_neutral or ex.counter.min_range is not None
        )
        if angles is not None and ready and side is not None:
            knee_bent = self._knee_bent(angles)
            knee = self._knee_filter(angles.knee_deg, t_s)
            if self.neutral is not None and knee is not None:
                knee_change = knee - self.neutral.knee_deg
                heel = signal_value(Signal.HEEL_HEIGHT, angles, self.neutral)
                heel_base = neutral_signal(Signal.HEEL_HEIGHT, self.neutral)
                heel_rise = None if heel is None else heel - heel_base

        # Each leg is counted all the time; the measured leg's count is the one shown, so
        # a switch to the leg that moves (found a rep or two in) keeps its first reps.
        excursions: dict[Side, float | None] = {}
        for s in Side:
            usable = settled and ready and (s is not side or angles is not None)
            excursions[s] = self._count_leg(s, t_s, leg_values.get(s) if usable else None)
        update = self._updates[side] if side is not None else self._updates[Side.LEFT]
        excursion = excursions.get(side) if side is not None else None
        new_rep = update.rep if update.rep is not None and self._counts(update.rep) else None
        counting_issue = (
            self._counting_issue(t_s, side, knee_bent, update.rep is not None) if settled else None
        )
        facts = FrameFacts(
            t_s=t_s,
            view_issue=self._issue,
            view_issue_for_s=t_s - self._issue_since if self._issue is not None else 0.0,
            phase=update.phase,
            knee_change_deg=knee_change,
            heel_rise_pct=heel_rise,
            excursion=excursion,
            hold_s=self._counter.hold.held_s,
            rep=update.rep,
            attempt=update.attempt,
            counting_issue=counting_issue,
        )
        cue = self._arbiter.choose(t_s, propose(ex, facts))
        if cue is not None:
            self._cues.append(cue)
            self._active_cue = cue
        elif self._active_cue is not None and t_s - self._active_cue.t_s > CUE_DISPLAY_S:
            self._active_cue = None
        return FrameResult(
            t_s=t_s,
            pose=pose,
            side=side,
            view=view,
            angles=angles,
            ankle_deg=ankle,
            ankle_raw_deg=raw,
            excursion=excursion,
            calibrated=self.neutral is not None,
            phase=update.phase,
            reps=self.rep_count,
            hold_s=self._counter.hold.held_s,
            new_rep=new_rep,
            cue=cue,
            active_cue=self._active_cue,
            counting_issue=counting_issue,
        )

    # -- internals ----------------------------------------------------------------------------

    def _leg_values(self, pose: Pose | None, t_s: float) -> dict[Side, float]:
        """Each seen leg's counted signal, smoothed and oriented so a rep moves it up.

        Both legs are followed all the time, so the side selector can pick the leg
        that moves and a switch of side finds that leg's levels already learnt.
        """
        ex = self.exercise
        values: dict[Side, float] = {}
        for s in Side:
            raw: float | None = None
            if pose is not None and check_view(pose, s).ok:
                angles = leg_angles(pose, s)
                if not self._knee_bent(angles):
                    raw = signal_value(ex.signal, angles, self.neutral)
            smoothed = self._signal_filters[s](raw, t_s)
            if smoothed is None:
                continue
            values[s] = ex.direction.sign * smoothed
            self._levels[s].add(t_s, values[s])
            start = self._start_values.setdefault(s, [])
            if not start or t_s - start[0][0] <= START_S:
                start.append((t_s, values[s]))
        return values

    def _count_leg(self, side: Side, t_s: float, value: float | None) -> float | None:
        """Feed one leg's counter; returns its excursion (None: not measurable now)."""
        base = self._base(side)
        excursion = value - base if value is not None and base is not None else None
        levels: tuple[float, float] | None = None
        adaptive = self._levels[side].levels() if self.exercise.counter.min_range else None
        counter = self._counters[side]
        if excursion is not None and adaptive is not None and base is not None:
            levels = (adaptive.enter - base, adaptive.exit - base)
            if not counter.armed:
                self._arm_if_started_at_rest(side, adaptive.exit)
        self._updates[side] = counter.update(t_s, excursion, levels)
        self._levels[side].freeze(self._updates[side].phase is not Phase.REST)
        return excursion

    @property
    def _counter(self) -> RepCounter:
        """The measured leg's counter."""
        return self._counters[self._selector.side or Side.LEFT]

    def _arm_if_started_at_rest(self, side: Side, exit_level: float) -> None:
        """A stream that began at rest (the clip starts at the bottom of rep 1) may count it.

        The counter needs time at rest before a rep, which the settling second hides
        when the first rep starts with the stream; the first `START_S` of the leg's
        signal, below today's exit level, is that rest.
        """
        start = self._start_values.get(side)
        if start and statistics.median(v for _, v in start) <= exit_level:
            self._counters[side].arm(start[0][0])

    def _counting_issue(
        self, t_s: float, side: Side | None, knee_bent: bool, new_rep: bool
    ) -> CountingIssue | None:
        """Why movement is seen and not counted, so the coach can say so within seconds."""
        if knee_bent:
            return CountingIssue.KNEES_BENT
        if new_rep or self._last_rep_t is None:
            self._last_rep_t = t_s
        started = self._counter.rep_started_s
        if started is not None and t_s - started > self._stuck_s():
            return CountingIssue.NOT_BACK_TO_REST
        floor = self.exercise.counter.min_range
        if floor is None or side is None or t_s - self._last_rep_t < QUIET_S:
            return None
        spread = self._levels[side].spread
        if self._counter.phase is Phase.REST and SMALL_MOVEMENT * floor <= spread < floor:
            return CountingIssue.MOVEMENT_TOO_SMALL
        return None

    def _stuck_s(self) -> float:
        """A rep still open after this long (beyond its hold) was never brought back."""
        return self.exercise.dose.hold_s + STUCK_AFTER_HOLD_S

    def _knee_bent(self, angles: LegAngles) -> bool:
        """A knee bent past the exercise's limit: not this exercise's posture, nothing counts.

        A squat moves the foot's signal as much as a heel raise does (measured on the
        shared front-view squat: knee flexion up to 80-95 degrees, against at most 14
        in every heel raise), so a standing heel raise is only measured on straight knees.
        """
        limit = self.exercise.form.max_knee_bend_deg
        return limit is not None and angles.knee_deg > limit

    def _movement(self) -> dict[Side, float]:
        """How much each leg's counted signal moved over the last seconds."""
        return {s: levels.spread for s, levels in self._levels.items()}

    def _base(self, side: Side) -> float | None:
        """The zero of the excursion: the neutral if captured, else the rest level seen."""
        ex = self.exercise
        if self.neutral is not None:
            return ex.direction.sign * neutral_signal(ex.signal, self.neutral)
        levels = self._levels[side].levels()
        return levels.rest if levels is not None else None

    def _settle(self, ok: bool, t_s: float) -> bool:
        """Measure only once a usable view has lasted `settle_s` without a break.

        A patient walking into place or turning round passes through poses that
        look briefly side-on; nothing is measured from those. Once settled, a
        lapse (the foot hidden for a moment at the bottom of a rep) pauses
        measuring only for the bad frames themselves; a lapse of `UNSETTLE_S`
        or more (the patient left or turned) means settling again.
        """
        if ok:
            self._bad_since = None
            if not self._settled:
                if self._ok_since is None:
                    self._ok_since = t_s
                self._settled = t_s - self._ok_since >= self.settle_s
            return self._settled
        self._ok_since = None
        if self._bad_since is None:
            self._bad_since = t_s
        if t_s - self._bad_since >= UNSETTLE_S:
            self._settled = False
        return False

    def _track_issue(self, view: ViewCheck, t_s: float) -> None:
        issue = view.main_issue
        if issue != self._issue:
            self._issue, self._issue_since = issue, t_s

    def _maybe_calibrate(self, angles: LegAngles | None, t_s: float) -> None:
        if self.neutral is not None or not self.auto_neutral:
            return
        first = self._first_valid_t
        if first is not None and t_s - first < TRACK_WARMUP_S:
            return  # the model's first frames of a new track are often far off
        self._capture.update(t_s, angles)
        if self._first_valid_t is None or t_s - self._first_valid_t < self.neutral_search_s:
            return
        self.neutral = self._capture.best
        if self.neutral is not None:
            if not self._capture.was_still:
                self.warnings.append(
                    "The leg was never quite still at the start: the neutral was taken from the "
                    "stillest second found, so angles may be offset by a few degrees."
                )
        elif self.exercise.signal is Signal.ANKLE:
            self.auto_neutral = False  # count on absolute angles from here on
            self.warnings.append(
                "No still moment to calibrate on: angles are absolute, not relative to "
                "your neutral."
            )
