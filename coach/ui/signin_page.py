"""Sign in: therapists with email and password; patients with their invitation code
(then a login of their own) or that login. Sign out from the same page."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from coach.accounts import Principal, Role
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


def _attempt(sign: Callable[[], Principal]) -> None:
    """Sign in with what `sign` returns, or say in words why not."""
    try:
        principal = sign()
    except AccessDenied as exc:
        st.error(str(exc))
        return
    sign_in(principal)
    st.rerun()


def _password_form(
    key: str, login_label: str, max_chars: int, check: Callable[[str, str], Principal]
) -> None:
    with st.form(f"{key}_form"):
        login = st.text_input(login_label, max_chars=max_chars)
        password = st.text_input("Password", type="password", key=f"{key}_pw")
        if st.form_submit_button("Sign in"):
            _attempt(lambda: check(login, password))


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
                _attempt(lambda: clinic.sign_in_patient_code(code))
        _password_form("coach_patient", "Or your login name", 60, clinic.sign_in_patient)
    with therapist_tab:
        _password_form("coach_therapist", "Email", 254, clinic.sign_in_therapist)
        st.caption(
            "Therapist accounts are made by the clinic's administrator: "
            "`python -m coach therapist add EMAIL --name NAME`."
        )
