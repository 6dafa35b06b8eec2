"""Foot-drop exercise coach: `streamlit run app.py`.

A multipage app (`st.navigation`): live coaching through the browser's camera, review
of a recorded video, the exercise library and settings. The pages live in `coach/ui/`.
"""

from __future__ import annotations

import logging

from coach.native_logs import quiet_native_logs

quiet_native_logs()  # before mediapipe or cv2 load: their log lines stay off the server's log

import streamlit as st  # noqa: E402

from coach.accounts import Role  # noqa: E402
from coach.storage.database import StorageError  # noqa: E402
from coach.ui.auth import current_user, sync_cookie  # noqa: E402
from coach.ui.upload import remove_stale_uploads_once  # noqa: E402

st.set_page_config(page_title="Foot-drop exercise coach", page_icon="🦶", layout="wide")
remove_stale_uploads_once()  # upload folders left by a server that was killed mid-analysis


def _page(script: str, title: str, icon: str, url: str, *, default: bool = False) -> st.Page:
    return st.Page(script, title=title, icon=icon, url_path=url, default=default)


REVIEW = _page("coach/ui/pages/review.py", "Review a video", ":material/movie:", "review")
GAIT = _page("coach/ui/pages/gait.py", "Gait training", ":material/directions_walk:", "gait")
LIBRARY = _page("coach/ui/pages/library.py", "Exercise library", ":material/menu_book:", "library")
SETTINGS = _page("coach/ui/pages/settings.py", "Settings", ":material/settings:", "settings")
SIGNIN = _page("coach/ui/pages/signin.py", "Sign in", ":material/login:", "signin")


def _pages() -> list[st.Page]:
    """The pages this person may open (the services check every access again)."""
    try:
        user = current_user()
    except StorageError as exc:  # the records are unreachable: the coach still works
        logging.getLogger("coach.app").warning("the records cannot be reached: %s", exc)
        st.warning(
            "Signing in is not available right now (the clinic's records cannot be reached). "
            "You can still exercise, but nothing is saved."
        )
        user = None
    if user is not None and user.role is Role.THERAPIST:
        patients = _page(
            "coach/ui/pages/patients.py", "Patients", ":material/groups:", "patients", default=True
        )
        return [patients, REVIEW, LIBRARY, SETTINGS, SIGNIN]
    exercise = _page(
        "coach/ui/pages/exercise.py",
        "Exercise",
        ":material/directions_run:",
        "exercise",
        default=True,
    )
    if user is not None and user.role is Role.PATIENT:
        history = _page(
            "coach/ui/pages/history.py", "My progress", ":material/trending_up:", "progress"
        )
        return [exercise, history, REVIEW, GAIT, LIBRARY, SETTINGS, SIGNIN]
    return [exercise, REVIEW, GAIT, LIBRARY, SETTINGS, SIGNIN]  # guests: nothing is stored


st.navigation(_pages()).run()
sync_cookie()
