"""The live bus: latest session states to the monitors, step-ins to the patients' sessions.

`LiveBus` is what the services and the publisher use; `MemoryLiveBus` serves one app
server (SQLite, or a single process), `coach.telehealth.postgres.PostgresLiveBus`
several app servers on one PostgreSQL. Both keep the newest state per session and
deliver a step-in to the handlers that the server running that session registered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import Protocol

from coach.telehealth.state import LiveState, on_monitor
from coach.telehealth.steps import StepIn

log = logging.getLogger(__name__)

StepHandler = Callable[[StepIn], None]


class LiveBus(Protocol):
    def publish(self, state: LiveState) -> None:
        """Make `state` the newest of its session, for every monitor (may block briefly:
        the publisher calls it from its own thread, never from the camera path)."""

    def states(self, patient_ids: Collection[str]) -> list[LiveState]:
        """The sessions of these patients that a monitor shows now, newest state each."""

    def send(self, step: StepIn) -> None:
        """Deliver a step-in to the server running its session (raises if it cannot be
        sent at all; a session that is not running anywhere simply gets nothing)."""

    def listen(self, session_id: str, handler: StepHandler) -> Callable[[], None]:
        """Call `handler` with each step-in for `session_id` sent from now on (on the
        bus's thread: keep it short); returns the call that stops listening."""

    def close(self) -> None: ...


class StepHandlers:
    """Handlers by session id, shared by both buses; a failing handler is logged and the
    others still run."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[StepHandler]] = {}
        self._lock = threading.Lock()

    def add(self, session_id: str, handler: StepHandler) -> Callable[[], None]:
        with self._lock:
            self._handlers.setdefault(session_id, []).append(handler)

        def remove() -> None:
            with self._lock:
                found = self._handlers.get(session_id, [])
                if handler in found:
                    found.remove(handler)
                if not found:
                    self._handlers.pop(session_id, None)

        return remove

    def deliver(self, step: StepIn) -> int:
        """Run the handlers for the step's session; how many there were."""
        with self._lock:
            handlers = list(self._handlers.get(step.session_id, ()))
        for handler in handlers:
            try:
                handler(step)
            except Exception:
                log.exception("a step-in handler failed")
        return len(handlers)


class LatestStates:
    """The newest state per session (thread-safe), with the monitor's time window."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._states: dict[str, LiveState] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def put(self, state: LiveState) -> None:
        with self._lock:
            old = self._states.get(state.session_id)
            if old is None or (old.sent_at, old.t_s) <= (state.sent_at, state.t_s):
                self._states[state.session_id] = state

    def of(self, patient_ids: Collection[str]) -> list[LiveState]:
        now = self._clock()
        wanted = set(patient_ids)
        with self._lock:
            for sid in [s for s, st in self._states.items() if not on_monitor(st, now)]:
                del self._states[sid]
            found = [s for s in self._states.values() if s.patient_id in wanted]
        return sorted(found, key=lambda s: (s.patient_id, s.session_id))


class MemoryLiveBus:
    """One app server: states and step-ins stay in this process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._latest = LatestStates(clock)
        self._handlers = StepHandlers()

    def publish(self, state: LiveState) -> None:
        self._latest.put(state)

    def states(self, patient_ids: Collection[str]) -> list[LiveState]:
        return self._latest.of(patient_ids)

    def send(self, step: StepIn) -> None:
        self._handlers.deliver(step)

    def listen(self, session_id: str, handler: StepHandler) -> Callable[[], None]:
        return self._handlers.add(session_id, handler)

    def close(self) -> None:
        """Nothing to release."""
