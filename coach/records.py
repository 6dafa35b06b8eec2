"""The one typed, versioned record model for what leaves the core: sessions, reps, cues, gait.

Live sessions, imported videos, the database, the JSON export, the CSV and the PDF all
use these frozen dataclasses; nothing downstream builds its own dict shape. Units are
honest: every value says its unit in its name (`_deg`, `_s`, `_pct_shank`) or, for the
counted signal, in the session's `unit`. One rounding policy (`ROUNDING`) applies to
everything exported. Pure: no database, no Streamlit.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

RECORD_VERSION = 1
"""Version of the exported record shape (`to_dict`); bumped on any incompatible change."""


class Unit(StrEnum):
    """The unit of a session's counted signal."""

    DEG = "deg"
    """Clinical ankle degrees from the patient's neutral (+ dorsiflexion)."""
    PCT_SHANK = "pct_shank"
    """Toe or heel height in % of the patient's shin length."""


class SessionSource(StrEnum):
    LIVE = "live"
    VIDEO = "video"


class SessionStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    """The server stopped (or the browser left) before the patient ended the session."""


ROUNDING: dict[str, int] = {
    "deg": 1,
    "pct_shank": 1,
    "s": 2,
    "t_s": 3,
    "xy": 4,
    "ratio": 3,
    "per_min": 1,
}
"""Decimals kept on export, by unit: the one rounding policy (0.1° is below what the
camera can measure; 10 ms is finer than one frame)."""


def rounded(value: float | None, unit: str) -> float | None:
    """`value` rounded by the policy for `unit`; None (and NaN) stay None."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), ROUNDING[unit])


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DoseRecord:
    """The dose a session was run with (the prescription's, else the definition's default)."""

    sets: int
    reps: int
    hold_s: float
    rest_s: float
    per_week: int | None = None
    """Sessions a week the therapist asked for (None: not prescribed)."""


@dataclass(frozen=True, slots=True)
class RepRecord:
    """One completed rep on its session's timeline."""

    number: int
    set_no: int
    start_s: float
    end_s: float
    peak: float
    """Furthest point, in the session's `unit`, from the patient's neutral."""
    range: float
    """Peak minus the rep's starting level, in the session's `unit`."""
    hold_s: float
    reached_target: bool
    peak_deg: float | None = None
    """The clinical angle at the peak; None unless the camera saw the leg side-on."""
    rom_deg: float | None = None

    @property
    def tempo_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class CueRecord:
    """A correction the coach gave: its id and parameters (words are made where shown)."""

    t_s: float
    cue_id: str
    params: Mapping[str, float | str] = field(default_factory=dict)


LEG_POINTS = ("hip", "knee", "ankle", "heel", "toe")
"""The measured leg's landmarks kept for replay, in this order."""


@dataclass(frozen=True, slots=True)
class TraceFrame:
    """One replay frame: the measured leg's points (x, y as shares of the picture) and the
    counted value, thinned to about 10 a second."""

    t_s: float
    value: float | None
    points: tuple[tuple[float, float], ...] | None = None
    """`LEG_POINTS` in order; None when the leg was not seen."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One exercise session, live or from a video, as stored and exported."""

    id: str
    patient_id: str | None
    exercise_id: str
    exercise_name: str
    source: SessionSource
    started_at: datetime
    unit: Unit
    dose: DoseRecord
    status: SessionStatus = SessionStatus.IN_PROGRESS
    duration_s: float = 0.0
    side: str | None = None
    """The patient's own leg that was measured: "left", "right", or None if unknown."""
    camera: str | None = None
    """Where the camera saw the leg from: side_on, oblique or facing."""
    neutral_deg: float | None = None
    prescription_id: str | None = None
    video_kept: bool = False
    source_name: str | None = None
    """The video's original file name, for an imported recording."""
    reps: tuple[RepRecord, ...] = ()
    cues: tuple[CueRecord, ...] = ()
    warnings: tuple[str, ...] = ()
    trace: tuple[TraceFrame, ...] = ()

    @property
    def planned_reps(self) -> int:
        return self.dose.sets * self.dose.reps

    @property
    def sets_completed(self) -> int:
        return min(self.dose.sets, len(self.reps) // max(1, self.dose.reps))

    def to_dict(self) -> dict[str, Any]:
        """The versioned export shape (JSON), rounded by `ROUNDING`."""
        u = self.unit.value
        return {
            "record": "session",
            "record_version": RECORD_VERSION,
            "id": self.id,
            "patient_id": self.patient_id,
            "exercise": self.exercise_id,
            "exercise_name": self.exercise_name,
            "source": self.source.value,
            "source_name": self.source_name,
            "status": self.status.value,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "duration_s": rounded(self.duration_s, "s"),
            "side": self.side,
            "camera": self.camera,
            "unit": u,
            "neutral_deg": rounded(self.neutral_deg, "deg"),
            "prescription_id": self.prescription_id,
            "video_kept": self.video_kept,
            "dose": {
                "sets": self.dose.sets,
                "reps": self.dose.reps,
                "hold_s": rounded(self.dose.hold_s, "s"),
                "rest_s": rounded(self.dose.rest_s, "s"),
                "per_week": self.dose.per_week,
            },
            "reps": [rep_export(r, u) for r in self.reps],
            "cues": [
                {"t_s": rounded(c.t_s, "t_s"), "id": c.cue_id, "params": dict(c.params)}
                for c in self.cues
            ],
            "warnings": list(self.warnings),
            "trace": [trace_frame_to_list(f, u) for f in self.trace],
        }


def trace_frame_to_list(frame: TraceFrame, unit: str) -> list[Any]:
    """Compact: [t_s, value, [x, y, x, y, ...] or null]."""
    pts = None
    if frame.points is not None:
        pts = [rounded(v, "xy") for p in frame.points for v in p]
    return [rounded(frame.t_s, "t_s"), rounded(frame.value, unit), pts]


def trace_frame_from_list(item: Sequence[Any]) -> TraceFrame:
    t, value, flat = item[0], item[1], item[2] if len(item) > 2 else None
    points = None
    if flat:
        points = tuple((float(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2))
    return TraceFrame(float(t), None if value is None else float(value), points)


@dataclass(frozen=True, slots=True)
class GaitRecord:
    """One analysed walk: the summary measures and the foot-drop flags raised (ids)."""

    id: str
    patient_id: str | None
    started_at: datetime
    duration_s: float
    steps: int
    cadence_spm: float | None
    """Steps a minute."""
    flags: tuple[str, ...] = ()
    """Flag ids (e.g. "low_toe_clearance"), words made where shown."""
    measures: Mapping[str, float | None] = field(default_factory=dict)
    """Named summary measures; each name ends in its unit (`_s`, `_pct_leg`, `_deg`)."""
    source_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "record": "gait",
            "record_version": RECORD_VERSION,
            "id": self.id,
            "patient_id": self.patient_id,
            "started_at": self.started_at.isoformat(timespec="seconds"),
            "duration_s": rounded(self.duration_s, "s"),
            "steps": self.steps,
            "cadence_spm": rounded(self.cadence_spm, "per_min"),
            "flags": list(self.flags),
            "measures": {k: None if v is None else round(v, 3) for k, v in self.measures.items()},
            "source_name": self.source_name,
        }


def rep_export(rep: RepRecord, unit: str) -> dict[str, Any]:
    """One rep's exported fields, rounded by `ROUNDING` (the JSON, the CSVs)."""
    return {
        "number": rep.number,
        "set": rep.set_no,
        "start_s": rounded(rep.start_s, "t_s"),
        "end_s": rounded(rep.end_s, "t_s"),
        "peak": rounded(rep.peak, unit),
        "range": rounded(rep.range, unit),
        "peak_deg": rounded(rep.peak_deg, "deg"),
        "rom_deg": rounded(rep.rom_deg, "deg"),
        "hold_s": rounded(rep.hold_s, "s"),
        "tempo_s": rounded(rep.tempo_s, "s"),
        "reached_target": rep.reached_target,
    }


def reps_csv(record: SessionRecord) -> str:
    """One row per rep, for spreadsheets (the same fields and rounding as the JSON)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    u = record.unit.value
    names = {"number": "rep", "peak": f"peak_{u}", "range": f"range_{u}"}
    fields = list(rep_export(RepRecord(0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, False), u))
    w.writerow([names.get(f, f) for f in fields])
    for r in record.reps:
        row = rep_export(r, u)
        row["reached_target"] = int(r.reached_target)
        w.writerow(["" if row[f] is None else row[f] for f in fields])
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """The figures an end-of-session screen, a dashboard row and a report show."""

    reps: int
    planned_reps: int
    sets_completed: int
    planned_sets: int
    reached_target: int
    range_mean: float | None
    """Mean rep range in the session's unit."""
    range_best: float | None
    rom_deg_mean: float | None
    """Mean clinical range in degrees, over the reps seen side-on (None: none were)."""
    hold_target_s: float
    holds_reached: int | None
    longest_hold_s: float
    cue_counts: Mapping[str, int]
    duration_s: float


def summarize(record: SessionRecord) -> SessionSummary:
    reps = record.reps
    ranges = [r.range for r in reps]
    degs = [r.rom_deg for r in reps if r.rom_deg is not None]
    need = record.dose.hold_s
    counts: dict[str, int] = {}
    for c in record.cues:
        counts[c.cue_id] = counts.get(c.cue_id, 0) + 1
    return SessionSummary(
        reps=len(reps),
        planned_reps=record.planned_reps,
        sets_completed=record.sets_completed,
        planned_sets=record.dose.sets,
        reached_target=sum(r.reached_target for r in reps),
        range_mean=sum(ranges) / len(ranges) if ranges else None,
        range_best=max(ranges) if ranges else None,
        rom_deg_mean=sum(degs) / len(degs) if degs else None,
        hold_target_s=need,
        holds_reached=sum(r.hold_s >= need for r in reps) if need > 0 else None,
        longest_hold_s=max((r.hold_s for r in reps), default=0.0),
        cue_counts=counts,
        duration_s=record.duration_s,
    )
