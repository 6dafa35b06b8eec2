"""Settings: pose model, which leg, calibration, camera, sound and ICE servers.

Kept in `st.session_state` (one `Settings` per browser session) via on_change callbacks,
so they survive visits to other pages; ICE servers default to the deployment's (secrets
or $COACH_ICE_SERVERS), which a therapist can override here for one session.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from coach.pose_models import MODEL_NAMES
from coach.ui.state import (
    COUNTDOWNS_S,
    FACING,
    POSE_MODES,
    RESOLUTIONS,
    Settings,
    deployment_ice_servers,
    get_settings,
    parse_ice_servers,
)

MODEL_HELP = {
    "lite": "lite: fastest, but miscounts from a table-height, floor or 45-degree camera",
    "full": "full: the measured default; counts right from every camera set-up tested",
    "heavy": "heavy: most accurate, too slow for live use on most computers",
}
REVIEW_MODEL_HELP = {
    "lite": "lite: fastest, least accurate",
    "full": "full: about 3 times faster than heavy; angles a few degrees less accurate",
    "heavy": "heavy: the measured default for videos; the most accurate angles",
}
SIDES = {
    "auto": "Automatic (the leg that moves)",
    "left": "My left leg",
    "right": "My right leg",
}
ICE_KEY = "coach_settings_ice_text"
ICE_ERROR_KEY = "coach_settings_ice_error"


def _bind(name: str, key: str) -> None:
    setattr(get_settings(), name, st.session_state[key])


def _widget_value(key: str, value: Any) -> None:
    """Seed a widget from the settings (widget state is forgotten when the page is left)."""
    if key not in st.session_state:
        st.session_state[key] = value


def _bound(
    widget: Callable[..., Any], label: str, field: str, *options: Any, **kwargs: Any
) -> None:
    """A widget (with its `options`, if any) that shows and edits one `Settings` field."""
    key = f"coach_set_{field}"
    _widget_value(key, getattr(get_settings(), field))
    widget(label, *options, key=key, on_change=_bind, args=(field, key), **kwargs)


def _save_ice() -> None:
    text = st.session_state[ICE_KEY]
    try:
        servers = parse_ice_servers(text) if text.strip() else None
    except ValueError as exc:
        st.session_state[ICE_ERROR_KEY] = str(exc)
        return
    st.session_state.pop(ICE_ERROR_KEY, None)
    get_settings().ice_servers = servers


def render() -> None:
    settings: Settings = get_settings()
    st.title("Settings")
    st.caption("These apply to this browser session. Changes apply to your next live session.")

    st.subheader("Pose model")
    _bound(
        st.radio,
        "For live coaching and walking",
        "model",
        list(MODEL_NAMES),
        format_func=lambda m: MODEL_HELP.get(m, m),
    )
    _bound(
        st.radio,
        "For reviewing a recorded video",
        "review_model",
        list(MODEL_NAMES),
        format_func=lambda m: REVIEW_MODEL_HELP.get(m, m),
    )
    _bound(
        st.selectbox,
        "Leg to measure",
        "side",
        list(SIDES),
        format_func=lambda s: SIDES[s],
    )
    _bound(
        st.toggle,
        "Calibrate my neutral before counting",
        "calibrate",
        help="Keep the foot relaxed and still for a second before the count starts.",
    )

    st.subheader("Where the pose is measured")
    _bound(
        st.radio,
        "Live coaching runs",
        "pose_mode",
        list(POSE_MODES),
        format_func=lambda m: POSE_MODES[m],
        help="On this device, only the leg's position is sent to the server. Use the server "
        "if this browser cannot run the model (an old phone or browser).",
    )
    _bound(
        st.select_slider,
        "Countdown to get into place after Start",
        "countdown_s",
        options=list(COUNTDOWNS_S),
        format_func=lambda s: "none" if not s else f"{s:.0f} s",
    )

    st.subheader("Camera")
    _bound(
        st.selectbox,
        "Picture size",
        "resolution",
        list(RESOLUTIONS),
    )
    _bound(
        st.selectbox,
        "Which camera",
        "facing",
        list(FACING),
        help="On a computer with several cameras, use SELECT DEVICE under the video.",
    )

    st.subheader("Sound")
    _bound(
        st.toggle,
        "Sound: a beep on each rep and spoken cues",
        "sound",
    )
    _bound(
        st.toggle,
        "Speak the coach's cues (when sound is on)",
        "speech",
    )

    st.subheader("Connection (ICE servers)")
    servers, source = deployment_ice_servers()
    st.write(
        "Needed only when the patient's browser and this app are on different networks "
        "(telehealth): give a TURN server, for example a self-hosted coturn. Leave empty "
        "to use the deployment's setting."
    )
    if servers:
        st.caption(f"The app's own setting: {len(servers)} server(s), from {source}.")
    else:
        st.caption(f"The app's own setting: {source}.")
    current = settings.ice_servers
    _widget_value(ICE_KEY, "" if current is None else json.dumps(current, indent=2))
    st.text_area(
        "ICE servers for this session (JSON)",
        key=ICE_KEY,
        on_change=_save_ice,
        placeholder='[{"urls": ["turn:turn.example.org:3478"], '
        '"username": "coach", "credential": "secret"}]',
        height=120,
    )
    error = st.session_state.get(ICE_ERROR_KEY)
    if error:
        st.error(f"These ICE servers were not saved: {error}")
    elif settings.ice_servers is not None:
        st.success(f"Using {len(settings.ice_servers)} ICE server(s) set here.")
