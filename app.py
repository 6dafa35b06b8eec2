"""Foot-drop exercise coach: `streamlit run app.py`.

A multipage app (`st.navigation`): live coaching through the browser's camera, review
of a recorded video, the exercise library and settings. The pages live in `coach/ui/`.

This file is read twice. `streamlit run` imports it as a module and finds `app`, the
server (`st.App`): Streamlit's own routes plus the app's landmark route
(`coach.ui.landmark_api`). That server then runs this same file as the page script, as
`__main__` (AppTest does too), which draws the pages. So the page modules are imported
only in the page script, inside Streamlit's runtime.
"""

from __future__ import annotations

import logging

from coach.native_logs import quiet_native_logs

quiet_native_logs()  # before mediapipe or cv2 load: their log lines stay off the server's log

import streamlit as st  # noqa: E402


def _page(script: str, title: str, icon: str, url: str, *, default: bool = False) -> st.Page:
    return st.Page(script, title=title, icon=icon, url_path=url, default=default)


def _pages() -> list[st.Page]:
    """The pages this person may open (the services check every access again)."""
    from coach.accounts import Role
    from coach.storage.database import StorageError
    from coach.ui.auth import current_user

    review = _page("coach/ui/pages/review.py", "Review a video", ":material/movie:", "review")
    gait = _page("coach/ui/pages/gait.py", "Gait training", ":material/directions_walk:", "gait")
    library = _page(
        "coach/ui/pages/library.py", "Exercise library", ":material/menu_book:", "library"
    )
    settings = _page("coach/ui/pages/settings.py", "Settings", ":material/settings:", "settings")
    signin = _page("coach/ui/pages/signin.py", "Sign in", ":material/login:", "signin")
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
        live = _page("coach/ui/pages/monitor.py", "Live now", ":material/monitor_heart:", "live")
        return [patients, live, review, library, settings, signin]
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
        return [exercise, history, review, gait, library, settings, signin]
    return [exercise, review, gait, library, settings, signin]  # guests: nothing is stored


def main() -> None:
    from coach.ui.auth import sync_cookie
    from coach.ui.upload import remove_stale_uploads_once

    st.set_page_config(page_title="Foot-drop exercise coach", page_icon="🦶", layout="wide")
    remove_stale_uploads_once()  # upload folders left by a server killed mid-analysis
    st.navigation(_pages()).run()
    sync_cookie()


if __name__ == "__main__":
    main()
else:
    from coach.ui.landmark_api import routes

    app = st.App(__file__, routes=routes(str(st.get_option("server.baseUrlPath"))))
