"""Accuracy on every shared clip and model: reps counted against the truth, angle error.

    .venv/bin/python benchmarks/accuracy.py                     # every clip, lite/full/heavy
    .venv/bin/python benchmarks/accuracy.py --models lite --clips highcam,oblique

Covers the hard clips too (table-height and floor cameras, 45-degree obliques, a real
rear-oblique heel raise, a front-view squat that must count 0), because the defaults
(model per mode, counting signal per exercise) are to be chosen on all of them, not on the
clean side views. Prints one row per clip and model; asserts nothing (a benchmark).

Angle error: mean absolute difference between the calibrated, smoothed ankle angle and the
rendered truth, both relative to their own rest at the start; the truth is the image-plane
angle for side views and the clinical (3D) angle for the obliques, where the image-plane
angle is not the clinical one (see the clips' README). "measured" is the share of frames
with an angle reported at all.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CLIPS = Path(os.environ.get("COACH_CLIPS_DIR", REPO.parent / "shared" / "clips"))
os.environ.setdefault("COACH_MODELS_DIR", str(REPO.parent / "shared" / "models"))


@dataclass(frozen=True)
class Clip:
    path: str
    exercise: str
    true_reps: int
    truth_column: str | None
    """Column of the rendered truth CSV to compare angles with (None: no angle truth)."""


CLIPS_TABLE = [
    Clip("rendered/seated_pumps_side.mp4", "range_of_motion", 10, "L_dorsi2d_deg"),
    Clip("rendered/xbot_seated_pumps_side.mp4", "range_of_motion", 10, "L_dorsi2d_deg"),
    Clip("rendered/standing_heelraise_side.mp4", "heel_raise_standing", 8, "L_dorsi2d_deg"),
    Clip("rendered/xbot_seated_pumps_highcam.mp4", "range_of_motion", 9, "L_dorsi2d_deg"),
    Clip("rendered/michelle_seated_pumps_floorcam.mp4", "range_of_motion", 8, "L_dorsi2d_deg"),
    Clip(
        "rendered/michelle_standing_heelraise_oblique45.mp4",
        "heel_raise_standing",
        7,
        "L_dorsi3d_deg",
    ),
    Clip("rendered/xbot_seated_pumps_oblique45_back.mp4", "range_of_motion", 11, "L_dorsi3d_deg"),
    Clip("real/heel_raise_rear_oblique.mp4", "heel_raise_standing", 2, None),
    Clip("real/squats_front_5fps.mp4", "heel_raise_standing", 0, None),
]


def angle_error(report: dict, clip: Clip) -> tuple[float | None, float]:
    """(mean absolute error in degrees or None, share of frames measured)."""
    ours = np.array(
        [np.nan if s["ankle_deg"] is None else s["ankle_deg"] for s in report["series"]]
    )
    measured = float(np.mean(~np.isnan(ours))) if len(ours) else 0.0
    if clip.truth_column is None or report["signal"] != "ankle_deg" or measured == 0:
        return None, measured
    truth_csv = CLIPS / clip.path.replace(".mp4", "_truth.csv")
    with truth_csv.open() as fh:
        truth = np.array([float(r[clip.truth_column]) for r in csv.DictReader(fh)])
    n = min(len(truth), len(ours))
    rel = truth[:n] - np.median(truth[:25])
    return float(np.nanmean(np.abs(ours[:n] - rel))), measured


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="lite,full,heavy")
    ap.add_argument("--clips", default="", help="comma-separated parts of clip names")
    args = ap.parse_args()

    from coach.analysis import analyze_video
    from coach.exercise import load_exercises
    from coach.native_logs import quiet_native_logs

    quiet_native_logs()
    exercises = load_exercises()
    wanted = [w for w in args.clips.split(",") if w]
    clips = [c for c in CLIPS_TABLE if not wanted or any(w in c.path for w in wanted)]
    print(f"{'clip':46} {'model':5} {'reps':>9} {'exact':>5} {'angle MAE':>9} {'measured':>8}")
    exact = {m: 0 for m in args.models.split(",")}
    for clip in clips:
        for model in exact:
            started = time.perf_counter()
            report = analyze_video(CLIPS / clip.path, exercises[clip.exercise], model=model)
            data = report.to_dict()
            mae, measured = angle_error(data, clip)
            ok = report.rep_count == clip.true_reps
            exact[model] += ok
            mae_text = f"{mae:8.1f}°" if mae is not None else "        -"
            print(
                f"{clip.path:46} {model:5} {report.rep_count:>4} / {clip.true_reps:<2} "
                f"{'yes' if ok else 'no':>5} {mae_text} {measured:8.0%}"
                f"   ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    print(json.dumps({m: f"{k}/{len(clips)} exact" for m, k in exact.items()}))


if __name__ == "__main__":
    main()
