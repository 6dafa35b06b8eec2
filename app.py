"""Foot-drop exercise coach: `streamlit run app.py`.

A multipage app (`st.navigation`): live coaching through the browser's camera, review
of a recorded video, the exercise library and settings. The pages live in `coach/ui/`.
"""

from __future__ import annotations

from coach.native_logs import quiet_native_logs

quiet_native_logs()  # before mediapipe or cv2 load: their log lines stay off the server's log

import streamlit as st  # noqa: E402

from coach.ui.upload import remove_stale_uploads_once  # noqa: E402

st.set_page_config(page_title="Foot-drop exercise coach", page_icon="🦶", layout="wide")
remove_stale_uploads_once()  # upload folders left by a server that was killed mid-analysis

PAGES = [
    st.Page(
        "coach/ui/pages/exercise.py",
        title="Exercise",
        icon=":material/directions_run:",
        url_path="exercise",
        default=True,
    ),
    st.Page(
        "coach/ui/pages/review.py",
        title="Review a video",
        icon=":material/movie:",
        url_path="review",
    ),
    st.Page(
        "coach/ui/pages/gait.py",
        title="Gait training",
        icon=":material/directions_walk:",
        url_path="gait",
    ),
    st.Page(
        "coach/ui/pages/library.py",
        title="Exercise library",
        icon=":material/menu_book:",
        url_path="library",
    ),
    st.Page(
        "coach/ui/pages/settings.py",
        title="Settings",
        icon=":material/settings:",
        url_path="settings",
    ),
]

st.navigation(PAGES).run()
