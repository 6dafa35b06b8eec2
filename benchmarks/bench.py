"""Benchmark: pipeline overhead vs inference, analysis speed, peak memory, accuracy.

    .venv/bin/python benchmarks/bench.py            # all of it (a few minutes on 2 cores)
    .venv/bin/python benchmarks/bench.py --quick    # lite only, one clip

Prints figures, never asserts: the machines are shared and noisy, so targets
live here and in the README, not in timed tests. Each model runs in its own
process so peak memory (max RSS) is per model.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CLIPS = Path(os.environ.get("COACH_CLIPS_DIR", REPO.parent / "shared" / "clips"))
os.environ.setdefault("COACH_MODELS_DIR", str(REPO.parent / "shared" / "models"))

RENDERED = [
    ("seated_pumps_side", "range_of_motion"),
    ("xbot_seated_pumps_side", "range_of_motion"),
    ("standing_heelraise_side", "heel_raise_standing"),
]
SPEED_CLIP = "seated_pumps_side"  # 30 fps, 640x480


def overhead(model: str) -> dict[str, float]:
    """Per-frame cost of everything after the model, as a fraction of inference time."""
    from coach.annotate import annotate
    from coach.exercise import load_exercises
    from coach.pose import MediaPipePose
    from coach.processor import FrameProcessor
    from coach.video import open_video

    ex = load_exercises()["range_of_motion"]
    infer = proc_t = draw_t = 0.0
    n = 0
    with open_video(CLIPS / "rendered" / f"{SPEED_CLIP}.mp4") as src, MediaPipePose(model) as est:
        proc = FrameProcessor(ex)
        for t_s, frame in src:
            a = time.perf_counter()
            pose = est.detect(frame, t_s)
            b = time.perf_counter()
            result = proc.process_pose(pose, t_s)
            c = time.perf_counter()
            annotate(frame, result, ex)
            d = time.perf_counter()
            infer += b - a
            proc_t += c - b
            draw_t += d - c
            n += 1
    return {
        "inference_ms": 1000 * infer / n,
        "pipeline_ms": 1000 * proc_t / n,
        "annotate_ms": 1000 * draw_t / n,
        "pipeline_ratio": proc_t / infer,
        "annotate_ratio": draw_t / infer,
    }


def analyse(model: str) -> dict[str, object]:
    """Speed (x real time) and accuracy of the CLI's analysis on the rendered clips."""
    from coach.analysis import analyze_video
    from coach.exercise import load_exercises

    exs = load_exercises()
    rows = []
    for clip, ex_id in RENDERED:
        video = CLIPS / "rendered" / f"{clip}.mp4"
        truth = json.loads((CLIPS / "rendered" / f"{clip}_truth.json").read_text())
        with (CLIPS / "rendered" / f"{clip}_truth.csv").open() as fh:
            truth_deg = np.array([float(r["L_dorsi2d_deg"]) for r in csv.DictReader(fh)])
        start = time.perf_counter()
        report = analyze_video(video, exs[ex_id], model=model)
        elapsed = time.perf_counter() - start
        ours = np.array([np.nan if p.ankle_deg is None else p.ankle_deg for p in report.series])
        raw = np.array(
            [np.nan if p.ankle_raw_deg is None else p.ankle_raw_deg for p in report.series]
        )
        rel = truth_deg - np.median(truth_deg[:25])
        rows.append(
            {
                "clip": clip,
                "reps": report.rep_count,
                "true_reps": truth["true_rep_count"],
                "mae_calibrated_deg": float(np.nanmean(np.abs(ours - rel))),
                "mae_raw_deg": float(np.nanmean(np.abs(raw - truth_deg))),
                "x_realtime": report.duration_s / elapsed,
            }
        )
    return {"rows": rows}


GAIT_CLIPS = ["treadmill_run_side", "outdoor_walk_side_two_people"]


def gait(model: str) -> list[dict[str, object]]:
    """Gait analysis speed (x real time) on the real walking/running clips."""
    from coach.gait.analyze import analyze_gait_video

    rows = []
    for clip in GAIT_CLIPS:
        report = analyze_gait_video(CLIPS / "real" / f"{clip}.mp4", model=model)
        rows.append(
            {
                "clip": clip,
                "contacts": len(report["contacts"]),
                "x_realtime": float(report["realtime_factor"]),
            }
        )
    return rows


def worker(model: str, quick: bool) -> None:
    out: dict[str, object] = {"model": model}
    out["overhead"] = overhead(model)
    if quick:
        global RENDERED
        RENDERED = RENDERED[:1]
    out.update(analyse(model))
    if not quick and model in ("lite", "full"):
        out["gait"] = gait(model)
    # Analysis spreads pose extraction over worker processes: report this process and
    # the largest worker (each holds its own model).
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["peak_worker_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--worker", metavar="MODEL")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.quick)
        return
    models = ["lite"] if args.quick else ["lite", "full", "heavy"]
    print(f"clips: {CLIPS}   cores: {os.cpu_count()}   python {sys.version.split()[0]}")
    results = []
    for model in models:
        cmd = [sys.executable, __file__, "--worker", model] + (["--quick"] if args.quick else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    print("\nPer-frame cost beyond inference (target: pipeline <= 3% of inference)")
    head = ("model", "infer ms", "pipeline ms", "ratio", "annotate ms", "ratio")
    print("{:6} {:>9} {:>12} {:>7} {:>12} {:>7}".format(*head))
    for r in results:
        o = r["overhead"]
        print(
            f"{r['model']:6} {o['inference_ms']:9.2f} {o['pipeline_ms']:12.3f} "
            f"{100 * o['pipeline_ratio']:6.2f}% {o['annotate_ms']:12.3f} "
            f"{100 * o['annotate_ratio']:6.2f}%"
        )
    print("\nAnalysis speed, x real time (targets: lite >= 4x, full >= 2x) and peak memory")
    for r in results:
        speeds = [row["x_realtime"] for row in r["rows"]]
        print(
            f"{r['model']:6} {np.mean(speeds):5.2f}x   peak RSS {r['peak_rss_mb']:.0f} MB main"
            f" + {r['peak_worker_rss_mb']:.0f} MB per pose worker"
        )
    print("\nGait analysis speed, x real time (whole pipeline: decode, model, gait analysis)")
    for r in results:
        for row in r.get("gait", []):
            speed, n = row["x_realtime"], row["contacts"]
            print(f"{r['model']:6} {row['clip']:30} {speed:5.2f}x  {n} contacts")
    print("\nAccuracy on the rendered clips (reps found/true; ankle MAE vs truth, degrees)")
    print(f"{'model':6} {'clip':26} {'reps':>7} {'MAE cal':>8} {'MAE raw':>8}")
    for r in results:
        for row in r["rows"]:
            ok = "ok" if row["reps"] == row["true_reps"] else "MISS"
            print(
                f"{r['model']:6} {row['clip']:26} {row['reps']:3}/{row['true_reps']:<3} "
                f"{row['mae_calibrated_deg']:8.1f} {row['mae_raw_deg']:8.1f}  {ok}"
            )


if __name__ == "__main__":
    main()
