"""Live now (therapists only): every one of their patients exercising, as it happens.

The board reruns on its own every second (`st.fragment(run_every=...)`) and reads the
therapist's live sessions from the monitor service, which checks access and reads the
live bus (whichever app server runs the patient's session). Each card shows what the
patient's screen shows, the measured leg as a stick figure (landmarks, no video), and
whether the connection is live, in a gap or ended. "Step in" opens, below the board, a
message box and the running exercise's dose for that patient.
"""

from __future__ import annotations

import base64
from typing import Any

import streamlit as st

from coach.accounts import Principal, Role
from coach.prescription import MAX_REPS, MAX_SETS, DoseError
from coach.services import Services
from coach.services.access import AccessDenied
from coach.services.monitor import LivePatient
from coach.storage.database import StorageError
from coach.telehealth.state import Connection, LiveState
from coach.telehealth.steps import MAX_MESSAGE
from coach.ui.auth import current_user, get_services, keep_signed_in
from coach.ui.common import md_escape
from coach.wording import cue_sentence, prompt_sentence

REFRESH_S = 1.0
STEP_KEY = "coach_step_session"
SENT_KEY = "coach_step_sent"
STAGE_WORDS = {
    "countdown": "getting into place",
    "setup": "camera set-up",
    "calibrating": "calibrating",
    "counting": "exercising",
    "resting": "resting between sets",
    "done": "all sets done",
}
CAMERA_WORDS = {"side_on": "side-on view", "oblique": "oblique view", "facing": "facing view"}
SEGMENTS = ((0, 1), (1, 2), (2, 3), (3, 4), (2, 4))
"""hip-knee, knee-ankle, ankle-heel, heel-toe, ankle-toe (`coach.records.LEG_POINTS`)."""


def leg_svg(points: tuple[tuple[float, float], ...] | None, ok: bool, size: int = 150) -> str:
    """The measured leg as a small SVG stick figure, scaled to fill the box (or a grey
    box saying the leg is not seen)."""
    frame = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" role="img" aria-label="the measured leg">'
        f'<rect width="{size}" height="{size}" rx="8" fill="#1e1e1e"/>'
    )
    if not points or len(points) < 5:
        return (
            frame + f'<text x="{size / 2}" y="{size / 2}" fill="#bbb" font-size="13" '
            'text-anchor="middle">leg not seen</text></svg>'
        )
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1e-3)
    pad = size * 0.12
    scale = (size - 2 * pad) / span
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2

    def at(p: tuple[float, float]) -> tuple[float, float]:
        return size / 2 + (p[0] - cx) * scale, size / 2 + (p[1] - cy) * scale

    xy = [at(p) for p in points]
    color = "#50c850" if ok else "#ffbe00"
    lines = "".join(
        f'<line x1="{xy[a][0]:.1f}" y1="{xy[a][1]:.1f}" x2="{xy[b][0]:.1f}" '
        f'y2="{xy[b][1]:.1f}" stroke="{color}" stroke-width="5" stroke-linecap="round"/>'
        for a, b in SEGMENTS
    )
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#fff"/>' for x, y in xy[1:])
    return frame + lines + dots + "</svg>"


def connection_text(row: LivePatient) -> str:
    """Coloured words (Streamlit Markdown), readable without emoji fonts."""
    if row.connection is Connection.ENDED:
        return ":gray[finished]"
    if row.connection is Connection.GAP:
        return f":orange[**no data for {row.age_s:.0f} s** (connection lost?)]"
    return ":green[● live]"


def value_text(s: LiveState) -> str:
    if s.unit == "deg":
        return "-" if s.angle_deg is None else f"{s.angle_deg:+.0f}°"
    return "-" if s.value is None else f"{s.value:.0f}%"


def leg_image(points: tuple[tuple[float, float], ...] | None, ok: bool) -> str:
    """`leg_svg` as an <img> (a data URI), which Markdown shows as it is."""
    data = base64.b64encode(leg_svg(points, ok).encode()).decode()
    return f'<img src="data:image/svg+xml;base64,{data}" width="150" alt="the measured leg">'


def _card(row: LivePatient) -> None:
    s = row.state
    with st.container(border=True):
        fig, info = st.columns([1, 3])
        fig.markdown(leg_image(s.points, s.view_ok), unsafe_allow_html=True)
        info.markdown(
            f"**{md_escape(row.patient.name)}** · {md_escape(s.exercise_name)} · "
            f"{connection_text(row)}"
        )
        c1, c2, c3, c4 = info.columns(4)
        c1.metric("Reps", f"{s.reps} / {s.target_reps}")
        c2.metric("Set", f"{s.set_no} of {s.sets}")
        c3.metric("Ankle" if s.unit == "deg" else "Lift, % of shin", value_text(s))
        if s.hold_target_s > 0:
            c4.metric("Hold", f"{s.hold_s:.0f} / {s.hold_target_s:.0f} s")
        stage = STAGE_WORDS.get(s.stage, s.stage)
        setup = "camera sees the leg" if s.view_ok else "camera cannot see the leg well"
        view = CAMERA_WORDS.get(s.camera or "", "view not known yet")
        leg = f"{s.side} leg" if s.side else "leg not chosen yet"
        info.caption(
            f"Now: {stage} - {prompt_sentence(s.prompt, s.prompt_params)} ({setup}; {view}, {leg})"
        )
        if s.cue:
            info.warning(f"Coach says: {cue_sentence(s.cue)}")
        elif s.not_counting:
            info.warning(f"Not counting: {cue_sentence(s.not_counting)}")
        if row.connection is not Connection.ENDED and info.button(
            "Step in", key=f"coach_step_{s.session_id}"
        ):
            st.session_state[STEP_KEY] = s.session_id
            st.rerun(scope="app")


def _board(services: Services, user: Principal) -> list[LivePatient]:
    rows = services.monitor.live(user)
    if not rows:
        st.info(
            "None of your patients is exercising right now. A patient who starts a session "
            "appears here within a second or two."
        )
    for row in rows:
        _card(row)
    return rows


def _step_in(services: Services, user: Principal, row: LivePatient) -> None:
    s = row.state
    st.subheader(f"Step in: {md_escape(row.patient.name)}, {md_escape(s.exercise_name)}")
    sent = st.session_state.pop(SENT_KEY, None)
    if sent:
        st.success(sent)
    with st.form("coach_step_message", clear_on_submit=True):
        text = st.text_input(
            "Message (shown on the patient's screen and read out)",
            max_chars=MAX_MESSAGE,
            placeholder="Lift your toes a little higher",
        )
        if st.form_submit_button("Send message"):
            _send(services, user, s.session_id, "Message sent.", message=text)
    with st.form("coach_step_dose"):
        st.markdown("**Dose for the rest of this session**")
        c1, c2, c3 = st.columns(3)
        sets = c1.number_input("Sets", 1, MAX_SETS, s.sets)
        reps = c2.number_input("Reps per set", 1, MAX_REPS, s.reps_per_set)
        hold: Any = None
        if s.hold_target_s > 0:
            hold = c3.number_input("Hold (s)", 0.0, 120.0, float(s.hold_target_s), step=1.0)
        if st.form_submit_button("Change the dose"):
            _send(
                services,
                user,
                s.session_id,
                "Dose changed: the patient sees and hears the new plan.",
                sets=int(sets),
                reps=int(reps),
                hold_s=None if hold is None else float(hold),
            )
    if st.button("Close"):
        st.session_state.pop(STEP_KEY, None)
        st.rerun()


def _send(services: Services, user: Principal, session_id: str, done: str, **what: Any) -> None:
    try:
        services.monitor.step_in(user, session_id, **what)
    except DoseError as exc:
        st.error(f"Please check the {exc.field.replace('_', ' ')}: it {exc.problem}.")
        return
    except (AccessDenied, StorageError) as exc:
        st.error(str(exc))
        return
    st.session_state[SENT_KEY] = done
    st.rerun()


def render() -> None:
    st.title("Live now")
    user = current_user()
    if user is None or user.role is not Role.THERAPIST:
        st.info("Sign in as a therapist to watch your patients' live sessions.")
        return
    services = get_services()
    st.caption(
        "Your patients' live sessions, updated every second from the measurements their "
        "devices send (no video). Step in to send a message or change the dose."
    )

    @st.fragment(run_every=REFRESH_S)
    def board() -> None:
        keep_signed_in()  # watching is not being idle
        _board(services, user)

    board()
    chosen = st.session_state.get(STEP_KEY)
    if chosen:
        found = [r for r in services.monitor.live(user) if r.state.session_id == chosen]
        if found:
            _step_in(services, user, found[0])
        else:
            st.session_state.pop(STEP_KEY, None)
            st.info("That session has ended.")
