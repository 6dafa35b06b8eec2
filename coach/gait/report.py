"""The gait analysis as a JSON-able dict: the CLI's `--json` and the app's data.

Schema (version 1), top-level keys:
- `contacts`: every initial contact found: `t_s`, `frame`, `side` (the person's
  own side), `kind` ("heel"/"flat"/"toe", null when the foot was not seen well
  enough), `ankle_deg`, `foot_pitch_deg`, `near_camera`, `valid`, `issues`.
- `toe_offs`: `t_s`, `frame`, `side`, `valid`.
- `steps`: one per contact, the swing and landing of that foot (see `metrics.Step`).
- `summary`: cadence, times, gait mode, per-side medians, `asymmetry`.
- `flags`: `id`, `side`, `message`, `values`, `thresholds`, `confidence` (0-1),
  `confidence_label`, `evidence`, `cue`.
- `bouts`: stretches of side-on walking in one direction, with how the sides were assigned.
- `excluded`: time spans not analysed and why (nobody seen, not side-on, turning).
- `warnings`: plain-language problems with the recording.
- `fps_processed`: analysis speed in frames per second (and `realtime_factor`).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from coach.gait.core import GaitAnalysis
from coach.gait.events import ISSUE_TEXT, FrameIssue
from coach.records import GaitRecord

SCHEMA_VERSION = 1
UNITS = {
    "t_s": "seconds from the start of the video",
    "ankle_deg": "ankle dorsiflexion (+) / plantar flexion (-), 2D side view, degrees",
    "foot_pitch_deg": "foot angle at contact relative to its flat-stance angle, + toes up",
    "toe_clearance": "lowest toe height above the floor in mid-swing, leg lengths",
    "leg_length": "hip-knee plus knee-ankle distance in the image",
}


def _r(v: float | None, nd: int = 3) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), nd)


def excluded_spans(a: GaitAnalysis) -> list[dict[str, Any]]:
    """Runs of frames outside any bout, each with its most common reason."""
    s, ev = a.series, a.events
    in_bout = np.zeros(s.n, dtype=bool)
    for b in ev.bouts:
        in_bout[b.start : b.stop] = True
    out: list[dict[str, Any]] = []
    i = 0
    while i < s.n:
        if in_bout[i]:
            i += 1
            continue
        j = i
        while j < s.n and not in_bout[j]:
            j += 1
        issues = ev.frame_issue[i:j]
        counts = np.bincount(issues, minlength=len(FrameIssue))
        counts[FrameIssue.OK] = 0
        reason = (
            ISSUE_TEXT[FrameIssue(int(np.argmax(counts)))]
            if counts.any()
            else "too short to measure (under a second of side-on walking)"
        )
        out.append({"start_s": _r(s.t[i]), "end_s": _r(s.t[j - 1]), "reason": reason})
        i = j
    return out


def view_warnings(a: GaitAnalysis) -> list[str]:
    """What was wrong with the recording, in words a patient can act on."""
    s, ev = a.series, a.events
    warnings: list[str] = []
    if s.n == 0 or not s.present.any():
        return ["Nobody was detected in the video."]
    issues = ev.frame_issue[s.present]
    not_side = float(np.mean(issues == FrameIssue.NOT_SIDE_ON))
    if not ev.bouts:
        if not_side > 0.5:
            warnings.append(
                "The person is not seen side-on (this looks like a front or rear view): no gait "
                "measure is reported. Film the walk from the side, camera at hip height, "
                "square to the walking line."
            )
        else:
            warnings.append(
                "No stretch of side-on walking of at least a second was found: nothing measured."
            )
    elif not ev.contacts:
        warnings.append(
            "The person was seen side-on but no steps were found: walk across the camera's "
            "view (or on a treadmill, side-on) for a few steps."
        )
    elif not_side > 0.2:
        warnings.append(
            f"The person was not side-on for {100 * not_side:.0f}% of the time they were seen; "
            "those parts were left out."
        )
    if a.walker is not None and a.walker.people > 1:
        warnings.append(
            "More than one person was in view; only the one who walked the most was analysed."
        )
    hidden = sum(1 for c in ev.contacts if not c.valid)
    if hidden:
        warnings.append(
            f"{hidden} contact(s) happened with the foot hidden or out of frame: they are listed "
            "but not measured."
        )
    sides = {b.sides[b.near_track] for b in ev.bouts}
    if len(sides) == 1 and ev.contacts:
        near = next(iter(sides)).value
        far = "right" if near == "left" else "left"
        warnings.append(
            f"Only the {near} side faced the camera; {far}-foot figures come from the far foot, "
            f"partly hidden in swing. Walk back the other way to see the {far} side clearly."
        )
    if any(b.side_confidence < 0.7 for b in ev.bouts):
        warnings.append(
            "Which foot is nearer the camera was unclear in part of the video; "
            "left/right labels there are less certain."
        )
    return warnings


def build_report(
    a: GaitAnalysis,
    *,
    source: str | None = None,
    model: str | None = None,
    fps_processed: float | None = None,
    video_fps: float | None = None,
    extra_warnings: Sequence[str] = (),
) -> dict[str, Any]:
    """Everything in `a` as plain JSON types."""
    ev = a.events
    near = {(b.index, b.near_track) for b in ev.bouts}
    contacts = [
        {
            "t_s": _r(c.t_s),
            "frame": c.frame,
            "side": c.side.value,
            "kind": c.kind,
            "ankle_deg": _r(c.ankle_deg, 1),
            "foot_pitch_deg": _r(c.foot_pitch_deg, 1),
            "near_camera": (c.bout, c.track) in near,
            "valid": c.valid,
            "issues": list(c.issues),
        }
        for c in ev.contacts
    ]
    toe_offs = [
        {"t_s": _r(e.t_s), "frame": e.frame, "side": e.side.value, "valid": e.valid}
        for e in ev.toe_offs
    ]
    bouts = [
        {
            "start_s": _r(b.t0_s),
            "end_s": _r(b.t1_s),
            "direction": "image-left" if b.facing < 0 else "image-right",
            "side_facing_camera": b.sides[b.near_track].value,
            "side_confidence": _r(b.side_confidence, 2),
            "leg_length_px": _r(b.leg_px, 1),
        }
        for b in ev.bouts
    ]
    duration = float(a.series.t[-1] - a.series.t[0]) if a.series.n > 1 else 0.0
    realtime = None
    if fps_processed and video_fps:
        realtime = fps_processed / video_fps
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "gait",
        "source": source,
        "model": model,
        "frames": a.series.n,
        "duration_s": _r(duration),
        "fps_processed": _r(fps_processed, 1),
        "realtime_factor": _r(realtime, 2),
        "units": UNITS,
        "side_method": (
            "per walking bout: the foot nearer the camera (MediaPipe depth and visibility) is "
            "on the side the camera sees, which is the person's left when they face image-left "
            "and their right when they face image-right; MediaPipe's own left/right labels are "
            "not used"
        ),
        "contacts": contacts,
        "toe_offs": toe_offs,
        "steps": [st.to_dict() for st in a.steps],
        "summary": a.summary,
        "flags": [f.to_dict() for f in a.flags],
        "bouts": bouts,
        "excluded": excluded_spans(a),
        "notes": list(a.notes),
        "warnings": [*view_warnings(a), *extra_warnings],
    }


def gait_record(
    report: dict[str, Any],
    *,
    patient_id: str | None,
    started_at: datetime,
    source_name: str | None = None,
) -> GaitRecord:
    """A gait report as the one record model (`coach.records.GaitRecord`), for storage."""
    summary = report.get("summary") or {}

    def number(key: str) -> float | None:
        value = summary.get(key)
        return float(value) if isinstance(value, int | float) else None

    flags = tuple(dict.fromkeys(str(f.get("id")) for f in report.get("flags") or [] if f.get("id")))
    measures = {name: number(name) for name in ("step_s", "stride_s", "duty_factor", "walking_s")}
    valid = summary.get("valid_steps")
    measures["valid_steps"] = float(valid) if isinstance(valid, int | float) else None
    steps = summary.get("steps")
    return GaitRecord(
        id=uuid.uuid4().hex,
        patient_id=patient_id,
        started_at=started_at,
        duration_s=float(report.get("duration_s") or 0.0),
        steps=int(steps) if isinstance(steps, int | float) else 0,
        cadence_spm=number("cadence_spm"),
        flags=flags,
        measures=measures,
        source_name=source_name,
    )
