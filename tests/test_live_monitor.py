"""The live monitor's services and buses on real databases.

- `MonitorService` on SQLite (the in-process bus) and PostgreSQL (LISTEN/NOTIFY): a
  therapist sees their own patients' live sessions only, steps into those only, and a
  step-in is stored with who and when, audited, and changes the running session.
- Two and three `PostgresLiveBus`es on one database stand for app servers: a state
  published on one reaches the others (and one that connects late reads the table), a
  step-in sent from one reaches the handler on another, a state too large for NOTIFY
  travels by reference, and a listener whose connection is killed comes back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from coach.accounts import ADMIN, Principal, Role
from coach.live_session import LiveSession
from coach.prescription import DoseError
from coach.services import Services, build_services
from coach.services.access import AccessDenied
from coach.services.config import AppConfig
from coach.storage.store import Store
from coach.telehealth.postgres import PostgresLiveBus
from coach.telehealth.state import GONE_AFTER_S, Connection
from coach.telehealth.steps import StepIn, StepKind
from tests.conftest import wait_until
from tests.test_live_session import ROM, run, stream
from tests.test_telehealth import state

PASSWORD = "a long enough password"


@pytest.fixture
def services(store: Store, tmp_path: Any) -> Iterator[Services]:
    made = build_services(AppConfig(data_dir=tmp_path, server_name="server-a"), store=store)
    try:
        yield made
    finally:
        made.monitor.close()


def _clinic(services: Services) -> tuple[Principal, Principal, str, str]:
    """Ann with patient Maria, Bob with patient Tom; (ann, bob, maria_id, tom_id)."""
    clinic = services.clinic
    ann = clinic.add_therapist(ADMIN, "ann@clinic.example", "Ann Smith", PASSWORD)
    bob = clinic.add_therapist(ADMIN, "bob@clinic.example", "Bob Jones", PASSWORD)
    ann_p = Principal(Role.THERAPIST, ann.id, ann.name)
    bob_p = Principal(Role.THERAPIST, bob.id, bob.name)
    maria = clinic.add_patient(ann_p, "Maria Lopez", None).patient
    tom = clinic.add_patient(bob_p, "Tom Berg", None).patient
    return ann_p, bob_p, maria.id, tom.id


def _live_patient_session(
    services: Services, patient_id: str
) -> tuple[LiveSession, list[tuple[StepIn, bool]], Any]:
    """A patient's live session linked to the monitor, as the Exercise page links it."""
    me = Principal(Role.PATIENT, patient_id, "")
    session, recorder = services.sessions.start_live(me, patient_id, "range_of_motion")
    applied: list[tuple[StepIn, bool]] = []

    def apply(step: StepIn, announce: bool) -> None:
        applied.append((step, announce))
        session.step_in(step, announce=announce)

    link = services.monitor.connect(session, patient_id, apply)
    run(session, stream(8.0))
    recorder.flush()
    return session, applied, link


def test_therapist_watches_own_patients_and_steps_in(services: Services) -> None:
    ann, bob, maria, tom = _clinic(services)
    maria_session, applied, link = _live_patient_session(services, maria)
    _, _, tom_link = _live_patient_session(services, tom)
    try:
        wait_until(lambda: any(r.state.reps >= 1 for r in services.monitor.live(ann)))
        rows = services.monitor.live(ann)
        assert [r.patient.name for r in rows] == ["Maria Lopez"]
        row = rows[0]
        assert row.state.session_id == maria_session.session_id
        assert row.connection is Connection.LIVE and row.state.server == "server-a"
        assert row.state.points is not None and row.state.stage == "counting"
        assert [r.patient.name for r in services.monitor.live(bob)] == ["Tom Berg"]

        # Bob may not step into Maria's session; a patient may not watch.
        with pytest.raises(AccessDenied):
            services.monitor.step_in(bob, maria_session.session_id, message="hi")
        with pytest.raises(AccessDenied):
            services.monitor.live(Principal(Role.PATIENT, maria, ""))
        with pytest.raises(AccessDenied):
            services.monitor.step_in(ann, "no-such-session", message="hi")
        with pytest.raises(DoseError):
            services.monitor.step_in(ann, maria_session.session_id, reps=0)

        services.monitor.step_in(ann, maria_session.session_id, message="Toes higher")
        services.monitor.step_in(ann, maria_session.session_id, sets=2, reps=3)
        wait_until(lambda: len(applied) == 2)
        assert maria_session.status.message == ("Ann Smith", "Toes higher")
        assert maria_session.status.plan.reps_per_set == 3
        stored = services.store.step_ins_of(session_id=maria_session.session_id)
        assert [(r.step.kind, r.therapist_id) for r in stored] == [
            (StepKind.MESSAGE, ann.id),
            (StepKind.DOSE, ann.id),
        ]
        audit = services.store.audit_entries(target_id=maria)
        assert any(a.detail == "message: Toes higher" for a in audit)
        exported = services.clinic.export_patient(ann, maria)["step_ins"]
        assert [s["what"] for s in exported] == ["message: Toes higher", "dose: sets 2, reps 3"]  # type: ignore[index]
        # The new dose is the stored session's dose too (the recorder wrote it).
        link.publisher.close()
        wait_until(lambda: services.store.session(maria_session.session_id).dose.reps == 3)  # type: ignore[union-attr]
        # A reload rejoins: the dose is taken again quietly, the message is not repeated.
        again: list[tuple[StepIn, bool]] = []
        session2 = LiveSession(ROM)
        services.monitor.connect(
            session2, maria, lambda s, a: again.append((s, a)), resumed=True
        ).close()
        assert again == []  # a new session id: nothing stored for it
        session2.log.session_id = maria_session.session_id
        services.monitor.connect(
            session2, maria, lambda s, a: again.append((s, a)), resumed=True
        ).close()
        assert [(s.kind, a) for s, a in again] == [(StepKind.DOSE, False)]
    finally:
        link.close()
        tom_link.close()


def test_an_ended_session_shows_as_finished(services: Services) -> None:
    ann, _, maria, _ = _clinic(services)
    session, _, link = _live_patient_session(services, maria)
    try:
        session.end()
        wait_until(lambda: [r.connection for r in services.monitor.live(ann)] == [Connection.ENDED])
    finally:
        link.close()


# -- several app servers on one PostgreSQL -------------------------------------------------


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    from coach.storage import open_database
    from tests.pg_server import fresh_database

    with fresh_database(pg_url) as url:
        opened = open_database(url)
        try:
            yield opened
        finally:
            opened.close()


def _patient(store: Store) -> str:
    therapist = store.add_therapist("t@clinic.example", "T", "x")
    return store.add_patient(therapist.id, "P", "left", None, None).id


def test_states_and_step_ins_cross_servers(pg_store: Store) -> None:
    pid = _patient(pg_store)
    a = PostgresLiveBus(pg_store.engine)
    b = PostgresLiveBus(pg_store.engine)
    try:
        assert a.connected and b.connected
        sent = state(patient_id=pid, sent_at=time.time(), reps=3)
        a.publish(sent)
        took = wait_until(lambda: b.states([pid]) == [sent])
        assert took < 1.0
        # Too large for a NOTIFY payload: announced by id, read from the table.
        big = replace(sent, reps=4, prompt_params={f"k{i}": "x" * 400 for i in range(20)})
        assert len(big.to_json()) > 7900
        a.publish(big)
        wait_until(lambda: b.states([pid]) and b.states([pid])[0].reps == 4)
        # A step-in sent from b reaches the handler registered on a.
        got: list[StepIn] = []
        a.listen(sent.session_id, got.append)
        b.send(StepIn(sent.session_id, StepKind.MESSAGE, text="Well done"))
        wait_until(lambda: got)
        assert got[0].text == "Well done"
        # A server that starts later reads the newest states from the table.
        c = PostgresLiveBus(pg_store.engine)
        try:
            assert [s.reps for s in c.states([pid])] == [4]
        finally:
            c.close()
    finally:
        a.close()
        b.close()


def test_a_listener_whose_connection_is_killed_comes_back(pg_store: Store) -> None:
    pid = _patient(pg_store)
    a = PostgresLiveBus(pg_store.engine, reconnect_s=0.2)
    b = PostgresLiveBus(pg_store.engine, reconnect_s=0.2)
    try:
        with pg_store.engine.begin() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
                )
            ).scalar()
        assert killed and killed >= 2
        wait_until(lambda: a.connects >= 2 and b.connects >= 2)
        sent = state(patient_id=pid, sent_at=time.time())
        a.publish(sent)
        wait_until(lambda: b.states([pid]) == [sent])
    finally:
        a.close()
        b.close()


def test_old_live_states_are_swept_from_the_table(pg_store: Store) -> None:
    pid = _patient(pg_store)
    a = PostgresLiveBus(pg_store.engine)
    try:
        a.publish(state(patient_id=pid, session_id="old", sent_at=time.time() - GONE_AFTER_S - 5))
        a.publish(state(patient_id=pid, session_id="new", sent_at=time.time()))
        assert a.flush()
        a._sweep()
        with pg_store.engine.connect() as conn:
            left = conn.execute(sa.text("SELECT session_id FROM live_states")).scalars().all()
        assert left == ["new"]
    finally:
        a.close()


def test_states_of_unknown_json_are_ignored(pg_store: Store) -> None:
    pid = _patient(pg_store)
    a = PostgresLiveBus(pg_store.engine)
    try:
        with pg_store.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_notify('coach_live_states', '{\"v\": 99}')"))
            conn.execute(sa.text("SELECT pg_notify('coach_step_ins', 'not json')"))
        good = state(patient_id=pid, sent_at=time.time())
        a.publish(good)
        wait_until(lambda: a.states([pid]) == [good])
        assert a.connects == 1  # the bad payloads did not break the listener
    finally:
        a.close()
