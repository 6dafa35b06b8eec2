"""Review a video: upload a recording, analyse it with the same processor, see every rep.

The analysis runs once per (file, exercise, model, side) and is kept in the session, so
moving a slider or downloading a file does not analyse the video again. It is kept in
memory only (the annotated video and CSV as bytes and text), and dropped when the upload
is removed: no file of the patient's video stays on the server.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from coach.accounts import Role
from coach.analysis import AnalysisReport, analyze_video
from coach.camera_view import CameraView
from coach.exercise import Exercise, Signal
from coach.side_select import SideChoice
from coach.ui.auth import get_services, user_or_guest
from coach.ui.charts import RANGE_CAPTION, RepSpan, angle_chart, rom_chart
from coach.ui.common import exercise_picker, md_escape
from coach.ui.state import get_settings
from coach.ui.upload import (
    REVIEW_PREFIX,
    VIDEO_TYPES,
    analysing_upload,
    forget_result,
    kept_result,
    upload_data,
)
from coach.wording import cue_text

log = logging.getLogger(__name__)

RESULT_KEY = "coach_review_result"
NO_PERSON = "No person was found"


@dataclass
class ReviewResult:
    """One analysed upload, all in memory: no file of it stays on the server."""

    key: tuple[str, str, str, str]
    name: str
    report: AnalysisReport
    video: bytes | None
    """The annotated video (MP4), or None when it could not be written."""
    csv_text: str


def analyse_upload(
    name: str,
    data: bytes,
    ex: Exercise,
    model: str,
    side: SideChoice,
    key: tuple[str, str, str, str],
) -> ReviewResult:
    """Analyse the upload in a private temp folder, with a progress bar; the folder goes
    when the analysis ends, and the result keeps the annotated video and CSV in memory."""
    with analysing_upload(name, data, model, prefix=REVIEW_PREFIX) as job:
        report = analyze_video(
            job.src,
            ex,
            model=model,
            side=side,
            annotated=job.annotated,
            progress=job.progress,
            estimator=job.estimator,
        )
        csv_path = job.workdir / "frames.csv"
        report.write_csv(csv_path)
        return ReviewResult(
            key, name, report, job.annotated_bytes(), csv_path.read_text(encoding="utf-8")
        )


def _deg(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0f}"


def view_caption(report: AnalysisReport) -> str:
    """Where the camera saw the leg from, and so what the numbers are."""
    view = report.camera_view
    if view is CameraView.SIDE_ON:
        return (
            f"Camera view: side-on. Ankle angles in degrees, from your neutral "
            f"(shown in {100 * report.angle_share:.0f}% of frames)."
        )
    where = "oblique (at an angle)" if view is CameraView.OBLIQUE else "not side-on"
    return (
        f"Camera view: {where}. Reps and holds are counted; the ankle angle needs a "
        "side-on camera, so it is not shown."
    )


def _show(result: ReviewResult, ex: Exercise) -> None:
    report = result.report
    warnings = report.warnings
    nobody = any(w.startswith(NO_PERSON) for w in warnings)
    if nobody:
        st.error(
            "No person was found in this video, so nothing could be measured. Film the "
            "exercise side-on with your whole leg, from hip to toes, in view."
        )
    for w in warnings:
        if not w.startswith(NO_PERSON):
            st.warning(w)
    unit = "°" if ex.signal is Signal.ANKLE else "%"
    cols = st.columns(4)
    cols[0].metric("Reps", report.rep_count)
    reached = sum(r.reached_target for r in report.reps)
    cols[1].metric("Reached target", f"{reached} of {report.rep_count}")
    angle_roms = [a.rom_deg for a in report.rep_angles if a.rom_deg is not None]
    roms = angle_roms if angle_roms else [r.rom for r in report.reps]
    shown_unit = "°" if angle_roms else unit
    cols[2].metric("Average range", f"{sum(roms) / len(roms):.0f}{shown_unit}" if roms else "-")
    cols[3].metric("Video length", f"{report.duration_s:.0f} s")
    st.caption(view_caption(report))
    spans = [
        RepSpan(r.index, r.start_s, r.end_s, r.peak, r.rom, r.reached_target) for r in report.reps
    ]
    left, right = st.columns([3, 2], gap="medium")
    with left:
        if result.video is not None:
            st.video(result.video, format="video/mp4")
        else:
            st.caption("The annotated video could not be written on this server.")
    with right:
        if spans:
            st.markdown("**Range of motion, rep by rep**")
            st.caption(RANGE_CAPTION)
            st.altair_chart(rom_chart(spans, ex), width="stretch")
        else:
            st.info("No reps were counted in this video.")
    if not nobody:
        st.markdown("**Movement over time** (shaded: target band and each rep)")
        if ex.signal is Signal.ANKLE:
            values = [p.ankle_deg for p in report.series]
        else:
            values = [p.excursion for p in report.series]
        times = [p.t_s for p in report.series]
        st.altair_chart(angle_chart(times, values, spans, ex), width="stretch")
    if spans:
        st.markdown("**Each rep**")
        detail = report.to_dict()["reps_detail"]
        table = pd.DataFrame(
            {
                "Rep": [d["rep"] for d in detail],
                "Start (s)": [round(d["start_s"], 1) for d in detail],
                "End (s)": [round(d["end_s"], 1) for d in detail],
                f"Peak ({unit})": [round(d["peak"], 1) for d in detail],
                f"Range ({unit})": [round(d["range"], 1) for d in detail],
                "Ankle peak (°)": [_deg(d["peak_deg"]) for d in detail],
                "Ankle range (°)": [_deg(d["rom_deg"]) for d in detail],
                "Hold (s)": [round(d["hold_s"], 1) for d in detail],
                "Reached target": ["yes" if d["reached_target"] else "no" for d in detail],
            }
        )
        st.dataframe(table, hide_index=True, width="stretch")
    st.markdown("**Cues the coach would have given**")
    if report.cues:
        st.dataframe(
            pd.DataFrame(
                {
                    "Time (s)": [round(c.t_s, 1) for c in report.cues],
                    "Cue": [cue_text(c) for c in report.cues],
                }
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("None.")
    stem = Path(result.name).stem or "video"
    c1, c2, c3 = st.columns(3)
    c1.download_button(
        "Download report (JSON)",
        json.dumps(report.to_dict(), indent=2),
        file_name=f"{stem}-{ex.id}.json",
        mime="application/json",
        width="stretch",
    )
    c2.download_button(
        "Download frames (CSV)",
        result.csv_text,
        file_name=f"{stem}-{ex.id}.csv",
        mime="text/csv",
        width="stretch",
    )
    if result.video is not None:
        c3.download_button(
            "Download annotated video",
            result.video,
            file_name=f"{stem}-{ex.id}-annotated.mp4",
            mime="video/mp4",
            width="stretch",
        )


def render() -> None:
    settings = get_settings()
    st.title("Review a video")
    st.write(
        "Upload a recording of one exercise, filmed side-on with the whole leg and foot in "
        "view. The coach counts the reps, measures each one and shows what it would have "
        "told you. Start the recording with the foot relaxed and still for a second: that "
        "is taken as your neutral."
    )
    ex = exercise_picker("Exercise in the video", key="coach_review_exercise")
    upload = st.file_uploader("Video file", type=VIDEO_TYPES, key="coach_review_upload")
    if upload is None:
        forget_result(RESULT_KEY)  # removed from the uploader: keep nothing of it
        return
    uploaded = upload_data(upload)
    if uploaded is None:
        forget_result(RESULT_KEY)
        return
    data, digest = uploaded
    key = (digest, ex.id, settings.review_model, settings.side)
    result = kept_result(
        RESULT_KEY,
        ReviewResult,
        key,
        lambda: analyse_upload(upload.name, data, ex, settings.review_model, settings.side, key),
    )
    if result is None:
        return
    st.caption(
        f"{md_escape(result.name)} · {ex.name} · model {settings.review_model} · "
        f"analysed at {result.report.fps_processed:.0f} frames/s"
    )
    _show(result, ex)
    _save_to_history(result, data)


def _save_to_history(result: ReviewResult, data: bytes) -> None:
    """A signed-in patient may put the analysis into their history (the video only if they
    tick the box: by default none is kept)."""
    user = user_or_guest()
    if user is None or user.role is not Role.PATIENT or not user.id:
        return
    st.divider()
    saved_key = f"coach_review_saved_{result.key[0]}_{result.key[1]}"
    if st.session_state.get(saved_key):
        st.success("Saved to your history: your therapist can see it.")
        return
    keep = st.checkbox(
        "Also keep the video for my therapist to watch",
        value=False,
        help="Off: only the measurements are saved, the video is not kept anywhere.",
    )
    if st.button("Save to my history", type="primary"):
        get_services().sessions.save_analysis(
            user, user.id, result.report, result.name, keep_video=data if keep else None
        )
        st.session_state[saved_key] = True
        st.rerun()
