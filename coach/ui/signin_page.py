"""Sign in: therapists with email and password; patients with their invitation code
(then a login of their own) or that login. Sign out from the same page."""

from __future__ import annotations

import streamlit as st

from coach.accounts import Role
from coach.services.access import AccessDenied
from coach.services.clinic import InputProblem
from coach.ui.auth import current_user, get_services, sign_in, sign_out


def _signed_in_view() -> None:
    user = current_user()
    assert user is not None
    st.success(f"You are signed in as **{user.name}**.")
    if user.role is Role.PATIENT:
        patient = get_services().clinic.patient(user, user.id or "")
        if patient.login_name is None:
            st.markdown("**Choose a login of your own** so you can sign in without the code.")
            with st.form("coach_patient_login"):
                login = st.text_input("Login name", max_chars=60)
                pw = st.text_input("Password (at least 10 characters)", type="password")
                if st.form_submit_button("Save my login"):
                    try:
                        get_services().clinic.set_patient_login(user, login, pw)
                        st.success("Saved. Next time, sign in with this name and password.")
                    except (InputProblem, AccessDenied) as exc:
                        st.error(str(exc))
    if st.button("Sign out", type="primary"):
        sign_out()
        st.rerun()


def render() -> None:
    st.title("Sign in")
    if st.session_state.pop("coach_signed_out_idle", False):
        st.info("You were signed out because nothing happened for a while.")
    if current_user() is not None:
        _signed_in_view()
        return
    clinic = get_services().clinic
    patient_tab, therapist_tab = st.tabs(["I am a patient", "I am a therapist"])
    with patient_tab:
        with st.form("coach_code_form"):
            code = st.text_input("Invitation code from your therapist", max_chars=40)
            if st.form_submit_button("Sign in with my code"):
                try:
                    sign_in(clinic.sign_in_patient_code(code))
                    st.rerun()
                except AccessDenied as exc:
                    st.error(str(exc))
        with st.form("coach_patient_form"):
            login = st.text_input("Or your login name", max_chars=60)
            pw = st.text_input("Password", type="password", key="coach_patient_pw")
            if st.form_submit_button("Sign in"):
                try:
                    sign_in(clinic.sign_in_patient(login, pw))
                    st.rerun()
                except AccessDenied as exc:
                    st.error(str(exc))
    with therapist_tab:
        with st.form("coach_therapist_form"):
            email = st.text_input("Email", max_chars=254)
            pw = st.text_input("Password", type="password", key="coach_therapist_pw")
            if st.form_submit_button("Sign in"):
                try:
                    sign_in(clinic.sign_in_therapist(email, pw))
                    st.rerun()
                except AccessDenied as exc:
                    st.error(str(exc))
        st.caption(
            "Therapist accounts are made by the clinic's administrator: "
            "`python -m coach therapist add EMAIL --name NAME`."
        )
