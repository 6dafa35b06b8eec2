"""Altair charts shared by the live summary and the video review.

The angle chart draws the target band and each rep's span behind the trace, so a
patient sees at a glance which reps reached the band; the range chart shows each rep's
range of motion against the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import altair as alt
import pandas as pd

from coach.exercise import Exercise, Signal


@dataclass(frozen=True, slots=True)
class RepSpan:
    """One rep for the charts; `peak` and `rom` in excursion units (movement from neutral)."""

    number: int
    start_s: float
    end_s: float
    peak: float
    rom: float
    reached_target: bool


RANGE_CAPTION = (
    "Each bar runs from the lowest point before the rep to its highest point. "
    "Aim to reach the green band."
)


def value_title(ex: Exercise) -> str:
    if ex.signal is Signal.ANKLE:
        return "Ankle angle from your neutral (°)"
    return "Lift from rest (% of shin length)"


def target_band(ex: Exercise) -> tuple[float, float]:
    """The target band in the units the chart plots (ankle degrees, or % shank)."""
    c = ex.counter
    lo, hi = c.hold_floor, c.target + c.target_tolerance
    if ex.signal is Signal.ANKLE:
        a, b = ex.from_excursion(lo, 0.0), ex.from_excursion(hi, 0.0)
        return (min(a, b), max(a, b))
    return (lo, hi)


def angle_chart(
    times: Sequence[float],
    values: Sequence[float | None],
    reps: Sequence[RepSpan],
    ex: Exercise,
) -> alt.LayerChart:
    """The measured trace over time, with rep spans (grey, numbered) and the target band."""
    trace = pd.DataFrame(
        {"t_s": list(times), "value": [float("nan") if v is None else v for v in values]}
    )
    t_max = float(trace["t_s"].max()) if len(trace) else 1.0
    lo, hi = target_band(ex)
    y_title = value_title(ex)
    band = (
        alt.Chart(pd.DataFrame({"lo": [lo], "hi": [hi], "label": ["target band"]}))
        .mark_rect(opacity=0.18, color="#2e9e44")
        .encode(y="lo:Q", y2="hi:Q", tooltip=alt.Tooltip("label:N", title=""))
    )
    spans = pd.DataFrame(
        {
            "start": [r.start_s for r in reps],
            "end": [r.end_s for r in reps],
            "rep": [f"rep {r.number}" for r in reps],
            "mid": [(r.start_s + r.end_s) / 2 for r in reps],
        }
    )
    rep_rects = (
        alt.Chart(spans)
        .mark_rect(opacity=0.12, color="#4a6fa5")
        .encode(x="start:Q", x2="end:Q", tooltip=["rep:N", "start:Q", "end:Q"])
    )
    rep_labels = (
        alt.Chart(spans)
        .mark_text(dy=-6, fontSize=10, color="#4a6fa5")
        .encode(x="mid:Q", y=alt.value(8), text="rep:N")
    )
    line = (
        alt.Chart(trace)
        .mark_line(color="#1f4e79", strokeWidth=1.6)
        .encode(
            x=alt.X("t_s:Q", title="Time (s)", scale=alt.Scale(domain=[0, t_max])),
            y=alt.Y("value:Q", title=y_title),
            tooltip=[alt.Tooltip("t_s:Q", format=".1f"), alt.Tooltip("value:Q", format=".1f")],
        )
    )
    return alt.layer(band, rep_rects, rep_labels, line).properties(height=280)  # type: ignore[return-value]


def rom_chart(reps: Sequence[RepSpan], ex: Exercise) -> alt.LayerChart:
    """Each rep as a bar from its lowest point to its peak (its range), over the target band.

    A bar that stops below the band is a rep that did not go far enough, even when its
    whole range was large: that is what "reached target" means.
    """
    unit = "°" if ex.signal is Signal.ANKLE else "%"
    top = [ex.from_excursion(r.peak, 0.0) if ex.signal is Signal.ANKLE else r.peak for r in reps]
    low = [
        ex.from_excursion(r.peak - r.rom, 0.0) if ex.signal is Signal.ANKLE else r.peak - r.rom
        for r in reps
    ]
    df = pd.DataFrame(
        {
            "rep": [r.number for r in reps],
            "low": low,
            "top": top,
            "range": [f"{r.rom:.0f}{unit}" for r in reps],
            "result": ["reached target" if r.reached_target else "short of target" for r in reps],
        }
    )
    lo, hi = target_band(ex)
    band = (
        alt.Chart(pd.DataFrame({"lo": [lo], "hi": [hi]}))
        .mark_rect(opacity=0.18, color="#2e9e44")
        .encode(y="lo:Q", y2="hi:Q")
    )
    bars = (
        alt.Chart(df)
        .mark_bar(size=14)
        .encode(
            x=alt.X("rep:O", title="Rep", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("low:Q", title=f"{'Angle from neutral' if unit == '°' else 'Lift'} ({unit})"),
            y2="top:Q",
            color=alt.Color(
                "result:N",
                scale=alt.Scale(
                    domain=["reached target", "short of target"], range=["#2e9e44", "#e0a030"]
                ),
                legend=alt.Legend(title=None, orient="bottom"),
            ),
            tooltip=["rep:O", alt.Tooltip("range:N", title="range of motion"), "result:N"],
        )
    )
    return alt.layer(band, bars).properties(height=260)  # type: ignore[return-value]
