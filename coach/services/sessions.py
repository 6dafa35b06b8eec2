"""Sessions into the history: the live recorder, video import, reading back, rejoining.

`SessionRecorder` is a session-event subscriber that writes to the store; it always
runs behind a `BackgroundSubscriber`, so the camera thread never waits on the
database. Each completed rep is committed when its event is handled, so killing the
server mid-set loses no completed rep. The trace for replay is written in chunks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from coach.accounts import Principal, Role
from coach.analysis import AnalysisReport, RepAngle, analyze_video
from coach.atomic import atomic_write_path
from coach.events import (
    BackgroundSubscriber,
    Calibrated,
    CueGiven,
    DoseChanged,
    RepCompleted,
    Sampled,
    SessionEnded,
    SessionEvent,
    SessionStarted,
    WarningRaised,
)
from coach.exercise import Exercise, Signal
from coach.gait.report import gait_record
from coach.live_session import SAMPLE_EVERY_S, LiveSession, SessionPlan, dose_of, unit_of
from coach.pose import PoseEstimator
from coach.pose_models import RECORDED_MODEL
from coach.prescription import Prescription, effective_exercise
from coach.records import (
    CueRecord,
    GaitRecord,
    RepRecord,
    SessionRecord,
    SessionSource,
    SessionStatus,
    TraceFrame,
    utc_now,
)
from coach.services.access import AccessDenied, NotFound, patient_for
from coach.services.config import AppConfig
from coach.side_select import SideChoice
from coach.storage.store import Store

TRACE_CHUNK = 50
"""Replay frames written together (5 s at 10 a second): a kill loses at most this much."""


@dataclass
class SessionRecorder:
    """Writes one session's events to the store, in order (run it on a worker thread)."""

    store: Store
    record: SessionRecord
    """The row to create when the session starts (ids, patient, dose, source)."""
    _pending: list[TraceFrame] = field(default_factory=list)
    _started: bool = False
    _side: str | None = None
    _camera: str | None = None
    _warnings: list[str] = field(default_factory=list)

    def __call__(self, event: SessionEvent) -> None:
        if isinstance(event, SessionStarted):
            self._start()
        elif not self._started:
            self._start()  # resumed sessions already exist; `start_session` is skipped
        if isinstance(event, RepCompleted):
            self._flush_trace()
            self.store.add_rep(self.record.id, event.rep, event.rep.end_s)
        elif isinstance(event, CueGiven) and event.logged:
            self.store.add_cues(self.record.id, [CueRecord(event.t_s, event.cue_id, event.params)])
        elif isinstance(event, Sampled):
            self._pending.append(event.frame)
            changed = (event.side or self._side) != self._side or (
                event.camera or self._camera
            ) != self._camera
            self._side, self._camera = event.side or self._side, event.camera or self._camera
            if changed:
                self.store.update_session(self.record.id, side=self._side, camera=self._camera)
            if len(self._pending) >= TRACE_CHUNK:
                self._flush_trace()
        elif isinstance(event, Calibrated):
            self.store.update_session(self.record.id, neutral_deg=event.neutral_deg)
        elif isinstance(event, DoseChanged):
            self.store.update_session(self.record.id, dose=event.dose)
        elif isinstance(event, WarningRaised):
            self._warnings.append(event.text)
            self.store.update_session(self.record.id, warnings=tuple(self._warnings))
        elif isinstance(event, SessionEnded):
            self._flush_trace()
            self.store.update_session(
                self.record.id, status=SessionStatus.COMPLETED, duration_s=event.duration_s
            )

    def _start(self) -> None:
        self._started = True
        if self.store.session(self.record.id, with_trace=False) is None:
            self.store.start_session(self.record)
        else:
            self._warnings = list(self.record.warnings)

    def _flush_trace(self) -> None:
        if self._pending:
            frames, self._pending = self._pending, []
            self.store.append_trace(self.record.id, frames)
            self.store.update_session(self.record.id, duration_s=frames[-1].t_s)


@dataclass
class SessionService:
    store: Store
    config: AppConfig
    exercises: Callable[[], dict[str, Exercise]]
    clock: Callable[[], datetime] = utc_now

    # -- live -------------------------------------------------------------------------------

    def start_live(
        self,
        actor: Principal,
        patient_id: str,
        exercise_id: str,
        *,
        side: SideChoice = "auto",
        calibrate: bool = True,
        countdown_s: float = 0.0,
        resume: SessionRecord | None = None,
    ) -> tuple[LiveSession, BackgroundSubscriber]:
        """A live session for the patient's prescribed exercise, recorded as it goes.

        `resume`: an in-progress session of this patient (after a reload) to continue.
        """
        patient = patient_for(self.store, actor, patient_id)
        if actor.role is Role.PATIENT and actor.id != patient.id:
            raise AccessDenied()
        exercise, prescription = self.effective(patient.id, exercise_id)
        if side == "auto" and prescription is not None and prescription.side:
            side = prescription.side  # type: ignore[assignment]
        elif side == "auto" and patient.affected_side:
            side = patient.affected_side  # type: ignore[assignment]
        session = LiveSession(exercise, side=side, calibrate=calibrate, countdown_s=countdown_s)
        if resume is not None:
            if resume.patient_id != patient.id or resume.exercise_id != exercise_id:
                raise AccessDenied()
            session.resume(resume)
        record = resume or session.log.record(
            patient_id=patient.id,
            prescription_id=prescription.id if prescription else None,
            per_week=prescription.per_week if prescription else None,
        )
        recorder = BackgroundSubscriber(
            SessionRecorder(self.store, record), name=f"record-{record.id[:8]}"
        )
        session.bus.subscribe(recorder)
        return session, recorder

    def effective(self, patient_id: str, exercise_id: str) -> tuple[Exercise, Prescription | None]:
        """The exercise as prescribed to this patient (the definition if not prescribed)."""
        library = self.exercises()
        if exercise_id not in library:
            raise NotFound(f"There is no exercise {exercise_id!r} in the library.")
        active = {p.exercise_id: p for p in self.store.active_prescriptions(patient_id)}
        prescription = active.get(exercise_id)
        return effective_exercise(library[exercise_id], prescription), prescription

    def open_session(
        self, actor: Principal, patient_id: str, exercise_id: str
    ) -> SessionRecord | None:
        """A session of this exercise still in progress (a reload rejoins it), if recent."""
        patient = patient_for(self.store, actor, patient_id)
        self.store.mark_stale_sessions(self.clock() - self.config.stale_session_after)
        return self.store.open_session(patient.id, exercise_id)

    # -- recorded videos --------------------------------------------------------------------

    def import_video(
        self,
        actor: Principal,
        patient_id: str,
        video: Path,
        exercise_id: str,
        *,
        model: str = RECORDED_MODEL,
        side: SideChoice = "auto",
        estimator: PoseEstimator | None = None,
        analysis_fps: float | None = None,
        source_name: str | None = None,
    ) -> SessionRecord:
        """Analyse a recorded video and put it into the patient's history (the video itself
        is not kept)."""
        patient = patient_for(self.store, actor, patient_id, change=actor.role is not Role.PATIENT)
        exercise, _ = self.effective(patient.id, exercise_id)
        if side == "auto" and patient.affected_side:
            side = patient.affected_side  # type: ignore[assignment]
        report = analyze_video(
            video, exercise, model=model, side=side, estimator=estimator, analysis_fps=analysis_fps
        )
        return self.save_analysis(actor, patient.id, report, source_name or video.name)

    def save_analysis(
        self,
        actor: Principal,
        patient_id: str,
        report: AnalysisReport,
        source_name: str,
        *,
        keep_video: bytes | None = None,
    ) -> SessionRecord:
        """A recorded-video analysis into the patient's history. `keep_video`: the original
        recording, kept only because the patient opted in for this session."""
        patient = patient_for(self.store, actor, patient_id, change=actor.role is not Role.PATIENT)
        exercise, prescription = self.effective(patient.id, report.exercise.id)
        record = analysis_record(
            report,
            exercise,
            patient_id=patient.id,
            started_at=self.clock(),
            prescription=prescription,
            source_name=source_name,
        )
        if keep_video is not None:
            folder = self.config.video_dir
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_write_path(folder / f"{record.id}.video") as tmp:
                tmp.write_bytes(keep_video)
            record = replace(record, video_kept=True)
        self.store.start_session(record)
        self.store.audit(actor.role.value, actor.id, "change", "session", patient.id, "imported")
        return record

    def kept_video(self, actor: Principal, session_id: str) -> bytes | None:
        """The recording of a session whose patient opted in to keep it (access checked)."""
        record = self.session(actor, session_id)
        path = self.config.video_dir / f"{record.id}.video"
        if not record.video_kept or not path.is_file():
            return None
        self.store.audit(actor.role.value, actor.id, "view", "video", record.patient_id, record.id)
        return path.read_bytes()

    def save_walk(
        self, actor: Principal, patient_id: str, report: dict[str, Any], source_name: str
    ) -> GaitRecord:
        """An analysed walk into the patient's history (the video is not kept)."""
        patient = patient_for(self.store, actor, patient_id, change=actor.role is not Role.PATIENT)
        record = gait_record(
            report, patient_id=patient.id, started_at=self.clock(), source_name=source_name
        )
        self.store.add_gait(record)
        self.store.audit(actor.role.value, actor.id, "change", "gait", patient.id, "walk saved")
        return record

    # -- history ----------------------------------------------------------------------------

    def history(
        self,
        actor: Principal,
        patient_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[SessionRecord]:
        patient = patient_for(self.store, actor, patient_id)
        self.store.audit(actor.role.value, actor.id, "view", "sessions", patient.id)
        return self.store.sessions_of(patient.id, since=since, until=until)

    def recent(self, actor: Principal, patient_id: str, since: datetime) -> list[SessionRecord]:
        """Sessions since a moment, for list figures (access checked; not a "view" in the
        audit log, which records opening a patient's history)."""
        patient = patient_for(self.store, actor, patient_id)
        return self.store.sessions_of(patient.id, since=since)

    def walks(self, actor: Principal, patient_id: str) -> list[GaitRecord]:
        patient = patient_for(self.store, actor, patient_id)
        return self.store.gait_of(patient.id)

    def session(self, actor: Principal, session_id: str) -> SessionRecord:
        """One stored session with its trace, if `actor` may see its patient."""
        record = self.store.session(session_id) if session_id else None
        if record is None or record.patient_id is None:
            raise AccessDenied("You do not have access to this session.")
        patient_for(self.store, actor, record.patient_id)
        self.store.audit(
            actor.role.value, actor.id, "view", "session", record.patient_id, session_id
        )
        return record


def analysis_record(
    report: AnalysisReport,
    exercise: Exercise,
    *,
    patient_id: str,
    started_at: datetime,
    prescription: Prescription | None,
    source_name: str,
) -> SessionRecord:
    """A recorded-video analysis as the one record model, in the patient's history."""
    angles: list[RepAngle | None] = list(report.rep_angles)
    angles += [None] * (len(report.reps) - len(angles))
    plan = SessionPlan.from_exercise(exercise)
    reps = tuple(
        RepRecord(
            number=rep.index,
            set_no=plan.set_of_next_rep(rep.index - 1),
            start_s=rep.start_s,
            end_s=rep.end_s,
            peak=exercise.from_excursion(rep.peak, 0.0),
            range=rep.rom,
            hold_s=rep.hold_s,
            reached_target=rep.reached_target,
            peak_deg=angle.peak_deg if angle is not None else None,
            rom_deg=angle.rom_deg if angle is not None else None,
        )
        for rep, angle in zip(report.reps, angles, strict=False)
    )
    trace: list[TraceFrame] = []
    for p in report.series:  # thinned as a live session's trace is
        if not trace or p.t_s - trace[-1].t_s >= SAMPLE_EVERY_S:
            value = p.ankle_deg if exercise.signal is Signal.ANKLE else p.excursion
            trace.append(TraceFrame(p.t_s, value, p.points))
    sides = [p.side.value for p in report.series if p.side is not None]
    return SessionRecord(
        id=uuid.uuid4().hex,
        patient_id=patient_id,
        exercise_id=exercise.id,
        exercise_name=exercise.name,
        source=SessionSource.VIDEO,
        source_name=source_name,
        started_at=started_at,
        unit=unit_of(exercise),
        dose=dose_of(exercise, prescription.per_week if prescription else None),
        prescription_id=prescription.id if prescription else None,
        status=SessionStatus.COMPLETED,
        duration_s=report.duration_s,
        side=max(set(sides), key=sides.count) if sides else None,
        camera=report.camera_view.value if report.camera_view is not None else None,
        neutral_deg=report.neutral_deg,
        reps=reps,
        cues=tuple(CueRecord(c.t_s, c.id, dict(c.params)) for c in report.cues),
        warnings=tuple(report.warnings),
        trace=tuple(trace),
    )
