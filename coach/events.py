"""Typed session events and the bus that carries them to subscribers.

A live session or a recorded-video analysis publishes what happens (started, stage
changed, rep completed, cue given, a sample of the measured leg, a warning, ended);
the session log, the spoken audio, the storage recorder and the live monitor
(`coach.telehealth.publisher`) subscribe. Publishing never waits on a slow subscriber:
those sit behind a `BackgroundSubscriber`, a worker thread with its own queue where
stale samples are dropped when it falls behind and errors are kept and re-raised to the
owner (as streamlit-webrtc's process worker does). Pure Python.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coach.records import DoseRecord, RepRecord, TraceFrame

if TYPE_CHECKING:  # the live session imports this module
    from coach.live_session import LiveStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionStarted:
    t_s: float
    exercise_id: str
    exercise_name: str
    unit: str
    dose: DoseRecord


@dataclass(frozen=True, slots=True)
class StageChanged:
    t_s: float
    stage: str


@dataclass(frozen=True, slots=True)
class Calibrated:
    t_s: float
    neutral_deg: float | None
    """None: the neutral will be taken automatically from the first still second."""


@dataclass(frozen=True, slots=True)
class RepCompleted:
    t_s: float
    rep: RepRecord


@dataclass(frozen=True, slots=True)
class CueGiven:
    t_s: float
    cue_id: str
    params: Mapping[str, float | str] = field(default_factory=dict)
    logged: bool = True
    """False for set-up guidance (spoken, not a correction worth keeping)."""


@dataclass(frozen=True, slots=True)
class Announcement:
    """Something the coach says about the plan (set done, rest over, start): id + params."""

    t_s: float
    prompt_id: str
    params: Mapping[str, float | str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sampled:
    """The measured leg about every 0.1 s: the counted value and the points for replay."""

    frame: TraceFrame
    side: str | None = None
    camera: str | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """What the patient's screen shows now, about twice a second and at every stage or
    rep change: the live monitor subscribes."""

    status: LiveStatus
    points: tuple[tuple[float, float], ...] | None
    """The measured leg (`coach.records.LEG_POINTS`), as shares of the picture."""
    side: str | None
    view_ok: bool

    @property
    def t_s(self) -> float:
        return self.status.t_s


@dataclass(frozen=True, slots=True)
class DoseChanged:
    """The therapist changed the running session's dose (sets, reps, hold or target)."""

    t_s: float
    dose: DoseRecord
    target: float


@dataclass(frozen=True, slots=True)
class WarningRaised:
    t_s: float
    text: str


@dataclass(frozen=True, slots=True)
class SessionEnded:
    t_s: float
    duration_s: float


SessionEvent = (
    SessionStarted
    | StageChanged
    | Calibrated
    | RepCompleted
    | CueGiven
    | Announcement
    | Sampled
    | Progress
    | DoseChanged
    | WarningRaised
    | SessionEnded
)
Subscriber = Callable[[SessionEvent], None]


class EventBus:
    """Calls each subscriber in turn; a failing subscriber is logged and never stops the
    others or the camera (its error is kept in `errors`)."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self.errors: list[BaseException] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns the call that removes it."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, event: SessionEvent) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception as exc:
                log.exception("a session event subscriber failed")
                self.errors.append(exc)


_STOP = object()


class BackgroundSubscriber:
    """Runs a slow subscriber (the database) on its own thread, so publishing never waits.

    Events queue in order; when more than `max_samples` samples wait, the oldest are
    dropped (a replay with a gap beats a camera that stalls), never a rep or a cue. The
    first error stops the worker; `raise_error` (and `close`) re-raise it to the owner.
    """

    def __init__(self, handler: Subscriber, *, max_samples: int = 300, name: str = "") -> None:
        self._handler = handler
        self._queue: queue.Queue[object] = queue.Queue()
        self._samples = 0
        self._max_samples = max_samples
        self._lock = threading.Lock()
        self.dropped = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=name or "session-events", daemon=True
        )
        self._thread.start()

    def __call__(self, event: SessionEvent) -> None:
        if self.error is not None:
            return
        if isinstance(event, Sampled):
            with self._lock:
                if self._samples >= self._max_samples:
                    self.dropped += 1
                    return
                self._samples += 1
        self._queue.put(event)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if isinstance(item, _Marker):
                    item.done.set()
                    continue
                if isinstance(item, Sampled):
                    with self._lock:
                        self._samples -= 1
                if self.error is None:
                    self._handler(item)  # type: ignore[arg-type]
            except BaseException as exc:
                log.exception("a background session subscriber failed")
                self.error = exc
            finally:
                self._queue.task_done()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything queued so far has been handled; False on timeout."""
        done = threading.Event()
        self._queue.put(_Marker(done))
        return done.wait(timeout_s)

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def close(self, timeout_s: float = 10.0) -> None:
        """Handle what is queued, stop the worker, and re-raise its error if it had one."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout_s)
        self.raise_error()


@dataclass(frozen=True, slots=True)
class _Marker:
    """Queued by `flush`: set when the worker reaches it."""

    done: threading.Event
