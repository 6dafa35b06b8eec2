"""Who is signed in on this browser, and the services the pages call.

The signed-in `Principal` is kept in `st.session_state` (on the server) with the time of
the last page action; after the idle limit the next page run signs the person out. A
sign-in token in the browser's cookie (`COOKIE`) lets a reload rejoin without typing
the password again; the server checks it against the database on every new browser
session. Every access decision is taken by the services, never by this module.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import streamlit as st

from coach.accounts import Principal, Role
from coach.records import utc_now
from coach.services import Services, build_services
from coach.services.config import AppConfig
from coach.storage.database import StorageError

log = logging.getLogger(__name__)

PRINCIPAL_KEY = "coach_principal"
ACTIVE_KEY = "coach_last_active"
TOKEN_KEY = "coach_signin_token"
COOKIE = "coach_signin"
TOUCHED_KEY = "coach_token_touched"
TOUCH_EVERY = timedelta(minutes=1)


@st.cache_resource(show_spinner=False)
def _services_for(config: AppConfig) -> Services:
    """One set of services (one connection pool) per configuration, for the server's life."""
    return build_services(config)


def get_services() -> Services:
    return _services_for(AppConfig.from_env())


def current_user() -> Principal | None:
    """The signed-in person, or None; signs out after the idle limit."""
    principal = st.session_state.get(PRINCIPAL_KEY)
    services = get_services()
    now = utc_now()
    if not isinstance(principal, Principal):
        token = _cookie_token()
        principal = services.clinic.resume(token) if token else None
        if principal is None:
            return None
        st.session_state[PRINCIPAL_KEY] = principal
        st.session_state[TOKEN_KEY] = token
    last = st.session_state.get(ACTIVE_KEY)
    if isinstance(last, datetime) and now - last > services.config.policy.idle_logoff:
        sign_out(idle=True)
        return None
    st.session_state[ACTIVE_KEY] = now
    _touch_token(now)
    return principal


def _touch_token(now: datetime) -> None:
    """Tell the database this sign-in is in use (at most once a minute), so a reload after a
    long session still finds it fresh."""
    token = st.session_state.get(TOKEN_KEY)
    last = st.session_state.get(TOUCHED_KEY)
    if not token or (isinstance(last, datetime) and now - last < TOUCH_EVERY):
        return
    st.session_state[TOUCHED_KEY] = now
    try:
        get_services().clinic.touch(token)
    except StorageError as exc:
        log.warning("could not note the sign-in as active: %s", exc)


def keep_signed_in() -> None:
    """Count now as activity (a live session polls without full page runs)."""
    if isinstance(st.session_state.get(PRINCIPAL_KEY), Principal):
        now = utc_now()
        st.session_state[ACTIVE_KEY] = now
        _touch_token(now)


def user_or_guest() -> Principal | None:
    """The signed-in person, or None (a guest) also when the records cannot be reached:
    the exercise pages keep working without them, and only the saving is lost."""
    try:
        return current_user()
    except StorageError as exc:
        log.warning("the records cannot be reached; carrying on as a guest: %s", exc)
        return None


def _cookie_token() -> str | None:
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # no browser context (a test run): no cookie
        return None
    return value if isinstance(value, str) and 20 <= len(value) <= 100 else None


def sign_in(principal: Principal) -> None:
    services = get_services()
    token = services.clinic.issue_token(principal)
    st.session_state[PRINCIPAL_KEY] = principal
    st.session_state[ACTIVE_KEY] = utc_now()
    st.session_state[TOKEN_KEY] = token
    st.session_state["coach_set_cookie"] = token


def sign_out(*, idle: bool = False) -> None:
    token = st.session_state.pop(TOKEN_KEY, None)
    try:
        get_services().clinic.sign_out(token)
    except Exception:
        log.exception("could not end the sign-in")
    for key in (PRINCIPAL_KEY, ACTIVE_KEY):
        st.session_state.pop(key, None)
    st.session_state["coach_set_cookie"] = ""
    if idle:
        st.session_state["coach_signed_out_idle"] = True


def is_role(principal: Principal | None, role: Role) -> bool:
    return principal is not None and principal.role is role


_COOKIE_JS = r"""
export default function (component) {
  const d = component.data || {};
  if (typeof d.token !== 'string') return;
  const secure = window.location.protocol === 'https:' ? '; Secure' : '';
  const age = d.token ? `; Max-Age=${d.max_age}` : '; Max-Age=0';
  window.parent.document.cookie = `${d.name}=${d.token}; Path=/; SameSite=Strict${age}${secure}`;
}
"""

_COOKIE_COMPONENT = st.components.v2.component(
    "coach_signin_cookie", html="<span></span>", js=_COOKIE_JS
)


def sync_cookie() -> None:
    """Write (or clear) the sign-in cookie in the browser after a sign-in or sign-out."""
    token = st.session_state.pop("coach_set_cookie", None)
    if token is None:
        return
    max_age = int(get_services().config.policy.idle_logoff.total_seconds())
    _COOKIE_COMPONENT(data={"name": COOKIE, "token": token, "max_age": max_age}, key="coach-cookie")
