"""Settings, cached exercise definitions and test hooks, all kept in `st.session_state`.

Widget values are copied into one `Settings` object (not left in widget keys), because
Streamlit forgets a widget's state when its page is not shown, and settings must
outlive a visit to another page. Tests swap the pose model and the WebRTC streamer
through `AppHooks` in the session state; the real app never sets it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from coach.exercise import Exercise, ExerciseError, ExerciseLibrary, load_library
from coach.gait.analyze import open_walk_estimator
from coach.pose import MediaPipePose, PoseEstimator
from coach.pose_models import DEFAULT_MODEL, MODEL_NAMES, RECORDED_MODEL
from coach.side_select import SideChoice

log = logging.getLogger(__name__)

SETTINGS_KEY = "coach_settings"
HOOKS_KEY = "coach_test_hooks"
ENV_MODEL = "COACH_MODEL"
ENV_REVIEW_MODEL = "COACH_REVIEW_MODEL"
ENV_ICE = "COACH_ICE_SERVERS"
ENV_POSE_MODE = "COACH_POSE_MODE"
POSE_MODES: dict[str, str] = {
    "browser": "On this device (recommended): the video stays on your computer or phone",
    "server": "On the server: the video is sent to the server and back",
}
COUNTDOWNS_S: tuple[float, ...] = (0.0, 3.0, 5.0, 10.0)
RESOLUTIONS: dict[str, tuple[int, int]] = {
    "640x480 (recommended)": (640, 480),
    "1280x720 (sharper, slower)": (1280, 720),
}
FACING: dict[str, str | None] = {
    "Any camera": None,
    "Front camera (phone/tablet)": "user",
    "Back camera (phone/tablet)": "environment",
}


def _model_from(variable: str, default: str) -> str:
    value = os.environ.get(variable, default).strip()
    return value if value in MODEL_NAMES else default


def _default_model() -> str:
    return _model_from(ENV_MODEL, DEFAULT_MODEL)


def _default_review_model() -> str:
    return _model_from(ENV_REVIEW_MODEL, RECORDED_MODEL)


def _default_pose_mode() -> str:
    """On-device unless the deployment says otherwise (a bad value is ignored)."""
    value = os.environ.get(ENV_POSE_MODE, "").strip().lower()
    return value if value in POSE_MODES else "browser"


@dataclass
class Settings:
    """What the patient or therapist chose on the Settings page (one per browser session)."""

    model: str = field(default_factory=_default_model)
    """For live coaching and gait."""
    review_model: str = field(default_factory=_default_review_model)
    """For recorded exercise videos (every frame analysed, so the most accurate model)."""
    side: SideChoice = "auto"
    calibrate: bool = True
    pose_mode: str = field(default_factory=_default_pose_mode)
    """Where the live pose model runs: "browser" (on-device) or "server" (WebRTC)."""
    countdown_s: float = 5.0
    """Seconds to get into place after the camera starts, before the set-up check."""
    large_print: bool = False
    """Rep count and cue readable from across the room."""
    sound: bool = True
    speech: bool = True
    resolution: str = next(iter(RESOLUTIONS))
    facing: str = next(iter(FACING))
    ice_servers: list[dict[str, Any]] | None = None
    """None: use the deployment's servers (secrets or environment)."""


@dataclass
class AppHooks:
    """Replacements used by tests: a fake pose model and a stand-in for the WebRTC widget."""

    estimator_factory: Callable[[str], PoseEstimator] | None = None
    streamer: Callable[..., Any] | None = None


def get_settings() -> Settings:
    settings = st.session_state.get(SETTINGS_KEY)
    if not isinstance(settings, Settings):
        settings = Settings()
        st.session_state[SETTINGS_KEY] = settings
    return settings


def get_hooks() -> AppHooks:
    hooks = st.session_state.get(HOOKS_KEY)
    return hooks if isinstance(hooks, AppHooks) else AppHooks()


def make_estimator(model: str) -> PoseEstimator:
    """The pose model for one video (a fake one under test), tracking between frames."""
    factory = get_hooks().estimator_factory
    if factory is not None:
        return factory(model)
    return MediaPipePose(model, mode="video")


def estimator_factory(model: str, *, walking: bool = False) -> Callable[[], PoseEstimator]:
    """A factory the camera thread can call later (it must not touch `st.*` itself).

    `walking`: the gait model, which also finds bystanders so the walker can be picked.
    """
    factory = get_hooks().estimator_factory
    if factory is not None:
        return lambda: factory(model)
    if walking:
        return lambda: open_walk_estimator(model)
    return lambda: MediaPipePose(model, mode="video")


@st.cache_resource(show_spinner=False)
def _load_library() -> ExerciseLibrary:
    """Loaded once per server (a missing folder raises, is not cached, and is retried)."""
    library = load_library()
    for problem in library.problems:
        log.warning("skipped an exercise definition: %s", problem)
    return library


def get_exercises() -> dict[str, Exercise]:
    """The usable exercise definitions; raises `ExerciseError` (shown by the page guard)
    only when there is none."""
    return _load_library().usable()


def get_exercise_problems() -> tuple[ExerciseError, ...]:
    """One problem per definition file that was skipped, for the library page to show."""
    return _load_library().problems


def parse_ice_servers(value: Any) -> list[dict[str, Any]]:
    """Validate ICE servers given as JSON text or a list of {urls, username, credential}.

    Raises ValueError with a readable message for anything else.
    """
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ValueError('expected a list of servers such as [{"urls": ["stun:host:3478"]}]')
    servers: list[dict[str, Any]] = []
    for i, item in enumerate(value, 1):
        if not isinstance(item, Mapping):
            raise ValueError(f"server {i} is not an object with 'urls'")
        entry = dict(item)
        urls = entry.get("urls")
        if isinstance(urls, str):
            urls = [urls]
        if not urls or not all(isinstance(u, str) for u in urls):
            raise ValueError(f"server {i} needs 'urls' (a text or a list of texts)")
        bad = [u for u in urls if not u.startswith(("stun:", "turn:", "turns:"))]
        if bad:
            raise ValueError(f"server {i}: {bad[0]!r} should start with stun:, turn: or turns:")
        entry["urls"] = list(urls)
        servers.append(entry)
    return servers


def deployment_ice_servers() -> tuple[list[dict[str, Any]], str]:
    """ICE servers from `st.secrets["ice_servers"]`, else $COACH_ICE_SERVERS, else none,
    and where they came from in words (shown on the Settings page)."""
    try:
        if "ice_servers" in st.secrets:
            return parse_ice_servers(_plain(st.secrets["ice_servers"])), "the app's secrets"
    except FileNotFoundError:
        pass
    except Exception as exc:  # malformed secrets must not take the page down
        log.warning("ignoring ice_servers in secrets: %s", exc)
    env = os.environ.get(ENV_ICE, "")
    if env.strip():
        try:
            return parse_ice_servers(env), "the server's environment"
        except ValueError as exc:
            log.warning("ignoring $%s: %s", ENV_ICE, exc)
    return [], "none set (works on the same computer or local network only)"


def _plain(value: Any) -> Any:
    """Secrets come as AttrDict/AttrList: turn them into plain lists and dicts."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def ice_servers(settings: Settings) -> list[dict[str, Any]]:
    if settings.ice_servers is not None:
        return settings.ice_servers
    return deployment_ice_servers()[0]


def rtc_configuration(settings: Settings) -> dict[str, Any]:
    """Empty by default: no public STUN server (unreachable offline; slows the start)."""
    return {"iceServers": ice_servers(settings)}


def media_constraints(settings: Settings) -> dict[str, Any]:
    width, height = RESOLUTIONS.get(settings.resolution, (640, 480))
    video: dict[str, Any] = {"width": {"ideal": width}, "height": {"ideal": height}}
    facing = FACING.get(settings.facing)
    if facing is not None:
        video["facingMode"] = facing
    return {"video": video, "audio": False}
