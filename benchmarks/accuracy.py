"""Accuracy on every shared clip and model: reps counted against the truth, angle error.

    .venv/bin/python benchmarks/accuracy.py                     # every clip, lite/full/heavy
    .venv/bin/python benchmarks/accuracy.py --models lite --clips highcam,oblique

Covers the hard clips too (table-height and floor cameras, 45-degree obliques, a real
rear-oblique heel raise, a front-view squat that must count 0), because the defaults
(model per mode, counting signal per exercise) are to be chosen on all of them, not on the
clean side views. Prints one row per clip and model; asserts nothing (a benchmark).

Each clip is analysed at 30, 10 and 5 frames a second (`--fps`, real low-rate runs: the
model tracks across the skipped frames). "view" is the camera view the app saw most;
"angle" the share of frames with a clinical angle shown (side-on only). MAE: mean absolute
difference between the shown angle and the rendered truth, both relative to their own
rest at the start, on the frames with an angle; the truth is the image-plane angle for
side views and the clinical (3D) angle for the obliques. gain: the shown angle's range
over the true range (p95 - p5 of each). "*" marks a wrong count.
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


def angle_error(report: dict, clip: Clip, fps: float) -> tuple[float | None, float | None]:
    """(mean absolute error in degrees, gain) where an angle was shown; None where none was.

    Both series relative to their own rest at the start; gain = the measured change over
    the true change (p95 - p5 of each, on the frames with an angle).
    """
    series = report["series"]
    if clip.truth_column is None or not series:
        return None, None
    truth_csv = CLIPS / clip.path.replace(".mp4", "_truth.csv")
    with truth_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    by_time = np.array([float(r["time_s"]) for r in rows])
    truth = np.array([float(r[clip.truth_column]) for r in rows])
    rel = truth - np.median(truth[by_time < 0.8])
    ours = np.array([np.nan if p["ankle_deg"] is None else p["ankle_deg"] for p in series])
    at = np.clip(np.searchsorted(by_time, [p["t_s"] - 1e-6 for p in series]), 0, len(rel) - 1)
    keep = ~np.isnan(ours)
    if keep.sum() < 10:
        return None, None
    mae = float(np.mean(np.abs(ours[keep] - rel[at][keep])))
    true_span = np.percentile(rel[at][keep], 95) - np.percentile(rel[at][keep], 5)
    ours_span = np.percentile(ours[keep], 95) - np.percentile(ours[keep], 5)
    return mae, float(ours_span / true_span) if true_span > 0 else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="lite,full,heavy")
    ap.add_argument("--rates", default="30,10,5", help="analysed frames a second")
    ap.add_argument("--clips", default="", help="comma-separated parts of clip names")
    args = ap.parse_args()

    from coach.analysis import analyze_video
    from coach.exercise import load_exercises
    from coach.native_logs import quiet_native_logs

    quiet_native_logs()
    exercises = load_exercises()
    wanted = [w for w in args.clips.split(",") if w]
    clips = [c for c in CLIPS_TABLE if not wanted or any(w in c.path for w in wanted)]
    rates = [float(r) for r in args.rates.split(",")]
    print(
        f"{'clip':46} {'model':5} {'fps':>3} {'reps':>7} {'view':8} {'angle':>6} "
        f"{'MAE':>6} {'gain':>5}"
    )
    exact = {m: 0 for m in args.models.split(",")}
    runs = 0
    for clip in clips:
        for model in exact:
            for rate in rates:
                started = time.perf_counter()
                report = analyze_video(
                    CLIPS / clip.path, exercises[clip.exercise], model=model, analysis_fps=rate
                )
                data = report.to_dict()
                mae, gain = angle_error(data, clip, rate)
                ok = report.rep_count == clip.true_reps
                exact[model] += ok
                runs += model == next(iter(exact))
                view = data["view"]
                print(
                    f"{clip.path:46} {model:5} {rate:3.0f} "
                    f"{report.rep_count:>3} / {clip.true_reps:<2}"
                    f"{'' if ok else '*'} {view['camera'] or '-':8} {view['angle_frames']:6.0%} "
                    f"{'   -  ' if mae is None else f'{mae:5.1f}°'} "
                    f"{'  -  ' if gain is None else f'{gain:5.2f}'}"
                    f"   ({time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
    print(json.dumps({m: f"{k}/{runs} exact" for m, k in exact.items()}))


if __name__ == "__main__":
    main()
