"""Accounts, patients, plans and notes: what the therapist's pages and the admin CLI call.

Each method takes the signed-in `Principal`, checks access (`coach.services.access`),
does one thing through the store, and writes the audit log. No Streamlit here; the
pages and the command line call the same methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from coach.accounts import (
    Principal,
    Role,
    code_hash,
    hash_password,
    new_invite_code,
    new_token,
    normalize_email,
    token_hash,
    valid_email,
    verify_password,
)
from coach.exercise import Exercise
from coach.prescription import SIDES, DoseError, Prescription, clean_text, effective_exercise
from coach.records import SessionRecord, utc_now
from coach.services.access import AccessDenied, patient_for, require_therapist
from coach.services.config import AppConfig
from coach.storage.store import NoteRow, PatientRow, Store, TherapistRow
from coach.trends import week_start

MAX_NAME = 120
SIGNIN_FAILED = "The email or password is not right."
CODE_FAILED = (
    "That invitation code is not right, or it has expired. Ask your therapist for a new one."
)
LOCKED = "Too many attempts. Wait 15 minutes and try again, or ask your therapist."

Clock = Callable[[], datetime]


class InputProblem(ValueError):
    """Something typed in a form or on the command line cannot be used; plain words."""


def clean_name(value: str, what: str = "name") -> str:
    try:
        name = clean_text(what, " ".join(value.split()), MAX_NAME)
    except DoseError as exc:
        raise InputProblem(f"The {what} {exc.problem}.") from None
    if not name:
        raise InputProblem(f"The {what} is empty.")
    return name


@dataclass(frozen=True, slots=True)
class NewPatient:
    patient: PatientRow
    invite_code: str


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One exercise of today's plan as the patient sees it."""

    prescription: Prescription
    exercise: Exercise
    """The effective exercise (the prescription's dose resolved)."""
    done_this_week: int
    done_today: int

    @property
    def week_left(self) -> int:
        return max(0, self.prescription.per_week - self.done_this_week)


@dataclass
class ClinicService:
    store: Store
    config: AppConfig
    exercises: Callable[[], dict[str, Exercise]]
    clock: Clock = utc_now

    # -- therapists and signing in --------------------------------------------------------

    def add_therapist(self, actor: Principal, email: str, name: str, password: str) -> TherapistRow:
        if not actor.is_admin:
            raise AccessDenied("Only the clinic's administrator can add therapists.")
        if not valid_email(email):
            raise InputProblem(f"{email.strip()[:80]!r} is not an email address.")
        row = self.store.add_therapist(normalize_email(email), clean_name(name), _hashed(password))
        self.store.audit("admin", None, "change", "therapist", row.id, "added")
        return row

    def sign_in_therapist(self, email: str, password: str) -> Principal:
        key = "therapist:" + normalize_email(email)[:254]
        self._check_not_locked(key)
        row = self.store.therapist_by_email(normalize_email(email))
        ok = verify_password(row.password_hash if row else None, password)
        if not ok or row is None or row.disabled:
            self._failed(key, row.id if row else None, "therapist")
            raise AccessDenied(SIGNIN_FAILED)
        self.store.clear_login_failures(key)
        self.store.audit("therapist", row.id, "login", "therapist", row.id)
        return Principal(Role.THERAPIST, row.id, row.name)

    def sign_in_patient_code(self, code: str) -> Principal:
        """A patient's first sign-in, with the code their therapist gave them."""
        key = "invite:" + code_hash(code)[:16]
        self._check_not_locked(key)
        patient = self.store.patient_by_invite(code_hash(code), self.clock())
        if patient is None:
            self._failed(key, None, "patient")
            raise AccessDenied(CODE_FAILED)
        self.store.audit("patient", patient.id, "login", "patient", patient.id, "invitation")
        return Principal(Role.PATIENT, patient.id, patient.name)

    def sign_in_patient(self, login_name: str, password: str) -> Principal:
        login = login_name.strip().casefold()
        key = "patient:" + login[:120]
        self._check_not_locked(key)
        patient = self.store.patient_by_login(login)
        if not verify_password(patient.password_hash if patient else None, password) or not patient:
            self._failed(key, None, "patient")
            raise AccessDenied("The name or password is not right.")
        self.store.clear_login_failures(key)
        self.store.audit("patient", patient.id, "login", "patient", patient.id)
        return Principal(Role.PATIENT, patient.id, patient.name)

    def set_patient_login(self, actor: Principal, login_name: str, password: str) -> None:
        """A patient signed in with a code chooses a login of their own."""
        if actor.role is not Role.PATIENT or actor.id is None:
            raise AccessDenied("Only the patient can choose their own login.")
        login = login_name.strip().casefold()
        if not 3 <= len(login) <= 60 or not all(c.isalnum() or c in "._-@" for c in login):
            raise InputProblem(
                "Choose a login name of 3 to 60 letters or digits (dots, dashes allowed)."
            )
        self.store.set_patient_login(actor.id, login, _hashed(password))
        self.store.audit("patient", actor.id, "change", "patient", actor.id, "login set")

    def _check_not_locked(self, key: str) -> None:
        since = self.config.policy.window_start(self.clock())
        if self.config.policy.locked(self.store.login_failures_since(key, since)):
            raise AccessDenied(LOCKED)

    def _failed(self, key: str, actor_id: str | None, kind: str) -> None:
        self.store.record_login_failure(key, self.clock())
        self.store.audit(kind, actor_id, "login_failed", kind, actor_id, "")

    # -- sign-in tokens (a reload keeps you signed in; idle signs you out) -----------------

    def issue_token(self, actor: Principal) -> str:
        token = new_token()
        self.store.add_sign_in(token_hash(token), actor.role.value, actor.id, self.clock())
        return token

    def resume(self, token: str | None) -> Principal | None:
        """The person a token signs in, unless it is unknown or idle too long."""
        if not token:
            return None
        found = self.store.sign_in(token_hash(token))
        if found is None:
            return None
        role, actor_id, last_active = found
        now = self.clock()
        if now - last_active > self.config.policy.idle_logoff:
            self.store.end_sign_in(token_hash(token))
            return None
        name = ""
        if role == Role.THERAPIST.value and actor_id:
            row = self.store.therapist(actor_id)
            if row is None or row.disabled:
                return None
            name = row.name
        elif role == Role.PATIENT.value and actor_id:
            patient = self.store.patient(actor_id)
            if patient is None:
                return None
            name = patient.name
        else:
            return None
        self.store.touch_sign_in(token_hash(token), now)
        return Principal(Role(role), actor_id, name)

    def touch(self, token: str) -> None:
        """The sign-in is in use now (a long live session is not idleness)."""
        self.store.touch_sign_in(token_hash(token), self.clock())

    def sign_out(self, token: str | None) -> None:
        if token:
            self.store.end_sign_in(token_hash(token))

    # -- patients ---------------------------------------------------------------------------

    def add_patient(
        self, actor: Principal, name: str, affected_side: str | None, therapist_email: str = ""
    ) -> NewPatient:
        """Add a patient under `actor` (or, from the command line, the named therapist)."""
        require_therapist(actor)
        therapist_id = actor.id
        if actor.is_admin:
            row = self.store.therapist_by_email(normalize_email(therapist_email))
            if row is None:
                raise InputProblem(
                    f"No therapist is registered with the email {therapist_email!r}."
                )
            therapist_id = row.id
        assert therapist_id is not None
        side = _side(affected_side)
        code = new_invite_code()
        expires = self.clock() + self.config.policy.invite_valid
        patient = self.store.add_patient(
            therapist_id, clean_name(name), side, code_hash(code), expires
        )
        self.store.audit(actor.role.value, actor.id, "change", "patient", patient.id, "added")
        return NewPatient(patient, code)

    def new_invite(self, actor: Principal, patient_id: str) -> str:
        patient = patient_for(self.store, actor, patient_id, change=True)
        code = new_invite_code()
        self.store.set_invite(
            patient.id, code_hash(code), self.clock() + self.config.policy.invite_valid
        )
        self.store.audit(actor.role.value, actor.id, "change", "patient", patient.id, "new code")
        return code

    def patients(self, actor: Principal) -> list[PatientRow]:
        require_therapist(actor)
        if actor.id is None:
            raise AccessDenied("Sign in as a therapist to see a patient list.")
        return self.store.patients_of(actor.id)

    def patient(self, actor: Principal, patient_id: str) -> PatientRow:
        patient = patient_for(self.store, actor, patient_id)
        self.store.audit(actor.role.value, actor.id, "view", "patient", patient.id)
        return patient

    def update_patient(
        self, actor: Principal, patient_id: str, *, name: str | None = None, side: str | None = None
    ) -> PatientRow:
        patient = patient_for(self.store, actor, patient_id, change=True)
        if side is None:  # not given: the side stays as it is
            self.store.update_patient(
                patient.id, name=clean_name(name) if name is not None else None
            )
        else:
            self.store.update_patient(
                patient.id,
                name=clean_name(name) if name is not None else None,
                affected_side=_side(side),
            )
        self.store.audit(actor.role.value, actor.id, "change", "patient", patient.id, "details")
        updated = self.store.patient(patient.id)
        assert updated is not None
        return updated

    def add_note(self, actor: Principal, patient_id: str, text: str) -> NoteRow:
        patient = patient_for(self.store, actor, patient_id, change=True)
        if actor.id is None:
            raise AccessDenied("Notes are written by the patient's therapist.")
        try:
            body = clean_text("note", text, 4000)
        except DoseError as exc:
            raise InputProblem(f"The note {exc.problem}.") from None
        if not body:
            raise InputProblem("The note is empty.")
        note = self.store.add_note(patient.id, actor.id, body, self.clock())
        self.store.audit(actor.role.value, actor.id, "change", "note", patient.id)
        return note

    def notes(self, actor: Principal, patient_id: str) -> list[NoteRow]:
        patient = patient_for(self.store, actor, patient_id)
        if actor.role is Role.PATIENT:
            raise AccessDenied("Therapist notes are for the therapist.")
        return self.store.notes_of(patient.id)

    # -- plans ------------------------------------------------------------------------------

    def set_prescription(
        self, actor: Principal, patient_id: str, prescription: Prescription
    ) -> Prescription:
        patient = patient_for(self.store, actor, patient_id, change=True)
        exercise = self.exercises().get(prescription.exercise_id)
        if exercise is None:
            known = ", ".join(sorted(self.exercises()))
            raise InputProblem(
                f"There is no exercise {prescription.exercise_id!r}; the library has: {known}."
            )
        prescription.check_against(exercise)
        by = actor.id
        if by is None:  # the command line: the patient's own therapist sets it
            by = patient.therapist_id
        saved = self.store.set_prescription(patient.id, prescription, by, self.clock())
        self.store.audit(
            actor.role.value,
            actor.id,
            "change",
            "prescription",
            patient.id,
            prescription.exercise_id,
        )
        return saved

    def stop_prescription(self, actor: Principal, patient_id: str, prescription_id: str) -> None:
        patient = patient_for(self.store, actor, patient_id, change=True)
        if prescription_id not in {p.id for p in self.store.active_prescriptions(patient.id)}:
            raise InputProblem("That exercise is not in the patient's current plan.")
        self.store.stop_prescription(prescription_id, self.clock())
        self.store.audit(
            actor.role.value, actor.id, "change", "prescription", patient.id, "stopped"
        )

    def plan(self, actor: Principal, patient_id: str) -> list[Prescription]:
        patient = patient_for(self.store, actor, patient_id)
        return self.store.active_prescriptions(patient.id)

    def plan_history(self, actor: Principal, patient_id: str) -> list[Prescription]:
        patient = patient_for(self.store, actor, patient_id)
        return self.store.prescription_history(patient.id)

    def todays_plan(self, actor: Principal, patient_id: str) -> list[PlanItem]:
        """The plan with the doses resolved and what was done this week and today."""
        patient = patient_for(self.store, actor, patient_id)
        now_local = self.clock().astimezone()
        monday = week_start(now_local.date())
        since = datetime.combine(monday, datetime.min.time()).astimezone()
        done = self.store.sessions_of(patient.id, since=since)
        library = self.exercises()
        items = []
        for p in self.store.active_prescriptions(patient.id):
            ex = library.get(p.exercise_id)
            if ex is None:
                continue  # the definition was removed from the library: nothing to run
            mine = [s for s in done if s.exercise_id == p.exercise_id and s.reps]
            today = [s for s in mine if s.started_at.astimezone().date() == now_local.date()]
            side = p.side or patient.affected_side
            items.append(
                PlanItem(replace(p, side=side), effective_exercise(ex, p), len(mine), len(today))
            )
        return items

    # -- export and erase -------------------------------------------------------------------

    def export_patient(self, actor: Principal, patient_id: str) -> dict[str, object]:
        """Everything kept about a patient, as one JSON-ready document."""
        patient = patient_for(self.store, actor, patient_id)
        sessions: list[SessionRecord] = self.store.sessions_of(patient.id, with_trace=True)
        doc: dict[str, object] = {
            "record": "patient_export",
            "record_version": 1,
            "exported_at": self.clock().isoformat(timespec="seconds"),
            "patient": {
                "id": patient.id,
                "name": patient.name,
                "affected_side": patient.affected_side,
                "created_at": patient.created_at.isoformat(timespec="seconds"),
                "login_name": patient.login_name,
            },
            "plan": [_prescription_dict(p) for p in self.store.prescription_history(patient.id)],
            "sessions": [s.to_dict() for s in sessions],
            "gait": [g.to_dict() for g in self.store.gait_of(patient.id)],
            "notes": [
                {"written_at": n.written_at.isoformat(timespec="seconds"), "text": n.text}
                for n in self.store.notes_of(patient.id)
            ]
            if actor.role is not Role.PATIENT
            else [],
            "step_ins": [
                {
                    "sent_at": r.sent_at.isoformat(timespec="seconds"),
                    "session_id": r.step.session_id,
                    "what": r.step.summary,
                    "sent_by": r.step.sent_by,
                }
                for r in self.store.step_ins_of(patient_id=patient.id)
            ],
        }
        self.store.audit(actor.role.value, actor.id, "export", "patient", patient.id)
        return doc

    def erase_patient(self, actor: Principal, patient_id: str) -> dict[str, int]:
        patient = patient_for(self.store, actor, patient_id, change=True)
        kept = [s.id for s in self.store.sessions_of(patient.id) if s.video_kept]
        counts = self.store.erase_patient(patient.id)
        for session_id in kept:  # videos the patient opted in to keep go with them
            (self.config.video_dir / f"{session_id}.video").unlink(missing_ok=True)
        counts["videos"] = len(kept)
        self.store.audit(actor.role.value, actor.id, "delete", "patient", patient.id, "erased")
        return counts


def _prescription_dict(p: Prescription) -> dict[str, object]:
    return {
        "id": p.id,
        "exercise": p.exercise_id,
        "sets": p.sets,
        "reps": p.reps,
        "hold_s": p.hold_s,
        "rest_s": p.rest_s,
        "per_week": p.per_week,
        "side": p.side,
        "target": p.target,
        "notes": p.notes,
        "set_by": p.set_by,
        "set_at": p.set_at.isoformat(timespec="seconds") if p.set_at else None,
        "active": p.active,
    }


def _hashed(password: str) -> str:
    from coach.accounts import PasswordProblem

    try:
        return hash_password(password)
    except PasswordProblem as exc:
        raise InputProblem(str(exc)) from None


def _side(side: str | None) -> str | None:
    if side is None or side == "":
        return None
    s = side.strip().lower()
    if s not in SIDES:
        raise InputProblem("The affected side must be left or right.")
    return s
