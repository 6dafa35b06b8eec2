"""My progress (patients): this week's plan, the sessions done, range over time, replays.

The same sections the therapist sees for this patient, through the same services: the
services check that a patient reads only their own records."""

from __future__ import annotations

import streamlit as st

from coach.accounts import Role
from coach.ui.auth import current_user, get_services
from coach.ui.therapist_page import progress_section, sessions_section


def render() -> None:
    st.title("My progress")
    user = current_user()
    if user is None or user.role is not Role.PATIENT or not user.id:
        st.info("Sign in with your invitation code or your login to see your progress.")
        return
    services = get_services()
    patient = services.clinic.patient(user, user.id)
    progress, sessions = st.tabs(["Progress", "Sessions"])
    with progress:
        progress_section(services, user, patient)
    with sessions:
        sessions_section(services, user, patient)
