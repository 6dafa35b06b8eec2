"""Server-side live path benchmark: frames analysed per second at the server, through a real
browser (the WebRTC mode; benchmarks/pose_modes_bench.py compares it with on-device pose).

    .venv/bin/python benchmarks/live_bench.py                 # lite and full
    .venv/bin/python benchmarks/live_bench.py --models lite --seconds 20
    .venv/bin/python benchmarks/live_bench.py --screenshots   # also docs/screenshots/*.png

Headless Chromium's fake webcam plays a rendered clip (640x480, 30 fps) to
`streamlit run app.py` over WebRTC, exactly as in tests/test_browser_e2e.py (whose
harness this reuses). For each model it prints:

- fps: frames the server analysed per second (the page's own counter, read twice);
- dropped: frames skipped because the model was busy (dropped, never queued);
- START -> first overlay: from pressing START until the browser shows a frame with the
  coach's overlay (connection + model load + first inference + the way back);
- the Reps count reached in the measured window vs the clip's truth so far, to show the
  count stays right when frames are dropped.

Prints figures, never asserts: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("COACH_MODELS_DIR", str(REPO.parent / "shared" / "models"))

from tests.test_browser_e2e import (  # noqa: E402  (path set up above)
    PAD_START_S,
    StreamlitServer,
    chromium_page,
    e2e_params,
    make_fake_camera,
    metric_value,
    read_page,
    run_live,
)

SCREENSHOTS = REPO / "docs" / "screenshots"
SHOT_VIEWPORT = (1280, 1700)  # tall enough for the whole page (Streamlit scrolls inside)
_FRAMES = re.compile(r"\((\d+) so far, (\d+) skipped")
_COST = re.compile(r"(\d+) ms per frame, model (\d+) ms")


def _counter(page: Any) -> tuple[float, int, int] | None:
    m = _FRAMES.search(read_page(page)["caption"])
    return (time.monotonic(), int(m.group(1)), int(m.group(2))) if m else None


def _truth_reps_by(clip: Path, t_clip_s: float) -> int | None:
    truth = clip.with_name(f"{clip.stem}_truth.json")
    if not truth.is_file():
        return None
    reps = json.loads(truth.read_text())["reps"]
    return sum(1 for r in reps if r["end_time_s"] <= t_clip_s)


def measure(model: str, seconds: float, work: Path, screenshot: bool = False) -> dict[str, Any]:
    params = e2e_params()
    camera = make_fake_camera(params.clip, work)
    result: dict[str, Any] = {"model": model}
    with (
        StreamlitServer(work / f"server-{model}.log", env={"COACH_MODEL": model}) as server,
        chromium_page(camera.path, work / f"profile-{model}", SHOT_VIEWPORT) as page,
    ):
        marks: list[tuple[float, int, int]] = []
        shot_at = PAD_START_S + 16.0

        def sample(run: Any, now: float) -> bool:
            c = _counter(page)
            if c is not None and now > PAD_START_S:
                marks.append(c)
            if screenshot and now >= shot_at and not getattr(sample, "done", False):
                sample.done = True  # type: ignore[attr-defined]
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / "live-session.png"), full_page=True)
            return False

        run = run_live(
            page, server.url, params.exercise, until_s=seconds, stop_when=sample, pose="server"
        )
        reps = metric_value(page, "Reps")
        if screenshot:  # end the session and keep its summary
            page.get_by_role("button", name="End session").click()
            page.get_by_text("Session summary").wait_for(timeout=30_000)
            page.wait_for_timeout(2500)
            page.screenshot(path=str(SCREENSHOTS / "live-summary.png"), full_page=True)
        result["first_overlay_s"] = run.first_overlay_s
        result["first_video_s"] = run.first_video_s
        if len(marks) >= 2:
            (t1, f1, d1), (t2, f2, d2) = marks[0], marks[-1]
            result["fps"] = (f2 - f1) / (t2 - t1)
            result["dropped_per_s"] = (d2 - d1) / (t2 - t1)
            result["dropped_share"] = (d2 - d1) / max(1, (f2 - f1) + (d2 - d1))
        result["reps"] = reps
        # The count was read `seconds` after START; allow for up to 1.5 s of lag.
        at = seconds - PAD_START_S
        result["true_reps"] = (
            _truth_reps_by(params.clip, at - 1.5),
            _truth_reps_by(params.clip, at),
        )
        result["page_caption"] = run.fps_text
        result["messages"] = run.messages[:5]
        cost = _COST.search(run.fps_text)
        if cost:
            result["frame_ms"], result["model_ms"] = int(cost.group(1)), int(cost.group(2))
    return result


def review_screenshot(work: Path) -> None:
    """Upload the clip on the Review page, wait for the analysis, screenshot the result."""
    params = e2e_params()
    camera = make_fake_camera(params.clip, work)
    with (
        StreamlitServer(work / "server-review.log") as server,
        chromium_page(camera.path, work / "profile-review", SHOT_VIEWPORT) as page,
    ):
        page.goto(f"{server.url}/review?exercise={params.exercise}")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
            str(params.clip)
        )
        page.get_by_text("Range of motion, rep by rep").wait_for(timeout=300_000)
        page.wait_for_timeout(2500)  # let the charts and the video element lay out
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "review.png"), full_page=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["lite", "full"])
    ap.add_argument("--seconds", type=float, default=30.0, help="streaming time per model")
    ap.add_argument("--screenshots", action="store_true", help="write docs/screenshots/*.png")
    ap.add_argument("-v", "--verbose", action="store_true", help="also print the page's messages")
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}   clip: {e2e_params().clip.name}   640x480 @ 30 fps")
    rows = []
    with tempfile.TemporaryDirectory(prefix="coach-live-bench-") as tmp:
        for i, model in enumerate(args.models):
            rows.append(measure(model, args.seconds, Path(tmp), args.screenshots and i == 0))
        if args.screenshots:
            review_screenshot(Path(tmp))
    head = f"{'model':6} {'fps':>6} {'dropped/s':>10} {'frame ms':>9} {'model ms':>9}"
    print(f"\n{head} {'START->overlay':>15} {'reps (truth)':>13}")
    for r in rows:
        fps = f"{r['fps']:.1f}" if "fps" in r else "n/a"
        drop = f"{r['dropped_per_s']:.1f}" if "dropped_per_s" in r else "n/a"
        first = f"{r['first_overlay_s']:.2f} s" if r["first_overlay_s"] is not None else "never"
        lo, hi = r["true_reps"]
        truth = f"{lo}" if lo == hi else f"{lo}-{hi}"
        reps = f"{r['reps']} ({truth})"
        costs = f"{r.get('frame_ms', 'n/a'):>9} {r.get('model_ms', 'n/a'):>9}"
        print(f"{r['model']:6} {fps:>6} {drop:>10} {costs} {first:>15} {reps:>13}")
    print(
        "\nfps: frames analysed per second at the server (target >= 25 with full on 2 cores);"
        "\nframe ms: our whole callback per frame (model ms: the pose model alone)."
    )
    if args.verbose:
        for r in rows:
            print(f"\n{r['model']}: {r['page_caption']}\n  {r['messages']}")
    if args.screenshots:
        print(f"screenshots in {SCREENSHOTS}")


if __name__ == "__main__":
    main()
