"""The repository: the coach's records in and out of the database, nothing else.

Every method is one short transaction of its own (no connection is kept between
calls), so a committed call is on disk when it returns: `add_rep` is what makes every
completed rep survive a killed server. Records go in and come out as the typed record
model (`coach.records`, `coach.prescription`); accounts, notes and the audit trail as
the small frozen rows below. Datetimes come back timezone-aware in UTC from either
database. Ids are `uuid4().hex`, made here (sessions and gait results bring their own).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from coach.prescription import Prescription
from coach.records import (
    CueRecord,
    DoseRecord,
    GaitRecord,
    RepRecord,
    SessionRecord,
    SessionSource,
    SessionStatus,
    TraceFrame,
    Unit,
    trace_frame_from_list,
    trace_frame_to_list,
    utc_now,
)
from coach.storage import schema as t
from coach.storage.database import NotFound, translate_errors, writer
from coach.telehealth.steps import StepIn

ACTOR_KINDS: Final = ("therapist", "patient", "admin", "system")
AUDIT_ACTIONS: Final = ("view", "change", "export", "delete", "login", "login_failed")


class _Unset:
    """Marks an argument not given, where None is a value (no affected side)."""


UNSET: Final = _Unset()


@dataclass(frozen=True, slots=True)
class TherapistRow:
    id: str
    email: str
    name: str
    password_hash: str
    created_at: datetime
    disabled: bool


@dataclass(frozen=True, slots=True)
class PatientRow:
    id: str
    therapist_id: str
    name: str
    affected_side: str | None
    created_at: datetime
    login_name: str | None
    password_hash: str | None
    has_invite: bool
    invite_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class NoteRow:
    id: str
    patient_id: str
    therapist_id: str
    written_at: datetime
    text: str


@dataclass(frozen=True, slots=True)
class StepInRow:
    """A step-in as stored: what was sent, by which therapist, when."""

    step: StepIn
    patient_id: str
    therapist_id: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime
    actor_kind: str
    actor_id: str | None
    action: str
    target_kind: str
    target_id: str | None
    detail: str


def new_id() -> str:
    return uuid.uuid4().hex


def email_key(email: str) -> str:
    """Emails are compared (and stored) stripped and lower-cased."""
    return email.strip().lower()


def name_key(name: str) -> str:
    """A patient's name as compared for duplicates: casefolded, whitespace collapsed."""
    return " ".join(name.split()).casefold()


def login_key(login_name: str) -> str:
    """Patient login names are compared (and stored) stripped and lower-cased."""
    return login_name.strip().lower()


def patient_account_key(login_name: str) -> str:
    """The `login_failures` key for a patient's login (erase_patient removes these)."""
    return f"patient:{login_key(login_name)}"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _therapist(row: RowMapping) -> TherapistRow:
    return TherapistRow(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        password_hash=row["password_hash"],
        created_at=row["created_at"],
        disabled=bool(row["disabled"]),
    )


def _patient(row: RowMapping) -> PatientRow:
    return PatientRow(
        id=row["id"],
        therapist_id=row["therapist_id"],
        name=row["name"],
        affected_side=row["affected_side"],
        created_at=row["created_at"],
        login_name=row["login_name"],
        password_hash=row["password_hash"],
        has_invite=row["invite_hash"] is not None,
        invite_expires_at=row["invite_expires_at"],
    )


def _prescription(row: RowMapping) -> Prescription:
    return Prescription(
        exercise_id=row["exercise_id"],
        sets=row["sets"],
        reps=row["reps"],
        hold_s=row["hold_s"],
        rest_s=row["rest_s"],
        per_week=row["per_week"],
        side=row["side"],
        target=row["target"],
        notes=row["notes"],
        id=row["id"],
        set_by=row["set_by"],
        set_at=row["set_at"],
        active=bool(row["active"]),
    )


def _rep_values(session_id: str, rep: RepRecord) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "number": rep.number,
        "set_no": rep.set_no,
        "start_s": float(rep.start_s),
        "end_s": float(rep.end_s),
        "peak": float(rep.peak),
        "rep_range": float(rep.range),
        "hold_s": float(rep.hold_s),
        "reached_target": bool(rep.reached_target),
        "peak_deg": None if rep.peak_deg is None else float(rep.peak_deg),
        "rom_deg": None if rep.rom_deg is None else float(rep.rom_deg),
    }


def _rep(row: RowMapping) -> RepRecord:
    return RepRecord(
        number=row["number"],
        set_no=row["set_no"],
        start_s=row["start_s"],
        end_s=row["end_s"],
        peak=row["peak"],
        range=row["rep_range"],
        hold_s=row["hold_s"],
        reached_target=bool(row["reached_target"]),
        peak_deg=row["peak_deg"],
        rom_deg=row["rom_deg"],
    )


def _cue_values(session_id: str, cue: CueRecord) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "t_s": float(cue.t_s),
        "cue_id": cue.cue_id,
        "params": _dumps(dict(cue.params)),
    }


def _cue(row: RowMapping) -> CueRecord:
    return CueRecord(t_s=row["t_s"], cue_id=row["cue_id"], params=json.loads(row["params"]))


def _session_values(record: SessionRecord, now: datetime) -> dict[str, Any]:
    dose = record.dose
    return {
        "id": record.id,
        "patient_id": record.patient_id,
        "exercise_id": record.exercise_id,
        "exercise_name": record.exercise_name,
        "source": SessionSource(record.source).value,
        "source_name": record.source_name,
        "status": SessionStatus(record.status).value,
        "started_at": record.started_at,
        "updated_at": now,
        "duration_s": float(record.duration_s),
        "side": record.side,
        "camera": record.camera,
        "unit": Unit(record.unit).value,
        "neutral_deg": None if record.neutral_deg is None else float(record.neutral_deg),
        "prescription_id": record.prescription_id,
        "dose_sets": dose.sets,
        "dose_reps": dose.reps,
        "dose_hold_s": float(dose.hold_s),
        "dose_rest_s": float(dose.rest_s),
        "dose_per_week": dose.per_week,
        "video_kept": bool(record.video_kept),
        "warnings": _dumps(list(record.warnings)),
    }


def _session(
    row: RowMapping,
    reps: Iterable[RepRecord] = (),
    cues: Iterable[CueRecord] = (),
    trace: Iterable[TraceFrame] = (),
) -> SessionRecord:
    return SessionRecord(
        id=row["id"],
        patient_id=row["patient_id"],
        exercise_id=row["exercise_id"],
        exercise_name=row["exercise_name"],
        source=SessionSource(row["source"]),
        started_at=row["started_at"],
        unit=Unit(row["unit"]),
        dose=DoseRecord(
            sets=row["dose_sets"],
            reps=row["dose_reps"],
            hold_s=row["dose_hold_s"],
            rest_s=row["dose_rest_s"],
            per_week=row["dose_per_week"],
        ),
        status=SessionStatus(row["status"]),
        duration_s=row["duration_s"],
        side=row["side"],
        camera=row["camera"],
        neutral_deg=row["neutral_deg"],
        prescription_id=row["prescription_id"],
        video_kept=bool(row["video_kept"]),
        source_name=row["source_name"],
        reps=tuple(reps),
        cues=tuple(cues),
        warnings=tuple(json.loads(row["warnings"])),
        trace=tuple(trace),
    )


def _trace_rows(
    session_id: str, first_chunk: int, frames: Sequence[TraceFrame], unit: str
) -> list[dict[str, Any]]:
    if not frames:
        return []
    data = [trace_frame_to_list(f, unit) for f in frames]
    return [{"session_id": session_id, "chunk_no": first_chunk, "frames": _dumps(data)}]


def _gait(row: RowMapping) -> GaitRecord:
    measures = json.loads(row["measures"])
    return GaitRecord(
        id=row["id"],
        patient_id=row["patient_id"],
        started_at=row["started_at"],
        duration_s=row["duration_s"],
        steps=row["steps"],
        cadence_spm=row["cadence_spm"],
        flags=tuple(json.loads(row["flags"])),
        measures={k: None if v is None else float(v) for k, v in measures.items()},
        source_name=row["source_name"],
    )


def _note(row: RowMapping) -> NoteRow:
    return NoteRow(
        id=row["id"],
        patient_id=row["patient_id"],
        therapist_id=row["therapist_id"],
        written_at=row["written_at"],
        text=row["text"],
    )


def _audit(row: RowMapping) -> AuditRow:
    return AuditRow(
        id=row["id"],
        at=row["at"],
        actor_kind=row["actor_kind"],
        actor_id=row["actor_id"],
        action=row["action"],
        target_kind=row["target_kind"],
        target_id=row["target_id"],
        detail=row["detail"],
    )


class Store:
    """The coach's records in one database (SQLite file or PostgreSQL), one call a transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = writer(engine)

    def close(self) -> None:
        """Close the pooled connections (the store stays usable: they reopen on demand)."""
        self.engine.dispose()

    @contextlib.contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with translate_errors(self.engine), self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _write(self, duplicate: str | None = None) -> Iterator[sa.Connection]:
        with translate_errors(self.engine, duplicate=duplicate), self._writer.begin() as conn:
            yield conn

    @staticmethod
    def _one(conn: sa.Connection, query: sa.Select[Any]) -> RowMapping | None:
        return conn.execute(query).mappings().first()

    @staticmethod
    def _changed(result: sa.CursorResult[Any], what: str) -> None:
        if result.rowcount == 0:
            raise NotFound(f"The {what} no longer exists.")

    # --- therapists ---------------------------------------------------------------------

    def add_therapist(self, email: str, name: str, password_hash: str) -> TherapistRow:
        key = email_key(email)
        row: dict[str, Any] = {
            "id": new_id(),
            "email": key,
            "name": name.strip(),
            "password_hash": password_hash,
            "created_at": utc_now(),
            "disabled": False,
        }
        message = f"A therapist with the email {key} is already registered."
        with self._write(duplicate=message) as conn:
            conn.execute(t.therapists.insert().values(row))
        return TherapistRow(**row)

    def therapist_by_email(self, email: str) -> TherapistRow | None:
        query = sa.select(t.therapists).where(t.therapists.c.email == email_key(email))
        with self._read() as conn:
            row = self._one(conn, query)
        return None if row is None else _therapist(row)

    def therapist(self, therapist_id: str) -> TherapistRow | None:
        query = sa.select(t.therapists).where(t.therapists.c.id == therapist_id)
        with self._read() as conn:
            row = self._one(conn, query)
        return None if row is None else _therapist(row)

    def set_therapist_password(self, therapist_id: str, password_hash: str) -> None:
        query = (
            t.therapists.update()
            .where(t.therapists.c.id == therapist_id)
            .values(password_hash=password_hash)
        )
        with self._write() as conn:
            self._changed(conn.execute(query), "therapist")

    def set_therapist_disabled(self, therapist_id: str, disabled: bool) -> None:
        query = (
            t.therapists.update()
            .where(t.therapists.c.id == therapist_id)
            .values(disabled=bool(disabled))
        )
        with self._write() as conn:
            self._changed(conn.execute(query), "therapist")

    # --- patients -----------------------------------------------------------------------

    @staticmethod
    def _duplicate_patient(name: str) -> str:
        return f"You already have a patient called {' '.join(name.split())}."

    def add_patient(
        self,
        therapist_id: str,
        name: str,
        affected_side: str | None,
        invite_hash: str | None,
        invite_expires_at: datetime | None,
    ) -> PatientRow:
        row = {
            "id": new_id(),
            "therapist_id": therapist_id,
            "name": name.strip(),
            "name_key": name_key(name),
            "affected_side": affected_side,
            "created_at": utc_now(),
            "invite_hash": invite_hash,
            "invite_expires_at": invite_expires_at,
            "login_name": None,
            "password_hash": None,
        }
        with self._write(duplicate=self._duplicate_patient(name)) as conn:
            conn.execute(t.patients.insert().values(row))
            stored = self._one(conn, sa.select(t.patients).where(t.patients.c.id == row["id"]))
        assert stored is not None
        return _patient(stored)

    def patient(self, patient_id: str) -> PatientRow | None:
        with self._read() as conn:
            row = self._one(conn, sa.select(t.patients).where(t.patients.c.id == patient_id))
        return None if row is None else _patient(row)

    def patients_of(self, therapist_id: str) -> list[PatientRow]:
        """A therapist's patients, by name."""
        query = (
            sa.select(t.patients)
            .where(t.patients.c.therapist_id == therapist_id)
            .order_by(t.patients.c.name_key, t.patients.c.created_at, t.patients.c.id)
        )
        with self._read() as conn:
            return [_patient(r) for r in conn.execute(query).mappings()]

    def patient_by_invite(self, invite_hash: str, now: datetime) -> PatientRow | None:
        """The patient whose invitation this is, unless it has expired."""
        c = t.patients.c
        query = sa.select(t.patients).where(
            c.invite_hash == invite_hash,
            sa.or_(c.invite_expires_at.is_(None), c.invite_expires_at > now),
        )
        with self._read() as conn:
            row = self._one(conn, query)
        return None if row is None else _patient(row)

    def patient_by_login(self, login_name: str) -> PatientRow | None:
        query = sa.select(t.patients).where(t.patients.c.login_name == login_key(login_name))
        with self._read() as conn:
            row = self._one(conn, query)
        return None if row is None else _patient(row)

    def set_patient_login(self, patient_id: str, login_name: str, password_hash: str) -> None:
        """The patient's own login (stored lower-cased); the invitation is used up."""
        key = login_key(login_name)
        query = (
            t.patients.update()
            .where(t.patients.c.id == patient_id)
            .values(
                login_name=key,
                password_hash=password_hash,
                invite_hash=None,
                invite_expires_at=None,
            )
        )
        with self._write(duplicate=f"The login name {key} is already taken.") as conn:
            self._changed(conn.execute(query), "patient")

    def set_invite(
        self, patient_id: str, invite_hash: str | None, expires_at: datetime | None
    ) -> None:
        query = (
            t.patients.update()
            .where(t.patients.c.id == patient_id)
            .values(invite_hash=invite_hash, invite_expires_at=expires_at)
        )
        with self._write(duplicate="This invitation code is already in use.") as conn:
            self._changed(conn.execute(query), "patient")

    def update_patient(
        self,
        patient_id: str,
        *,
        name: str | None = None,
        affected_side: str | _Unset | None = UNSET,
    ) -> PatientRow:
        values: dict[str, Any] = {}
        if name is not None:
            values.update(name=name.strip(), name_key=name_key(name))
        if not isinstance(affected_side, _Unset):
            values["affected_side"] = affected_side
        query = sa.select(t.patients).where(t.patients.c.id == patient_id)
        duplicate = self._duplicate_patient(name) if name is not None else None
        with self._write(duplicate=duplicate) as conn:
            if values:
                update = t.patients.update().where(t.patients.c.id == patient_id).values(values)
                self._changed(conn.execute(update), "patient")
            row = self._one(conn, query)
        if row is None:
            raise NotFound("The patient no longer exists.")
        return _patient(row)

    # --- prescriptions ------------------------------------------------------------------

    def set_prescription(
        self, patient_id: str, prescription: Prescription, therapist_id: str, now: datetime
    ) -> Prescription:
        """Prescribe an exercise; the patient's earlier prescription of it ends (kept).

        Returns it with its id, `set_by` (the therapist's id) and `set_at` filled in.
        """
        done = replace(prescription, id=new_id(), set_by=therapist_id, set_at=now, active=True)
        c = t.prescriptions.c
        with self._write() as conn:
            conn.execute(
                t.prescriptions.update()
                .where(c.patient_id == patient_id, c.exercise_id == done.exercise_id, c.active)
                .values(active=False, ended_at=now)
            )
            conn.execute(
                t.prescriptions.insert().values(
                    id=done.id,
                    patient_id=patient_id,
                    exercise_id=done.exercise_id,
                    sets=done.sets,
                    reps=done.reps,
                    hold_s=done.hold_s,
                    rest_s=done.rest_s,
                    per_week=done.per_week,
                    side=done.side,
                    target=None if done.target is None else float(done.target),
                    notes=done.notes,
                    set_by=therapist_id,
                    set_at=now,
                    active=True,
                    ended_at=None,
                )
            )
        return done

    def active_prescriptions(self, patient_id: str) -> list[Prescription]:
        c = t.prescriptions.c
        query = (
            sa.select(t.prescriptions)
            .where(c.patient_id == patient_id, c.active)
            .order_by(c.exercise_id, c.set_at)
        )
        with self._read() as conn:
            return [_prescription(r) for r in conn.execute(query).mappings()]

    def prescription_history(self, patient_id: str) -> list[Prescription]:
        """Every prescription the patient has had, newest first."""
        c = t.prescriptions.c
        query = (
            sa.select(t.prescriptions)
            .where(c.patient_id == patient_id)
            .order_by(c.set_at.desc(), c.id.desc())
        )
        with self._read() as conn:
            return [_prescription(r) for r in conn.execute(query).mappings()]

    def stop_prescription(self, prescription_id: str, now: datetime) -> None:
        """End a prescription (no-op if it already ended)."""
        c = t.prescriptions.c
        with self._write() as conn:
            found = conn.execute(sa.select(c.id).where(c.id == prescription_id)).first()
            if found is None:
                raise NotFound("The prescription no longer exists.")
            conn.execute(
                t.prescriptions.update()
                .where(c.id == prescription_id, c.active)
                .values(active=False, ended_at=now)
            )

    # --- sessions -----------------------------------------------------------------------

    def start_session(self, record: SessionRecord) -> None:
        """Save a new session (with any reps, cues and trace it already has)."""
        with self._write(duplicate="This session is already saved.") as conn:
            conn.execute(t.sessions.insert().values(_session_values(record, utc_now())))
            if record.reps:
                conn.execute(t.reps.insert(), [_rep_values(record.id, r) for r in record.reps])
            if record.cues:
                conn.execute(t.cues.insert(), [_cue_values(record.id, c) for c in record.cues])
            chunks = _trace_rows(record.id, 0, record.trace, Unit(record.unit).value)
            if chunks:
                conn.execute(t.trace_chunks.insert(), chunks)

    def add_rep(self, session_id: str, rep: RepRecord, duration_s: float) -> None:
        """Save a completed rep and the session's running time, committed on return."""
        message = f"Rep {rep.number} of this session is already saved."
        with self._write(duplicate=message) as conn:
            conn.execute(t.reps.insert().values(_rep_values(session_id, rep)))
            conn.execute(
                t.sessions.update()
                .where(t.sessions.c.id == session_id)
                .values(duration_s=float(duration_s), updated_at=utc_now())
            )

    def add_cues(self, session_id: str, cues: Sequence[CueRecord]) -> None:
        if not cues:
            return
        with self._write() as conn:
            conn.execute(t.cues.insert(), [_cue_values(session_id, c) for c in cues])
            self._touch(conn, session_id)

    def append_trace(self, session_id: str, frames: Sequence[TraceFrame]) -> None:
        """Add replay frames as the session's next chunk (rounded as exported)."""
        if not frames:
            return
        with self._write() as conn:
            unit = conn.execute(
                sa.select(t.sessions.c.unit).where(t.sessions.c.id == session_id)
            ).scalar()
            if unit is None:
                raise NotFound("The session no longer exists.")
            last = conn.execute(
                sa.select(sa.func.max(t.trace_chunks.c.chunk_no)).where(
                    t.trace_chunks.c.session_id == session_id
                )
            ).scalar()
            first = 0 if last is None else last + 1
            conn.execute(t.trace_chunks.insert(), _trace_rows(session_id, first, frames, unit))
            self._touch(conn, session_id)

    @staticmethod
    def _touch(conn: sa.Connection, session_id: str) -> None:
        conn.execute(
            t.sessions.update().where(t.sessions.c.id == session_id).values(updated_at=utc_now())
        )

    def update_session(
        self,
        session_id: str,
        *,
        status: SessionStatus | None = None,
        duration_s: float | None = None,
        side: str | None = None,
        camera: str | None = None,
        neutral_deg: float | None = None,
        warnings: Sequence[str] | None = None,
        video_kept: bool | None = None,
        dose: DoseRecord | None = None,
    ) -> None:
        """Change what is given (None: unchanged); the session counts as alive again."""
        values: dict[str, Any] = {"updated_at": utc_now()}
        if dose is not None:
            values.update(
                dose_sets=dose.sets,
                dose_reps=dose.reps,
                dose_hold_s=float(dose.hold_s),
                dose_rest_s=float(dose.rest_s),
            )
        if status is not None:
            values["status"] = SessionStatus(status).value
        if duration_s is not None:
            values["duration_s"] = float(duration_s)
        if side is not None:
            values["side"] = side
        if camera is not None:
            values["camera"] = camera
        if neutral_deg is not None:
            values["neutral_deg"] = float(neutral_deg)
        if warnings is not None:
            values["warnings"] = _dumps(list(warnings))
        if video_kept is not None:
            values["video_kept"] = bool(video_kept)
        query = t.sessions.update().where(t.sessions.c.id == session_id).values(values)
        with self._write() as conn:
            self._changed(conn.execute(query), "session")

    def session(self, session_id: str, *, with_trace: bool = True) -> SessionRecord | None:
        query = sa.select(t.sessions).where(t.sessions.c.id == session_id)
        found = self._sessions(query, with_trace=with_trace)
        return found[0] if found else None

    def sessions_of(
        self,
        patient_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        with_trace: bool = False,
    ) -> list[SessionRecord]:
        """A patient's sessions started in [since, until), oldest first."""
        c = t.sessions.c
        query = sa.select(t.sessions).where(c.patient_id == patient_id)
        if since is not None:
            query = query.where(c.started_at >= since)
        if until is not None:
            query = query.where(c.started_at < until)
        return self._sessions(query, with_trace=with_trace)

    def open_session(self, patient_id: str, exercise_id: str) -> SessionRecord | None:
        """The newest session still in progress for this exercise (to rejoin after a reload)."""
        c = t.sessions.c
        query = (
            sa.select(t.sessions)
            .where(
                c.patient_id == patient_id,
                c.exercise_id == exercise_id,
                c.status == SessionStatus.IN_PROGRESS.value,
            )
            .order_by(c.started_at.desc(), c.updated_at.desc())
            .limit(1)
        )
        found = self._sessions(query, with_trace=True)
        return found[0] if found else None

    def _sessions(self, query: sa.Select[Any], *, with_trace: bool) -> list[SessionRecord]:
        """Sessions matching `query` with their reps, cues (and trace): one query for each."""
        c = t.sessions.c
        query = query.order_by(c.started_at, c.id)
        with self._read() as conn:
            rows = list(conn.execute(query).mappings())
            if not rows:
                return []
            ids = sa.select(query.subquery().c.id).scalar_subquery()
            reps: dict[str, list[RepRecord]] = defaultdict(list)
            rep_query = (
                sa.select(t.reps)
                .where(t.reps.c.session_id.in_(ids))
                .order_by(t.reps.c.session_id, t.reps.c.number)
            )
            for r in conn.execute(rep_query).mappings():
                reps[r["session_id"]].append(_rep(r))
            cues: dict[str, list[CueRecord]] = defaultdict(list)
            cue_query = (
                sa.select(t.cues)
                .where(t.cues.c.session_id.in_(ids))
                .order_by(t.cues.c.session_id, t.cues.c.t_s, t.cues.c.id)
            )
            for r in conn.execute(cue_query).mappings():
                cues[r["session_id"]].append(_cue(r))
            trace: dict[str, list[TraceFrame]] = defaultdict(list)
            if with_trace:
                trace_query = (
                    sa.select(t.trace_chunks)
                    .where(t.trace_chunks.c.session_id.in_(ids))
                    .order_by(t.trace_chunks.c.session_id, t.trace_chunks.c.chunk_no)
                )
                for r in conn.execute(trace_query).mappings():
                    frames = json.loads(r["frames"])
                    trace[r["session_id"]].extend(trace_frame_from_list(f) for f in frames)
        return [_session(r, reps[r["id"]], cues[r["id"]], trace[r["id"]]) for r in rows]

    def mark_stale_sessions(self, older_than: datetime) -> int:
        """Sessions in progress but silent since before `older_than` become interrupted."""
        c = t.sessions.c
        query = (
            t.sessions.update()
            .where(c.status == SessionStatus.IN_PROGRESS.value, c.updated_at < older_than)
            .values(status=SessionStatus.INTERRUPTED.value)
        )
        with self._write() as conn:
            return conn.execute(query).rowcount

    # --- gait ---------------------------------------------------------------------------

    def add_gait(self, record: GaitRecord) -> None:
        values = {
            "id": record.id,
            "patient_id": record.patient_id,
            "started_at": record.started_at,
            "duration_s": float(record.duration_s),
            "steps": int(record.steps),
            "cadence_spm": None if record.cadence_spm is None else float(record.cadence_spm),
            "flags": _dumps(list(record.flags)),
            "measures": _dumps(dict(record.measures)),
            "source_name": record.source_name,
        }
        with self._write(duplicate="This walk is already saved.") as conn:
            conn.execute(t.gait_results.insert().values(values))

    def gait_of(self, patient_id: str, since: datetime | None = None) -> list[GaitRecord]:
        """A patient's analysed walks, oldest first."""
        c = t.gait_results.c
        query = sa.select(t.gait_results).where(c.patient_id == patient_id)
        if since is not None:
            query = query.where(c.started_at >= since)
        with self._read() as conn:
            rows = conn.execute(query.order_by(c.started_at, c.id)).mappings()
            return [_gait(r) for r in rows]

    # --- notes --------------------------------------------------------------------------

    def add_note(self, patient_id: str, therapist_id: str, text: str, now: datetime) -> NoteRow:
        values = {
            "id": new_id(),
            "patient_id": patient_id,
            "therapist_id": therapist_id,
            "written_at": now,
            "text": text,
        }
        with self._write() as conn:
            conn.execute(t.notes.insert().values(values))
            row = self._one(conn, sa.select(t.notes).where(t.notes.c.id == values["id"]))
        assert row is not None
        return _note(row)

    def notes_of(self, patient_id: str, since: datetime | None = None) -> list[NoteRow]:
        """A patient's notes, oldest first."""
        c = t.notes.c
        query = sa.select(t.notes).where(c.patient_id == patient_id)
        if since is not None:
            query = query.where(c.written_at >= since)
        with self._read() as conn:
            return [_note(r) for r in conn.execute(query.order_by(c.written_at, c.id)).mappings()]

    # --- step-ins (telehealth) ----------------------------------------------------------

    def add_step_in(
        self, step: StepIn, patient_id: str, therapist_id: str, at: datetime
    ) -> StepInRow:
        """Keep what a therapist sent into a live session (given a new id)."""
        step = replace(step, id=new_id())
        values = {
            "id": step.id,
            "session_id": step.session_id,
            "patient_id": patient_id,
            "therapist_id": therapist_id,
            "sent_at": at,
            "kind": step.kind.value,
            "step": step.to_json(),
        }
        with self._write() as conn:
            conn.execute(t.step_ins.insert().values(values))
        return StepInRow(step, patient_id, therapist_id, at)

    def step_ins_of(
        self, *, session_id: str | None = None, patient_id: str | None = None
    ) -> list[StepInRow]:
        """A session's (or a patient's) step-ins, oldest first."""
        c = t.step_ins.c
        query = sa.select(t.step_ins)
        if session_id is not None:
            query = query.where(c.session_id == session_id)
        if patient_id is not None:
            query = query.where(c.patient_id == patient_id)
        with self._read() as conn:
            rows = conn.execute(query.order_by(c.sent_at, c.id)).mappings().all()
        return [
            StepInRow(StepIn.from_json(r["step"]), r["patient_id"], r["therapist_id"], r["sent_at"])
            for r in rows
        ]

    # --- login failures -----------------------------------------------------------------

    def record_login_failure(self, account_key: str, at: datetime) -> None:
        with self._write() as conn:
            conn.execute(t.login_failures.insert().values(account_key=account_key, at=at))

    def login_failures_since(self, account_key: str, since: datetime) -> int:
        c = t.login_failures.c
        query = sa.select(sa.func.count()).where(c.account_key == account_key, c.at >= since)
        with self._read() as conn:
            return int(conn.execute(query).scalar() or 0)

    def clear_login_failures(self, account_key: str) -> None:
        with self._write() as conn:
            conn.execute(
                t.login_failures.delete().where(t.login_failures.c.account_key == account_key)
            )

    # --- sign-ins (browser tokens) -------------------------------------------------------

    def add_sign_in(self, token_hash: str, role: str, actor_id: str | None, at: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                t.sign_ins.insert().values(
                    token_hash=token_hash,
                    role=role,
                    actor_id=actor_id,
                    created_at=at,
                    last_active=at,
                )
            )

    def sign_in(self, token_hash: str) -> tuple[str, str | None, datetime] | None:
        """(role, actor id, last active) of a sign-in, or None."""
        c = t.sign_ins.c
        query = sa.select(c.role, c.actor_id, c.last_active).where(c.token_hash == token_hash)
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else (row.role, row.actor_id, row.last_active)

    def touch_sign_in(self, token_hash: str, at: datetime) -> None:
        c = t.sign_ins.c
        with self._write() as conn:
            conn.execute(
                t.sign_ins.update().where(c.token_hash == token_hash).values(last_active=at)
            )

    def end_sign_in(self, token_hash: str) -> None:
        with self._write() as conn:
            conn.execute(t.sign_ins.delete().where(t.sign_ins.c.token_hash == token_hash))

    # --- audit --------------------------------------------------------------------------

    def audit(
        self,
        actor_kind: str,
        actor_id: str | None,
        action: str,
        target_kind: str,
        target_id: str | None,
        detail: str = "",
        at: datetime | None = None,
    ) -> None:
        """Record who did what to whose record. Ids only: no names, so erasing keeps it."""
        if actor_kind not in ACTOR_KINDS:
            raise ValueError(f"actor_kind must be one of {', '.join(ACTOR_KINDS)}")
        values = {
            "at": at or utc_now(),
            "actor_kind": actor_kind,
            "actor_id": actor_id,
            "action": action,
            "target_kind": target_kind,
            "target_id": target_id,
            "detail": detail,
        }
        with self._write() as conn:
            conn.execute(t.audit_log.insert().values(values))

    def audit_entries(
        self, *, target_id: str | None = None, actor_id: str | None = None, limit: int = 200
    ) -> list[AuditRow]:
        """The audit trail, newest first, optionally for one target and/or one actor."""
        c = t.audit_log.c
        query = sa.select(t.audit_log)
        if target_id is not None:
            query = query.where(c.target_id == target_id)
        if actor_id is not None:
            query = query.where(c.actor_id == actor_id)
        query = query.order_by(c.at.desc(), c.id.desc()).limit(limit)
        with self._read() as conn:
            return [_audit(r) for r in conn.execute(query).mappings()]

    # --- erasure ------------------------------------------------------------------------

    def erase_patient(self, patient_id: str) -> dict[str, int]:
        """Delete everything about a patient, in one transaction; counts by table.

        The foreign keys cascade too, but each table is deleted explicitly so the counts
        are real and nothing depends on the cascade being there. The audit log stays
        (ids only). An unknown patient erases nothing (all counts 0).
        """
        counts: dict[str, int] = {}
        sessions = sa.select(t.sessions.c.id).where(t.sessions.c.patient_id == patient_id)
        with self._write() as conn:
            login = conn.execute(
                sa.select(t.patients.c.login_name).where(t.patients.c.id == patient_id)
            ).scalar()
            for child in (t.reps, t.cues, t.trace_chunks):
                result = conn.execute(child.delete().where(child.c.session_id.in_(sessions)))
                counts[child.name] = result.rowcount
            for name in t.PATIENT_TABLES:
                table = t.metadata.tables[name]
                result = conn.execute(table.delete().where(table.c.patient_id == patient_id))
                counts[name] = result.rowcount
            failures = 0
            if login is not None:
                result = conn.execute(
                    t.login_failures.delete().where(
                        t.login_failures.c.account_key == patient_account_key(login)
                    )
                )
                failures = result.rowcount
            counts["login_failures"] = failures
            result = conn.execute(t.sign_ins.delete().where(t.sign_ins.c.actor_id == patient_id))
            counts["sign_ins"] = result.rowcount
            result = conn.execute(t.patients.delete().where(t.patients.c.id == patient_id))
            counts["patients"] = result.rowcount
        return counts
