"""On-device vs server pose, through real headless browsers: counts, angles, server CPU.

    .venv/bin/python benchmarks/pose_modes_bench.py              # the default clip
    .venv/bin/python benchmarks/pose_modes_bench.py --all-clips  # every rendered clip
    COACH_E2E_CLIP=../shared/clips/... COACH_E2E_EXERCISE=... COACH_E2E_REPS=... \\
        .venv/bin/python benchmarks/pose_modes_bench.py --modes browser server

For each mode, one `streamlit run app.py` on 127.0.0.1 and one headless Chromium whose
fake camera plays the clip once (the harness of tests/test_browser_e2e.py). Measured
over the pass:

- server CPU: the app process's CPU time over the pass, as % of one core (what one live
  patient costs the server), and the ratio browser/server;
- browser CPU: Chromium's processes together (the patient's device, for context);
- reps at the end of the pass against the clip's truth;
- then Stop / End session, and the session's JSON is downloaded: the per-rep peak
  angles of the two modes are paired rep by rep and their difference reported (same
  model bundle, WASM in the browser vs the Python API on the server).

Prints figures, never asserts: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("COACH_MODELS_DIR", str(REPO.parent / "shared" / "models"))

from tests.test_browser_e2e import (  # noqa: E402  (path set up above)
    CLIPS,
    PAD_END_S,
    PAD_START_S,
    E2EParams,
    StreamlitServer,
    chromium_page,
    e2e_params,
    make_fake_camera,
    run_live,
)
from tests.test_clip_rates import RENDERED  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def chromium_cpu_seconds() -> float:
    """All Chromium processes of this machine together (the benchmark runs one)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if "chrom" in (proc / "comm").read_text():
                total += cpu_seconds(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return total


def measure(mode: str, work: Path, params: E2EParams) -> dict[str, Any]:
    camera = make_fake_camera(params.clip, work)
    settle_s = PAD_START_S + camera.clip_s + PAD_END_S / 2
    out: dict[str, Any] = {"mode": mode, "truth": params.reps, "clip": params.clip.name}
    with (
        StreamlitServer(work / f"server-{mode}.log") as server,
        chromium_page(camera.path, work / f"profile-{mode}") as page,
    ):
        assert server.proc is not None
        pid = server.proc.pid
        marks: dict[str, tuple[float, float, float]] = {}

        def sample(run: Any, now: float) -> bool:
            if "start" not in marks and now >= PAD_START_S:
                marks["start"] = (time.monotonic(), cpu_seconds(pid), chromium_cpu_seconds())
            return now >= settle_s

        run = run_live(
            page, server.url, params.exercise, until_s=settle_s + 1, stop_when=sample, pose=mode
        )
        end = (time.monotonic(), cpu_seconds(pid), chromium_cpu_seconds())
        t0, s0, b0 = marks.get("start", end)
        span = max(1e-6, end[0] - t0)
        out["server_cpu_pct"] = 100.0 * (end[1] - s0) / span
        out["browser_cpu_pct"] = 100.0 * (end[2] - b0) / span
        out["reps"] = run.count_at(settle_s)
        out["upstream_kB_s"] = run.ws_sent_bytes / max(1.0, settle_s) / 1000
        out["peer_connections"] = run.peer_connections
        out["device"] = run.device
        stop = "Stop" if mode == "browser" else "End session"
        page.get_by_role("button", name=stop).first.click()
        button = page.get_by_role("button", name="Download session (JSON)")
        button.wait_for(timeout=60_000)
        path = work / f"{mode}.json"
        for attempt in range(3):  # a rerun still under way may replace the file once
            try:
                with page.expect_download(timeout=60_000) as info:
                    button.click()
                info.value.save_as(str(path))
                break
            except Exception:
                if attempt == 2:
                    raise
                page.wait_for_timeout(2000)
        out["record"] = json.loads(path.read_text())
    camera.path.unlink(missing_ok=True)
    return out


def compare(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Rep-by-rep peak angles of two runs, paired by rep number."""
    ra, rb = a["record"]["reps"], b["record"]["reps"]
    pairs = [
        (x["peak_deg"], y["peak_deg"])
        for x, y in zip(ra, rb, strict=False)
        if x.get("peak_deg") is not None and y.get("peak_deg") is not None
    ]
    if not pairs:
        return "no rep has an angle in both runs"
    diffs = [abs(x - y) for x, y in pairs]
    return (
        f"peak angle, {a['mode']} vs {b['mode']}, over {len(pairs)} paired reps: "
        f"median |difference| {statistics.median(diffs):.1f}°, max {max(diffs):.1f}°"
    )


def report(rows: list[dict[str, Any]]) -> None:
    print(f"\n{params_line(rows[0])}")
    print(f"{'mode':8} {'reps':>6} {'server cpu':>11} {'browser cpu':>12} {'up kB/s':>8}  peers")
    for r in rows:
        print(
            f"{r['mode']:8} {r['reps']!s:>3}/{r['truth']:<2} {r['server_cpu_pct']:>10.1f}% "
            f"{browser_cpu(r):>12} {r['upstream_kB_s']:>8.1f}  {r['peer_connections']}"
        )
    by = {r["mode"]: r for r in rows}
    if "browser" in by and "server" in by:
        ratio = by["browser"]["server_cpu_pct"] / max(1e-6, by["server"]["server_cpu_pct"])
        print(f"server CPU per live session, on-device / server-side: {ratio:.2f}")
        print(compare(by["browser"], by["server"]))


def browser_cpu(row: dict[str, Any]) -> str:
    """Chromium's share, or n/a when one of its processes ended during the pass (the
    sum over processes then means nothing)."""
    value = row["browser_cpu_pct"]
    return f"{value:.1f}%" if value >= 0 else "n/a"


def params_line(row: dict[str, Any]) -> str:
    return f"clip {row['clip']}: truth {row['truth']} reps"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", nargs="+", default=["browser", "server"])
    ap.add_argument("--all-clips", action="store_true", help="every rendered clip with truth")
    args = ap.parse_args()
    if args.all_clips:
        runs = [E2EParams(CLIPS / c.path, c.exercise, c.reps) for c in RENDERED]
    else:
        runs = [e2e_params()]
    print(f"cores: {os.cpu_count()}   clips: {len(runs)}   modes: {' '.join(args.modes)}")
    with tempfile.TemporaryDirectory(prefix="coach-modes-bench-") as tmp:
        for params in runs:
            report([measure(mode, Path(tmp), params) for mode in args.modes])
    print(
        "\nserver cpu: the app process over the clip's pass, % of one core (one patient);"
        "\nbrowser cpu: Chromium (the patient's device) over the same time."
    )


if __name__ == "__main__":
    main()
