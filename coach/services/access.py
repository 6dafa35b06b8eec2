"""Every read and write of a patient's data is checked here, on the server.

A patient reaches only their own record; a therapist only the patients they added; the
command line (admin) everything. A refusal says the same thing whether or not the
patient exists, so ids cannot be probed. Pages never decide access by hiding a button:
they call a service, and the service calls `patient_for`.
"""

from __future__ import annotations

from coach.accounts import Principal, Role
from coach.storage.store import PatientRow, Store

NO_ACCESS = "You do not have access to this patient's records."


class AccessDenied(PermissionError):
    """The signed-in person may not see or change this; the message is safe to show."""

    def __init__(self, message: str = NO_ACCESS) -> None:
        super().__init__(message)


class NotFound(LookupError):
    """Something asked for does not exist (shown in plain words)."""


def patient_for(
    store: Store, actor: Principal, patient_id: str, *, change: bool = False
) -> PatientRow:
    """The patient `actor` may read (and with `change`, may change), or `AccessDenied`."""
    patient = store.patient(patient_id) if isinstance(patient_id, str) and patient_id else None
    if patient is None:
        if actor.is_admin:
            raise NotFound(f"There is no patient with the id {patient_id!r}.")
        raise AccessDenied()
    if actor.is_admin:
        return patient
    if actor.role is Role.THERAPIST and patient.therapist_id == actor.id:
        return patient
    if actor.role is Role.PATIENT and patient.id == actor.id and not change:
        return patient
    raise AccessDenied()


def require_therapist(actor: Principal) -> None:
    if actor.role not in (Role.THERAPIST, Role.ADMIN):
        raise AccessDenied("Only a therapist can do this.")
