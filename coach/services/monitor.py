"""Telehealth between the pages and `coach.telehealth`: who may watch and step in.

A therapist sees the live sessions of their own patients only, and steps into those
only; every call checks that here, on the server, whatever the page offers. A patient's
live session is linked to the bus by `connect`: its states go to the monitors and the
step-ins for it come back and are applied under the page's lock.

The bus is made on first use (`bus_factory`), so the admin command line, which never
watches anything, opens no listener connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from coach.accounts import Principal, Role
from coach.live_session import LiveSession, unit_of
from coach.records import utc_now
from coach.services.access import AccessDenied, patient_for, require_therapist
from coach.storage.store import PatientRow, StepInRow, Store
from coach.telehealth.bus import LiveBus
from coach.telehealth.publisher import MonitorPublisher, SessionIdentity
from coach.telehealth.state import Connection, LiveState, connection_of
from coach.telehealth.steps import StepIn, StepKind

NOT_RUNNING = "This session is not running any more."


@dataclass(frozen=True, slots=True)
class LivePatient:
    """One row of the monitor: whose session, its newest state, how fresh it is."""

    patient: PatientRow
    state: LiveState
    connection: Connection
    age_s: float
    """Seconds since the patient's server published the state (the gap, when one)."""


@dataclass
class LiveLink:
    """A patient's live session linked to the bus; `close` unlinks it."""

    publisher: MonitorPublisher
    _unsubscribe: Callable[[], None]
    _stop_listening: Callable[[], None]

    def close(self) -> None:
        self._stop_listening()
        self._unsubscribe()
        self.publisher.close()


@dataclass
class MonitorService:
    store: Store
    bus_factory: Callable[[], LiveBus]
    server: str = ""
    clock: Callable[[], datetime] = utc_now
    wall_clock: Callable[[], float] = time.time
    _bus: LiveBus | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    @property
    def bus(self) -> LiveBus:
        with self._lock:
            if self._bus is None:
                self._bus = self.bus_factory()
            return self._bus

    def close(self) -> None:
        with self._lock:
            if self._bus is not None:
                self._bus.close()
                self._bus = None

    # -- the therapist's side ---------------------------------------------------------------

    def live(self, actor: Principal) -> list[LivePatient]:
        """The therapist's patients exercising now (or just finished, or in a gap)."""
        if actor.role is not Role.THERAPIST or actor.id is None:
            raise AccessDenied("Sign in as a therapist to watch your patients.")
        patients = {p.id: p for p in self.store.patients_of(actor.id)}
        now = self.wall_clock()
        return [
            LivePatient(patients[s.patient_id], s, connection_of(s, now), max(0.0, now - s.sent_at))
            for s in self.bus.states(patients)
        ]

    def step_in(
        self,
        actor: Principal,
        session_id: str,
        *,
        message: str | None = None,
        sets: int | None = None,
        reps: int | None = None,
        hold_s: float | None = None,
        target: float | None = None,
    ) -> StepInRow:
        """Send a message, or a new dose, into a patient's running session: checked,
        stored with who and when, audited, then delivered (raises `DoseError` for a
        message or dose that cannot be sent, `AccessDenied` for someone else's patient)."""
        require_therapist(actor)
        record = self.store.session(session_id, with_trace=False) if session_id else None
        if record is None or record.patient_id is None:
            raise AccessDenied(NOT_RUNNING)
        patient = patient_for(self.store, actor, record.patient_id, change=True)
        therapist = self.store.therapist(actor.id) if actor.id else None
        kind = StepKind.MESSAGE if message is not None else StepKind.DOSE
        step = StepIn(
            session_id,
            kind,
            text=message or "",
            sets=sets,
            reps=reps,
            hold_s=hold_s,
            target=target,
            sent_by=therapist.name if therapist is not None else "Your therapist",
        )
        row = self.store.add_step_in(step, patient.id, actor.id or "", self.clock())
        self.store.audit(
            actor.role.value, actor.id, "change", "live session", patient.id, row.step.summary
        )
        self.bus.send(row.step)
        return row

    # -- the patient's side -----------------------------------------------------------------

    def connect(
        self,
        session: LiveSession,
        patient_id: str,
        apply: Callable[[StepIn, bool], None],
        *,
        resumed: bool = False,
    ) -> LiveLink:
        """Link a patient's live session to the bus. `apply(step, announce)` hands a
        step-in to the session under its owner's lock. A `resumed` session (a reload)
        first takes, quietly, the doses sent to it before."""
        if resumed:
            for row in self.store.step_ins_of(session_id=session.session_id):
                if row.step.kind is StepKind.DOSE:
                    apply(row.step, False)
        ex = session.exercise
        who = SessionIdentity(
            session.session_id, patient_id, ex.id, ex.name, unit_of(ex).value, self.server
        )
        publisher = MonitorPublisher(self.bus, who, clock=self.wall_clock)
        unsubscribe = session.bus.subscribe(publisher)
        stop = self.bus.listen(session.session_id, lambda step: apply(step, True))
        return LiveLink(publisher, unsubscribe, stop)
