"""The live app in a real browser: headless Chromium with a fake webcam playing a real clip.

`streamlit run app.py` on 127.0.0.1; Chromium (the Debian package, driven by
Playwright) opens the Exercise page, presses Start, and its fake camera plays the clip,
in one of the two pose modes (COACH_E2E_POSE=browser|server; both when unset):

- browser (on-device, the default): MediaPipe's web Pose Landmarker runs in Chromium
  (WASM) and only landmark batches go up the page's websocket. The test asserts that no
  RTCPeerConnection is ever made (no video track can reach the server) and reports the
  bytes sent upstream;
- server: the picture goes over WebRTC to the server and back with the overlay.

Either way the page's `Reps` metric must reach the clip's true count within the clip's
first pass and be exactly that count at the end of the pass, and the overlay (its target
gauge, read from the picture the patient sees) must be drawn.

The clip is converted in setup into an MJPEG file Chromium can play as a camera (much
smaller than y4m), padded with still frames: some at the start, as a patient sitting
still while the camera connects and the coach checks the view and calibrates; some at
the end, so the count can be read after the pass and before Chromium loops the clip
and the reps would start again.

Point it at other footage with COACH_E2E_CLIP (any video; relative paths from the repo
root), COACH_E2E_EXERCISE and COACH_E2E_REPS. `benchmarks/live_bench.py` reuses the
harness below.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
CLIPS = Path(os.environ.get("COACH_CLIPS_DIR", REPO.parent / "shared" / "clips"))
MODELS = Path(os.environ.get("COACH_MODELS_DIR", REPO.parent / "shared" / "models"))
CHROMIUM = os.environ.get("COACH_E2E_CHROMIUM", "/usr/bin/chromium")
SITECUSTOMIZE = Path(__file__).resolve().parent / "e2e_sitecustomize"

PAD_START_S = 11.0
"""Still frames before the clip: camera connection, the 5 s get-into-place countdown, the
set-up check and calibration."""
PAD_END_S = 8.0
"""Still frames after it: the window in which the final count is read."""
WIDTH, HEIGHT, FPS = 640, 480, 30

CHROMIUM_FLAGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
]

POSE_MODES = ("browser", "server")


def e2e_pose_modes() -> tuple[str, ...]:
    """COACH_E2E_POSE picks one mode; unset, both run (on-device first)."""
    value = os.environ.get("COACH_E2E_POSE", "").strip().lower()
    if not value:
        return POSE_MODES
    if value not in POSE_MODES:
        raise ValueError(f"COACH_E2E_POSE must be one of {', '.join(POSE_MODES)}, not {value!r}")
    return (value,)


# Reads the picture the patient sees (the video back from the server inside the webrtc
# iframe, or the on-device canvas): size, frames shown, and whether the overlay's target
# gauge (a dark bar with a green band at the right edge, drawn by coach.annotate on the
# server or pose_camera.js in the browser) is in it.
OVERLAY_JS = """
() => {
  // The on-device canvas sits in the component's shadow root: its state object holds it.
  const canvas = window.__coachPose ? window.__coachPose.canvas : null;
  const v = canvas || document.querySelector('video');
  const vw = canvas ? canvas.width : v && v.videoWidth;
  const vh = canvas ? canvas.height : v && v.videoHeight;
  if (!v || !vw) return null;
  const c = document.createElement('canvas');
  c.width = vw; c.height = vh;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  const x = c.width - Math.round(34 * c.width / 640);
  const d = g.getImageData(x, 0, 1, c.height).data;
  let dark = 0, green = 0;
  for (let y = Math.floor(c.height * 0.2); y < c.height * 0.8; y++) {
    const r = d[4 * y], gg = d[4 * y + 1], b = d[4 * y + 2];
    if (r < 70 && gg < 70 && b < 70) dark++;
    if (gg > 140 && r < 150 && b < 150 && gg - r > 50) green++;
  }
  const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
  const pose = window.__coachPose;
  const frames = canvas ? (pose ? pose.analysed : 0) : (q ? q.totalVideoFrames : 0);
  return {w: vw, h: vh, dark, green, frames, overlay: dark > 20 && green > 4};
}
"""

# Installed before any page script: counts every RTCPeerConnection the page makes (in
# on-device mode there must be none: no video track can be sent without one).
COUNT_PEER_CONNECTIONS_JS = """
(() => {
  const Real = window.RTCPeerConnection;
  window.__peerConnections = 0;
  if (!Real) return;
  const Counted = function (...args) { window.__peerConnections += 1; return new Real(...args); };
  Counted.prototype = Real.prototype;
  window.RTCPeerConnection = Counted;
  if (window.webkitRTCPeerConnection) window.webkitRTCPeerConnection = Counted;
})();
"""

# What the on-device component sent: batches, frames, bytes and the delegate it used.
POSE_STATE_JS = """
() => {
  const s = window.__coachPose;
  if (!s) return null;
  return {batches: s.sentBatches, frames: s.sentFrames, bytes: s.sentBytes,
          analysed: s.analysed, fps: s.fps, delegate: s.delegate, error: s.errorText || s.error,
          peer_connections: window.__peerConnections};
}
"""


@dataclass(frozen=True)
class E2EParams:
    clip: Path
    exercise: str
    reps: int


def e2e_params() -> E2EParams:
    """The clip, exercise and true count, from the environment or the shared default."""
    clip_env = os.environ.get("COACH_E2E_CLIP", "").strip()
    if clip_env:
        clip = Path(clip_env).expanduser()
        if not clip.is_absolute():
            clip = (REPO / clip).resolve()
    else:
        clip = CLIPS / "rendered" / "xbot_seated_pumps_side.mp4"
    exercise = os.environ.get("COACH_E2E_EXERCISE", "range_of_motion").strip()
    reps = int(os.environ.get("COACH_E2E_REPS", "10"))
    return E2EParams(clip, exercise, reps)


def probe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout)["format"]["duration"])


@dataclass(frozen=True)
class FakeCamera:
    path: Path
    clip_s: float
    pass_s: float


def make_fake_camera(clip: Path, out_dir: Path) -> FakeCamera:
    """Convert any video into a padded 640x480 30 fps MJPEG file for Chromium's fake camera."""
    clip_s = probe_duration(clip)
    out = out_dir / "camera.mjpeg"
    vf = (
        f"scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=decrease,"
        f"pad={WIDTH}:{HEIGHT}:(ow-iw)/2:(oh-ih)/2,fps={FPS},"
        f"tpad=start_duration={PAD_START_S}:start_mode=clone:"
        f"stop_duration={PAD_END_S}:stop_mode=clone,format=yuvj420p"
    )
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip), "-vf", vf, "-an", "-q:v", "3",
         "-f", "mjpeg", str(out)],
        check=True,
    )  # fmt: skip
    return FakeCamera(out, clip_s, PAD_START_S + clip_s + PAD_END_S)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StreamlitServer:
    """`streamlit run app.py` on a free port of 127.0.0.1; always stopped; log kept."""

    def __init__(
        self, log_path: Path, env: dict[str, str] | None = None, script: Path | None = None
    ) -> None:
        """`script`: another Streamlit script than app.py (a benchmark's stand-in)."""
        self.script = script or REPO / "app.py"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> StreamlitServer:
        env = dict(os.environ)
        env.update(self.extra_env)
        env.setdefault("COACH_MODELS_DIR", str(MODELS))
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(SITECUSTOMIZE), str(REPO), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        cmd = [
            sys.executable, "-m", "streamlit", "run", str(self.script),
            "--server.headless=true", "--server.address=127.0.0.1",
            f"--server.port={self.port}", "--browser.gatherUsageStats=false",
            "--server.fileWatcherType=none", "--server.runOnSave=false",
        ]  # fmt: skip
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            self._wait_healthy(60.0)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}\n{self.log()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r,
            ):
                if r.status == 200:
                    return
            time.sleep(0.25)
        raise RuntimeError(f"streamlit did not become healthy in {timeout_s:.0f} s\n{self.log()}")

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-20000:]
        return ""

    def __exit__(self, *exc: object) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        with contextlib.suppress(Exception):
            self._log.close()


@contextlib.contextmanager
def chromium_page(
    camera: Path, profile_dir: Path, viewport: tuple[int, int] = (1400, 1000)
) -> Iterator[Any]:
    """A headless Chromium page whose webcam plays `camera` (looped by Chromium)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={camera}"],
            viewport={"width": viewport[0], "height": viewport[1]},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            yield page
        finally:
            context.close()


@dataclass
class LiveRun:
    """What one browser session saw, with times in seconds after START was pressed."""

    readings: list[tuple[float, int | None]] = field(default_factory=list)
    first_overlay_s: float | None = None
    first_video_s: float | None = None
    reached_s: float | None = None
    video: dict[str, Any] | None = None
    fps_text: str = ""
    audio: dict[str, Any] | None = None
    ice_state: str = ""
    messages: list[tuple[float, str]] = field(default_factory=list)
    """The coach's instruction box over time (set-up, calibration, sets), for diagnosis."""
    console: list[str] = field(default_factory=list)
    """The browser's console (the WebRTC component logs its connection states there)."""
    pose: str = "browser"
    device: dict[str, Any] | None = None
    """On-device mode: what the component sent (`POSE_STATE_JS`)."""
    ws_sent_bytes: int = 0
    """Bytes the page sent up its websockets (the landmarks, in on-device mode)."""
    peer_connections: int = -1
    """RTCPeerConnections the page made (-1: not read)."""

    def count_at(self, t_s: float) -> int | None:
        seen = [v for t, v in self.readings if t <= t_s and v is not None]
        return seen[-1] if seen else None


# One round trip reads what the page shows: metric values by label, the first message
# box (the coach's instruction) and the video caption (frames analysed per second).
PAGE_JS = """
() => {
  const out = {metrics: {}, alert: '', caption: ''};
  for (const m of document.querySelectorAll('[data-testid="stMetric"]')) {
    const l = m.querySelector('[data-testid="stMetricLabel"]');
    const v = m.querySelector('[data-testid="stMetricValue"]');
    if (l && v) {
      const k = l.innerText.trim();
      if (!(k in out.metrics)) out.metrics[k] = v.innerText.trim();
    }
  }
  const a = document.querySelector('[data-testid="stAlert"]');
  if (a) out.alert = a.innerText.trim();
  for (const c of document.querySelectorAll('[data-testid="stCaptionContainer"]')) {
    if (c.innerText.includes('frames/s')) { out.caption = c.innerText.trim(); break; }
  }
  return out;
}
"""


def read_page(page: Any) -> dict[str, Any]:
    try:
        return dict(page.evaluate(PAGE_JS))
    except Exception:  # the page is re-rendering: try again next poll
        return {"metrics": {}, "alert": "", "caption": ""}


def as_int(text: str | None) -> int | None:
    """The leading integer of a metric's text ("10", "3 of 10"), or None."""
    if not text or not text.split():
        return None
    digits = "".join(ch for ch in text.split()[0] if ch.isdigit())
    return int(digits) if digits else None


def metric_value(page: Any, label: str) -> int | None:
    """The integer shown by the first `st.metric` with this label (None if not on the page)."""
    return as_int(read_page(page)["metrics"].get(label))


def webrtc_frame(page: Any) -> Any:
    for f in page.frames:
        if "streamlit_webrtc" in (f.name or "") or "streamlit_webrtc" in (f.url or ""):
            return f
    handle = page.locator("iframe[title*='streamlit_webrtc']").first.element_handle(timeout=5000)
    return handle.content_frame() if handle is not None else None


def run_live(
    page: Any,
    url: str,
    exercise: str,
    *,
    until_s: float,
    stop_when: Any = None,
    poll_s: float = 0.25,
    pose: str = "browser",
) -> LiveRun:
    """Open the Exercise page in `pose` mode, press Start, and record the Reps metric and
    the picture the patient sees."""
    run = LiveRun(pose=pose)
    clock = [time.monotonic()]

    def on_console(msg: Any) -> None:
        run.console.append(f"{time.monotonic() - clock[0]:6.2f} {msg.type}: {msg.text[:160]}")
        del run.console[:-60]

    def on_websocket(ws: Any) -> None:
        def sent(payload: Any) -> None:
            run.ws_sent_bytes += len(payload)

        ws.on("framesent", sent)

    page.on("console", on_console)
    page.on("websocket", on_websocket)
    page.add_init_script(COUNT_PEER_CONNECTIONS_JS)
    page.goto(f"{url}/?exercise={exercise}&pose={pose}", wait_until="domcontentloaded")
    if pose == "browser":
        start = page.locator(".coach-pose button.start")
    else:
        start = page.frame_locator("iframe[title*='streamlit_webrtc']").get_by_role(
            "button", name="START"
        )
    start.wait_for(timeout=60_000)
    start.click()
    t0 = clock[0] = time.monotonic()
    frame = page if pose == "browser" else None
    while (now := time.monotonic() - t0) < until_s:
        if frame is None:
            frame = webrtc_frame(page)
        if frame is not None and run.first_overlay_s is None:
            with contextlib.suppress(Exception):
                info = frame.evaluate(OVERLAY_JS)
                if info and run.first_video_s is None and info.get("frames", 0) > 0:
                    run.first_video_s = now
                if info and info.get("overlay"):
                    run.first_overlay_s = now
        shown = read_page(page)
        run.readings.append((now, as_int(shown["metrics"].get("Reps"))))
        message = shown["alert"]
        if message and (not run.messages or run.messages[-1][1] != message):
            run.messages.append((round(now, 2), message))
        if shown["caption"]:
            run.fps_text = shown["caption"]
        if stop_when is not None and stop_when(run, now):
            break
        time.sleep(max(0.0, poll_s - (time.monotonic() - t0 - now)))
    if frame is not None:
        with contextlib.suppress(Exception):
            run.video = frame.evaluate(OVERLAY_JS)
    if pose == "browser":
        with contextlib.suppress(Exception):
            run.device = page.evaluate(POSE_STATE_JS)
    elif frame is not None:
        with contextlib.suppress(Exception):
            run.ice_state = str(
                frame.evaluate(
                    "() => Array.from(document.querySelectorAll('video')).map(v => "
                    "v.srcObject ? v.srcObject.getTracks().map(t => t.readyState).join(',') "
                    ": 'none').join(';')"
                )
            )
    with contextlib.suppress(Exception):
        run.audio = page.evaluate(
            "() => window.__coachAudio ? {beeps: window.__coachAudio.beeps, "
            "spoken: window.__coachAudio.spoken} : null"
        )
    with contextlib.suppress(Exception):
        # Counted in every frame: the page's own, and the WebRTC component's iframe.
        run.peer_connections = sum(
            int(f.evaluate("() => window.__peerConnections || 0")) for f in page.frames
        )
    return run


def _check_prerequisites(params: E2EParams) -> None:
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if not Path(CHROMIUM).exists():
        missing.append(CHROMIUM)
    if missing:
        pytest.skip(f"browser test needs {', '.join(missing)} (apt-get install chromium ffmpeg)")
    pytest.importorskip("playwright.sync_api")
    assert params.clip.is_file(), f"clip not found: {params.clip} (COACH_E2E_CLIP)"


def _attempt(params: E2EParams, camera: FakeCamera, work: Path, attempt: int, pose: str) -> LiveRun:
    n = params.reps
    # Reps of the second pass cannot be counted before the start padding has played again.
    next_pass_s = camera.pass_s + PAD_START_S
    # Read the final count in the still padding after the clip, before the loop.
    settle_s = PAD_START_S + camera.clip_s + PAD_END_S / 2

    def stop_when(run: LiveRun, now: float) -> bool:
        if run.reached_s is None and (run.count_at(now) or 0) >= n:
            run.reached_s = now
        return now >= settle_s

    with (
        StreamlitServer(work / f"server-{attempt}.log") as server,
        chromium_page(camera.path, work / f"profile-{attempt}") as page,
    ):
        try:
            run = run_live(
                page,
                server.url,
                params.exercise,
                until_s=settle_s + 1,
                stop_when=stop_when,
                pose=pose,
            )
            ok = (
                run.reached_s is not None
                and run.reached_s < next_pass_s
                and run.count_at(settle_s) == n
                and run.first_overlay_s is not None
            )
            if not ok:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(work / f"failure-{attempt}.png"), full_page=True)
                print(f"--- attempt {attempt} ({pose}) failed; ICE/tracks: {run.ice_state}")
                print(f"on-device: {run.device}")
                print(f"readings: {run.readings[::4]}")
                print(f"messages: {run.messages}")
                print("browser console:\n" + "\n".join(run.console))
                print(f"--- server log (attempt {attempt}) ---\n{server.log()}")
        except BaseException:
            print(f"--- server log (attempt {attempt}) ---\n{server.log()}")
            raise
    return run


@pytest.mark.parametrize("pose", e2e_pose_modes())
def test_live_page_counts_reps_of_a_real_clip_in_chromium(tmp_path: Path, pose: str) -> None:
    """Server logs, browser profile and failure screenshots stay in pytest's tmp_path."""
    params = e2e_params()
    _check_prerequisites(params)
    work = tmp_path
    camera = make_fake_camera(params.clip, work)
    try:
        run = _attempt(params, camera, work, 1, pose)
        n = params.reps
        settle_s = PAD_START_S + camera.clip_s + PAD_END_S / 2
        if not (run.reached_s is not None and run.count_at(settle_s) == n):
            run = _attempt(params, camera, work, 2, pose)  # one retry (rare ICE hiccups)
        final = run.count_at(settle_s)
        overshoot = max((v for t, v in run.readings if v is not None and t <= settle_s), default=0)
        print(
            f"\n[{pose}] reached {n} reps at {run.reached_s} s; at the end of the pass: {final}; "
            f"first overlay {run.first_overlay_s} s after Start; {run.fps_text}; audio "
            f"{run.audio}; on-device {run.device}; sent up the websocket "
            f"{run.ws_sent_bytes / max(1.0, settle_s) / 1000:.1f} kB/s"
            f"\nmessages: {run.messages[:6]}"
        )
        assert run.first_overlay_s is not None, f"no overlay was drawn: {run.video}"
        assert run.video is not None and run.video["w"] > 0 and run.video["frames"] > 0
        assert run.reached_s is not None, f"Reps never reached {n}: {run.readings[-1]}"
        assert run.reached_s < camera.pass_s + PAD_START_S, "counted only on the clip's 2nd pass"
        assert overshoot == n, f"the count went past the true {n} during the pass: {overshoot}"
        assert final == n
        # The rep beeps were played in the page, and never held the video up.
        assert run.audio is not None and run.audio["beeps"] >= 1, run.audio
        if pose == "browser":
            # Landmarks went up; no peer connection was ever made, so no video track was.
            assert run.device is not None and run.device["frames"] > 0, run.device
            assert run.peer_connections == 0, f"{run.peer_connections} RTCPeerConnection(s)"
        else:
            assert run.peer_connections >= 1
    finally:
        camera.path.unlink(missing_ok=True)  # tens of MB: keep only the logs
        for profile in work.glob("profile-*"):
            shutil.rmtree(profile, ignore_errors=True)


def test_a_browser_that_cannot_run_the_model_falls_back_to_the_server(tmp_path: Path) -> None:
    """No WebAssembly in the page (an old or locked-down browser): Start says so, and the
    page switches itself to the server-side camera, whose START then appears."""
    params = e2e_params()
    _check_prerequisites(params)
    camera = make_fake_camera(params.clip, tmp_path)
    try:
        with (
            StreamlitServer(tmp_path / "server.log") as server,
            chromium_page(camera.path, tmp_path / "profile") as page,
        ):
            page.add_init_script("delete window.WebAssembly;")
            page.goto(f"{server.url}/?exercise={params.exercise}", wait_until="domcontentloaded")
            start = page.locator(".coach-pose button.start")
            start.wait_for(timeout=60_000)
            start.click()
            page.get_by_text("this browser could not run the pose model").wait_for(timeout=60_000)
            page.frame_locator("iframe[title*='streamlit_webrtc']").get_by_role(
                "button", name="START"
            ).wait_for(timeout=60_000)
            assert "Traceback" not in page.content()
    finally:
        camera.path.unlink(missing_ok=True)
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)
