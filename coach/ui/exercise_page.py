"""Exercise page: live coaching through the browser's camera, rep by rep.

Two ways to run the pose model, one session and one counter behind both:

- on this device (the default): the browser runs MediaPipe's web Pose Landmarker and
  sends only landmarks (`coach.ui.pose_camera`); each batch reruns one fragment, which
  feeds the session and sends back what the overlay and the panel show;
- on the server (a setting, and the fallback when the browser or the server cannot do
  the former): the picture travels over WebRTC to the server and back with the overlay,
  and the panel beside it polls the holder twice a second; the camera thread never
  touches Streamlit.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import streamlit as st

from coach.accounts import Principal, Role
from coach.camera_view import CameraView
from coach.exercise import Exercise, Mode, Signal
from coach.live_session import Stage
from coach.pose_models import ModelUnavailableError
from coach.services.clinic import PlanItem
from coach.ui.audio import audio_player
from coach.ui.auth import get_services, keep_signed_in, user_or_guest
from coach.ui.common import SELECTED_KEY, camera_streamer, dose_text, exercise_picker, md_escape
from coach.ui.live import CoachVideoProcessor, LiveConfig, LiveHolder, LiveSnapshot, weak_step_in
from coach.ui.pose_camera import DEVICE_FAILED_KEY, pose_camera
from coach.ui.state import Settings, estimator_factory, get_settings
from coach.ui.summary import render_summary
from coach.web_assets import WebAssetsMissing, web_pose_assets
from coach.wording import cue_sentence, cue_text, message_sentence, prompt_sentence

log = logging.getLogger(__name__)

HOLDER_KEY = "coach_live_holder"
ENDED_SEEN_KEY = "coach_live_ended_seen"
NO_DEVICE_KEY = "coach_live_no_device"
RESUMED_KEY = "coach_live_resumed"
DONE_SEEN_KEY = "coach_live_done_seen"
POLL_S = 0.5


def _config(ex: Exercise, settings: Settings, mode: str) -> LiveConfig:
    return LiveConfig(
        ex.id, settings.model, settings.side, settings.calibrate, mode, settings.countdown_s
    )


def _holder(ex: Exercise, settings: Settings, user: Principal | None, mode: str) -> LiveHolder:
    """The session in progress, or a new one when nothing worth keeping would be lost.

    A signed-in patient's session is made by the session service: the prescribed dose,
    recorded rep by rep, and a session still in progress (a reload) is rejoined."""
    config = _config(ex, settings, mode)
    holder = st.session_state.get(HOLDER_KEY)
    if isinstance(holder, LiveHolder):
        if holder.config == config:
            return holder
        if holder.rep_count > 0 and not holder.snapshot().ended:
            return holder  # never throw away reps: new choices apply to the next session
        if holder.link is not None:
            holder.link.close()
    factory = estimator_factory(settings.model)
    if user is not None and user.role is Role.PATIENT and user.id:
        sessions = get_services().sessions
        resume = sessions.open_session(user, user.id, ex.id)
        session, recorder = sessions.start_live(
            user,
            user.id,
            ex.id,
            side=settings.side,
            calibrate=settings.calibrate,
            countdown_s=settings.countdown_s,
            resume=resume,
        )
        holder = LiveHolder(session.exercise, config, factory, session, recorder)
        holder.link = get_services().monitor.connect(
            session, user.id, weak_step_in(holder), resumed=resume is not None
        )
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
        if holder.link is not None:
            holder.link.close()


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
    if s.stage in (Stage.COUNTDOWN, Stage.SETUP) and snap.frames == 0:
        st.info("Connecting to your camera...")
    elif s.stage is Stage.COUNTDOWN:
        st.info(f"**{message}**")
        st.progress(s.progress)
    elif s.stage is Stage.SETUP:
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


def live_panel(
    holder: LiveHolder,
    settings: Settings,
    playing: bool,
    *,
    on_device: bool = False,
    snap: LiveSnapshot | None = None,
) -> None:
    """The live read-out beside the video (server mode: rerun on its own every `POLL_S`
    while streaming; on-device: with each landmark batch)."""
    snap = snap or holder.snapshot()
    ex = holder.exercise
    if snap.streaming:
        keep_signed_in()  # exercising in front of the camera is not being idle
    if snap.error:
        st.error(snap.error)
    if not playing and snap.frames == 0:
        where = "the picture" if on_device else "the video"
        button = "Start" if on_device else "START"
        st.info(f"Press **{button}** under {where} and allow the browser to use your camera.")
        _how_to(ex)
        return
    if snap.ended:
        st.success("Session ended. Your summary is below.")
        st.metric("Reps", str(snap.status.reps))
        audio_player(holder.id, snap.events, muted=True)
        return
    if snap.status.message is not None:
        st.warning(f"**{md_escape(message_sentence(snap.status.message))}**", icon="💬")
    _stage_box(snap)
    if snap.status.stage not in (Stage.COUNTDOWN, Stage.SETUP, Stage.CALIBRATING):
        _metrics(snap, ex)  # nothing to count yet: keep the set-up instruction alone
    cue = snap.status.cue
    if cue:
        st.warning(f"**Coach:** {cue_text(cue)}")
    elif snap.status.not_counting and snap.status.stage is Stage.COUNTING:
        st.warning(f"**Not counting yet:** {cue_sentence(snap.status.not_counting)}")
    elif snap.status.stage in (Stage.COUNTING, Stage.RESTING):
        st.caption("Coach: no corrections right now - keep going.")
    if snap.status.stage in (Stage.COUNTDOWN, Stage.CALIBRATING):
        st.button(
            "Start counting now" if snap.status.stage is Stage.COUNTDOWN else "Skip calibration",
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
        if on_device:
            st.caption(
                f"Video {quality}. This device analyses {snap.fps:.0f} frames/s "
                f"({snap.frames} so far, {snap.dropped} skipped to keep up) with the "
                f"{holder.config.model} model."
            )
        else:
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


def _set_large() -> None:
    get_settings().large_print = bool(st.session_state["coach_large_toggle"])


@st.cache_resource(show_spinner=False)
def _web_assets(model: str, base_path: str) -> dict[str, str]:
    """The on-device files' URLs, published once per server (a failure is not cached)."""
    a = web_pose_assets(model, base_path)
    return {"bundle_url": a.bundle_url, "wasm_url": a.wasm_url, "model_url": a.model_url}


def pose_mode(settings: Settings) -> tuple[str, dict[str, str] | None]:
    """Where the pose runs for this page: the setting (or `?pose=` in the address), unless
    this server cannot offer on-device pose; then the server path, with the assets URLs
    only for "browser"."""
    asked = st.query_params.get("pose", settings.pose_mode)
    if asked != "browser" or st.session_state.get(DEVICE_FAILED_KEY):
        return "server", None
    try:
        return "browser", _web_assets(settings.model, str(st.get_option("server.baseUrlPath")))
    except (WebAssetsMissing, ModelUnavailableError, OSError, ValueError) as exc:
        log.warning("on-device pose is not available, using the server: %s", exc)
        st.session_state[NO_DEVICE_KEY] = True
        return "server", None


def _large_count(snap: LiveSnapshot, ex: Exercise) -> None:
    """Large print: the count and the one instruction, readable from a chair 2-3 m away."""
    s = snap.status
    what = "holds" if ex.mode is Mode.HOLD else "reps"
    plan = s.plan
    of = plan.sets * plan.reps_per_set
    if s.cue:
        line = cue_text(s.cue)
    elif s.stage is Stage.COUNTING and s.not_counting:
        line = cue_sentence(s.not_counting)
    else:
        line = prompt_sentence(s.prompt, s.prompt_params)
    st.markdown(
        f'<div class="coach-large" role="status" aria-live="polite">'
        f'<div style="font-size:clamp(4rem,18vw,9rem);font-weight:800;line-height:1">'
        f"{s.reps}<span style='font-size:0.35em;font-weight:600'> / {of} {what}</span></div>"
        f'<div style="font-size:clamp(1.4rem,5vw,2.6rem);font-weight:600">{html.escape(line)}'
        "</div></div>",
        unsafe_allow_html=True,
    )


def on_device_live(holder: LiveHolder, settings: Settings, assets: dict[str, str]) -> None:
    """The on-device camera and its panel; each landmark batch reruns only this fragment."""
    snap = holder.snapshot()
    if settings.large_print:
        pose_camera(holder, settings, assets, snap)
        if snap.streaming and not snap.ended:
            _large_count(snap, holder.exercise)
        live_panel(holder, settings, snap.streaming, on_device=True, snap=snap)
    else:
        video_col, panel_col = st.columns([3, 2], gap="medium")
        with video_col:
            pose_camera(holder, settings, assets, snap)
        with panel_col:
            live_panel(holder, settings, snap.streaming, on_device=True, snap=snap)
    if snap.ended and st.session_state.get(ENDED_SEEN_KEY) != holder.id:
        st.session_state[ENDED_SEEN_KEY] = holder.id
        st.rerun(scope="app")  # Stop pressed: show the summary below
    if st.session_state.get(DEVICE_FAILED_KEY):
        st.rerun(scope="app")  # this browser cannot run the model: the server path


def _server_live(holder: LiveHolder, settings: Settings, snap: LiveSnapshot) -> bool:
    """The WebRTC camera with its polled panel; returns whether the camera is playing."""
    video_col, panel_col = st.columns([3, 2], gap="medium")
    with video_col:
        ctx = _streamer(holder, settings, snap.ended)
        playing = bool(getattr(getattr(ctx, "state", None), "playing", False))
    with panel_col:
        panel = st.fragment(run_every=POLL_S if playing else None)(live_panel)
        panel(holder, settings, playing)
    return playing


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
    mode, assets = pose_mode(settings)
    holder = _holder(ex, settings, user, mode)
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
    t1, t2 = st.columns(2)
    t1.toggle(
        "Sound (beep and count on each rep, spoken cues)",
        value=settings.sound,
        key="coach_sound_toggle",
        on_change=_set_sound,
    )
    t2.toggle(
        "Large print (read the count from across the room)",
        value=settings.large_print,
        key="coach_large_toggle",
        on_change=_set_large,
    )
    running = holder.config.pose
    if running == "browser" and assets is not None:
        st.caption(
            "**Pose measured on this device.** Your video stays here; only the position "
            "of your leg is sent. (Settings: switch to the server if this is slow.)"
        )
        st.fragment(on_device_live)(holder, settings, assets)
        playing = snap.streaming
    else:
        if st.session_state.get(DEVICE_FAILED_KEY):
            st.caption(
                "**Pose measured on the server**: this browser could not run the pose "
                "model, so the video is sent to the server and back."
            )
        elif st.session_state.get(NO_DEVICE_KEY) and settings.pose_mode == "browser":
            st.caption(
                "**Pose measured on the server**: this server cannot offer on-device pose "
                "yet, so the video is sent to it and back."
            )
        else:
            st.caption("**Pose measured on the server**: the video is sent to it and back.")
        playing = _server_live(holder, settings, snap)
    if holder.config != _config(ex, settings, mode):
        st.caption("Changed settings apply to your next session.")
    if playing or snap.frames:
        with st.expander("How to set up the camera and do this exercise"):
            _how_to(ex)

    reps = holder.rep_count
    snap = holder.snapshot()
    playing = playing or (running == "browser" and snap.streaming)
    show_summary = snap.ended or (reps > 0 and (not playing or snap.status.stage is Stage.DONE))
    c1, c2 = st.columns(2)
    # On-device, the camera's own Stop ends the set; this button is for a session left
    # open (the browser was closed mid-set and the patient came back).
    end_button = reps > 0 and not playing if running == "browser" else playing or reps > 0
    if not snap.ended and end_button:
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
