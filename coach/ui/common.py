"""Helpers every page uses: the error guard, the exercise picker, the dose in words, the
camera widget."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
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
from coach.view import ViewIssue

log = logging.getLogger(__name__)

SELECTED_KEY = "coach_selected_exercise"
MODEL_MISSING = "The pose model is not installed on this server. Please tell whoever runs the app."
"""Shown for a `ModelUnavailableError`, whose own message (paths, settings) goes to the log."""
EXERCISES_BROKEN = (
    "The exercises could not be loaded, so this page cannot be shown. Please tell whoever "
    "runs the app."
)
VIEW_ISSUE_TEXT: dict[ViewIssue, str] = {
    ViewIssue.NO_PERSON: "no one in view",
    ViewIssue.MOVE_BACK: "hip or knee out of the picture",
    ViewIssue.FOOT_OUT_OF_VIEW: "foot hidden or out of the picture",
    ViewIssue.NOT_SIDE_ON: "not side-on to the camera",
}
"""Each view problem in words, for reasons the core still gives as ids."""
_ISSUE_WORDS = {issue.value: text for issue, text in VIEW_ISSUE_TEXT.items()}
_ID_LIST = re.compile(r"\s*\(\s*([a-z_]*(?:\s*,\s*[a-z_]+)*)\s*\)")
_BARE_ID = re.compile(r"\b(" + "|".join(sorted(_ISSUE_WORDS, key=len, reverse=True)) + r")\b")


def md_escape(text: str) -> str:
    """Text from a user (an uploaded file's name) shown as text, never as Markdown or a link."""
    return "".join(f"\\{c}" if c in "\\`*_{}[]()<>#+-.!|~$" else c for c in text)


def plain_text(text: str) -> str:
    """A message from the core with any view-problem ids put into words.

    "(turn_side_on, foot_out_of_view)" becomes "(not side-on to the camera, foot hidden or
    out of the picture)", and an empty "()" goes.
    """

    def _list(m: re.Match[str]) -> str:
        ids = [i.strip() for i in m.group(1).split(",") if i.strip()]
        if not ids:
            return ""
        if all(i in _ISSUE_WORDS for i in ids):
            return " (" + ", ".join(_ISSUE_WORDS[i] for i in ids) + ")"
        return m.group(0)

    text = _ID_LIST.sub(_list, text)
    return _BARE_ID.sub(lambda m: _ISSUE_WORDS[m.group(1)], text)


def plain_texts(texts: Iterable[str]) -> list[str]:
    """`plain_text` of each message, leaving out empty ones."""
    return [t for t in (plain_text(str(x)).strip() for x in texts) if t]


def guarded(render: Callable[[], None]) -> None:
    """Run a page; any error becomes a plain message (details go to the server log only).

    Streamlit's own control flow (st.rerun, st.stop, page switches) derives from
    BaseException, so it passes through untouched.
    """
    try:
        render()
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
    label: str, *, key: str, disabled: bool = False, help: str | None = None
) -> Exercise:
    """A selectbox of exercises by name that remembers the choice across pages."""
    exercises = get_exercises()
    ids = list(exercises)
    current = selected_exercise_id()

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
