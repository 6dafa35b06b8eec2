"""End-of-session summary for a live session: reps, range per rep, holds, cues, downloads."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from coach.exercise import Exercise
from coach.records import SessionRecord, Unit, reps_csv, summarize
from coach.ui.charts import RANGE_CAPTION, RepSpan, angle_chart, rom_chart
from coach.ui.live import LiveHolder
from coach.wording import cue_label


def _fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.0f}{unit}"


def render_summary(holder: LiveHolder) -> None:
    """The live session's summary, from its record copied under the holder's lock."""
    record: SessionRecord = holder.with_session(lambda s: s.log.record())
    render_record(record, holder.exercise)


def render_record(record: SessionRecord, ex: Exercise, *, downloads: bool = True) -> None:
    """One session's summary: reps, sets, range per rep, the trace, cues and downloads."""
    s = summarize(record)
    unit = "°" if record.unit is Unit.DEG else "%"
    st.subheader("Session summary")
    if not record.reps:
        st.info("No reps were completed in this session yet.")
    cols = st.columns(4)
    cols[0].metric("Reps done", f"{s.reps} of {s.planned_reps}")
    cols[1].metric("Sets done", f"{s.sets_completed} of {s.planned_sets}")
    cols[2].metric("Average range", _fmt(s.range_mean, unit))
    cols[3].metric("Best range", _fmt(s.range_best, unit))
    if s.hold_target_s > 0:
        st.write(
            f"Holds: **{s.holds_reached}** of {s.reps} reached {s.hold_target_s:.0f} s "
            f"(longest {s.longest_hold_s:.1f} s)."
        )
    for w in record.warnings:
        st.warning(w)
    spans = [
        RepSpan(r.number, r.start_s, r.end_s, ex.excursion(r.peak, 0.0), r.range, r.reached_target)
        for r in record.reps
    ]
    if spans:
        st.markdown("**Range of motion, rep by rep**")
        st.caption(RANGE_CAPTION)
        st.altair_chart(rom_chart(spans, ex), width="stretch")
    if record.trace:
        st.markdown("**Movement over the session** (shaded: target band and each rep)")
        times = [f.t_s for f in record.trace]
        values = [f.value for f in record.trace]
        st.altair_chart(angle_chart(times, values, spans, ex), width="stretch")
    if record.reps:
        table = pd.DataFrame(
            {
                "Rep": [r.number for r in record.reps],
                "Set": [r.set_no for r in record.reps],
                "Start (s)": [round(r.start_s, 1) for r in record.reps],
                f"Peak ({unit})": [round(r.peak, 1) for r in record.reps],
                f"Range ({unit})": [round(r.range, 1) for r in record.reps],
                "Hold (s)": [round(r.hold_s, 1) for r in record.reps],
                "Reached target": ["yes" if r.reached_target else "no" for r in record.reps],
            }
        )
        st.dataframe(table, hide_index=True, width="stretch")
    st.markdown("**Cues you received**")
    if record.cues:
        counts = s.cue_counts
        st.dataframe(
            pd.DataFrame({"Cue": [cue_label(c) for c in counts], "Times": list(counts.values())}),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("None: nothing needed correcting.")
    if not downloads:
        return
    c1, c2 = st.columns(2)
    name = f"{ex.id}-{record.started_at.astimezone().strftime('%Y%m%d-%H%M')}"
    c1.download_button(
        "Download session (JSON)",
        json.dumps(record.to_dict(), indent=2, ensure_ascii=False),
        file_name=f"{name}.json",
        mime="application/json",
        width="stretch",
        on_click="ignore",  # a download needs no rerun (one would also replace the file)
    )
    c2.download_button(
        "Download reps (CSV)",
        reps_csv(record),
        file_name=f"{name}.csv",
        mime="text/csv",
        width="stretch",
        on_click="ignore",
    )
