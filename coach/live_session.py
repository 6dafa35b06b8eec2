"""A live exercise session: camera set-up check, neutral calibration, sets and rests, the log.

The webcam callback feeds poses in with session timestamps and reads a `LiveStatus`
snapshot back; everything here is plain Python (no Streamlit, no model, no database)
so the set and rest plan, the events, the summary and the exports are unit-tested
without a browser. Counting itself is the shared `FrameProcessor`, unchanged, so a rep
on the patient's screen is the same rep as in a reviewed video.

What happens leaves as typed events (`coach.events`) on the session's `bus`: the
session log and the spoken audio subscribe here; the page adds the storage recorder.
Prompts, cues and announcements are ids with parameters; `coach.wording` words them.

Stages: COUNTDOWN (optional: a few seconds for the patient who pressed Start to get
back to the chair) -> SETUP (guide the patient until the view is usable) -> CALIBRATING
(optional: capture the foot's neutral while it is still) -> COUNTING <-> RESTING
(between sets) -> DONE (all sets finished; further reps are still logged).
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

import numpy as np

from coach.calibration import Neutral, NeutralCapture
from coach.camera_view import CameraView, ViewCheck
from coach.counter import Rep
from coach.events import (
    Announcement,
    Calibrated,
    CueGiven,
    DoseChanged,
    EventBus,
    Progress,
    RepCompleted,
    Sampled,
    SessionEnded,
    SessionEvent,
    SessionStarted,
    StageChanged,
    WarningRaised,
)
from coach.exercise import Exercise, Mode, Signal
from coach.feedback import Cue
from coach.landmarks import Pose, leg_points
from coach.prescription import Prescription, effective_exercise
from coach.processor import FrameProcessor, FrameResult
from coach.records import (
    CueRecord,
    DoseRecord,
    RepRecord,
    SessionRecord,
    SessionSource,
    SessionStatus,
    SessionSummary,
    TraceFrame,
    Unit,
    summarize,
    utc_now,
)
from coach.side_select import SideChoice
from coach.speech import AudioQueue
from coach.telehealth.steps import StepIn, StepKind

MIN_BRIGHTNESS = 40.0
"""Mean frame brightness (0-255) below which the model starts to lose the foot."""

SETUP_STEADY_S = 1.0
"""How long the view must stay usable before counting starts (a glimpse is not enough)."""

SAMPLE_EVERY_S = 0.1
"""The session's trace is thinned to this spacing (10 Hz is plenty for a chart and a replay)."""

ANGLE_MEMORY_S = 120.0
"""How far back the per-frame angles are kept to find a finished rep's peak in degrees."""

COUNTDOWN_TICKS = 3
"""The countdown's last this many whole seconds are said out loud (3, 2, 1): a number
every second of a longer countdown would be noise while the patient walks back."""

PROGRESS_EVERY_S = 0.5
"""A `Progress` event (the live monitor's state) at least this often while frames come,
and at once on a stage or rep change."""

MESSAGE_SHOWN_S = 15.0
"""A therapist's message stays on the patient's screen this long (it is also spoken)."""

TIME_EPS_S = 1e-6
"""Slack for comparing session times, so float noise in frame times (30 x 1/30 s is not
always exactly 1.0) never adds a frame or a second to the countdown."""

Params = Mapping[str, float | str]


class Stage(StrEnum):
    COUNTDOWN = "countdown"
    SETUP = "setup"
    CALIBRATING = "calibrating"
    COUNTING = "counting"
    RESTING = "resting"
    DONE = "done"


def frame_brightness(frame_bgr: np.ndarray) -> float:
    """Mean brightness of a frame (0-255), sampled on a coarse grid: cheap enough per frame."""
    sample = frame_bgr[::8, ::8]
    return float(sample.mean()) if sample.size else 0.0


def unit_of(exercise: Exercise) -> Unit:
    return Unit.DEG if exercise.signal is Signal.ANKLE else Unit.PCT_SHANK


def dose_of(exercise: Exercise, per_week: int | None = None) -> DoseRecord:
    d = exercise.dose
    return DoseRecord(max(1, d.sets), max(1, d.reps), d.hold_s, max(0.0, d.rest_s), per_week)


# -- camera set-up --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetupStatus:
    """What the set-up check says now: ready, and if not, the one thing to fix (prompt id)."""

    ready: bool
    prompt: str
    issue: str | None
    progress: float


@dataclass
class SetupCheck:
    """Guides the patient until the view has been usable (lit, side-on, whole leg) for a while."""

    steady_s: float = SETUP_STEADY_S
    min_brightness: float = MIN_BRIGHTNESS
    _ok_since: float | None = None

    def update(self, t_s: float, view: ViewCheck, brightness: float | None) -> SetupStatus:
        dark = brightness is not None and brightness < self.min_brightness
        if dark or not view.ok:
            self._ok_since = None
            if dark:
                return SetupStatus(False, "too_dark", "too_dark", 0.0)
            issue = view.main_issue
            assert issue is not None
            return SetupStatus(False, issue.value, issue.value, 0.0)
        if self._ok_since is None:
            self._ok_since = t_s
        held = t_s - self._ok_since
        if held >= self.steady_s:
            return SetupStatus(True, "view_ready", None, 1.0)
        return SetupStatus(False, "view_hold_still", None, held / self.steady_s)


# -- sets and rests -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanState:
    """Where the patient is in today's plan."""

    set_no: int
    sets: int
    reps_in_set: int
    reps_per_set: int
    resting: bool
    rest_left_s: float
    done: bool

    @property
    def set_text(self) -> str:
        return f"set {self.set_no} of {self.sets}"


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """Sets x reps with a rest between sets, from the exercise's default dose."""

    sets: int
    reps_per_set: int
    rest_s: float

    @staticmethod
    def from_exercise(exercise: Exercise) -> SessionPlan:
        dose = dose_of(exercise)
        return SessionPlan(dose.sets, dose.reps, dose.rest_s)

    def set_of_next_rep(self, reps_done: int) -> int:
        """The set a rep starting now belongs to (a rep during a rest starts the next set)."""
        return min(self.sets, reps_done // self.reps_per_set + 1)

    def state(self, rep_ends: Sequence[float], t_s: float) -> PlanState:
        """The plan's state at `t_s`, given the end times of the reps done so far.

        A set is complete when it has `reps_per_set` reps; the rest runs from that rep's
        end. A rep during the rest starts the next set early (the patient decides). The
        last set collects any extra reps.
        """
        per = self.reps_per_set
        done_count = len(rep_ends)
        set_no = self.set_of_next_rep(max(0, done_count - 1)) if done_count else 1
        in_set = done_count - (set_no - 1) * per
        if in_set < per:
            return PlanState(set_no, self.sets, in_set, per, False, 0.0, False)
        if set_no >= self.sets:
            return PlanState(set_no, self.sets, in_set, per, False, 0.0, True)
        completed_at = rep_ends[set_no * per - 1]
        left = completed_at + self.rest_s - t_s
        if left > 0:
            return PlanState(set_no, self.sets, in_set, per, True, left, False)
        return PlanState(set_no + 1, self.sets, 0, per, False, 0.0, False)


# -- the log --------------------------------------------------------------------------------


@dataclass
class SessionLog:
    """Everything a session produced, built from its events, so it outlives the camera."""

    exercise: Exercise
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: datetime = field(default_factory=utc_now)
    reps: list[RepRecord] = field(default_factory=list)
    cues: list[CueRecord] = field(default_factory=list)
    trace: list[TraceFrame] = field(default_factory=list)
    neutral_deg: float | None = None
    warnings: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    side: str | None = None
    camera: str | None = None
    ended: bool = False

    def on_event(self, event: SessionEvent) -> None:
        if isinstance(event, RepCompleted):
            self.reps.append(event.rep)
            self.duration_s = max(self.duration_s, event.rep.end_s)
        elif isinstance(event, CueGiven) and event.logged:
            self.cues.append(CueRecord(event.t_s, event.cue_id, dict(event.params)))
        elif isinstance(event, Sampled):
            self.trace.append(event.frame)
            self.duration_s = max(self.duration_s, event.frame.t_s)
            self.side = event.side or self.side
            self.camera = event.camera or self.camera
        elif isinstance(event, Calibrated):
            self.neutral_deg = event.neutral_deg
        elif isinstance(event, WarningRaised):
            if event.text not in self.warnings:
                self.warnings.append(event.text)
        elif isinstance(event, SessionEnded):
            self.ended = True
            self.duration_s = max(self.duration_s, event.duration_s)

    @property
    def samples(self) -> list[tuple[float, float | None]]:
        return [(f.t_s, f.value) for f in self.trace]

    @property
    def unit(self) -> Unit:
        return unit_of(self.exercise)

    def record(
        self,
        *,
        patient_id: str | None = None,
        prescription_id: str | None = None,
        per_week: int | None = None,
        with_trace: bool = True,
    ) -> SessionRecord:
        """The session as the one record model (for the store, the JSON and the CSV)."""
        ex = self.exercise
        return SessionRecord(
            id=self.session_id,
            patient_id=patient_id,
            exercise_id=ex.id,
            exercise_name=ex.name,
            source=SessionSource.LIVE,
            started_at=self.started,
            unit=self.unit,
            dose=dose_of(ex, per_week),
            status=SessionStatus.COMPLETED if self.ended else SessionStatus.IN_PROGRESS,
            duration_s=self.duration_s,
            side=self.side,
            camera=self.camera,
            neutral_deg=self.neutral_deg,
            prescription_id=prescription_id,
            reps=tuple(self.reps),
            cues=tuple(self.cues),
            warnings=tuple(self.warnings),
            trace=tuple(self.trace) if with_trace else (),
        )

    def summary(self) -> SessionSummary:
        return summarize(self.record(with_trace=False))


# -- the session ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """A snapshot for the page: everything it shows, copied out under the holder's lock.

    Words are not made here: `prompt` (with `prompt_params`), `cue` and `not_counting`
    are ids that `coach.wording` turns into sentences where they are shown.
    """

    stage: Stage
    prompt: str
    progress: float
    reps: int
    plan: PlanState
    angle_deg: float | None
    excursion: float | None
    hold_s: float
    hold_target_s: float
    cue: Cue | None
    calibrated: bool
    t_s: float
    camera: CameraView | None = None
    """Where the camera sees the leg from (angles are shown only side-on)."""
    not_counting: str | None = None
    """Why the movement seen is not being counted (a `CountingIssue` id); None while counting."""
    prompt_params: Params = field(default_factory=dict)
    message: tuple[str, str] | None = None
    """The therapist's latest message (who, what), for `MESSAGE_SHOWN_S` after it came."""


@dataclass
class LiveSession:
    """One patient's live session for one exercise: stages, plan, counting and events.

    Not thread-safe: the web glue keeps it behind a lock. `process_pose` takes the
    session's own timeline (seconds, strictly increasing, gaps allowed when frames are
    dropped or the camera was off). `exercise` is the effective exercise (the
    prescription's dose already resolved by `coach.prescription.effective_exercise`).
    """

    exercise: Exercise
    side: SideChoice = "auto"
    calibrate: bool = True
    calibration_timeout_s: float = 10.0
    countdown_s: float = 0.0
    """Seconds to get into place before the set-up check starts (0: check at once)."""
    bus: EventBus = field(default_factory=EventBus)
    log: SessionLog = field(init=False)
    plan: SessionPlan = field(init=False)
    audio: AudioQueue = field(default_factory=AudioQueue)
    stage: Stage = field(default=Stage.SETUP, init=False)
    ended: bool = field(default=False, init=False)
    _proc: FrameProcessor = field(init=False)
    _setup: SetupCheck = field(default_factory=SetupCheck, init=False)
    _capture: NeutralCapture = field(default_factory=NeutralCapture, init=False)
    _stage_since: float | None = field(default=None, init=False)
    _status: LiveStatus = field(init=False)
    _last_plan: PlanState | None = field(default=None, init=False)
    _still_since: float | None = field(default=None, init=False)
    _last_sample_t: float = field(default=-math.inf, init=False)
    _angles: deque[tuple[float, float]] = field(default_factory=deque, init=False)
    _warned: set[str] = field(default_factory=set, init=False)
    _started: bool = field(default=False, init=False)
    _offset_s: float = field(default=0.0, init=False)
    _last_tick: int = field(default=0, init=False)
    _last_progress: tuple[float, str, int] = field(default=(-math.inf, "", -1), init=False)
    _message: tuple[str, str, float] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not math.isfinite(self.countdown_s) or self.countdown_s < 0:
            raise ValueError(f"The countdown must be 0 or more seconds (got {self.countdown_s!r}).")
        if self.countdown_s > 0:
            self.stage = Stage.COUNTDOWN
        self.log = SessionLog(self.exercise)
        self.plan = SessionPlan.from_exercise(self.exercise)
        self.bus.subscribe(self.log.on_event)
        self.bus.subscribe(self.audio.on_event)
        # The set-up stage uses its own processor (view check and side only); counting
        # starts on a fresh one so nothing seen while the patient was settling counts.
        self._proc = self._setup_processor()
        self._status = LiveStatus(
            self.stage,
            "press_start",
            0.0,
            0,
            self.plan.state([], 0.0),
            None,
            None,
            0.0,
            self.exercise.dose.hold_s,
            None,
            False,
            0.0,
        )

    @property
    def status(self) -> LiveStatus:
        return self._status

    @property
    def session_id(self) -> str:
        return self.log.session_id

    @property
    def counting(self) -> bool:
        return self.stage in (Stage.COUNTING, Stage.RESTING, Stage.DONE)

    def end(self) -> None:
        """The patient finished: keep the log, stop adding to it."""
        if not self.ended:
            self.ended = True
            self.bus.publish(SessionEnded(self._status.t_s, self.log.duration_s))

    def resume(self, record: SessionRecord) -> None:
        """Continue a stored session still in progress (the browser was reloaded): its reps
        count towards the plan and new frames carry on after its last moment."""
        log = self.log
        log.session_id, log.started = record.id, record.started_at
        log.reps, log.cues, log.trace = list(record.reps), list(record.cues), list(record.trace)
        log.neutral_deg, log.warnings = record.neutral_deg, list(record.warnings)
        log.duration_s, log.side, log.camera = record.duration_s, record.side, record.camera
        self._warned = set(record.warnings)
        self._offset_s = record.duration_s + 1.0
        self._started = True  # the recorder already has the session
        # The countdown stays: after a reload the patient has to get back into place too.

    def skip_calibration(self, t_s: float) -> None:
        """Start counting now with an automatic neutral (the patient chose not to wait);
        also during the countdown, for a patient who is already in place."""
        if self.stage in (Stage.COUNTDOWN, Stage.SETUP, Stage.CALIBRATING):
            self._start_counting(None, max(t_s, self._status.t_s))

    def step_in(self, step: StepIn, *, announce: bool = True) -> None:
        """The therapist stepped in (`coach.telehealth`): a message shown and spoken, or a
        new dose for the rest of this session (the reps done so far stay). `announce`
        False: a dose taken again quietly after a reload."""
        t_s = self._status.t_s
        if step.kind is StepKind.MESSAGE:
            if not announce:
                return
            self._message = (step.sent_by, step.text, t_s)
            self.bus.publish(
                Announcement(t_s, "therapist_message", {"text": step.text, "name": step.sent_by})
            )
            self._status = replace(self._status, message=(step.sent_by, step.text))
            return
        dose = self.exercise.dose
        changed = effective_exercise(
            self.exercise,
            Prescription(
                self.exercise.id,
                sets=step.sets if step.sets is not None else dose.sets,
                reps=step.reps if step.reps is not None else dose.reps,
                hold_s=step.hold_s if step.hold_s is not None else dose.hold_s,
                rest_s=dose.rest_s,
                target=step.target,
            ),
        )
        self.exercise = self.log.exercise = changed
        self.plan = SessionPlan.from_exercise(changed)
        self._proc.change_exercise(changed)
        self._last_plan = None
        new = dose_of(changed)
        self.bus.publish(DoseChanged(t_s, new, changed.counter.target))
        if announce:
            self.bus.publish(
                Announcement(
                    t_s,
                    "dose_changed",
                    {
                        "sets": new.sets,
                        "reps": new.reps,
                        "hold_s": new.hold_s,
                        "name": step.sent_by,
                    },
                )
            )
        self._status = replace(self._status, plan=self.plan.state(self._rep_ends(), t_s))

    def _rep_ends(self) -> list[float]:
        return [r.end_s for r in self.log.reps]

    def process_pose(
        self, pose: Pose | None, t_s: float, brightness: float | None = None
    ) -> FrameResult:
        """One frame's pose (None: nobody found) on the session timeline."""
        t_s += self._offset_s
        if not self._started:
            self._started = True
            ex = self.exercise
            self.bus.publish(SessionStarted(t_s, ex.id, ex.name, unit_of(ex).value, dose_of(ex)))
        if self._stage_since is None:
            self._stage_since = t_s
            if self.stage is Stage.COUNTDOWN:
                self._last_tick = math.ceil(self.countdown_s - TIME_EPS_S)
                self.bus.publish(Announcement(t_s, "countdown", {"seconds": self._last_tick}))
        if not self.ended and self._countdown_over(t_s):
            # The set-up check starts on a fresh processor: the side and view it saw
            # while the patient walked back must not decide anything.
            self._proc = self._setup_processor()
            self._enter(Stage.SETUP, t_s)
        result = self._proc.process_pose(pose, t_s)
        if self.ended:
            return result
        if self.stage is Stage.COUNTDOWN:
            return self._step_countdown(result, t_s)
        if self.stage is Stage.SETUP:
            self._step_setup(result, t_s, brightness)
        elif self.stage is Stage.CALIBRATING:
            self._step_calibration(result, t_s)
        else:
            self._step_counting(result, t_s)
        return result

    # -- stages -----------------------------------------------------------------------------

    def _setup_processor(self) -> FrameProcessor:
        return FrameProcessor(self.exercise, side=self.side, auto_neutral=False)

    def _countdown_over(self, t_s: float) -> bool:
        """The countdown has run its seconds of the session timeline (not frames: a slow
        or dropping camera must not make it longer or shorter)."""
        if self.stage is not Stage.COUNTDOWN or self._stage_since is None:
            return False
        return t_s - self._stage_since >= self.countdown_s - TIME_EPS_S

    def _step_countdown(self, result: FrameResult, t_s: float) -> FrameResult:
        """Time to get into place: only the seconds left (and the last ones said), nothing
        checked or counted; the frame's result is returned without cues or reps, so an
        overlay drawn from it shows the leg and nothing to act on."""
        started = self._stage_since if self._stage_since is not None else t_s
        elapsed = t_s - started
        seconds = max(1, math.ceil(self.countdown_s - elapsed - TIME_EPS_S))
        if seconds < self._last_tick:
            # Seconds skipped by a gap in the frames are not said late: only the current one.
            self._last_tick = seconds
            if seconds <= COUNTDOWN_TICKS:
                self.bus.publish(Announcement(t_s, "countdown_tick", {"seconds": seconds}))
        quiet = replace(
            result,
            reps=0,
            hold_s=0.0,
            new_rep=None,
            cue=None,
            active_cue=None,
            counting_issue=None,
        )
        progress = min(1.0, max(0.0, elapsed / self.countdown_s))
        self._publish(quiet, t_s, "countdown", progress, {"seconds": seconds})
        return quiet

    def _step_setup(self, result: FrameResult, t_s: float, brightness: float | None) -> None:
        check = self._setup.update(t_s, result.view, brightness)
        if result.cue is not None:
            self._cue(result.cue, logged=False)
        if not check.ready:
            self._publish(result, t_s, check.prompt, check.progress)
        elif self.calibrate:
            self._enter(Stage.CALIBRATING, t_s)
            self._capture.reset()
            self.bus.publish(Announcement(t_s, "calibrate_now"))
            self._publish(result, t_s, "calibrate", 0.0)
        else:
            self._start_counting(None, t_s)

    def _step_calibration(self, result: FrameResult, t_s: float) -> None:
        started = self._stage_since if self._stage_since is not None else t_s
        if not result.view.ok:
            issue = result.view.main_issue
            self._capture.update(t_s, None)
            self._still_since = None
            self._publish(result, t_s, issue.value if issue is not None else "calibrate", 0.0)
        else:
            neutral = self._capture.update(t_s, result.angles)
            if neutral is not None:
                self._start_counting(neutral, t_s)
                return
            if self._still_since is None:
                self._still_since = t_s
            progress = min(0.95, (t_s - self._still_since) / self._capture.window_s)
            self._publish(result, t_s, "calibrate", progress)
        if t_s - started > self.calibration_timeout_s:
            self._warn(
                t_s,
                "The foot was not still long enough to calibrate: the neutral was taken "
                "automatically from the first still second.",
            )
            self._start_counting(None, t_s)

    def _start_counting(self, neutral: Neutral | None, t_s: float) -> None:
        # The set-up check already demanded a steady side-on view: no second wait.
        self._proc = FrameProcessor(self.exercise, side=self.side, neutral=neutral, settle_s=0.0)
        self.bus.publish(Calibrated(t_s, neutral.ankle_deg if neutral is not None else None))
        self._enter(Stage.COUNTING, t_s)
        self._last_plan = self.plan.state([], t_s)
        self.bus.publish(
            Announcement(
                t_s,
                "start",
                {"exercise": self.exercise.name, "calibrated": int(neutral is not None)},
            )
        )
        prompt, params = self._counting_prompt(self._last_plan)
        self._publish(None, t_s, prompt, 1.0, params)

    def _step_counting(self, result: FrameResult, t_s: float) -> None:
        log = self.log
        if self._proc.neutral is not None and log.neutral_deg is None:
            self.bus.publish(Calibrated(t_s, self._proc.neutral.ankle_deg))
        for w in self._proc.warnings:
            self._warn(t_s, w)
        self._remember_angle(result, t_s)
        self._sample(result, t_s)
        before = self._last_plan or self.plan.state(self._rep_ends(), t_s)
        if result.new_rep is not None:
            self.bus.publish(RepCompleted(t_s, self._rep_record(result.new_rep)))
        plan = self.plan.state(self._rep_ends(), t_s)
        self._announce(before, plan, t_s)
        if result.cue is not None:
            self._cue(result.cue, logged=True)
        self._last_plan = plan
        stage = Stage.DONE if plan.done else Stage.RESTING if plan.resting else Stage.COUNTING
        if stage is not self.stage:
            self._enter(stage, t_s)
        prompt, params = self._counting_prompt(plan)
        self._publish(result, t_s, prompt, 1.0, params)

    # -- events -----------------------------------------------------------------------------

    def _cue(self, cue: Cue, *, logged: bool) -> None:
        self.bus.publish(CueGiven(cue.t_s, cue.id, dict(cue.params), logged))

    def _warn(self, t_s: float, text: str) -> None:
        if text not in self._warned:
            self._warned.add(text)
            self.bus.publish(WarningRaised(t_s, text))

    def _sample(self, result: FrameResult, t_s: float) -> None:
        """The trace and replay frame, about every `SAMPLE_EVERY_S` (a gap is kept as None)."""
        if t_s - self._last_sample_t < SAMPLE_EVERY_S:
            return
        self._last_sample_t = t_s
        value = result.ankle_deg if self.exercise.signal is Signal.ANKLE else result.excursion
        if value is not None and math.isnan(value):
            value = None
        frame = TraceFrame(t_s, value, leg_points(result.pose, result.side))
        side = result.side.value if result.side is not None else None
        camera = result.view.camera.value if result.view.camera is not None else None
        self.bus.publish(Sampled(frame, side, camera))

    def _remember_angle(self, result: FrameResult, t_s: float) -> None:
        if result.ankle_deg is not None and math.isfinite(result.ankle_deg):
            self._angles.append((t_s, result.ankle_deg))
        while self._angles and t_s - self._angles[0][0] > ANGLE_MEMORY_S:
            self._angles.popleft()

    def _rep_record(self, rep: Rep) -> RepRecord:
        ex = self.exercise
        sign = ex.direction.sign
        during = [a for t, a in self._angles if rep.start_s <= t <= rep.end_s]
        peak_deg = rom_deg = None
        if during and len(during) >= 0.5 * max(1.0, (rep.end_s - rep.start_s) * 5):
            far = max(during, key=lambda a: sign * a)
            near = min(during, key=lambda a: sign * a)
            peak_deg, rom_deg = far, abs(far - near)
        return RepRecord(
            number=len(self.log.reps) + 1,
            set_no=self.plan.set_of_next_rep(len(self.log.reps)),
            start_s=rep.start_s,
            end_s=rep.end_s,
            peak=ex.from_excursion(rep.peak, 0.0),
            range=rep.rom,
            hold_s=rep.hold_s,
            reached_target=rep.reached_target,
            peak_deg=peak_deg,
            rom_deg=rom_deg,
        )

    def _announce(self, before: PlanState, now: PlanState, t_s: float) -> None:
        if now.done and not before.done:
            self.bus.publish(Announcement(t_s, "last_set_done"))
        elif now.resting and not before.resting:
            self.bus.publish(
                Announcement(t_s, "set_done", {"set_no": now.set_no, "rest_s": self.plan.rest_s})
            )
        elif before.resting and not now.resting and now.reps_in_set == 0:
            self.bus.publish(Announcement(t_s, "start_set", {"set_no": now.set_no}))

    def _counting_prompt(self, plan: PlanState) -> tuple[str, dict[str, float | str]]:
        if plan.done:
            return "all_done", {}
        if plan.resting:
            return "resting", {
                "next_set": plan.set_no + 1,
                "sets": plan.sets,
                "left_s": round(plan.rest_left_s),
            }
        left = plan.reps_per_set - plan.reps_in_set
        what = "hold" if self.exercise.mode is Mode.HOLD else "rep"
        return "to_go", {"set_no": plan.set_no, "sets": plan.sets, "left": left, "what": what}

    def _enter(self, stage: Stage, t_s: float) -> None:
        self.stage = stage
        self._stage_since = t_s
        self.bus.publish(StageChanged(t_s, stage.value))

    def _publish(
        self,
        result: FrameResult | None,
        t_s: float,
        prompt: str,
        progress: float,
        params: Params | None = None,
    ) -> None:
        cue = result.active_cue if result is not None else None
        issue = result.counting_issue if result is not None else None
        message = self._message
        if message is not None and t_s - message[2] > MESSAGE_SHOWN_S:
            message = self._message = None
        self._status = LiveStatus(
            stage=self.stage,
            prompt=prompt,
            prompt_params=dict(params or {}),
            progress=progress,
            reps=len(self.log.reps),
            plan=self._last_plan or self.plan.state(self._rep_ends(), t_s),
            angle_deg=result.ankle_deg if result is not None else None,
            excursion=result.excursion if result is not None else None,
            hold_s=result.hold_s if result is not None and self.counting else 0.0,
            hold_target_s=self.exercise.dose.hold_s,
            cue=cue if self.counting else None,
            calibrated=result.calibrated if result is not None else False,
            t_s=t_s,
            camera=result.view.camera if result is not None else None,
            not_counting=issue.value if issue is not None and self.counting else None,
            message=message[:2] if message is not None else None,
        )
        self._progress(result)

    def _progress(self, result: FrameResult | None) -> None:
        """Publish `Progress` on a stage or rep change, else every `PROGRESS_EVERY_S`."""
        s = self._status
        last_t, last_stage, last_reps = self._last_progress
        if (
            s.stage.value == last_stage
            and s.reps == last_reps
            and s.t_s - last_t < PROGRESS_EVERY_S
        ):
            return
        self._last_progress = (s.t_s, s.stage.value, s.reps)
        side = result.side if result is not None else None
        self.bus.publish(
            Progress(
                s,
                leg_points(result.pose, side) if result is not None else None,
                side.value if side is not None else None,
                bool(result is not None and result.view.ok),
            )
        )


@dataclass
class SessionClock:
    """Puts each camera stream's frame times on one session timeline.

    Frame times (the av frame's own clock) keep their spacing within a stream, so
    dropped frames leave honest gaps; a new stream (the camera was stopped and started
    again) continues from the wall clock. The result is strictly increasing, as the
    pose model and the counter need.
    """

    _t0: float | None = None
    _stream: object = None
    _offset: float = 0.0
    _last: float = -math.inf

    def to_session(self, stream: object, frame_time_s: float | None, now_s: float) -> float:
        if self._t0 is None:
            self._t0 = now_s
        since_start = now_s - self._t0
        if frame_time_s is None:
            t = since_start
        else:
            if stream != self._stream:  # equal ids (the browser's stream names) are one stream
                self._stream = stream
                self._offset = max(since_start, self._last + 0.001) - frame_time_s
            t = frame_time_s + self._offset
        t = max(t, self._last + 0.001)
        self._last = t
        return t
