"""Gait training: practise walking in front of the camera, or analyse a recorded walk.

Live practice follows the Exercise page's pattern: the WebRTC video processor only turns
frames into results (pose model + `GaitTracker`) and hands them to a lock-protected
`GaitHolder` kept in `st.session_state`; a fragment polls the holder. The camera thread
never calls `st.*`.

A recorded walk goes through `analyze_gait_video` once per (file, model) and is kept in
the session (in memory only, dropped when the upload is removed), so a download click
does not analyse the video again. Both modes show the
same per-step table and charts, built from `Step.to_dict()` rows.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import altair as alt
import cv2
import numpy as np
import pandas as pd
import streamlit as st

from coach.accounts import Role
from coach.gait.analyze import analyze_gait_video
from coach.gait.flags import DEFAULT_FLAGS, step_signs
from coach.gait.live import GaitFrame, GaitTracker
from coach.gait.metrics import Step
from coach.landmarks import LEG_SEGMENTS, LEGS, Pose, Side
from coach.progress import Stage
from coach.speech import AudioEvent, AudioQueue
from coach.ui.audio import audio_player
from coach.ui.auth import get_services, user_or_guest
from coach.ui.common import camera_streamer, md_escape
from coach.ui.live import AMBER, WHITE, PoseStreamProcessor, StreamHolder, draw_banner, draw_corner
from coach.ui.state import Settings, estimator_factory, get_settings
from coach.ui.upload import (
    GAIT_PREFIX,
    STAGE_TEXT,
    VIDEO_TYPES,
    analysing_upload,
    forget_result,
    kept_result,
    upload_data,
)

if TYPE_CHECKING:
    from streamlit.delta_generator import DeltaGenerator

    from coach.pose import PoseEstimator

log = logging.getLogger(__name__)

RESULT_KEY = "coach_gait_result"
HOLDER_KEY = "coach_gait_holder"
TABS_KEY = "coach_gait_mode"
LIVE_TAB, RECORDED_TAB = "Live practice", "Recorded walk"
POLL_S = 0.5
CUE_SHOW_S = 4.0
"""How long a cue stays on the video and the panel after it was given."""
MAX_S = 120.0
"""Only this much of an upload is analysed: a longer walk adds little and ties up the server."""

GAIT_STAGE_TEXT = {
    **STAGE_TEXT,
    Stage.POSE: "Finding the walker",
    Stage.COUNTING: "Measuring the steps",
}
"""The progress bar's words for a walk (`coach.ui.upload.STAGE_TEXT` otherwise)."""
LEFT_HEX, RIGHT_HEX = "#288ceb", "#ff9600"  # coach.gait.annotate's side colours, as RGB
KIND_TEXT = {"heel": "heel first", "flat": "flat foot", "toe": "toes first"}
FOOT_DROP_FLAGS = ("low_toe_clearance", "foot_slap_or_toe_first", "steppage")
FLAG_TITLES = {
    "low_toe_clearance": "Low toe clearance",
    "foot_slap_or_toe_first": "Foot slap or toe-first landing",
    "steppage": "Possible steppage gait",
    "asymmetry": "Left and right differ",
}
FIGURE_TEXT = {
    "toe_clearance_median_legs": "Toe clearance, median (leg lengths)",
    "toe_clearance_min_legs": "Toe clearance, lowest (leg lengths)",
    "steps": "Steps",
    "steps_low": "Steps with low clearance",
    "steps_at_floor": "Steps with the toes at the floor",
    "flat_contacts": "Flat-foot landings",
    "toe_contacts": "Toes-first landings",
    "foot_pitch_at_contact_median_deg": "Foot tilt at landing, median (°)",
    "ankle_at_contact_median_deg": "Ankle at landing, median (°)",
    "hip_flexion_peak_median_deg": "Peak hip bend in swing, median (°)",
    "knee_flexion_peak_median_deg": "Peak knee bend in swing, median (°)",
    "hip_excess_over_other_side_deg": "Hip bend above the other side (°)",
    "knee_excess_over_other_side_deg": "Knee bend above the other side (°)",
    "low_clearance_legs": "Low clearance below (leg lengths)",
    "share_not_heel_first": "Share of landings not heel first",
    "hip_deg": "Hip bend above (°)",
    "knee_deg": "Knee bend above (°)",
    "excess_deg": "Above the other side by (°)",
    "symmetry_index_pct": "Left-right difference above (%)",
    "clearance_gap_legs": "Clearance gap above (leg lengths)",
    "min_separation": "Difference at least (standard errors)",
    "step_s_left": "Step time, left (s)",
    "step_s_right": "Step time, right (s)",
    "step_s_si_pct": "Step time, left-right difference (%)",
    "swing_s_left": "Swing time, left (s)",
    "swing_s_right": "Swing time, right (s)",
    "swing_s_si_pct": "Swing time, left-right difference (%)",
    "toe_clearance_left_legs": "Toe clearance, left (leg lengths)",
    "toe_clearance_right_legs": "Toe clearance, right (leg lengths)",
}
"""The figures behind a flag in words (the report's keys otherwise read as code)."""
SIGN_TEXT = {
    "low_toe_clearance": "low toe clearance",
    "foot_slap_or_toe_first": "not heel first",
    "steppage": "high knee/hip lift",
}
SIDE_MEASURES: tuple[tuple[str, str, str, int], ...] = (
    ("step_s", "Step time", " s", 2),
    ("stance_s", "Stance time", " s", 2),
    ("swing_s", "Swing time", " s", 2),
    ("toe_clearance", "Toe clearance in mid-swing (leg lengths)", "", 3),
    ("ankle_ic_deg", "Ankle at contact (+ toes up)", "°", 0),
    ("peak_dorsiflexion_swing_deg", "Most toes-up in swing", "°", 0),
    ("knee_flexion_peak_swing_deg", "Peak knee bend in swing", "°", 0),
    ("hip_flexion_peak_swing_deg", "Peak hip bend in swing", "°", 0),
)
"""Per-side medians shown side by side: summary key, label, unit, decimals."""
TIME_MEASURES = ("step_s", "stance_s", "swing_s")
CLEARANCE_CAPTION = (
    "Lowest height of the toes above the floor in mid-swing, in leg lengths "
    "(0.04 is about 3.5 cm for a 90 cm leg). Below {low} counts as low. Paler bars: the foot "
    "further from the camera, partly hidden behind the other leg, so less sure."
)
ANKLE_CAPTION = (
    "Ankle angle at the moment the foot lands: + toes up, − toes pointing down, 0 = foot at "
    "a right angle to the shin. From a 2D video the number is approximate (5-10°): compare "
    "side with side and step with step rather than reading one value."
)


def gait_model(model: str) -> str:
    """The pose model used for gait: at least "full".

    The lite model's foot points are too rough for toe clearance: on the shared outdoor
    walk it read a cadence of 519 steps/min, toe clearance -0.27 leg lengths and four
    false flags, where "full" matches the hand labels.
    """
    return "full" if model == "lite" else model


# -- tables, charts and downloads shared by live practice and the recorded walk -------------


def _step(d: dict[str, Any]) -> Step | None:
    """A `Step` back from its `to_dict()` row, so the core's `step_signs` can judge it."""
    names = {f.name for f in dataclasses.fields(Step)}
    try:
        values = {k: v for k, v in d.items() if k in names}
        values["side"] = Side(d["side"])
        values["issues"] = tuple(d.get("issues") or ())
        return Step(**values)
    except (KeyError, TypeError, ValueError):
        return None


def _num(v: Any, nd: int) -> float | None:
    return round(float(v), nd) if isinstance(v, int | float) else None


def _measured(valid: bool, issues: Sequence[str]) -> str:
    """ "yes", or "no" with the reasons when the core gave any."""
    if valid:
        return "yes"
    reasons = "; ".join(i for i in issues if i.strip())
    return f"no: {reasons}" if reasons else "no"


def _flag_title(flag: dict[str, Any]) -> str:
    return FLAG_TITLES.get(str(flag.get("id")), "Something to look at")


def _figure(name: str) -> str:
    """A flag's figure or threshold name in words (the JSON's key if it has no label)."""
    return FIGURE_TEXT.get(name) or name.replace("_", " ").capitalize()


def steps_table(steps: Sequence[dict[str, Any]], first: int = 1) -> pd.DataFrame:
    """One row per step in words a therapist reads: landing, clearance, angles, signs.

    `first` is the number of the first row's step (the live panel shows only the last few).
    """
    rows = []
    for n, d in enumerate(steps, first):
        step = _step(d)
        signs = step_signs(step, DEFAULT_FLAGS) if step is not None else []
        issues = d.get("issues") or []
        rows.append(  # what a therapist looks at first comes first (the table scrolls)
            {
                "Step": n,
                "Time (s)": _num(d.get("t_s"), 1),
                "Side": d.get("side"),
                "Landing": KIND_TEXT.get(str(d.get("kind")), "not seen"),
                "Toe clearance (leg lengths)": _num(d.get("toe_clearance"), 3),
                "Ankle at contact (°)": _num(d.get("ankle_ic_deg"), 0),
                "Signs": ", ".join(SIGN_TEXT.get(s, s) for s in signs) or "-",
                "Measured": _measured(bool(d.get("valid")), issues),
                "Foot": "near camera" if d.get("near_camera") else "far (partly hidden)",
                "Step time (s)": _num(d.get("step_s"), 2),
                "Stance (s)": _num(d.get("stance_s"), 2),
                "Swing (s)": _num(d.get("swing_s"), 2),
                "Knee bend peak (°)": _num(d.get("knee_flexion_peak_swing_deg"), 0),
                "Hip bend peak (°)": _num(d.get("hip_flexion_peak_swing_deg"), 0),
            }
        )
    return pd.DataFrame(rows)


def steps_csv(steps: Sequence[dict[str, Any]]) -> str:
    """Every measure of every step (the JSON's field names), one row per step."""
    rows = [{**d, "issues": "; ".join(d.get("issues") or [])} for d in steps]
    return pd.DataFrame(rows).to_csv(index=False)


def _chart_frame(steps: Sequence[dict[str, Any]], field: str) -> pd.DataFrame:
    rows = [
        {
            "step": n,
            "side": d.get("side"),
            "value": float(d[field]),
            "foot": "near camera" if d.get("near_camera") else "far (partly hidden)",
            "landing": KIND_TEXT.get(str(d.get("kind")), "not seen"),
            "t_s": d.get("t_s"),
        }
        for n, d in enumerate(steps, 1)
        if d.get("valid") and isinstance(d.get(field), int | float)
    ]
    return pd.DataFrame(rows, columns=["step", "side", "value", "foot", "landing", "t_s"])


def step_chart(
    steps: Sequence[dict[str, Any]],
    field: str,
    title: str,
    *,
    rule: float,
    rule_label: str,
    fmt: str,
) -> alt.LayerChart:
    """One bar per measured step, coloured by side (as in the video), with a reference line."""
    df = _chart_frame(steps, field)
    bars = (
        alt.Chart(df)
        .mark_bar(size=14)
        .encode(
            x=alt.X("step:O", title="Step", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("value:Q", title=title),
            color=alt.Color(
                "side:N",
                scale=alt.Scale(domain=["left", "right"], range=[LEFT_HEX, RIGHT_HEX]),
                legend=alt.Legend(title=None, orient="bottom"),
            ),
            opacity=alt.condition("datum.foot == 'near camera'", alt.value(1.0), alt.value(0.45)),
            tooltip=[
                alt.Tooltip("step:O", title="step"),
                alt.Tooltip("side:N"),
                alt.Tooltip("value:Q", title=title, format=fmt),
                alt.Tooltip("landing:N"),
                alt.Tooltip("foot:N"),
                alt.Tooltip("t_s:Q", title="time (s)", format=".1f"),
            ],
        )
    )
    ref = pd.DataFrame({"y": [rule], "label": [rule_label]})
    line = (
        alt.Chart(ref)
        .mark_rule(color="#c0392b", strokeDash=[5, 4])
        .encode(y="y:Q", tooltip=alt.Tooltip("label:N", title=""))
    )
    text = (
        alt.Chart(ref)
        .mark_text(align="right", dy=-7, color="#c0392b", fontSize=11, x=alt.expr("width"))
        .encode(y="y:Q", text="label:N")
    )
    return alt.layer(bars, line, text).properties(height=240)  # type: ignore[return-value]


def show_steps(
    steps: Sequence[dict[str, Any]], *, prefix: str, stem: str, json_text: str
) -> DeltaGenerator:
    """Charts of toe clearance and ankle at contact, the per-step table, JSON/CSV downloads.

    Returns the empty third column of the download row, for a caller's own download.
    """
    low = DEFAULT_FLAGS.low_clearance_legs
    c1, c2 = st.columns(2, gap="medium")
    with c1:
        st.markdown("**Toe clearance, step by step**")
        st.altair_chart(
            step_chart(
                steps,
                "toe_clearance",
                "Leg lengths",
                rule=low,
                rule_label=f"low below {low:g}",
                fmt=".3f",
            ),
            width="stretch",
        )
        st.caption(CLEARANCE_CAPTION.format(low=f"{low:g}"))
    with c2:
        st.markdown("**Ankle angle at contact, step by step**")
        st.altair_chart(
            step_chart(
                steps,
                "ankle_ic_deg",
                "Degrees (+ toes up)",
                rule=0.0,
                rule_label="neutral",
                fmt="+.0f",
            ),
            width="stretch",
        )
        st.caption(ANKLE_CAPTION)
    st.markdown("**Each step**")
    st.dataframe(
        steps_table(steps),
        hide_index=True,
        width="stretch",
        column_config={
            "Signs": st.column_config.TextColumn(width="medium"),
            "Measured": st.column_config.TextColumn(width="medium"),
        },
    )
    st.caption(
        "Signs: what that one step showed. A flag above needs most of a side's steps to show "
        "it; single steps scatter."
    )
    d1, d2, d3 = st.columns(3)
    d1.download_button(
        "Download report (JSON)",
        json_text,
        file_name=f"{stem}-gait.json",
        mime="application/json",
        width="stretch",
        key=f"{prefix}_json",
    )
    d2.download_button(
        "Download steps (CSV)",
        steps_csv(steps),
        file_name=f"{stem}-gait-steps.csv",
        mime="text/csv",
        width="stretch",
        key=f"{prefix}_csv",
    )
    return d3


# -- recorded walk --------------------------------------------------------------------------


@dataclass
class GaitResult:
    """One analysed upload, all in memory (no file of it stays on the server), kept until
    the upload is removed or replaced."""

    key: tuple[str, str]
    name: str
    report: dict[str, Any]
    video: bytes | None
    """The annotated video (MP4), or None when it could not be written."""


def analyse_walk(name: str, data: bytes, model: str, key: tuple[str, str]) -> GaitResult:
    """Analyse the upload in a private temp folder, with a progress bar; the folder goes
    when the analysis ends, and the result keeps the annotated video in memory."""
    with analysing_upload(name, data, model, prefix=GAIT_PREFIX, words=GAIT_STAGE_TEXT) as job:
        report = analyze_gait_video(
            job.src,
            model=model,
            annotated=job.annotated,
            progress=job.progress,
            estimator=job.estimator,
            max_s=MAX_S,
        )
        return GaitResult(key, name, report, job.annotated_bytes())


def _show_flags(report: dict[str, Any]) -> None:
    """The flags in plain language, each with its figures and how sure the app is."""
    flags: list[dict[str, Any]] = report.get("flags") or []
    steps = report.get("steps") or []
    measured = sum(1 for s in steps if s.get("valid"))
    st.subheader("What the coach noticed")
    if measured and not any(f.get("id") in FOOT_DROP_FLAGS for f in flags):
        if report.get("summary", {}).get("gait") == "running":
            st.info("This looks like running, so the foot-drop signs were not checked.")
        else:
            st.success(
                f"**No foot-drop signs found** in the {measured} steps measured: the toes "
                "cleared the floor in swing, the feet landed heel first and the knee and hip "
                "were not lifted unusually high."
            )
    for f in flags:
        title = _flag_title(f)
        side = f" ({f['side']} side)" if f.get("side") else ""
        conf = float(f.get("confidence") or 0.0)
        label = f.get("confidence_label") or "low"
        body = (
            f"**{title}{side}.** {f.get('message', '')}\n\n"
            f"Confidence: **{label}** ({conf:.0%}) - {f.get('evidence', '')}."
        )
        if f.get("cue"):
            body += f"\n\nPractice cue: *{f['cue']}*"
        (st.warning if label in ("high", "medium") else st.info)(body)
    for note in report.get("notes") or []:
        st.info(note)
    if flags:
        with st.expander("The figures behind these flags"):
            rows = [
                {"Flag": _flag_title(f), "Side": f.get("side") or "both"}
                | {"What": _figure(k), "Value": "-" if v is None else str(v), "Kind": "measured"}
                for f in flags
                for k, v in (f.get("values") or {}).items()
            ] + [
                {"Flag": _flag_title(f), "Side": f.get("side") or "both"}
                | {"What": _figure(k), "Value": str(v), "Kind": "threshold"}
                for f in flags
                for k, v in (f.get("thresholds") or {}).items()
            ]
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        st.caption(
            "These are signs seen in a 2D video, to discuss with your therapist, not a "
            "diagnosis. The thresholds are starting points, not validated on patients."
        )


def _fmt(v: Any, nd: int, unit: str = "") -> str:
    return "-" if not isinstance(v, int | float) else f"{v:.{nd}f}{unit}"


def _show_summary(report: dict[str, Any]) -> None:
    """Headline numbers, then left and right side by side with their difference."""
    s = report.get("summary") or {}
    steps = report.get("steps") or []
    cols = st.columns(5)
    cols[0].metric(
        "Steps measured",
        f"{sum(1 for x in steps if x.get('valid'))} of {len(steps)}",
        help="Steps whose foot was seen well enough to measure.",
    )
    cadence = s.get("cadence_spm")
    cols[1].metric("Cadence (steps/min)", _fmt(cadence, 0), help="Steps per minute.")
    cols[2].metric("Step time", _fmt(s.get("step_s"), 2, " s"))
    duty = s.get("duty_factor")
    cols[3].metric(
        "Stance : swing",
        "-" if not isinstance(duty, int | float) else f"{duty:.0%} : {1 - duty:.0%}",
        help="Share of each stride a foot spends on the ground and in the air "
        "(typical walking: about 60 : 40).",
    )
    asym = s.get("asymmetry") or {}
    timing = [
        (float(asym[k]["si_pct"]), label)
        for k, label in (("step_s", "step"), ("stance_s", "stance"), ("swing_s", "swing"))
        if isinstance((asym.get(k) or {}).get("si_pct"), int | float)
    ]
    worst = max(timing, default=None)
    cols[4].metric(
        "Left-right difference" if worst is None else f"Left-right, {worst[1]} time",
        "-" if worst is None else f"{worst[0]:.0f}%",
        help="The largest left/right difference in step, stance or swing time: |L - R| "
        "divided by their mean. Above 10% counts as uneven.",
    )
    per_side = s.get("per_side") or {}
    if not per_side:
        return
    facing = {b.get("side_facing_camera") for b in report.get("bouts") or []}

    def head(side: str) -> str:
        if len(facing) == 1 and side not in facing:
            return f"{side.capitalize()} (far foot)"
        return side.capitalize()

    rows = []
    for key, label, unit, nd in SIDE_MEASURES:
        left = (per_side.get("left") or {}).get(key)
        right = (per_side.get("right") or {}).get(key)
        diff = "-"
        if isinstance(left, int | float) and isinstance(right, int | float):
            diff = f"{left - right:+.{nd}f}{unit}"
            si = (asym.get(key) or {}).get("si_pct")
            if key in TIME_MEASURES and isinstance(si, int | float):
                diff += f" ({si:.0f}%)"  # a symmetry index means something for times only
        rows.append(
            {
                "Measure (median of the steps)": label,
                head("left"): _fmt(left, nd, unit),
                head("right"): _fmt(right, nd, unit),
                "Left - right": diff,
            }
        )
    heel = [(per_side.get(side) or {}).get("contacts_by_kind") or {} for side in ("left", "right")]
    rows.append(
        {
            "Measure (median of the steps)": "Heel-first landings",
            head("left"): f"{heel[0].get('heel', 0)} of {sum(heel[0].values())}",
            head("right"): f"{heel[1].get('heel', 0)} of {sum(heel[1].values())}",
            "Left - right": "",
        }
    )
    st.markdown("**Left and right**")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _show_report(result: GaitResult) -> None:
    report = result.report
    warnings: list[str] = list(report.get("warnings") or [])
    steps: list[dict[str, Any]] = list(report.get("steps") or [])
    nobody = any(w.startswith("Nobody was detected") for w in warnings)
    if nobody:
        st.error(
            "No person was found in this video, so nothing could be measured. Film the walk "
            "side-on, camera at hip height, with the whole body from head to feet in view."
        )
        warnings = [w for w in warnings if not w.startswith("Nobody was detected")]
    elif not steps:
        st.error("No steps could be measured in this video.")
    if not steps:
        for w in warnings:
            st.warning(w)
    else:
        _show_flags(report)
        _show_summary(report)
    video_col, notes_col = st.columns([3, 2], gap="medium")
    with video_col:
        if result.video is not None:
            bouts = report.get("bouts") or []
            start = float(bouts[0].get("start_s") or 0.0) if bouts else 0.0
            st.video(result.video, format="video/mp4", start_time=start)
            st.caption(
                ("The video starts where the measured walk begins. " if start >= 1 else "")
                + "Blue: the left leg, orange: the right leg, grey: parts not measured. Each "
                "landing is circled and labelled (red: not heel first); the line under the "
                "feet is the floor found from the stance feet."
            )
        else:
            st.caption("The annotated video could not be written on this server.")
    with notes_col:
        if steps and warnings:
            st.markdown("**About this recording**")
            st.markdown("\n".join(f"- {w}" for w in warnings))
        excluded = report.get("excluded") or []
        if excluded:
            st.markdown("**Parts not analysed**")
            st.dataframe(
                pd.DataFrame(
                    {
                        "From (s)": [_num(e.get("start_s"), 1) for e in excluded],
                        "To (s)": [_num(e.get("end_s"), 1) for e in excluded],
                        "Why": [str(e.get("reason") or "not measured") for e in excluded],
                    }
                ),
                hide_index=True,
                width="stretch",
            )
    stem = Path(result.name).stem or "walk"
    spare = st.container()
    if steps:
        spare = show_steps(
            steps, prefix="coach_gait_rec", stem=stem, json_text=json.dumps(report, indent=2)
        )
    if result.video is not None:
        spare.download_button(
            "Download annotated video",
            result.video,
            file_name=f"{stem}-gait-annotated.mp4",
            mime="video/mp4",
            width="stretch",
            key="coach_gait_rec_video",
        )


def _recorded_tab(settings: Settings) -> None:
    model = gait_model(settings.model)
    st.write(
        "Upload a video of a walk filmed from the side: camera at hip height, square to the "
        "walking line, the whole body in view, a few steps across the picture (or side-on "
        "on a treadmill). Walk back the other way to see the other foot clearly."
    )
    upload = st.file_uploader("Video of the walk", type=VIDEO_TYPES, key="coach_gait_upload")
    if upload is None:
        forget_result(RESULT_KEY)  # removed from the uploader: keep nothing of it
        return
    uploaded = upload_data(upload)
    if uploaded is None:
        forget_result(RESULT_KEY)
        return
    data, digest = uploaded
    key = (digest, model)
    result = kept_result(
        RESULT_KEY, GaitResult, key, lambda: analyse_walk(upload.name, data, model, key)
    )
    if result is None:
        return
    report = result.report
    duration = report.get("duration_s") or 0.0
    speed = report.get("fps_processed")
    cut = f" · only the first {MAX_S:.0f} s analysed" if duration >= MAX_S - 0.5 else ""
    st.caption(
        f"{md_escape(result.name)} · {duration:.1f} s · model {model}"
        + (f" · analysed at {speed:.0f} frames/s" if speed else "")
        + cut
    )
    _show_report(result)
    _save_walk(result)


def _save_walk(result: GaitResult) -> None:
    """A signed-in patient may put the walk into their history (measures only, no video)."""
    user = user_or_guest()
    if user is None or user.role is not Role.PATIENT or not user.id:
        return
    saved_key = f"coach_gait_saved_{result.key[0]}"
    if st.session_state.get(saved_key):
        st.success("Saved to your history: your therapist can see it.")
    elif st.button("Save this walk to my history", type="primary"):
        get_services().sessions.save_walk(user, user.id, result.report, result.name)
        st.session_state[saved_key] = True
        st.rerun()


# -- live practice --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GaitSnapshot:
    """What the live panel shows, copied under the lock so the page never waits on a frame."""

    steps: int
    by_side: dict[Side, int]
    cadence_spm: float | None
    walking: bool
    gait: str
    message: str | None
    cue: str | None
    """The cue on screen now (given in the last `CUE_SHOW_S`), or None."""
    cues: tuple[tuple[float, str], ...]
    recent: tuple[dict[str, Any], ...]
    events: tuple[AudioEvent, ...]
    frames: int
    fps: float
    error: str | None
    streaming: bool


class GaitHolder(StreamHolder):
    """One live practice walk, shared by the camera thread (writer) and the page (reader)."""

    def __init__(self, model: str, factory: Callable[[], PoseEstimator]) -> None:
        super().__init__(factory)
        self.model = model
        self._tracker = GaitTracker()
        self._audio = AudioQueue()
        self._last: GaitFrame | None = None
        self._cue: tuple[float, str] | None = None
        self._cues: list[tuple[float, str]] = []

    # -- camera thread --------------------------------------------------------------------

    def update(
        self, people: Sequence[Pose], t_s: float, now_s: float
    ) -> tuple[GaitFrame, str | None]:
        """Feed everyone seen in one frame (the tracker picks the walker); returns the
        tracker's frame and the cue to show now."""
        with self._lock:
            frame = self._tracker.update(list(people) or None, t_s)
            self._last = frame
            self._count_frame(now_s)
            if frame.cue:
                self._cue = (t_s, frame.cue)
                self._cues.append((t_s, frame.cue))
                self._audio.say(t_s, frame.cue)
            return frame, self._current_cue(t_s)

    def _current_cue(self, t_s: float) -> str | None:
        if self._cue is None or t_s - self._cue[0] > CUE_SHOW_S:
            return None
        return self._cue[1]

    # -- page -----------------------------------------------------------------------------

    def snapshot(self, recent: int = 6) -> GaitSnapshot:
        with self._lock:
            last = self._last
            steps = self._tracker.steps
            return GaitSnapshot(
                steps=len(steps),
                by_side={side: sum(1 for s in steps if s.side is side) for side in Side},
                cadence_spm=last.cadence_spm if last else None,
                walking=bool(last and last.walking),
                gait=last.gait if last else "unknown",
                message=last.message if last else None,
                cue=self._current_cue(last.t_s) if last else None,
                cues=tuple(self._cues),
                recent=tuple(s.to_dict() for s in steps[-recent:]),
                events=tuple(self._audio.events),
                frames=self._frames,
                fps=self._fps(),
                error=self._error,
                streaming=self._streams > 0,
            )

    def export(self) -> tuple[list[dict[str, Any]], str]:
        """Every step so far and the JSON download (steps, cues, headline numbers)."""
        with self._lock:
            steps = [s.to_dict() for s in self._tracker.steps]
            last = self._last
            data = {
                "kind": "gait_live",
                "model": self.model,
                "steps_counted": len(steps),
                "cadence_spm": last.cadence_spm if last else None,
                "cues": [{"t_s": round(t, 2), "cue": c} for t, c in self._cues],
                "steps": steps,
            }
        return steps, json.dumps(data, indent=2)

    @property
    def step_count(self) -> int:
        with self._lock:
            return len(self._tracker.steps)


class GaitVideoProcessor(PoseStreamProcessor[GaitHolder]):
    """One per camera stream: frame in, steps counted, overlay out (dropped frames: the
    tracker bridges the gap)."""

    failure_log = "live gait frame processing failed"
    _people: Sequence[Pose] = ()

    def detect(self, estimator: PoseEstimator, img: np.ndarray, t_s: float) -> Pose | None:
        """Everyone in view (bystanders are common); the tracker decides who walks."""
        detect_all = getattr(estimator, "detect_all", None)
        if detect_all is not None:
            self._people = list(detect_all(img, t_s))
        else:
            pose = estimator.detect(img, t_s)
            self._people = [] if pose is None else [pose]
        return self._people[0] if self._people else None

    def handle(
        self, img: np.ndarray, pose: Pose | None, t_s: float, now_s: float, dropped: int
    ) -> None:
        result, cue = self.holder.update(self._people, t_s, now_s)
        draw_gait_overlay(img, pose, result, cue)


def draw_gait_overlay(
    img: np.ndarray, pose: Pose | None, frame: GaitFrame, cue: str | None
) -> None:
    """Both legs (one colour: the model's left/right labels are unreliable side-on), the
    step count, and the cue or what to change."""
    if pose is not None:
        thick = max(2, img.shape[0] // 240)
        for leg in LEGS.values():
            for a, b in LEG_SEGMENTS:
                ka, kb = pose[getattr(leg, a)], pose[getattr(leg, b)]
                if min(ka.visibility, kb.visibility) < 0.3:
                    continue
                p0, p1 = (round(ka.x), round(ka.y)), (round(kb.x), round(kb.y))
                cv2.line(img, p0, p1, WHITE, thick, cv2.LINE_AA)
    draw_corner(img, f"Steps {frame.steps}")
    if cue:
        draw_banner(img, [cue], AMBER)
    elif frame.message:
        draw_banner(img, [frame.message])


def _gait_holder(model: str) -> GaitHolder:
    """The walk in progress, or a new one when the model changed and nothing would be lost."""
    holder = st.session_state.get(HOLDER_KEY)
    if isinstance(holder, GaitHolder) and (holder.model == model or holder.step_count > 0):
        return holder
    holder = GaitHolder(model, estimator_factory(model, walking=True))
    st.session_state[HOLDER_KEY] = holder
    return holder


def _start_again() -> None:
    st.session_state.pop(HOLDER_KEY, None)


def _set_sound() -> None:
    get_settings().sound = bool(st.session_state["coach_gait_sound_toggle"])


def live_panel(holder: GaitHolder, settings: Settings, playing: bool) -> None:
    """Steps, cadence and the current cue (rerun on its own every `POLL_S` while streaming)."""
    snap = holder.snapshot()
    if snap.error:
        st.error(snap.error)
    if not playing and snap.frames == 0:
        st.info("Press **START** under the video and allow the browser to use your camera.")
        st.markdown(
            "1. Put the camera at hip height, side-on to where you will walk, 3-4 m away.\n"
            "2. Walk across the picture at your usual pace (or side-on on a treadmill).\n"
            "3. Turn out of view and walk back: that shows the other foot."
        )
        return
    c1, c2, c3 = st.columns(3)
    c1.metric(
        "Steps",
        str(snap.steps),
        help=f"Left {snap.by_side[Side.LEFT]}, right {snap.by_side[Side.RIGHT]}.",
    )
    c2.metric(
        "Cadence",
        "-" if snap.cadence_spm is None else f"{snap.cadence_spm:.0f}/min",
        help="Steps per minute over the last few seconds.",
    )
    c3.metric("Cues", str(len(snap.cues)), help="How often the coach reminded you.")
    if snap.cue:
        st.warning(f"**Coach:** {snap.cue}")
    elif playing and snap.message:
        st.info(snap.message)
    elif playing and snap.walking:
        st.caption("Coach: good steps - keep going.")
    if snap.gait == "running":
        st.caption("This looks like running: cues are for walking, so they are paused.")
    if snap.recent and playing:  # once stopped, the whole walk is shown below
        table = steps_table(snap.recent, first=snap.steps - len(snap.recent) + 1)
        table = table.rename(columns={"Toe clearance (leg lengths)": "Toe clearance"})
        st.dataframe(
            table[["Step", "Side", "Landing", "Toe clearance", "Signs"]],
            hide_index=True,
            width="stretch",
        )
    if snap.streaming and snap.frames:
        st.caption(
            f"Analysing {snap.fps:.0f} frames/s with the {holder.model} model"
            + (": slow, steps may be missed." if snap.fps < 15 else ".")
        )
    audio_player(holder.id, snap.events, muted=not settings.sound, speech=settings.speech)


def _streamer(holder: GaitHolder, settings: Settings) -> Any:
    return camera_streamer(
        f"coach-gait-live-{holder.id}", settings, lambda: GaitVideoProcessor(holder)
    )


def _live_tab(settings: Settings) -> None:
    model = gait_model(settings.model)
    holder = _gait_holder(model)
    st.write(
        "Walk across the camera's view, side-on. The coach counts your steps and, when "
        "several steps show the same sign, reminds you what to do, for example *lift your "
        "toes as you swing*."
    )
    video_col, panel_col = st.columns([3, 2], gap="medium")
    with video_col:
        ctx = _streamer(holder, settings)
        playing = bool(getattr(getattr(ctx, "state", None), "playing", False))
        if holder.model != model:
            st.caption("The changed model applies after *Start again*.")
    with panel_col:
        st.toggle(
            "Speak the cues",
            value=settings.sound,
            key="coach_gait_sound_toggle",
            on_change=_set_sound,
        )
        panel = st.fragment(run_every=POLL_S if playing else None)(live_panel)
        panel(holder, settings, playing)
    if playing or holder.step_count == 0:
        return
    st.divider()
    st.subheader("Your practice walk")
    steps, json_text = holder.export()
    show_steps(
        steps,
        prefix="coach_gait_live",
        stem=f"practice-{time.strftime('%Y%m%d-%H%M')}",
        json_text=json_text,
    )
    st.button(
        "Start again",
        on_click=_start_again,
        help="Clears this walk: download it first if you want to keep it.",
    )


def render() -> None:
    settings = get_settings()
    st.title("Gait training")
    live_tab, recorded_tab = st.tabs([LIVE_TAB, RECORDED_TAB], key=TABS_KEY, on_change="rerun")
    # Only the open tab runs: the camera stops when the recorded walk is shown.
    with live_tab:
        if live_tab.open:
            _live_tab(settings)
    with recorded_tab:
        if recorded_tab.open:
            _recorded_tab(settings)
