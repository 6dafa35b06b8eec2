"""Recorded-video analysis: the per-frame processor over a file, then an offline pass.

Counting, holds and cues come from the same `FrameProcessor` the live camera
uses, so the report shows exactly what the patient would have been told. After
the pass, the angle series is smoothed zero-phase (no lag) and each rep's peak
and range are re-read from it, which is more accurate than the causal values.
The JSON produced by `AnalysisReport.to_dict` is a stable, scripted interface.
"""

from __future__ import annotations

import csv
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from coach.annotate import annotate
from coach.camera_view import CameraView, ViewIssue
from coach.counter import Rep
from coach.exercise import Exercise, Signal
from coach.feedback import Cue
from coach.filters import zero_phase_smooth
from coach.landmarks import Side, leg_points
from coach.pose import PoseEstimator
from coach.pose_batch import extract_poses
from coach.pose_models import RECORDED_MODEL
from coach.processor import FrameProcessor, FrameResult
from coach.progress import Progress, Stage, stage_ticker
from coach.side_select import SideChoice
from coach.video import VideoWriter, open_video
from coach.wording import cue_text

SCHEMA_VERSION = 2
"""2: per rep, `peak`/`range` in the counted signal's unit and `peak_deg`/`rom_deg` in
clinical degrees (null unless seen side-on); `view` says from where the camera saw."""
T = TypeVar("T")

# Why a person in view could not be measured, in words (a sentence's subordinate part).
_UNMEASURED_BECAUSE: dict[ViewIssue, str] = {
    ViewIssue.MOVE_BACK: "the hip or knee was out of the picture",
    ViewIssue.FOOT_OUT_OF_VIEW: "the foot was out of the picture or hidden",
    ViewIssue.NOT_SIDE_ON: "the camera did not see the leg from the side",
    ViewIssue.OTHER_LEG_NEAREST: "the exercised leg was behind the other one",
}


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    t_s: float
    ankle_deg: float | None
    ankle_raw_deg: float | None
    excursion: float | None
    side: Side | None
    visible: bool
    phase: str
    points: tuple[tuple[float, float], ...] | None = None
    """The measured leg for replay (`coach.landmarks.leg_points`); None when not seen."""


@dataclass(frozen=True, slots=True)
class RepAngle:
    """One rep's clinical ankle angle: its peak (from neutral) and range, in degrees."""

    peak_deg: float | None
    rom_deg: float | None


@dataclass
class AnalysisReport:
    """Everything an analysis found; `to_dict` is the JSON interface."""

    exercise: Exercise
    source: str
    model: str
    duration_s: float
    frames: int
    fps_processed: float
    neutral_deg: float | None
    reps: list[Rep]
    series: list[SeriesPoint]
    cues: list[Cue]
    warnings: list[str] = field(default_factory=list)
    rep_angles: list[RepAngle] = field(default_factory=list)
    """Per rep, the clinical angle's peak and range (None where no angle was shown)."""
    camera_view: CameraView | None = None
    """The view most frames were seen from."""

    @property
    def angle_share(self) -> float:
        """Share of frames with a clinical angle (side-on only)."""
        return sum(p.ankle_deg is not None for p in self.series) / max(len(self.series), 1)

    @property
    def counted_share(self) -> float:
        """Share of frames in which the counted signal was measured."""
        return sum(p.visible for p in self.series) / max(len(self.series), 1)

    @property
    def rep_count(self) -> int:
        return len(self.reps)

    def to_dict(self) -> dict[str, Any]:
        ex = self.exercise
        return {
            "schema_version": SCHEMA_VERSION,
            "exercise": ex.id,
            "exercise_name": ex.name,
            "source": self.source,
            "model": self.model,
            "duration_s": round(self.duration_s, 3),
            "frames": self.frames,
            "fps_processed": round(self.fps_processed, 1),
            "signal": ex.signal.value,
            "unit": "deg" if ex.signal is Signal.ANKLE else "pct_shank",
            "neutral_deg": None if self.neutral_deg is None else round(self.neutral_deg, 2),
            "reps": self.rep_count,
            "view": {
                "camera": self.camera_view.value if self.camera_view is not None else None,
                "angle_frames": round(self.angle_share, 3),
                "counted_frames": round(self.counted_share, 3),
            },
            "reps_detail": [
                {
                    "rep": r.index,
                    "start_s": round(r.start_s, 3),
                    "end_s": round(r.end_s, 3),
                    "peak": round(ex.from_excursion(r.peak, 0.0), 2),
                    "range": round(r.rom, 2),
                    "peak_deg": _r(a.peak_deg),
                    "rom_deg": _r(a.rom_deg),
                    "hold_s": round(r.hold_s, 2),
                    "tempo_s": round(r.duration_s, 2),
                    "reached_target": r.reached_target,
                }
                for r, a in zip(self.reps, self._angles(), strict=True)
            ],
            "dose": {"sets": ex.dose.sets, "reps": ex.dose.reps, "hold_s": ex.dose.hold_s},
            "series": [
                {
                    "t_s": round(p.t_s, 4),
                    "ankle_deg": _r(p.ankle_deg),
                    "ankle_raw_deg": _r(p.ankle_raw_deg),
                    "signal": _r(p.excursion),
                    "side": p.side.value if p.side is not None else None,
                    "visible": p.visible,
                    "phase": p.phase,
                }
                for p in self.series
            ],
            "cues": [
                {
                    "t_s": round(c.t_s, 3),
                    "id": c.id,
                    "params": dict(c.params),
                    "message": cue_text(c),
                }
                for c in self.cues
            ],
            "warnings": list(self.warnings),
        }

    def _angles(self) -> list[RepAngle]:
        missing = [RepAngle(None, None)] * (len(self.reps) - len(self.rep_angles))
        return self.rep_angles[: len(self.reps)] + missing

    def write_csv(self, path: Path) -> None:
        """One row per processed frame, for spreadsheets."""
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(
                ["t_s", "ankle_deg", "ankle_raw_deg", "signal", "side", "visible", "phase", "rep"]
            )
            for p in self.series:
                rep = next((r.index for r in self.reps if r.start_s <= p.t_s <= r.end_s), 0)
                w.writerow(
                    [
                        f"{p.t_s:.4f}",
                        _fmt(p.ankle_deg),
                        _fmt(p.ankle_raw_deg),
                        _fmt(p.excursion),
                        p.side.value if p.side else "",
                        int(p.visible),
                        p.phase,
                        rep,
                    ]
                )


VIEW_WORDS = {
    CameraView.SIDE_ON: "side-on",
    CameraView.OBLIQUE: "at an angle (oblique)",
    CameraView.FACING: "from the front or back",
}


def _r(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else round(v, 2)


def _fmt(v: float | None) -> str:
    return "" if v is None or math.isnan(v) else f"{v:.2f}"


def _refine(reps: list[Rep], t: np.ndarray, excursion: np.ndarray) -> list[Rep]:
    """Re-read each rep's peak and range from the zero-phase series (no filter lag)."""
    out = []
    smooth = zero_phase_smooth(t, excursion)
    prev_end = t[0] if len(t) else 0.0
    for r in reps:
        inside = (t >= r.start_s) & (t <= r.end_s)
        before = (t >= prev_end) & (t <= r.end_s)
        if inside.any() and not np.isnan(smooth[inside]).all():
            peak = float(np.nanmax(smooth[inside]))
            low = float(np.nanmin(smooth[before])) if before.any() else peak - r.rom
            r = Rep(r.index, r.start_s, r.end_s, peak, peak - low, r.hold_s, r.reached_target)
        out.append(r)
        prev_end = r.end_s
    return out


def _rep_angles(reps: list[Rep], t: np.ndarray, ankle: np.ndarray, sign: float) -> list[RepAngle]:
    """Each rep's clinical angle from the smoothed angle series (None where none was shown)."""
    out = []
    for r in reps:
        inside = ankle[(t >= r.start_s) & (t <= r.end_s)]
        inside = inside[~np.isnan(inside)]
        if inside.size < 2:
            out.append(RepAngle(None, None))
            continue
        peak = float(inside.max() if sign > 0 else inside.min())
        out.append(RepAngle(peak, float(inside.max() - inside.min())))
    return out


def _main_view(results: list[FrameResult]) -> CameraView | None:
    views = [r.view.camera for r in results if r.pose is not None and r.view.camera is not None]
    return max(set(views), key=views.count) if views else None


def _prefetch(items: Iterable[T], depth: int = 8) -> Iterator[T]:
    """Decode ahead in a thread so file decoding overlaps model inference.

    Bounded (`depth` frames), so memory stays flat; an error in the reader is
    re-raised in the caller.
    """
    q: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def reader() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("end", None))
        except BaseException as exc:  # handed over to the consuming thread
            q.put(("error", exc))

    thread = threading.Thread(target=reader, name="video-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=2)


def analyze_video(
    path: Path,
    exercise: Exercise,
    *,
    model: str = RECORDED_MODEL,
    side: SideChoice = "auto",
    annotated: Path | None = None,
    progress: Progress | None = None,
    estimator: PoseEstimator | None = None,
    analysis_fps: float | None = None,
) -> AnalysisReport:
    """Analyse one recorded video. Raises `coach.video.VideoReadError` for unreadable input.

    `progress` hears each stage in turn: reading, pose (frames), counting, drawing.
    `analysis_fps` analyses at most that many frames a second (None: every frame).
    """
    started = time.perf_counter()
    reading = stage_ticker(progress, Stage.READING)
    reading(0, 1)
    with open_video(path) as src:  # fail fast, with a clear message, on unreadable input
        fps, size, duration = src.fps, (src.width, src.height), src.duration_s
    reading(1, 1)
    every = max(1, round(fps / analysis_fps)) if analysis_fps and fps else 1
    poses = extract_poses(
        path,
        model=model,
        estimator=estimator,
        progress=stage_ticker(progress, Stage.POSE),
        every=every,
    )
    counting = stage_ticker(progress, Stage.COUNTING)
    counting(0, len(poses))
    proc = FrameProcessor(exercise, side=side)
    results = [proc.process_pose(pose, t_s) for t_s, pose in poses]
    counting(len(poses), len(poses))
    if annotated is not None:
        _write_annotated(
            path, annotated, results, exercise, fps, size, stage_ticker(progress, Stage.DRAWING)
        )
    elapsed = max(time.perf_counter() - started, 1e-9)
    warnings = list(proc.warnings)
    t = np.array([r.t_s for r in results], dtype=float)
    exc = np.array([np.nan if r.excursion is None else r.excursion for r in results], dtype=float)
    reps = _refine(proc.reps, t, exc)
    seen = sum(r.pose is not None for r in results)
    measurable = sum(r.excursion is not None for r in results)
    with_angle = sum(r.ankle_deg is not None for r in results)
    view = _main_view(results)
    if seen == 0:
        warnings.append("No person was found in this video, so nothing could be measured.")
    elif measurable == 0:
        warnings.append(_never_measured(results))
    elif measurable < 0.5 * len(results):
        warnings.append(
            f"The leg was measurable in only {100 * measurable / len(results):.0f}% of frames."
        )
    if measurable and with_angle == 0:
        where = VIEW_WORDS[view] if view is not None else "from an angle"
        warnings.append(
            "Reps were counted, but the ankle angle is not shown: the camera saw the leg "
            f"{where}, and the angle needs a side-on camera."
        )
    raw_ankle = [np.nan if r.ankle_deg is None else r.ankle_deg for r in results]
    ankle = zero_phase_smooth(t, raw_ankle) if len(results) > 1 else np.array(raw_ankle)
    series = [
        SeriesPoint(
            r.t_s,
            None if r.ankle_deg is None or math.isnan(a) else float(a),
            r.ankle_raw_deg,
            r.excursion,
            r.side,
            r.excursion is not None,
            r.phase.value,
            leg_points(r.pose, r.side),
        )
        for r, a in zip(results, ankle, strict=True)
    ]
    sign = exercise.direction.sign
    return AnalysisReport(
        rep_angles=_rep_angles(reps, t, ankle, sign),
        camera_view=view,
        exercise=exercise,
        source=Path(path).name,
        model=str(model),
        duration_s=duration or (results[-1].t_s if results else 0.0),
        frames=len(results),
        fps_processed=len(results) / elapsed,
        neutral_deg=proc.neutral.ankle_deg if proc.neutral is not None else None,
        reps=reps,
        series=series,
        cues=proc.cues,
        warnings=warnings,
    )


def _never_measured(results: list[FrameResult]) -> str:
    """Why a person in view was never measurable, in plain words (most common reason first)."""
    counts: dict[ViewIssue, int] = {}
    for r in results:
        issue = r.view.main_issue
        if r.pose is not None and issue in _UNMEASURED_BECAUSE:
            counts[issue] = counts.get(issue, 0) + 1
    reasons = [_UNMEASURED_BECAUSE[i] for i in sorted(counts, key=counts.__getitem__, reverse=True)]
    because = f": {' and '.join(reasons[:2])}" if reasons else ""
    return (
        f"You were seen, but your leg could not be measured{because}. Film side-on, with "
        "your whole leg and foot in view."
    )


def _write_annotated(
    path: Path,
    out: Path,
    results: list[FrameResult],
    exercise: Exercise,
    fps: float,
    size: tuple[int, int],
    progress: Callable[[int, int], None],
) -> None:
    """Second pass over the frames: draw each frame's result and encode."""
    total = len(results)
    progress(0, total)
    # Each frame shows the latest result at or before it (every frame, or every n-th).
    k = 0
    with open_video(path) as src, VideoWriter(out, fps, size) as writer:
        for i, (t_s, frame) in enumerate(_prefetch(src)):
            while k + 1 < total and results[k + 1].t_s <= t_s + 1e-6:
                k += 1
            if not results:
                break
            writer.write(annotate(frame, results[k], exercise))
            if (i + 1) % 15 == 0:
                progress(min(k + 1, total), total)
    progress(total, total)
