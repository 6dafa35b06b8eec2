"""Telehealth core without a server: live states, step-ins, the publisher, the session's
side (progress events, messages, a new dose mid-session) and the in-process bus."""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from coach.events import Announcement, DoseChanged, Progress, RepCompleted
from coach.live_session import MESSAGE_SHOWN_S, PROGRESS_EVERY_S, LiveSession, Stage
from coach.prescription import DoseError
from coach.telehealth.bus import LatestStates, MemoryLiveBus
from coach.telehealth.publisher import MonitorPublisher, SessionIdentity, live_state
from coach.telehealth.state import (
    ENDED_SHOWN_S,
    GAP_AFTER_S,
    GONE_AFTER_S,
    Connection,
    LiveState,
    StateError,
    connection_of,
    on_monitor,
)
from coach.telehealth.steps import MAX_MESSAGE, StepIn, StepKind
from tests.conftest import ankle_trace, wait_until
from tests.test_live_session import ROM, record_events, run, stream, with_dose

WHO = SessionIdentity("s1", "p1", "range_of_motion", "Ankle pumps", "pct_shank", "server-a")


def state(**changes: Any) -> LiveState:
    base = LiveState(
        session_id="s1",
        patient_id="p1",
        exercise_id="range_of_motion",
        exercise_name="Ankle pumps",
        unit="pct_shank",
        stage="counting",
        prompt="to_go",
        prompt_params={"set_no": 1, "sets": 2, "left": 4, "what": "rep"},
        reps=6,
        reps_per_set=10,
        set_no=1,
        sets=2,
        value=12.5,
        angle_deg=None,
        hold_s=0.0,
        hold_target_s=0.0,
        cue=None,
        not_counting=None,
        view_ok=True,
        camera="side_on",
        side="left",
        points=((0.5, 0.4), (0.52, 0.6), (0.5, 0.8), (0.47, 0.83), (0.6, 0.84)),
        t_s=12.3,
        sent_at=1_000.0,
        server="server-a",
    )
    return replace(base, **changes)


# -- the record ----------------------------------------------------------------------------


def test_live_state_round_trips_and_fits_a_notify_payload() -> None:
    s = state(exercise_name="x" * 200, cue="toes_higher", angle_deg=-3.5)
    text = s.to_json()
    assert LiveState.from_json(text) == s
    assert len(text.encode()) < 2000  # PostgreSQL's NOTIFY takes 8000


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"v": 2}, "version"),
        ({"reps": -1}, "reps"),
        ({"reps": 2.5}, "reps"),
        ({"value": "high"}, "value"),
        ({"value": float("inf")}, "value"),
        ({"view_ok": 1}, "view_ok"),
        ({"session_id": ""}, "session_id"),
        ({"points": [[0.1]]}, "points"),
        ({"points": [[0.1, "y"]]}, "points"),
        ({"prompt_params": {"a": [1]}}, "prompt_params"),
        ({"exercise_name": "x" * 201}, "exercise_name"),
    ],
)
def test_a_broken_live_state_is_refused_by_field(change: dict[str, Any], problem: str) -> None:
    data = json.loads(state().to_json())
    data.update(change)
    with pytest.raises(StateError, match=problem):
        LiveState.from_dict(data)


def test_a_missing_field_and_non_json_are_refused() -> None:
    data = json.loads(state().to_json())
    del data["reps"]
    with pytest.raises(StateError, match="reps is missing"):
        LiveState.from_dict(data)
    with pytest.raises(StateError, match="not JSON"):
        LiveState.from_json("{")


@pytest.mark.parametrize(
    ("age_s", "ended", "connection", "listed"),
    [
        (0.0, False, Connection.LIVE, True),
        (GAP_AFTER_S - 0.1, False, Connection.LIVE, True),
        (GAP_AFTER_S + 0.1, False, Connection.GAP, True),
        (GONE_AFTER_S - 1, False, Connection.GAP, True),
        (GONE_AFTER_S + 1, False, Connection.GAP, False),
        (1.0, True, Connection.ENDED, True),
        (ENDED_SHOWN_S + 1, True, Connection.ENDED, False),
    ],
)
def test_connection_and_listing_follow_the_states_age(
    age_s: float, ended: bool, connection: Connection, listed: bool
) -> None:
    s = state(ended=ended)
    assert connection_of(s, s.sent_at + age_s) is connection
    assert on_monitor(s, s.sent_at + age_s) is listed


def test_latest_states_keep_the_newest_per_session_and_only_the_patients_asked() -> None:
    now = [1_000.0]
    latest = LatestStates(clock=lambda: now[0])
    latest.put(state(reps=6))
    latest.put(state(reps=5, sent_at=999.0))  # older, arriving late: ignored
    latest.put(state(session_id="s2", patient_id="p2", reps=1))
    assert [s.reps for s in latest.of(["p1"])] == [6]
    assert [s.session_id for s in latest.of(["p1", "p2"])] == ["s1", "s2"]
    assert latest.of(["p3"]) == []
    now[0] += GONE_AFTER_S + 1
    assert latest.of(["p1", "p2"]) == []


# -- step-ins ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "message", "text": "   "}, "message"),
        ({"kind": "message", "text": "a\x07b"}, "message"),
        ({"kind": "message", "text": "x" * (MAX_MESSAGE + 1)}, "message"),
        ({"kind": "dose"}, "dose"),
        ({"kind": "dose", "reps": 0}, "reps"),
        ({"kind": "dose", "sets": 2.5}, "sets"),
        ({"kind": "dose", "hold_s": -1.0}, "hold_s"),
        ({"kind": "dose", "target": 500.0}, "target"),
        ({"kind": "message", "text": "hi", "session_id": ""}, "session"),
    ],
)
def test_a_step_in_that_cannot_be_sent_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"session_id": "s1"} | kwargs
    with pytest.raises(DoseError) as err:
        StepIn(**args)
    assert err.value.field == field


def test_step_in_round_trips_and_a_message_is_one_line() -> None:
    message = StepIn("s1", StepKind.MESSAGE, text=" Toes higher,\nplease ", sent_by="Ann")
    assert message.text == "Toes higher, please"
    dose = StepIn("s1", StepKind.DOSE, sets=3, hold_s=5.0, sent_by="Ann", id="x")
    for step in (message, dose):
        assert StepIn.from_json(step.to_json()) == step
    assert dose.summary == "dose: sets 3, hold 5"


# -- the session's side --------------------------------------------------------------------


def test_progress_comes_twice_a_second_and_at_every_rep_and_stage_change() -> None:
    session = LiveSession(ROM)
    events = record_events(session)
    run(session, stream(3.0 + 4 * 3.0))
    progress = [e for e in events if isinstance(e, Progress)]
    times = [p.t_s for p in progress]
    assert all(b > a for a, b in itertools_pairs(times))
    # No gap longer than the period (plus a frame), and not many more than 2 a second.
    assert max(b - a for a, b in itertools_pairs(times)) <= PROGRESS_EVERY_S + 1 / 30 + 1e-9
    assert len(progress) <= 2 * 15.0 + 12
    reps = [e.t_s for e in events if isinstance(e, RepCompleted)]
    for t in reps:  # the count reaches the monitor on the frame of the rep
        assert any(abs(p.t_s - t) < 1e-9 and p.status.reps >= 1 for p in progress)
    stages = {p.status.stage for p in progress}
    assert {Stage.SETUP, Stage.CALIBRATING, Stage.COUNTING} <= stages
    last = progress[-1]
    assert last.points is not None and len(last.points) == 5 and last.side in ("left", "right")


def itertools_pairs(xs: list[float]) -> list[tuple[float, float]]:
    return list(itertools.pairwise(xs))


def test_a_message_is_spoken_shown_for_a_while_and_then_gone() -> None:
    session = LiveSession(ROM)
    events = record_events(session)
    run(session, stream(6.0))
    session.step_in(StepIn("x", StepKind.MESSAGE, text="Sit up straight", sent_by="Ann Smith"))
    assert session.status.message == ("Ann Smith", "Sit up straight")
    said = [e.text for e in session.audio.events if e.kind == "say" and e.important]
    assert said[-1] == "Ann Smith says: Sit up straight"
    assert any(isinstance(e, Announcement) and e.prompt_id == "therapist_message" for e in events)
    run(session, stream(MESSAGE_SHOWN_S - 1.0, start_s=6.0))
    assert session.status.message is not None
    run(session, stream(2.0, start_s=5.0 + MESSAGE_SHOWN_S))
    assert session.status.message is None


def test_a_new_dose_mid_session_keeps_the_reps_done_and_changes_the_plan() -> None:
    session = LiveSession(with_dose(ROM, sets=1, reps=10))
    events = record_events(session)
    run(session, stream(3.0 + 3 * 3.0 + 0.5))
    assert session.status.reps == 3
    session.step_in(StepIn("x", StepKind.DOSE, sets=2, reps=4, sent_by="Ann"))
    plan = session.status.plan
    assert (plan.sets, plan.reps_per_set, plan.set_no, plan.reps_in_set) == (2, 4, 1, 3)
    changed = [e for e in events if isinstance(e, DoseChanged)]
    assert [(c.dose.sets, c.dose.reps) for c in changed] == [(2, 4)]
    said = [e.text for e in session.audio.events if e.kind == "say"]
    assert "Ann changed your plan: 2 sets of 4." in said
    # The fourth rep completes set 1 of the new plan: a rest follows, as prescribed.
    run(session, stream(3.5, start_s=12.5, angle=lambda t: ankle_trace(t + 12.5)))
    plan = session.status.plan
    assert session.status.reps == 4 and session.stage is Stage.RESTING
    assert (plan.set_no, plan.reps_in_set, plan.resting) == (1, 4, True)
    assert session.log.record().dose.reps == 4


def test_a_dose_taken_again_after_a_reload_is_quiet_and_a_bad_dose_changes_nothing() -> None:
    session = LiveSession(ROM)
    run(session, stream(4.0))
    before = len(session.audio.events)
    session.step_in(StepIn("x", StepKind.DOSE, reps=12), announce=False)
    assert session.status.plan.reps_per_set == 12
    assert len(session.audio.events) == before
    with pytest.raises(DoseError):
        session.step_in(StepIn("x", StepKind.DOSE, reps=500))
    assert session.status.plan.reps_per_set == 12


# -- the publisher -------------------------------------------------------------------------


class SlowBus(MemoryLiveBus):
    """Records what is published; the first `fail` publishes raise; each takes `delay_s`."""

    def __init__(self, delay_s: float = 0.0, fail: int = 0) -> None:
        super().__init__()
        self.delay_s, self.fail = delay_s, fail
        self.seen: list[LiveState] = []
        self.gate = threading.Event()
        self.gate.set()

    def publish(self, state: LiveState) -> None:
        self.gate.wait(5.0)
        time.sleep(self.delay_s)
        if self.fail:
            self.fail -= 1
            raise ConnectionError("database down")
        self.seen.append(state)
        super().publish(state)


def test_publisher_sends_the_newest_state_and_skips_stale_ones_on_a_slow_bus() -> None:
    bus = SlowBus()
    bus.gate.clear()  # the bus is stuck while the session goes on
    pub = MonitorPublisher(bus, WHO)
    session = LiveSession(ROM)
    session.bus.subscribe(pub)
    run(session, stream(10.0))
    bus.gate.set()
    pub.close()
    assert 1 <= len(bus.seen) <= 3  # not the ~20 states made while the bus was stuck
    assert bus.seen[-1].t_s == pytest.approx(session.status.t_s, abs=PROGRESS_EVERY_S)
    assert bus.states(["p1"])[0].reps == session.status.reps


def test_publisher_retries_a_failing_bus_and_marks_the_end() -> None:
    bus = SlowBus(fail=2)
    pub = MonitorPublisher(bus, WHO, retry_s=0.05)
    session = LiveSession(ROM)
    session.bus.subscribe(pub)
    run(session, stream(4.0))
    wait_until(lambda: bus.seen)
    session.end()
    wait_until(lambda: bus.seen[-1].ended)
    pub.close()
    assert pub.failures == 2
    assert bus.seen[-1].reps == session.status.reps


def test_live_state_from_progress_shows_the_angle_only_when_measured() -> None:
    ex = with_dose(ROM, sets=2, reps=5)
    session = LiveSession(ex)
    events = record_events(session)
    run(session, stream(9.0))
    last = [e for e in events if isinstance(e, Progress)][-1]
    s = live_state(WHO, last, 1_234.0)
    assert (s.sets, s.reps_per_set, s.sent_at, s.server) == (2, 5, 1_234.0, "server-a")
    assert s.stage == "counting" and s.view_ok
    assert s.value == last.status.excursion


def test_memory_bus_delivers_step_ins_to_the_sessions_listeners_only() -> None:
    bus = MemoryLiveBus()
    got: list[str] = []
    stop = bus.listen("s1", lambda step: got.append(step.text))
    bus.listen("s2", lambda step: got.append("wrong session"))
    bus.listen("s1", lambda step: 1 / 0)  # a failing handler does not stop the others
    bus.send(StepIn("s1", StepKind.MESSAGE, text="hello"))
    stop()
    bus.send(StepIn("s1", StepKind.MESSAGE, text="after stop"))
    assert got == ["hello"]


def test_a_session_closed_by_its_page_shows_as_ended_not_as_a_lost_connection() -> None:
    bus = SlowBus()
    pub = MonitorPublisher(bus, WHO)
    session = LiveSession(ROM)
    session.bus.subscribe(pub)
    run(session, stream(4.0))
    pub.close()
    assert bus.seen[-1].ended and not session.ended
