"""Helpers every page uses: the error guard, the exercise picker, the dose in words, the
camera widget."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import streamlit as st
from streamlit_webrtc import VideoProcessorBase, WebRtcMode, webrtc_streamer

from coach.exercise import Exercise, ExerciseError, Mode
from coach.ui.state import (
    Settings,
    get_exercises,
    get_hooks,
    media_constraints,
    rtc_configuration,
)

log = logging.getLogger(__name__)

SELECTED_KEY = "coach_selected_exercise"
MODEL_MISSING = "The pose model is not installed on this server. Please tell whoever runs the app."
"""Shown for a `ModelUnavailableError`, whose own message (paths, settings) goes to the log."""
EXERCISES_BROKEN = (
    "The exercises could not be loaded, so this page cannot be shown. Please tell whoever "
    "runs the app."
)


def md_escape(text: str) -> str:
    """Text from a user (an uploaded file's name) shown as text, never as Markdown or a link."""
    return "".join(f"\\{c}" if c in "\\`*_{}[]()<>#+-.!|~$" else c for c in text)


def guarded(render: Callable[[], None]) -> None:
    """Run a page; any error becomes a plain message (details go to the server log only).

    Streamlit's own control flow (st.rerun, st.stop, page switches) derives from
    BaseException, so it passes through untouched.
    """
    from coach.services.access import AccessDenied, NotFound
    from coach.services.clinic import InputProblem
    from coach.storage.database import StorageError

    try:
        render()
    except (AccessDenied, NotFound, InputProblem) as exc:
        st.error(str(exc))
    except StorageError as exc:
        log.warning("the records cannot be reached: %s", exc)
        st.error(
            "The coach's records cannot be reached right now, so nothing is shown or saved "
            "on this page. Try again in a moment; if it keeps happening, tell the person who "
            "set up the app."
        )
    except ExerciseError:
        log.exception("exercise definitions are invalid")
        st.error(EXERCISES_BROKEN)
    except Exception:
        log.exception("page failed")
        st.error(
            "Sorry, something went wrong on this page. Reload the page to try again; "
            "if it keeps happening, tell your therapist or the person who set up the app."
        )


def dose_text(ex: Exercise) -> str:
    d = ex.dose
    if ex.mode is Mode.HOLD:
        core = f"{d.reps} holds of {d.hold_s:.0f} s"
        if d.sets > 1:
            core = f"{d.sets} sets of {core}"
    else:
        core = f"{d.sets} set{'s' if d.sets > 1 else ''} of {d.reps} reps"
        if d.hold_s > 0:
            core += f", holding {d.hold_s:.0f} s at the top"
    rest = f", {d.rest_s:.0f} s rest between sets" if d.sets > 1 else ""
    return f"{core}{rest} ({d.frequency})"


def selected_exercise_id(default: str | None = None) -> str:
    """The exercise chosen last (library button, link ?exercise=..., or the picker)."""
    exercises = get_exercises()
    wanted = st.query_params.get("exercise")
    if wanted in exercises and SELECTED_KEY not in st.session_state:
        st.session_state[SELECTED_KEY] = wanted
    current = st.session_state.get(SELECTED_KEY)
    if current not in exercises:
        current = default if default in exercises else next(iter(exercises))
        st.session_state[SELECTED_KEY] = current
    return str(current)


def exercise_picker(
    label: str,
    *,
    key: str,
    disabled: bool = False,
    help: str | None = None,
    only: list[str] | None = None,
) -> Exercise:
    """A selectbox of exercises by name that remembers the choice across pages
    (`only`: these ids, in this order, e.g. a patient's plan)."""
    exercises = get_exercises()
    ids = [i for i in only if i in exercises] if only else list(exercises)
    current = selected_exercise_id()
    if current not in ids:
        current = ids[0]

    def _remember() -> None:
        st.session_state[SELECTED_KEY] = st.session_state[key]

    if st.session_state.get(key) != current:
        st.session_state[key] = current
    chosen = st.selectbox(
        label,
        ids,
        format_func=lambda i: exercises[i].name,
        key=key,
        on_change=_remember,
        disabled=disabled,
        help=help,
    )
    return exercises[str(chosen)]


def camera_streamer(
    key: str,
    settings: Settings,
    processor_factory: Callable[[], VideoProcessorBase],
    **options: Any,
) -> Any:
    """The WebRTC camera widget (the test hooks' stand-in under test), video processed on
    the server, shown full width; `options` go to `webrtc_streamer` as they are."""
    streamer = get_hooks().streamer or webrtc_streamer
    return streamer(
        key=key,
        mode=WebRtcMode.SENDRECV,
        rtc_configuration=rtc_configuration(settings),
        media_stream_constraints=media_constraints(settings),
        video_processor_factory=processor_factory,
        async_processing=True,
        **options,
        video_html_attrs={
            "autoPlay": True,
            "controls": False,
            "muted": True,
            "style": {"width": "100%", "borderRadius": "8px"},
        },
    )
