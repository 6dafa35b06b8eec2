"""A live exercise session: camera set-up check, neutral calibration, sets and rests, the log.

The webcam callback feeds poses in with session timestamps and reads a `LiveStatus`
snapshot back; everything here is plain Python (no Streamlit, no model) so the set and
rest plan, the audio events, the summary and the exports are unit-tested without a
browser. Counting itself is the shared `FrameProcessor`, unchanged, so a rep on the
patient's screen is the same rep as in a reviewed video.

Stages: SETUP (guide the patient until the view is usable) -> CALIBRATING (optional:
capture the foot's neutral while it is still) -> COUNTING <-> RESTING (between sets)
-> DONE (all sets finished; further reps are still logged).
"""

from __future__ import annotations

import csv
import io
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import numpy as np

from coach.calibration import Neutral, NeutralCapture
from coach.counter import Rep
from coach.exercise import Exercise, Mode, Signal
from coach.feedback import COUNTING_CUES, VIEW_CUES, Cue
from coach.landmarks import Pose
from coach.processor import FrameProcessor, FrameResult
from coach.side_select import SideChoice
from coach.view import CameraView, ViewCheck

SCHEMA_VERSION = 1

MIN_BRIGHTNESS = 40.0
"""Mean frame brightness (0-255) below which the model starts to lose the foot."""

TOO_DARK = "It is too dark for the camera to see your leg. Turn on a light or face a window."
SETUP_STEADY_S = 1.0
"""How long the view must stay usable before counting starts (a glimpse is not enough)."""

CALIBRATE_MESSAGE = "Relax your foot and keep it still for a moment."

SPEECH_GAP_S = 3.0
"""Minimum time between two spoken messages, so the patient is never talked over."""

SAMPLE_EVERY_S = 0.1
"""The session's angle trace is thinned to this spacing (10 Hz is plenty for a chart)."""


class Stage(StrEnum):
    SETUP = "setup"
    CALIBRATING = "calibrating"
    COUNTING = "counting"
    RESTING = "resting"
    DONE = "done"


def frame_brightness(frame_bgr: np.ndarray) -> float:
    """Mean brightness of a frame (0-255), sampled on a coarse grid: cheap enough per frame."""
    sample = frame_bgr[::8, ::8]
    return float(sample.mean()) if sample.size else 0.0


# -- camera set-up --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetupStatus:
    """What the set-up check says now: ready, and if not, the one thing to fix."""

    ready: bool
    message: str
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
                return SetupStatus(False, TOO_DARK, "too_dark", 0.0)
            issue = view.main_issue
            assert issue is not None
            return SetupStatus(False, VIEW_CUES[issue], issue.value, 0.0)
        if self._ok_since is None:
            self._ok_since = t_s
        held = t_s - self._ok_since
        if held >= self.steady_s:
            return SetupStatus(True, "The camera can see your leg well.", None, 1.0)
        return SetupStatus(
            False, "Good, the camera can see your leg. Stay like that.", None, held / self.steady_s
        )


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
        dose = exercise.dose
        return SessionPlan(max(1, dose.sets), max(1, dose.reps), max(0.0, dose.rest_s))

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


@dataclass(frozen=True, slots=True)
class LoggedRep:
    """One completed rep on the session's timeline, in the exercise's own units."""

    number: int
    set_no: int
    start_s: float
    end_s: float
    peak: float
    rom: float
    hold_s: float
    reached_target: bool

    @property
    def tempo_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class LoggedCue:
    t_s: float
    id: str
    message: str


@dataclass(frozen=True, slots=True)
class AudioEvent:
    """Something the browser should play: a beep (rep done) or a sentence to speak."""

    id: int
    kind: Literal["beep", "say"]
    text: str
    t_s: float
    important: bool = False


@dataclass
class SessionLog:
    """Everything a session produced, kept outside the camera callback so it outlives it."""

    exercise: Exercise
    started: datetime = field(default_factory=lambda: datetime.now().astimezone())
    reps: list[LoggedRep] = field(default_factory=list)
    cues: list[LoggedCue] = field(default_factory=list)
    samples: list[tuple[float, float | None]] = field(default_factory=list)
    neutral_deg: float | None = None
    warnings: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def add_sample(self, t_s: float, value: float | None) -> None:
        """Keep the trace at about `SAMPLE_EVERY_S` spacing (a gap is kept as None)."""
        if self.samples and t_s - self.samples[-1][0] < SAMPLE_EVERY_S:
            return
        self.samples.append((t_s, None if value is None or math.isnan(value) else value))
        self.duration_s = max(self.duration_s, t_s)

    def add_rep(self, rep: Rep, set_no: int) -> LoggedRep:
        ex = self.exercise
        logged = LoggedRep(
            number=len(self.reps) + 1,
            set_no=set_no,
            start_s=rep.start_s,
            end_s=rep.end_s,
            peak=ex.from_excursion(rep.peak, 0.0),
            rom=rep.rom,
            hold_s=rep.hold_s,
            reached_target=rep.reached_target,
        )
        self.reps.append(logged)
        self.duration_s = max(self.duration_s, rep.end_s)
        return logged

    def add_cue(self, cue: Cue) -> None:
        self.cues.append(LoggedCue(cue.t_s, cue.id, cue.message))

    # -- summary and export ---------------------------------------------------------------

    @property
    def unit(self) -> str:
        return "deg" if self.exercise.signal is Signal.ANKLE else "pct_shank"

    def summary(self) -> dict[str, Any]:
        """The figures the end-of-session screen shows."""
        ex = self.exercise
        roms = [r.rom for r in self.reps]
        need = ex.dose.hold_s
        holds = [r.hold_s for r in self.reps]
        cue_counts: dict[str, int] = {}
        for c in self.cues:
            cue_counts[c.message] = cue_counts.get(c.message, 0) + 1
        plan = SessionPlan.from_exercise(ex)
        sets_done = min(plan.sets, len(self.reps) // plan.reps_per_set)
        return {
            "reps": len(self.reps),
            "planned_reps": plan.sets * plan.reps_per_set,
            "sets_completed": sets_done,
            "planned_sets": plan.sets,
            "reached_target": sum(r.reached_target for r in self.reps),
            "rom_mean": float(np.mean(roms)) if roms else None,
            "rom_best": max(roms) if roms else None,
            "hold_target_s": need,
            "holds_reached": sum(h >= need for h in holds) if need > 0 else None,
            "longest_hold_s": max(holds) if holds else 0.0,
            "cue_counts": cue_counts,
            "duration_s": self.duration_s,
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON download: like the video report's, plus the set each rep belongs to."""
        ex = self.exercise
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "live_session",
            "exercise": ex.id,
            "exercise_name": ex.name,
            "started": self.started.isoformat(timespec="seconds"),
            "duration_s": round(self.duration_s, 2),
            "signal": ex.signal.value,
            "unit": self.unit,
            "neutral_deg": None if self.neutral_deg is None else round(self.neutral_deg, 2),
            "dose": {
                "sets": ex.dose.sets,
                "reps": ex.dose.reps,
                "hold_s": ex.dose.hold_s,
                "rest_s": ex.dose.rest_s,
            },
            "summary": _rounded(self.summary()),
            "reps": len(self.reps),
            "reps_detail": [
                {
                    "rep": r.number,
                    "set": r.set_no,
                    "start_s": round(r.start_s, 3),
                    "end_s": round(r.end_s, 3),
                    "peak_deg": round(r.peak, 2),
                    "rom_deg": round(r.rom, 2),
                    "hold_s": round(r.hold_s, 2),
                    "tempo_s": round(r.tempo_s, 2),
                    "reached_target": r.reached_target,
                }
                for r in self.reps
            ],
            "series": [
                {"t_s": round(t, 3), "value": None if v is None else round(v, 2)}
                for t, v in self.samples
            ],
            "cues": [{"t_s": round(c.t_s, 3), "id": c.id, "message": c.message} for c in self.cues],
            "warnings": list(self.warnings),
        }

    def to_csv(self) -> str:
        """One row per rep, for spreadsheets."""
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        unit = self.unit
        w.writerow(
            [
                "rep",
                "set",
                "start_s",
                "end_s",
                f"peak_{unit}",
                f"rom_{unit}",
                "hold_s",
                "tempo_s",
                "reached_target",
            ]
        )
        for r in self.reps:
            w.writerow(
                [
                    r.number,
                    r.set_no,
                    f"{r.start_s:.3f}",
                    f"{r.end_s:.3f}",
                    f"{r.peak:.2f}",
                    f"{r.rom:.2f}",
                    f"{r.hold_s:.2f}",
                    f"{r.tempo_s:.2f}",
                    int(r.reached_target),
                ]
            )
        return out.getvalue()


def _rounded(d: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in d.items()}


# -- audio ----------------------------------------------------------------------------------


@dataclass
class AudioQueue:
    """Beeps and spoken sentences for the browser, one sentence at a time with a cooldown.

    Nothing is queued for later here: a cue that would talk over the previous one is
    dropped (the cue arbiter proposes it again if it still applies). Announcements (set
    done, rest over) are few and matter more: they are marked important, and the browser
    lets them wait for the sentence being spoken instead of dropping them. The page keeps
    the last `keep` events; the browser plays those it has not played yet.
    """

    gap_s: float = SPEECH_GAP_S
    keep: int = 30
    events: deque[AudioEvent] = field(default_factory=deque)
    _next_id: int = 1
    _last_say_t: float | None = None

    def beep(self, t_s: float) -> None:
        self._add("beep", "", t_s)

    def say(self, t_s: float, text: str, *, important: bool = False) -> bool:
        """Queue a sentence unless it would talk over the last one; True if queued."""
        last = self._last_say_t
        if not important and last is not None and t_s - last < self.gap_s:
            return False
        self._last_say_t = t_s
        self._add("say", text, t_s, important)
        return True

    def _add(
        self, kind: Literal["beep", "say"], text: str, t_s: float, important: bool = False
    ) -> None:
        self.events.append(AudioEvent(self._next_id, kind, text, t_s, important))
        self._next_id += 1
        while len(self.events) > self.keep:
            self.events.popleft()


# -- the session ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """A snapshot for the page: everything it shows, copied out under the holder's lock."""

    stage: Stage
    message: str
    progress: float
    reps: int
    plan: PlanState
    angle_deg: float | None
    excursion: float | None
    hold_s: float
    hold_target_s: float
    cue: str | None
    calibrated: bool
    t_s: float
    camera: CameraView | None = None
    """Where the camera sees the leg from (angles are shown only side-on)."""
    not_counting: str | None = None
    """Why the movement seen is not being counted, in words; None while counting works."""


@dataclass
class LiveSession:
    """One patient's live session for one exercise: stages, plan, counting and the log.

    Not thread-safe: the web glue keeps it behind a lock. `process_pose` takes the
    session's own timeline (seconds, strictly increasing, gaps allowed when frames are
    dropped or the camera was off).
    """

    exercise: Exercise
    side: SideChoice = "auto"
    calibrate: bool = True
    calibration_timeout_s: float = 10.0
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

    def __post_init__(self) -> None:
        self.log = SessionLog(self.exercise)
        self.plan = SessionPlan.from_exercise(self.exercise)
        # The set-up stage uses its own processor (view check and side only); counting
        # starts on a fresh one so nothing seen while the patient was settling counts.
        self._proc = FrameProcessor(self.exercise, side=self.side, auto_neutral=False)
        self._status = LiveStatus(
            Stage.SETUP,
            "Press START and let the browser use your camera.",
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
    def counting(self) -> bool:
        return self.stage in (Stage.COUNTING, Stage.RESTING, Stage.DONE)

    def end(self) -> None:
        """The patient finished: keep the log, stop adding to it."""
        self.ended = True

    def skip_calibration(self, t_s: float) -> None:
        """Start counting now with an automatic neutral (the patient chose not to wait)."""
        if self.stage in (Stage.SETUP, Stage.CALIBRATING):
            self._start_counting(None, t_s)

    def process_pose(
        self, pose: Pose | None, t_s: float, brightness: float | None = None
    ) -> FrameResult:
        """One frame's pose (None: nobody found) on the session timeline."""
        if self._stage_since is None:
            self._stage_since = t_s
        result = self._proc.process_pose(pose, t_s)
        if self.ended:
            return result
        if self.stage is Stage.SETUP:
            self._step_setup(result, t_s, brightness)
        elif self.stage is Stage.CALIBRATING:
            self._step_calibration(result, t_s)
        else:
            self._step_counting(result, t_s)
        return result

    # -- stages -----------------------------------------------------------------------------

    def _step_setup(self, result: FrameResult, t_s: float, brightness: float | None) -> None:
        check = self._setup.update(t_s, result.view, brightness)
        if result.cue is not None:
            self.audio.say(t_s, result.cue.message)
        if not check.ready:
            self._publish(result, t_s, check.message, check.progress)
        elif self.calibrate:
            self._enter(Stage.CALIBRATING, t_s)
            self._capture.reset()
            self.audio.say(t_s, "Now relax your foot and keep it still.", important=True)
            self._publish(result, t_s, CALIBRATE_MESSAGE, 0.0)
        else:
            self._start_counting(None, t_s)

    def _step_calibration(self, result: FrameResult, t_s: float) -> None:
        started = self._stage_since if self._stage_since is not None else t_s
        if not result.view.ok:
            issue = result.view.main_issue
            self._capture.update(t_s, None)
            self._still_since = None
            self._publish(result, t_s, VIEW_CUES[issue] if issue is not None else "", 0.0)
        else:
            neutral = self._capture.update(t_s, result.angles)
            if neutral is not None:
                self._start_counting(neutral, t_s)
                return
            if self._still_since is None:
                self._still_since = t_s
            progress = min(0.95, (t_s - self._still_since) / self._capture.window_s)
            self._publish(result, t_s, CALIBRATE_MESSAGE, progress)
        if t_s - started > self.calibration_timeout_s:
            self.log.warnings.append(
                "The foot was not still long enough to calibrate: the neutral was taken "
                "automatically from the first still second."
            )
            self._start_counting(None, t_s)

    def _start_counting(self, neutral: Neutral | None, t_s: float) -> None:
        # The set-up check already demanded a steady side-on view: no second wait.
        self._proc = FrameProcessor(self.exercise, side=self.side, neutral=neutral, settle_s=0.0)
        self.log.neutral_deg = neutral.ankle_deg if neutral is not None else None
        self._enter(Stage.COUNTING, t_s)
        self._last_plan = self.plan.state([], t_s)
        first = "Calibrated. " if neutral is not None else ""
        self.audio.say(t_s, f"{first}Let's start: {self.exercise.name}.", important=True)
        self._publish(None, t_s, self._counting_message(self._last_plan), 1.0)

    def _step_counting(self, result: FrameResult, t_s: float) -> None:
        log = self.log
        if self._proc.neutral is not None and log.neutral_deg is None:
            log.neutral_deg = self._proc.neutral.ankle_deg
        for w in self._proc.warnings:
            if w not in log.warnings:
                log.warnings.append(w)
        value = result.ankle_deg if self.exercise.signal is Signal.ANKLE else result.excursion
        log.add_sample(t_s, value)
        before = self._last_plan or self.plan.state([r.end_s for r in log.reps], t_s)
        if result.new_rep is not None:
            set_no = self.plan.set_of_next_rep(len(log.reps))
            log.add_rep(result.new_rep, set_no)
            self.audio.beep(t_s)
        plan = self.plan.state([r.end_s for r in log.reps], t_s)
        self._announce(before, plan, t_s)
        if result.cue is not None:
            log.add_cue(result.cue)
            self.audio.say(t_s, result.cue.message)
        self._last_plan = plan
        stage = Stage.DONE if plan.done else Stage.RESTING if plan.resting else Stage.COUNTING
        if stage is not self.stage:
            self._enter(stage, t_s)
        self._publish(result, t_s, self._counting_message(plan), 1.0)

    def _announce(self, before: PlanState, now: PlanState, t_s: float) -> None:
        if now.done and not before.done:
            self.audio.say(t_s, "Well done! That was your last set.", important=True)
        elif now.resting and not before.resting:
            rest = f"{self.plan.rest_s:.0f} seconds"
            self.audio.say(t_s, f"Set {now.set_no} done. Rest for {rest}.", important=True)
        elif before.resting and not now.resting and now.reps_in_set == 0:
            self.audio.say(t_s, f"Start set {now.set_no}.", important=True)

    def _counting_message(self, plan: PlanState) -> str:
        ex = self.exercise
        if plan.done:
            return "All sets done - well done! Press STOP or End session to see your summary."
        if plan.resting:
            return f"Rest. Set {plan.set_no + 1} of {plan.sets} starts in {plan.rest_left_s:.0f} s."
        left = plan.reps_per_set - plan.reps_in_set
        what = ("hold" if ex.mode is Mode.HOLD else "rep") + ("" if left == 1 else "s")
        return f"Set {plan.set_no} of {plan.sets}: {left} {what} to go."

    def _enter(self, stage: Stage, t_s: float) -> None:
        self.stage = stage
        self._stage_since = t_s

    def _publish(
        self, result: FrameResult | None, t_s: float, message: str, progress: float
    ) -> None:
        cue = result.active_cue.message if result is not None and result.active_cue else None
        self._status = LiveStatus(
            stage=self.stage,
            message=message,
            progress=progress,
            reps=len(self.log.reps),
            plan=self._last_plan or self.plan.state([r.end_s for r in self.log.reps], t_s),
            angle_deg=result.ankle_deg if result is not None else None,
            excursion=result.excursion if result is not None else None,
            hold_s=result.hold_s if result is not None and self.counting else 0.0,
            hold_target_s=self.exercise.dose.hold_s,
            cue=cue if self.counting else None,
            calibrated=result.calibrated if result is not None else False,
            t_s=t_s,
            camera=result.view.camera if result is not None else None,
            not_counting=(
                COUNTING_CUES[result.counting_issue]
                if result is not None and result.counting_issue is not None and self.counting
                else None
            ),
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
            if stream is not self._stream:
                self._stream = stream
                self._offset = max(since_start, self._last + 0.001) - frame_time_s
            t = frame_time_s + self._offset
        t = max(t, self._last + 0.001)
        self._last = t
        return t
