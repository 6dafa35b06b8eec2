"""On-device pose on the Exercise page: the browser runs the model, the server counts.

The component (`pose_camera.js`, Streamlit components v2, no iframe) opens the camera,
runs MediaPipe's web Pose Landmarker on every frame it can, draws the leg, the reps, the
angle and the target band over the live picture, and sends only timestamped landmarks,
about four batches a second, never video. The batches go to the app's landmark route
(`coach.ui.landmark_api`), which hands them to the same `LiveSession` the server-side
camera path uses and answers with what the overlay shows plus an acknowledgement, so
the browser resends only what the server has not handled. This fragment reruns only
when the panel beside the picture has something new to show, and for Stop. Words are
made here, from the core's ids, and travel to the browser ready to show.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any

import streamlit as st

from coach.exercise import Exercise
from coach.landmark_stream import UPLOAD_FPS, BatchError, batch_interval_ms, parse_batch
from coach.ui.landmark_api import (
    ACTIVE,
    LIVE,
    landmark_url,
    overlay_status,
    panel_version,
)
from coach.ui.live import LiveHolder, LiveSnapshot
from coach.ui.state import Settings, media_constraints

log = logging.getLogger(__name__)

_CSS = """
.coach-pose { font: 15px/1.4 sans-serif; color: var(--st-text-color, #262730); }
.coach-pose canvas.view {
  display: block; width: 100%; border-radius: 8px; background: #1e2328;
}
.coach-pose .bar { display: flex; align-items: center; gap: 12px; margin-top: 8px; }
.coach-pose button {
  font: inherit; font-weight: 600; padding: 8px 22px; border-radius: 8px; cursor: pointer;
  border: 1px solid rgba(128, 128, 128, 0.5); background: #f0f2f6; color: #262730;
}
.coach-pose button.start { background: #2e7d32; color: #fff; border-color: #2e7d32; }
.coach-pose button.stop { background: #c62828; color: #fff; border-color: #c62828; }
.coach-pose .note { flex: 1; font-size: 0.9em; opacity: 0.85; }
.coach-pose .note.bad { color: #c62828; opacity: 1; font-weight: 600; }
.coach-pose.large button { font-size: 1.6em; padding: 14px 40px; }
.coach-pose.large .note { font-size: 1.2em; }
"""

_HTML = """
<div class="coach-pose">
  <canvas class="view" role="img" aria-label="Your camera picture with the measured leg"></canvas>
  <div class="bar">
    <button class="start" type="button">Start</button>
    <button class="stop" type="button" hidden>Stop</button>
    <span class="note" role="status" aria-live="polite"></span>
  </div>
</div>
"""

_JS = (Path(__file__).with_name("pose_camera.js")).read_text(encoding="utf-8")

# Registered once at import, as Streamlit recommends; re-registered on each runtime.
_COMPONENT: Any = st.components.v2.component("coach_pose_camera", html=_HTML, css=_CSS, js=_JS)

WORDS = {
    "start": "Start",
    "starting": "Starting the camera and the pose model...",
    "idle": "Press Start and allow the browser to use your camera. "
    "Your video stays on this device: only the leg's position is sent.",
    "running": "On this device: {fps} frames a second (model {model_ms} ms). "
    "Video stays here; only the leg's position is sent.",
    "denied": "The browser was not allowed to use the camera. Allow it (the camera icon in "
    "the address bar) and press Start again.",
    "no_camera": "No camera was found. Plug one in, or close other programs using it, and "
    "press Start again.",
    "unsupported": "This browser cannot run the camera here. Use a current Chrome, Edge, "
    "Firefox or Safari, or switch to server mode on the Settings page.",
    "gone": "The connection to the server was lost. Reload the page to carry on.",
    "failed": "The pose model could not start in this browser. Switch to server mode on the "
    "Settings page, or try another browser.",
}


def key_for(holder: LiveHolder) -> str:
    return f"coach-pose-{holder.id}"


def _trigger(key: str, event: str) -> Any:
    """The value the browser sent with `event` on this run (None if it sent none)."""
    state = st.session_state.get(key)
    if state is None:
        return None
    try:
        return state[event]
    except (KeyError, TypeError):
        return getattr(state, event, None)


def _take_batch(holder: LiveHolder, payload: Any) -> None:
    try:
        batch = parse_batch(payload)
    except BatchError as exc:
        log.warning("ignored a landmark batch: %s", exc)
        return
    now = time.monotonic()
    holder.process_batch(batch, now)
    ACTIVE.seen(holder.id, now)


def on_stop(holder: LiveHolder, key: str) -> None:
    """Stop: the last frames go through, the session ends, the summary is shown."""
    payload = _trigger(key, "stop")
    if isinstance(payload, dict) and payload.get("batch") is not None:
        _take_batch(holder, payload["batch"])
    holder.with_session(lambda s: s.end())
    if holder.recorder is not None:
        holder.recorder.flush(5.0)


DEVICE_FAILED_KEY = "coach_live_device_failed"


def on_unsupported(key: str) -> None:
    """The browser could not start the model: this browser session uses the server path."""
    payload = _trigger(key, "unsupported")
    reason = payload.get("reason") if isinstance(payload, dict) else None
    log.warning("on-device pose failed in a browser, using the server: %s", str(reason)[:200])
    st.session_state[DEVICE_FAILED_KEY] = True


def gauge_of(ex: Exercise) -> dict[str, Any]:
    """The target band's scale, as `coach.annotate` draws it on the server's overlay."""
    c = ex.counter
    return {
        "lo": c.exit - 5.0,
        "hi": c.target + 8.0,
        "band": [c.hold_floor, c.target + c.target_tolerance],
        "enter": c.enter,
    }


def pose_camera(
    holder: LiveHolder, settings: Settings, assets: dict[str, str], snap: LiveSnapshot
) -> None:
    """Mount (or update) the on-device camera for this live session."""
    key = key_for(holder)
    payload = {
        "session": holder.id,
        "post_url": landmark_url(str(st.get_option("server.baseUrlPath")), LIVE.add(holder)),
        "upload_fps": UPLOAD_FPS,
        "panel": panel_version(snap),
        "assets": assets,
        "camera": media_constraints(settings),
        "delegate": "GPU",
        "ack": snap.ack,
        "status": overlay_status(snap, holder.exercise),
        "gauge": gauge_of(holder.exercise),
        "large": settings.large_print,
        "send_every_ms": batch_interval_ms(ACTIVE.count(time.monotonic())),
        "ended": snap.ended,
        "words": WORDS,
    }
    _COMPONENT(
        data=payload,
        key=key,
        on_stop_change=functools.partial(on_stop, holder, key),
        on_unsupported_change=functools.partial(on_unsupported, key),
    )
