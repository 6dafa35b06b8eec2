"""Exercise page: live coaching through the browser's camera (WebRTC), rep by rep.

The camera picture travels from the patient's browser to the server and back with the
overlay, so the same page works when the app runs elsewhere (telehealth). The panel
beside the video polls the session holder twice a second (`st.fragment`); the camera
thread never touches Streamlit.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from coach.accounts import Principal, Role
from coach.camera_view import CameraView
from coach.exercise import Exercise, Mode, Signal
from coach.live_session import Stage
from coach.services.clinic import PlanItem
from coach.ui.audio import audio_player
from coach.ui.auth import get_services, keep_signed_in, user_or_guest
from coach.ui.common import SELECTED_KEY, camera_streamer, dose_text, exercise_picker, md_escape
from coach.ui.live import CoachVideoProcessor, LiveConfig, LiveHolder, LiveSnapshot
from coach.ui.state import Settings, estimator_factory, get_settings
from coach.ui.summary import render_summary
from coach.wording import cue_sentence, cue_text, prompt_sentence

HOLDER_KEY = "coach_live_holder"
RESUMED_KEY = "coach_live_resumed"
DONE_SEEN_KEY = "coach_live_done_seen"
POLL_S = 0.5


def _holder(ex: Exercise, settings: Settings, user: Principal | None) -> LiveHolder:
    """The session in progress, or a new one when nothing worth keeping would be lost.

    A signed-in patient's session is made by the session service: the prescribed dose,
    recorded rep by rep, and a session still in progress (a reload) is rejoined."""
    config = LiveConfig(ex.id, settings.model, settings.side, settings.calibrate)
    holder = st.session_state.get(HOLDER_KEY)
    if isinstance(holder, LiveHolder):
        if holder.config == config:
            return holder
        if holder.rep_count > 0 and not holder.snapshot().ended:
            return holder  # never throw away reps: new choices apply to the next session
    factory = estimator_factory(settings.model)
    if user is not None and user.role is Role.PATIENT and user.id:
        sessions = get_services().sessions
        resume = sessions.open_session(user, user.id, ex.id)
        session, recorder = sessions.start_live(
            user, user.id, ex.id, side=settings.side, calibrate=settings.calibrate, resume=resume
        )
        holder = LiveHolder(session.exercise, config, factory, session, recorder)
        if resume is not None:
            st.session_state[RESUMED_KEY] = len(resume.reps)
    else:
        holder = LiveHolder(ex, config, factory)
    st.session_state[HOLDER_KEY] = holder
    return holder


def _plan_box(user: Principal | None) -> list[PlanItem]:
    """A signed-in patient's plan for this week (guests choose from the whole library)."""
    if user is None or user.role is not Role.PATIENT or not user.id:
        return []
    items = get_services().clinic.todays_plan(user, user.id)
    if not items:
        st.info("Your therapist has not set a plan yet: you can practise any exercise.")
        return []
    lines = []
    for item in items:
        done = "✓ done today" if item.done_today else "not yet today"
        lines.append(
            f"- **{md_escape(item.exercise.name)}**: {dose_text(item.exercise)} "
            f"({item.done_this_week} of {item.prescription.per_week} this week, {done})"
            + (f"  \n  _{md_escape(item.prescription.notes)}_" if item.prescription.notes else "")
        )
    st.markdown("**Your plan this week**\n" + "\n".join(lines))
    return items


def new_session() -> None:
    """Close the session shown (a recorded one is marked complete) and start afresh."""
    holder = st.session_state.pop(HOLDER_KEY, None)
    if isinstance(holder, LiveHolder):
        _end_session(holder)
        if holder.recorder is not None:
            holder.recorder.close(5.0)


def _end_session(holder: LiveHolder) -> None:
    holder.with_session(lambda s: s.end())
    if holder.recorder is not None:
        holder.recorder.flush(5.0)


def _skip_calibration(holder: LiveHolder) -> None:
    holder.with_session(lambda s: s.skip_calibration(s.status.t_s))


def _streamer(holder: LiveHolder, settings: Settings, ended: bool) -> Any:
    return camera_streamer(
        f"coach-live-{holder.id}",
        settings,
        lambda: CoachVideoProcessor(holder),
        desired_playing_state=False if ended else None,
    )


def _stage_box(snap: LiveSnapshot) -> None:
    s = snap.status
    message = prompt_sentence(s.prompt, s.prompt_params)
    if s.stage is Stage.SETUP:
        if snap.frames == 0:
            st.info("Connecting to your camera...")
            return
        box = st.success if s.progress > 0 else st.warning
        box(f"**Camera set-up.** {message}")
        st.progress(s.progress)
    elif s.stage is Stage.CALIBRATING:
        st.info(f"**Calibrating.** {message}")
        st.progress(s.progress)
    elif s.stage is Stage.RESTING:
        st.info(f"**Rest.** {message}")
    elif s.stage is Stage.DONE:
        st.success(message)
    else:
        st.info(message)


def _metrics(snap: LiveSnapshot, ex: Exercise) -> None:
    """Reps and the live angle always; hold timer and rest countdown only when the plan has them."""
    s = snap.status
    plan = s.plan
    what = "holds" if ex.mode is Mode.HOLD else "reps"
    items: list[tuple[str, str, str]] = [
        ("Reps", str(s.reps), f"Completed {what} in this session."),
    ]
    if ex.signal in (Signal.ANKLE, Signal.TOE_LIFT):
        angle = "-" if s.angle_deg is None else f"{s.angle_deg:+.0f}°"
        items.append(("Ankle angle", angle, angle_help(s.camera)))
    else:
        lift = "-" if s.excursion is None else f"{s.excursion:.0f}%"
        items.append(("Lift", lift, "How far the foot is lifted, in % of your shin length."))
    if s.hold_target_s > 0:
        left = max(0.0, s.hold_target_s - s.hold_s)
        if s.hold_s <= 0:
            hold = f"{s.hold_target_s:.0f} s"
        else:
            hold = "done!" if left == 0 else f"{left:.0f} s left"
        items.append(("Hold", hold, f"Hold each one for {s.hold_target_s:.0f} seconds."))
    if plan.sets > 1:
        items.append(
            (
                "Set",
                f"{plan.set_no} of {plan.sets}",
                f"{plan.reps_in_set} of {plan.reps_per_set} {what} done in this set.",
            )
        )
        rest = f"{plan.rest_left_s:.0f} s" if plan.resting else "-"
        items.append(("Rest", rest, f"{ex.dose.rest_s:.0f} s rest between sets."))
    for i in range(0, len(items), 2):
        cols = st.columns(2)
        for col, (label, value, help_text) in zip(cols, items[i : i + 2], strict=False):
            col.metric(label, value, help=help_text)


def angle_help(camera: CameraView | None) -> str:
    """What the angle read-out means from this camera view (named, as the therapist sees it)."""
    if camera is CameraView.SIDE_ON:
        return "Side-on view. From your neutral: + toes up, - toes pointed."
    return (
        "The angle needs a side-on camera: from this view it is not shown, but your reps "
        "and holds still count."
    )


def _how_to(ex: Exercise) -> None:
    st.markdown(f"**Camera.** {ex.camera}")
    st.markdown("\n".join(f"{i}. {step}" for i, step in enumerate(ex.instructions, 1)))
    st.caption(
        "The coach first checks that it can see your whole leg and foot (side-on is best; "
        "up to 45 degrees in front or behind still counts), then asks "
        "you to keep your foot still for a second to learn your neutral position. Then it "
        "counts your reps out loud with a beep."
    )


def live_panel(holder: LiveHolder, settings: Settings, playing: bool) -> None:
    """The live read-out beside the video (rerun on its own every `POLL_S` while streaming)."""
    snap = holder.snapshot()
    ex = holder.exercise
    if snap.streaming:
        keep_signed_in()  # exercising in front of the camera is not being idle
    if snap.error:
        st.error(snap.error)
    if not playing and snap.frames == 0:
        st.info("Press **START** under the video and allow the browser to use your camera.")
        _how_to(ex)
        return
    if snap.ended:
        st.success("Session ended. Your summary is below.")
        st.metric("Reps", str(snap.status.reps))
        audio_player(holder.id, snap.events, muted=True)
        return
    _stage_box(snap)
    if snap.status.stage not in (Stage.SETUP, Stage.CALIBRATING):
        _metrics(snap, ex)  # nothing to count yet: keep the set-up instruction alone
    cue = snap.status.cue
    if cue:
        st.warning(f"**Coach:** {cue_text(cue)}")
    elif snap.status.not_counting and snap.status.stage is Stage.COUNTING:
        st.warning(f"**Not counting yet:** {cue_sentence(snap.status.not_counting)}")
    elif snap.status.stage in (Stage.COUNTING, Stage.RESTING):
        st.caption("Coach: no corrections right now - keep going.")
    if snap.status.stage is Stage.CALIBRATING:
        st.button(
            "Skip calibration",
            on_click=_skip_calibration,
            args=(holder,),
            help="Start counting now; your neutral is then taken from your first still second.",
        )
    if snap.streaming and snap.frames:
        # Counting was measured right down to 5 analysed frames a second (docs/benchmark.md).
        quality = (
            "smooth"
            if snap.fps >= 15
            else "slow, but counting still works"
            if snap.fps >= 5
            else "too slow to count reliably: close other programs on this computer"
        )
        st.caption(
            f"Video {quality}. Analysing {snap.fps:.0f} frames/s ({snap.frames} so far, "
            f"{snap.dropped} skipped to keep up; {snap.frame_ms:.0f} ms per frame, model "
            f"{snap.model_ms:.0f} ms) with the {holder.config.model} model."
        )
    audio_player(holder.id, snap.events, muted=not settings.sound, speech=settings.speech)
    done = snap.status.stage is Stage.DONE
    if done and st.session_state.get(DONE_SEEN_KEY) != holder.id:
        st.session_state[DONE_SEEN_KEY] = holder.id
        st.rerun(scope="app")  # show the summary below without waiting for STOP


def _set_sound() -> None:
    get_settings().sound = bool(st.session_state["coach_sound_toggle"])


def render() -> None:
    settings = get_settings()
    holder_now = st.session_state.get(HOLDER_KEY)
    locked = (
        isinstance(holder_now, LiveHolder)
        and holder_now.rep_count > 0
        and not holder_now.snapshot().ended
    )
    st.title("Exercise")
    if locked:
        assert isinstance(holder_now, LiveHolder)
        st.session_state[SELECTED_KEY] = holder_now.exercise.id  # the session's exercise
    user = user_or_guest()
    plan = _plan_box(user)
    ex = exercise_picker(
        "Today's exercise",
        key="coach_live_exercise",
        disabled=locked,
        help="End this session to change exercise." if locked else None,
        only=[item.exercise.id for item in plan] or None,
    )
    holder = _holder(ex, settings, user)
    if holder.storage_error() is not None:
        st.error(
            "This session is not being saved right now (the records cannot be reached). "
            "Your reps still count here; download the summary at the end to keep it."
        )
    resumed = st.session_state.pop(RESUMED_KEY, None)
    if resumed:
        st.info(f"Welcome back: your session continues with the {resumed} reps you had done.")
    ex = holder.exercise
    snap = holder.snapshot()
    st.caption(f"{ex.purpose}  \n**Today's plan:** {dose_text(ex)}")
    video_col, panel_col = st.columns([3, 2], gap="medium")
    with video_col:
        ctx = _streamer(holder, settings, snap.ended)
        playing = bool(getattr(getattr(ctx, "state", None), "playing", False))
        if holder.config != LiveConfig(ex.id, settings.model, settings.side, settings.calibrate):
            st.caption("Changed settings apply to your next session.")
    with panel_col:
        st.toggle(
            "Sound (beep on each rep, spoken cues)",
            value=settings.sound,
            key="coach_sound_toggle",
            on_change=_set_sound,
        )
        panel = st.fragment(run_every=POLL_S if playing else None)(live_panel)
        panel(holder, settings, playing)
    if playing or snap.frames:
        with st.expander("How to set up the camera and do this exercise"):
            _how_to(ex)

    reps = holder.rep_count
    snap = holder.snapshot()
    show_summary = snap.ended or (reps > 0 and (not playing or snap.status.stage is Stage.DONE))
    c1, c2 = st.columns(2)
    if not snap.ended and (playing or reps > 0):
        c1.button(
            "End session",
            on_click=_end_session,
            args=(holder,),
            type="primary",
            help="Stop the camera and see your summary.",
        )
    if snap.ended or (reps > 0 and not playing):
        c2.button(
            "Start a new session",
            on_click=new_session,
            help="Clears this session: download it first if you want to keep it.",
        )
    if show_summary:
        st.divider()
        render_summary(holder)
