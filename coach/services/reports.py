"""The therapist's report for one patient and period: gathers the records, renders PDF/CSV."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time

from coach.accounts import Principal, Role
from coach.exercise import Exercise
from coach.prescription import Prescription, effective_exercise
from coach.records import utc_now
from coach.reports.data import ReportData
from coach.reports.pdf import build_pdf
from coach.reports.table import build_csv
from coach.services.access import AccessDenied, patient_for
from coach.storage.store import Store


@dataclass
class ReportService:
    store: Store
    exercises: Callable[[], dict[str, Exercise]]
    clock: Callable[[], datetime] = utc_now

    def data(
        self,
        actor: Principal,
        patient_id: str,
        *,
        since: date | None = None,
        until: date | None = None,
    ) -> ReportData:
        """Everything the report shows, read once (access checked, the export audited)."""
        if actor.role is Role.PATIENT:
            raise AccessDenied("Reports are made by the patient's therapist.")
        patient = patient_for(self.store, actor, patient_id)
        now = self.clock()
        end = until or now.astimezone().date()
        start_at = datetime.combine(since, time.min).astimezone() if since else None
        end_at = datetime.combine(end, time.max).astimezone()
        therapist = self.store.therapist(patient.therapist_id)
        sessions = self.store.sessions_of(patient.id, since=start_at, until=end_at)
        gait = [g for g in self.store.gait_of(patient.id, since=start_at) if g.started_at <= end_at]
        notes = [
            (n.written_at, n.text)
            for n in self.store.notes_of(patient.id, since=start_at)
            if n.written_at <= end_at
        ]
        names = {ex_id: ex.name for ex_id, ex in self.exercises().items()}
        names.update(
            {s.exercise_id: s.exercise_name for s in sessions if s.exercise_id not in names}
        )
        self.store.audit(actor.role.value, actor.id, "export", "report", patient.id)
        return ReportData(
            patient_name=patient.name,
            patient_id=patient.id,
            affected_side=patient.affected_side,
            therapist_name=therapist.name if therapist else "",
            period_start=since,
            period_end=end,
            generated_at=now,
            plan=tuple(self._resolved_plan(patient.id)),
            exercise_names=names,
            sessions=tuple(sessions),
            gait=tuple(gait),
            notes=tuple(notes),
        )

    def _resolved_plan(self, patient_id: str) -> list[Prescription]:
        """The plan with each dose as the patient runs it (the definition's hold and rest
        where the therapist left them out), so the report never says "as defined"."""
        library = self.exercises()
        plan = []
        for p in self.store.active_prescriptions(patient_id):
            ex = library.get(p.exercise_id)
            if ex is not None:
                dose = effective_exercise(ex, p).dose
                p = replace(p, hold_s=dose.hold_s, rest_s=dose.rest_s)
            plan.append(p)
        return plan

    def pdf(self, actor: Principal, patient_id: str, **period: date | None) -> bytes:
        return build_pdf(self.data(actor, patient_id, **period))

    def csv(self, actor: Principal, patient_id: str, **period: date | None) -> str:
        return build_csv(self.data(actor, patient_id, **period))
