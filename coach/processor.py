"""The one per-frame processor: frame + timestamp in, `FrameResult` out.

The live camera callback, uploaded-video review and the CLI all drive this same
object, so a rep on the patient's screen is the same rep in the report. It
takes timestamps (live frames are dropped) and holds no UI or I/O state; the
pose model comes in as a `PoseEstimator`, so tests can feed poses directly
through `process_pose`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coach.angles import LegAngles, leg_angles
from coach.calibration import Neutral, NeutralCapture, neutral_signal, signal_value
from coach.counter import Phase, Rep, RepCounter
from coach.exercise import Exercise, Mode, Signal
from coach.feedback import Cue, CueArbiter, FrameFacts, propose
from coach.filters import LiveSmoother
from coach.landmarks import Pose, Side
from coach.side_select import SideChoice, SideSelector
from coach.view import ViewCheck, ViewIssue, check_view

if TYPE_CHECKING:
    import numpy as np

    from coach.pose import PoseEstimator

# Automatic neutral: the stillest second within this long of first seeing the leg.
AUTO_NEUTRAL_SEARCH_S = 2.0
CUE_DISPLAY_S = 4.0
# A usable view must last this long before anything is measured (see `_settle`).
SETTLE_S = 1.0
UNSETTLE_S = 2.0


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
    _counter: RepCounter = field(init=False)
    _arbiter: CueArbiter = field(init=False)
    _angle_filter: LiveSmoother = field(init=False)
    _signal_filter: LiveSmoother = field(init=False)
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
        self._selector = SideSelector(self.side)
        self._capture = NeutralCapture()
        self._counter = RepCounter(self.exercise.counter)
        self._arbiter = CueArbiter()
        self._angle_filter = LiveSmoother()
        self._signal_filter = LiveSmoother()
        self._knee_filter = LiveSmoother()

    # -- public API ---------------------------------------------------------------------------

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
        self._signal_filter.reset()

    def reset(self) -> None:
        """Start a fresh set/session with the same exercise and calibration."""
        self._counter.reset()
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
        side = self._selector.update(pose, t_s)
        view = check_view(pose, side if side is not None else Side.LEFT)
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

        ex = self.exercise
        raw = angles.ankle_deg if angles is not None else None
        smoothed = self._angle_filter(raw, t_s)
        ankle = None
        if smoothed is not None:
            ankle = smoothed - self.neutral.ankle_deg if self.neutral is not None else smoothed

        excursion: float | None = None
        knee_change: float | None = None
        heel_rise: float | None = None
        ready = self.neutral is not None or not self.auto_neutral
        if angles is not None and ready:
            value = signal_value(ex.signal, angles, self.neutral)
            base = neutral_signal(ex.signal, self.neutral) if self.neutral is not None else 0.0
            value = self._signal_filter(value, t_s)
            if value is not None:
                excursion = ex.excursion(value, base)
            knee = self._knee_filter(angles.knee_deg, t_s)
            if self.neutral is not None and knee is not None:
                knee_change = knee - self.neutral.knee_deg
                heel = signal_value(Signal.HEEL_HEIGHT, angles, self.neutral)
                heel_base = neutral_signal(Signal.HEEL_HEIGHT, self.neutral)
                heel_rise = None if heel is None else heel - heel_base

        update = self._counter.update(t_s, excursion)
        new_rep = update.rep if update.rep is not None and self._counts(update.rep) else None
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
        )

    # -- internals ----------------------------------------------------------------------------

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
        self._capture.update(t_s, angles)
        if self._first_valid_t is None or t_s - self._first_valid_t < self.neutral_search_s:
            return
        self.neutral = self._capture.best
        if self.neutral is not None:
            self._signal_filter.reset()
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
