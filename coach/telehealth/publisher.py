"""A live session's states to the bus, off the camera path.

`MonitorPublisher` subscribes to a `LiveSession`'s events. Each `Progress` (about
twice a second, and at every rep and stage change) becomes a `LiveState` in a one-slot
mailbox; a worker thread publishes the newest one. So the camera path never waits on
the database or the network, and a slow bus skips stale states instead of queueing
them. A failing bus is logged once and retried with the next state: the patient's
session goes on whatever happens to the monitor.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from coach.events import Progress, SessionEnded, SessionEvent
from coach.telehealth.bus import LiveBus
from coach.telehealth.state import LiveState

log = logging.getLogger(__name__)

IDLE_EXIT_S = 30.0
"""The worker thread ends after this long without a state (a new one starts it again)."""


@dataclass(frozen=True, slots=True)
class SessionIdentity:
    """Who and what a published state is about."""

    session_id: str
    patient_id: str
    exercise_id: str
    exercise_name: str
    unit: str
    server: str = ""


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def live_state(who: SessionIdentity, event: Progress, sent_at: float) -> LiveState:
    """One `Progress` as the monitor's record."""
    s = event.status
    plan = s.plan
    value = s.angle_deg if who.unit == "deg" else s.excursion
    return LiveState(
        session_id=who.session_id,
        patient_id=who.patient_id,
        exercise_id=who.exercise_id,
        exercise_name=who.exercise_name,
        unit=who.unit,
        stage=s.stage.value,
        prompt=s.prompt,
        prompt_params=dict(s.prompt_params),
        reps=s.reps,
        reps_per_set=plan.reps_per_set,
        set_no=plan.set_no,
        sets=plan.sets,
        value=_finite(value),
        angle_deg=_finite(s.angle_deg),
        hold_s=s.hold_s,
        hold_target_s=s.hold_target_s,
        cue=s.cue.id if s.cue is not None else None,
        not_counting=s.not_counting,
        view_ok=event.view_ok,
        camera=s.camera.value if s.camera is not None else None,
        side=event.side,
        points=event.points,
        t_s=s.t_s,
        sent_at=sent_at,
        server=who.server,
    )


class MonitorPublisher:
    """Publishes one session's newest state on its own thread (see the module)."""

    def __init__(
        self,
        bus: LiveBus,
        who: SessionIdentity,
        *,
        clock: Callable[[], float] = time.time,
        retry_s: float = 2.0,
    ) -> None:
        self.bus = bus
        self.who = who
        self._clock = clock
        self._retry_s = retry_s
        self._slot: LiveState | None = None
        self._last: LiveState | None = None
        self._wake = threading.Condition()
        self._closed = False
        self.published = 0
        self.failures = 0
        self._thread: threading.Thread | None = None

    def __call__(self, event: SessionEvent) -> None:
        if isinstance(event, Progress):
            self._offer(live_state(self.who, event, self._clock()))
        elif isinstance(event, SessionEnded) and self._last is not None:
            self._offer(replace(self._last, ended=True, sent_at=self._clock()))

    def _offer(self, state: LiveState) -> None:
        with self._wake:
            if self._closed:
                return
            self._slot = state
            self._last = state
            self._wake.notify()
            if self._thread is None:
                # Started on demand and gone after `IDLE_EXIT_S` without states, so a
                # page closed without Stop leaves no thread behind.
                self._thread = threading.Thread(
                    target=self._run, name=f"monitor-{self.who.session_id[:8]}", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._slot is None and not self._closed:
                    self._wake.wait(IDLE_EXIT_S)
                state, self._slot = self._slot, None
                if state is None:
                    self._thread = None  # closed, or idle: `_offer` starts a new one
                    return
            try:
                self.bus.publish(state)
                self.published += 1
            except Exception:
                if self.failures == 0:
                    log.exception("the live monitor could not be updated (retrying)")
                self.failures += 1
                with self._wake:
                    if self._slot is None and not self._closed:
                        self._slot = state  # try again, unless a newer one came
                        self._wake.wait(self._retry_s)

    def close(self, timeout_s: float = 5.0, *, ended: bool = True) -> None:
        """Publish what is waiting (with `ended`, the session as ended: the page closed
        it, so the monitor shows it finished rather than as a lost connection), then
        stop the thread."""
        last = self._last
        if ended and last is not None and not last.ended:
            self._offer(replace(last, ended=True, sent_at=self._clock()))
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
