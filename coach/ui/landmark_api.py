"""The landmark route: on-device batches go straight to their live session over HTTP.

Sending each batch as a component trigger reran a page fragment per batch, four times a
second per patient; Streamlit's own handling of a rerun cost about as much CPU as our
counting, and a 2-core server fell behind past about 20 patients (docs/benchmark.md).
So the browser posts its batches here instead (`POST <base>/coach-api/landmarks/<token>`,
the JSON of `coach.landmark_stream`), the same `LiveHolder.process_batch` handles them,
and the answer carries what the overlay draws plus the acknowledgement. The page's
fragment reruns only when what its panel shows has changed (`panel_version`), so the
spoken count and the panel follow each rep without a rerun per batch.

The token is the holder's `upload_token` (192 random bits) and reaches only the page
that holds the session; the registry holds holders weakly, so a session that ends with
its browser tab is gone here too.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from coach.exercise import Exercise, Mode, Signal
from coach.landmark_stream import UPLOAD_FPS, BatchError, batch_interval_ms, parse_batch
from coach.live_session import Stage
from coach.wording import cue_sentence, cue_text, message_sentence, prompt_sentence

if TYPE_CHECKING:  # the page side; this module is imported before Streamlit's runtime
    from coach.ui.live import LiveHolder, LiveSnapshot

log = logging.getLogger(__name__)

ROUTE = "coach-api/landmarks/{token}"
MAX_BODY_BYTES = 4 * 1024 * 1024
"""A batch of `MAX_FRAMES` full frames is about 2.2 MB of JSON."""

GONE = "This live session is no longer on the server. Reload the page to carry on."
BAD = "The server could not read these measurements."
TOO_BIG = "Too many measurements were sent at once."


class ActiveSessions:
    """On-device sessions this server process ran in the last few seconds (its load)."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def seen(self, session_id: str, now_s: float) -> None:
        """Note a batch of `session_id`."""
        with self._lock:
            self._seen[session_id] = now_s

    def count(self, now_s: float) -> int:
        with self._lock:
            for sid in [s for s, t in self._seen.items() if now_s - t > self.window_s]:
                del self._seen[sid]
            return len(self._seen)


ACTIVE = ActiveSessions()


def overlay_status(snap: LiveSnapshot, ex: Exercise) -> dict[str, Any]:
    """What the browser draws over the picture: the same values the panel shows."""
    s = snap.status
    r = snap.result
    plan = s.plan
    value_text = None
    if ex.signal in (Signal.ANKLE, Signal.TOE_LIFT):
        if s.angle_deg is not None:
            value_text = f"Ankle {s.angle_deg:+.0f}°"
    elif s.excursion is not None:
        value_text = f"Lift {s.excursion:.0f}% of shin"
    hold_text, hold_done = None, False
    if s.hold_target_s > 0 and s.hold_s > 0:
        left = max(0.0, s.hold_target_s - s.hold_s)
        hold_text, hold_done = ("Hold done" if left == 0 else f"Hold {left:.0f} s"), left == 0
    counting = s.stage in (Stage.COUNTING, Stage.RESTING, Stage.DONE)
    message = None
    if s.stage is not Stage.COUNTING:
        message = prompt_sentence(s.prompt, s.prompt_params)
    elif s.not_counting:
        message = cue_sentence(s.not_counting)
    return {
        "stage": s.stage.value,
        "reps": s.reps,
        "of": plan.sets * plan.reps_per_set,
        "count_label": "Holds" if ex.mode is Mode.HOLD else "Reps",
        "set_text": f"Set {plan.set_no} of {plan.sets}" if plan.sets > 1 and counting else None,
        "value_text": value_text if counting else None,
        "hold_text": hold_text,
        "hold_done": hold_done,
        "excursion": s.excursion if counting else None,
        "message": message,
        "cue": cue_text(s.cue) if s.cue and counting else None,
        "progress": s.progress if s.stage is not Stage.COUNTING else None,
        "side": r.side.value if r is not None and r.side is not None else None,
        "note": message_sentence(s.message) if s.message is not None else None,
        "view_ok": bool(r is not None and r.view.ok),
    }


class LiveRegistry:
    """The on-device live sessions of this server process, by upload token (weakly)."""

    def __init__(self) -> None:
        self._holders: weakref.WeakValueDictionary[str, LiveHolder] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def add(self, holder: LiveHolder) -> str:
        with self._lock:
            self._holders[holder.upload_token] = holder
        return holder.upload_token

    def get(self, token: str) -> LiveHolder | None:
        with self._lock:
            return self._holders.get(token)

    def __len__(self) -> int:
        with self._lock:
            return len(self._holders)


LIVE = LiveRegistry()


def landmark_url(base_path: str, token: str) -> str:
    """Where the page's browser posts its batches (an absolute path on this server)."""
    root = "/".join(p for p in (base_path.strip("/"), ROUTE.replace("{token}", token)) if p)
    return "/" + root


def panel_version(snap: LiveSnapshot) -> str:
    """Changes exactly when the page's panel would show something new: the count, the
    stage, the set, the cue or prompt, a whole second of a hold, a new sound to play."""
    s = snap.status
    last_sound = snap.events[-1].id if snap.events else 0
    parts = (
        s.stage.value, s.reps, s.plan.set_no, s.plan.sets, s.plan.reps_per_set, s.cue,
        s.not_counting, s.prompt, int(s.hold_s), snap.ended, last_sound, snap.error, s.message,
    )  # fmt: skip
    return "|".join("" if p is None else str(p) for p in parts)


def answer_batch(holder: LiveHolder, payload: Any, now_s: float) -> dict[str, Any]:
    """One batch through the holder's session; the browser's answer (or `BatchError`)."""
    batch = parse_batch(payload)
    holder.process_batch(batch, now_s)
    ACTIVE.seen(holder.id, now_s)
    snap = holder.snapshot()
    return {
        "ack": snap.ack,
        "status": overlay_status(snap, holder.exercise),
        "panel": panel_version(snap),
        "ended": snap.ended,
        "send_every_ms": batch_interval_ms(ACTIVE.count(now_s)),
        "upload_fps": UPLOAD_FPS,
    }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def receive_landmarks(request: Request) -> JSONResponse:
    holder = LIVE.get(request.path_params["token"])
    if holder is None:
        return _error(404, GONE)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _error(413, TOO_BIG)
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _error(413, TOO_BIG)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        log.warning("a landmark batch was not JSON (%d bytes)", len(body))
        return _error(400, BAD)
    try:
        # Off the event loop: the counting is plain CPU work, the loop serves every page.
        answer = await run_in_threadpool(answer_batch, holder, payload, time.monotonic())
    except BatchError as exc:
        log.warning("ignored a landmark batch: %s", exc)
        return _error(400, BAD)
    return JSONResponse(answer, headers={"cache-control": "no-store"})


def routes(base_path: str) -> list[Route]:
    """The app's own HTTP routes, under Streamlit's base path (`server.baseUrlPath`)."""
    path = landmark_url(base_path, "{token}")
    return [Route(path, receive_landmarks, methods=["POST"])]
