"""End-of-session summary for a live session: reps, range per rep, holds, cues, downloads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from coach.exercise import Exercise, Signal
from coach.session import LiveSession, LoggedCue, LoggedRep
from coach.ui.charts import RANGE_CAPTION, RepSpan, angle_chart, rom_chart
from coach.ui.live import LiveHolder


@dataclass(frozen=True, slots=True)
class _Copy:
    """The log, copied under the holder's lock so the camera thread can carry on."""

    summary: dict[str, Any]
    reps: list[LoggedRep]
    cues: list[LoggedCue]
    samples: list[tuple[float, float | None]]
    warnings: list[str]
    json_text: str
    csv_text: str
    stamp: str


def _copy(s: LiveSession) -> _Copy:
    log = s.log
    return _Copy(
        summary=log.summary(),
        reps=list(log.reps),
        cues=list(log.cues),
        samples=list(log.samples),
        warnings=list(log.warnings),
        json_text=json.dumps(log.to_dict(), indent=2),
        csv_text=log.to_csv(),
        stamp=log.started.strftime("%Y%m%d-%H%M"),
    )


def _fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.0f}{unit}"


def render_summary(holder: LiveHolder) -> None:
    ex: Exercise = holder.exercise
    data: _Copy = holder.with_session(_copy)
    s = data.summary
    unit = "°" if ex.signal is Signal.ANKLE else "%"
    st.subheader("Session summary")
    if not data.reps:
        st.info("No reps were completed in this session yet.")
    cols = st.columns(4)
    cols[0].metric("Reps done", f"{s['reps']} of {s['planned_reps']}")
    cols[1].metric("Sets done", f"{s['sets_completed']} of {s['planned_sets']}")
    cols[2].metric("Average range", _fmt(s["rom_mean"], unit))
    cols[3].metric("Best range", _fmt(s["rom_best"], unit))
    if s["hold_target_s"] > 0:
        st.write(
            f"Holds: **{s['holds_reached']}** of {s['reps']} reached {s['hold_target_s']:.0f} s "
            f"(longest {s['longest_hold_s']:.1f} s)."
        )
    for w in data.warnings:
        st.warning(w)
    spans = [
        RepSpan(r.number, r.start_s, r.end_s, ex.excursion(r.peak, 0.0), r.rom, r.reached_target)
        for r in data.reps
    ]
    if spans:
        st.markdown("**Range of motion, rep by rep**")
        st.caption(RANGE_CAPTION)
        st.altair_chart(rom_chart(spans, ex), width="stretch")
    if data.samples:
        st.markdown("**Your movement over the session** (shaded: target band and each rep)")
        times = [t for t, _ in data.samples]
        values = [v for _, v in data.samples]
        st.altair_chart(angle_chart(times, values, spans, ex), width="stretch")
    if data.reps:
        table = pd.DataFrame(
            {
                "Rep": [r.number for r in data.reps],
                "Set": [r.set_no for r in data.reps],
                "Start (s)": [round(r.start_s, 1) for r in data.reps],
                f"Peak ({unit})": [round(r.peak, 1) for r in data.reps],
                f"Range ({unit})": [round(r.rom, 1) for r in data.reps],
                "Hold (s)": [round(r.hold_s, 1) for r in data.reps],
                "Reached target": ["yes" if r.reached_target else "no" for r in data.reps],
            }
        )
        st.dataframe(table, hide_index=True, width="stretch")
    st.markdown("**Cues you received**")
    if data.cues:
        counts = s["cue_counts"]
        st.dataframe(
            pd.DataFrame({"Cue": list(counts), "Times": list(counts.values())}),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("None: nothing needed correcting.")
    c1, c2 = st.columns(2)
    name = f"{ex.id}-{data.stamp}"
    c1.download_button(
        "Download session (JSON)",
        data.json_text,
        file_name=f"{name}.json",
        mime="application/json",
        width="stretch",
    )
    c2.download_button(
        "Download reps (CSV)",
        data.csv_text,
        file_name=f"{name}.csv",
        mime="text/csv",
        width="stretch",
    )
