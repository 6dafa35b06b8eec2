"""The live bus for several app servers on one PostgreSQL: a table and LISTEN/NOTIFY.

Why this engine: the clinic already runs PostgreSQL for its records (no second server
to install, secure and watch), a NOTIFY is delivered only when its transaction commits
(the state row and its notification arrive together), and at the rate a monitor needs
(two states a second per patient, about 700 bytes each) it adds a few percent of one
core for 50 patients (benchmarks/live_load.py, docs/benchmark.md). Redis pub/sub would
do the same with one more service to run.

- `publish` keeps the state as its session's newest; a flusher thread writes what
  came in every `FLUSH_EVERY_S`, all sessions of this server in one transaction (one
  upsert of the `live_states` rows, one `pg_notify` per state). With 25 patients on a
  server that is 4 transactions a second instead of 50: under load, per-state
  transactions queued for the connection pool and the database's CPU, and the monitor
  fell seconds behind. A state over NOTIFY's 8000-byte payload limit is announced by
  its session id only, and listeners read the row.
- A listener thread per app server holds one connection with `LISTEN`; it reads the
  table once after each (re)connect, so a monitor opened late, or a server that lost
  its connection for a while, starts from every session's newest state.
- `send`: a step-in is a `pg_notify` on its own channel; the server that runs the
  session has a handler for its id and applies it (the services store it first).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine

from coach.storage import schema as t
from coach.telehealth.bus import LatestStates, StepHandler, StepHandlers
from coach.telehealth.state import GONE_AFTER_S, LiveState, StateError
from coach.telehealth.steps import StepIn

log = logging.getLogger(__name__)

STATES_CHANNEL = "coach_live_states"
STEPS_CHANNEL = "coach_step_ins"
FLUSH_EVERY_S = 0.1
"""How often a server writes its sessions' newest states (the monitor redraws every
second: this adds at most a tenth of that)."""
SWEEP_EVERY_S = 60.0
"""How often a server deletes live states no monitor lists any more."""
NOTIFY_ALL = sa.text(
    "SELECT count(pg_notify(:channel, p)) FROM unnest(CAST(:payloads AS text[])) AS p"
)
MAX_PAYLOAD = 7900
"""Bytes of a NOTIFY payload we send at most (PostgreSQL's limit is 8000)."""


class PostgresLiveBus:
    """See the module. `engine`: the records' PostgreSQL engine (SQLAlchemy, psycopg)."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], float] = time.time,
        reconnect_s: float = 1.0,
        ready_timeout_s: float = 10.0,
    ) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("PostgresLiveBus needs a PostgreSQL database")
        self._engine = engine
        self._clock = clock
        self._latest = LatestStates(clock)
        self._handlers = StepHandlers()
        self._dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._reconnect_s = reconnect_s
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.connects = 0
        self.flush_failures = 0
        self._swept = -math.inf
        self._pending: dict[str, LiveState] = {}
        self._pending_lock = threading.Condition()
        self._writing = False
        self._thread = threading.Thread(target=self._listen, name="live-bus", daemon=True)
        self._thread.start()
        self._flusher = threading.Thread(target=self._flush_loop, name="live-bus-w", daemon=True)
        self._flusher.start()
        self._ready.wait(ready_timeout_s)  # a server that is down still lets the app start

    # -- the app's side ------------------------------------------------------------------

    def publish(self, state: LiveState) -> None:
        """Keep `state` to be written with the next flush (never waits on the database)."""
        self._latest.put(state)  # this server's monitors need not wait for the round trip
        with self._pending_lock:
            self._pending[state.session_id] = state
            self._pending_lock.notify()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every state published so far is written; False on timeout."""
        end = time.monotonic() + timeout_s
        with self._pending_lock:
            while self._pending or self._writing:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._pending_lock.notify()
                self._pending_lock.wait(min(left, FLUSH_EVERY_S))
        return True

    def _flush_loop(self) -> None:
        while True:
            with self._pending_lock:
                while not self._pending and not self._stop.is_set():
                    self._pending_lock.wait()
                if not self._pending:
                    return  # stopped, nothing left
                batch, self._pending = self._pending, {}
                self._writing = True
            try:
                self._write(list(batch.values()))
                self.flush_failures = 0
            except (sa.exc.SQLAlchemyError, psycopg.Error, OSError) as exc:
                if self.flush_failures == 0:
                    log.warning("the live monitor's states could not be written: %s", exc)
                self.flush_failures += 1
                with self._pending_lock:  # keep them, unless newer ones came meanwhile
                    self._pending = batch | self._pending
            finally:
                with self._pending_lock:
                    self._writing = False
                    self._pending_lock.notify_all()
            self._stop.wait(FLUSH_EVERY_S if not self.flush_failures else 1.0)

    def _write(self, states: list[LiveState]) -> None:
        """All these sessions' rows and notifications, in one transaction."""
        rows, payloads = [], []
        for state in states:
            payload = state.to_json()
            rows.append(
                {
                    "session_id": state.session_id,
                    "patient_id": state.patient_id,
                    "sent_at": datetime.fromtimestamp(state.sent_at, UTC),
                    "state": payload,
                }
            )
            big = len(payload.encode()) > MAX_PAYLOAD
            payloads.append(json.dumps({"ref": state.session_id}) if big else payload)
        upsert = pg_insert(t.live_states).values(rows)
        upsert = upsert.on_conflict_do_update(
            index_elements=[t.live_states.c.session_id],
            set_={"sent_at": upsert.excluded.sent_at, "state": upsert.excluded.state},
        )
        with self._engine.begin() as conn:
            conn.execute(upsert)
            conn.execute(NOTIFY_ALL, {"channel": STATES_CHANNEL, "payloads": payloads})

    def states(self, patient_ids: Collection[str]) -> list[LiveState]:
        return self._latest.of(patient_ids)

    def send(self, step: StepIn) -> None:
        with self._engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_notify(STEPS_CHANNEL, step.to_json())))

    def listen(self, session_id: str, handler: StepHandler) -> Callable[[], None]:
        return self._handlers.add(session_id, handler)

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    def close(self) -> None:
        """Write what is waiting, then stop both threads."""
        self.flush(5.0)
        self._stop.set()
        with self._pending_lock:
            self._pending_lock.notify_all()
        self._thread.join(5.0)
        self._flusher.join(5.0)

    # -- the listener thread -------------------------------------------------------------

    def _listen(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {STATES_CHANNEL}")
                    conn.execute(f"LISTEN {STEPS_CHANNEL}")
                    self._load_table()  # after LISTEN: nothing published between is missed
                    self.connects += 1
                    failures = 0
                    self._ready.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._handle(note.channel, note.payload)
                        if time.monotonic() - self._swept > SWEEP_EVERY_S:
                            self._sweep()
            except (psycopg.Error, sa.exc.SQLAlchemyError, OSError) as exc:
                self._ready.clear()
                if failures == 0:
                    log.warning("the live bus lost its database connection (%s); retrying", exc)
                failures += 1
                self._stop.wait(min(30.0, self._reconnect_s * failures))

    def _sweep(self) -> None:
        """Delete the rows of sessions no monitor lists any more (any server may: the
        same rows go whoever does it)."""
        self._swept = time.monotonic()
        cutoff = datetime.fromtimestamp(self._clock() - GONE_AFTER_S, UTC)
        with self._engine.begin() as conn:
            conn.execute(t.live_states.delete().where(t.live_states.c.sent_at < cutoff))

    def _load_table(self) -> None:
        since = datetime.fromtimestamp(self._clock() - GONE_AFTER_S, UTC)
        query = sa.select(t.live_states.c.state).where(t.live_states.c.sent_at >= since)
        with self._engine.connect() as conn:
            for (text,) in conn.execute(query):
                self._take_state(text)

    def _read_row(self, session_id: str) -> None:
        query = sa.select(t.live_states.c.state).where(t.live_states.c.session_id == session_id)
        with self._engine.connect() as conn:
            text = conn.execute(query).scalar()
        if text is not None:
            self._take_state(text)

    def _take_state(self, text: str) -> None:
        try:
            self._latest.put(LiveState.from_json(text))
        except StateError as exc:
            log.warning("ignored a live state: %s", exc)

    def _handle(self, channel: str, payload: str) -> None:
        if channel == STATES_CHANNEL:
            if payload.startswith('{"ref"'):
                self._read_row(str(json.loads(payload)["ref"]))
            else:
                self._take_state(payload)
        elif channel == STEPS_CHANNEL:
            try:
                step = StepIn.from_json(payload)
            except (ValueError, TypeError) as exc:
                log.warning("ignored a step-in: %s", exc)
                return
            self._handlers.deliver(step)
