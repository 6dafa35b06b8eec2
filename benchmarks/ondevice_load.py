"""On-device pose load test: many simulated patients send landmarks to one app server.

    .venv/bin/python benchmarks/ondevice_load.py --clients 10 --seconds 60
    .venv/bin/python benchmarks/ondevice_load.py --clients 30 --seconds 60 --clip highcam
    .venv/bin/python benchmarks/ondevice_load.py --record-only       # build the streams

In on-device mode the patient's browser runs the pose model and sends only landmarks
(`coach.landmark_stream`): the Exercise page's `coach_pose_camera` component posts them
to the app's landmark route (`coach.ui.landmark_api`), and the page's fragment reruns
only when its panel has something new. This benchmark plays that browser without a
browser (`benchmarks.st_client` speaks Streamlit's websocket protocol and posts the
batches), so one process can be 50+ patients:

- Recorded landmark streams: the full model (the app's default live model) run over
  every frame of a rendered clip whose rep count is known (`coach.pose.MediaPipePose`,
  video mode, t = frame / fps), padded with the first frame for the countdown, the
  set-up check and calibration, and the last frame at the end; cached as JSON in
  `.cache/landmark_streams/` (gitignored).
- Each simulated patient opens a page session (`/?exercise=<id>`), finds the component
  and replays the stream in real time as `pose_camera.js` sends it: frames thinned to the
  server's `upload_fps`, a batch at most every 250 ms (or the server's pace), posted to
  the component's `post_url`, at most one batch in flight (an unanswered one is resent
  after 2 s), every frame not acknowledged yet sent again, frame times on the stream's
  own clock; when an answer's `panel` differs from what the page last drew, the
  fragment is rerun (a `refresh` trigger, at most once a second), as the JS does. At
  the end of a pass it waits for the last acknowledgement and checks the server's
  `status.reps` against the clip's truth; the next pass is a new session.
- The server process's CPU (/proc/<pid>/stat, children included) and RSS are sampled,
  and the ack delay (batch posted -> the answer, or a later one, covering it) is
  measured.
  The whole machine's CPU (/proc/stat) is reported too: the simulated patients share it,
  and so does anything else running.
- Bounded: a new pass starts only if it fits in --seconds (each client's first always
  does); the clients' phase is cut at max(--seconds, stagger + one pass) + 60 s, the
  server's start waits 60 s at most and its stop 20 s; the server is always stopped.
- `--browsers K` adds K real headless Chromiums (the browser test's harness: a fake
  webcam plays the clip and the on-device model runs in the browser), counted apart.
  Each needs about a core: on a small machine they slow the server down too.

The last line is the summary: `clients N: counts right K/M passes, ack delay p95 X ms,
server cpu Y% of 2 cores, memory growth Z MB` (one line).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("COACH_MODELS_DIR", str(REPO.parent / "shared" / "models"))

from benchmarks.st_client import (  # noqa: E402  (path set up above)
    BidiElement,
    JsonPoster,
    SessionClosed,
    StreamlitClient,
)
from coach.landmark_stream import encode_batch  # noqa: E402

CLIPS = Path(os.environ.get("COACH_CLIPS_DIR", REPO.parent / "shared" / "clips"))
CACHE = REPO / ".cache" / "landmark_streams"
COMPONENT = "coach_pose_camera"
STREAM_FORMAT = 1

SEND_EVERY_S = 0.25
"""pose_camera.js: one batch at most this often, unless the server sets the pace:
`send_every_ms` (in the component's data and in every answer), taken within 100..1000 ms."""
PANEL_EVERY_S = 1.0
"""pose_camera.js: the page's fragment is asked to rerun at most this often."""
UPLOAD_SLACK_MS = 8.0
"""pose_camera.js: a frame is sent when it is 1000/upload_fps ms minus this after the
last one sent (a 30 fps camera's jitter still sends every other frame at 15)."""
RESEND_AFTER_S = 2.0
"""pose_camera.js: an unanswered batch is followed by a new one after this long."""
MAX_PENDING = 900
"""pose_camera.js: frames kept unacknowledged at most (older ones are dropped)."""
PAD_START_S = 6.0
"""First frame repeated: getting into place, the countdown, the set-up check, calibration."""
PAD_END_S = 3.0
"""Last frame repeated: the last rep's return is seen whole."""
SETTLE_S = 15.0
"""After the last frame: how long to wait for the last acknowledgement."""
START_TIMEOUT_S = 30.0
"""A page load (the first run) that takes longer fails the pass."""
STOP_WAIT_S = 15.0
"""After Stop: how long to wait for the summary (`data.ended`)."""
CLIENT_MARGIN_S = START_TIMEOUT_S + SETTLE_S + STOP_WAIT_S
"""The clients' phase ends within max(--seconds, stagger + one pass) plus this; passes
still running then are cancelled (and reported)."""


@dataclass(frozen=True)
class ClipSpec:
    key: str
    path: str
    exercise: str
    reps: int


CLIP_SPECS = {
    c.key: c
    for c in (
        ClipSpec("xbot", "rendered/xbot_seated_pumps_side.mp4", "range_of_motion", 10),
        ClipSpec("heelraise", "rendered/standing_heelraise_side.mp4", "heel_raise_standing", 8),
        ClipSpec("highcam", "rendered/xbot_seated_pumps_highcam.mp4", "range_of_motion", 9),
    )
}


# -- recorded streams ------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedStream:
    """One clip's landmarks as the browser sends them (`encode_frame` lists), padded."""

    clip: str
    exercise: str
    true_reps: int
    model: str
    fps: float
    width: int
    height: int
    pad_start_s: float
    pad_end_s: float
    frames: list[list[Any]]

    @property
    def duration_s(self) -> float:
        return float(self.frames[-1][0]) / 1000.0 if self.frames else 0.0


def _truth_reps(clip: Path) -> int | None:
    truth = clip.with_name(f"{clip.stem}_truth.json")
    if not truth.is_file():
        return None
    return int(json.loads(truth.read_text())["true_rep_count"])


def cache_path(spec: ClipSpec, model: str, pad_start_s: float, pad_end_s: float) -> Path:
    stem = Path(spec.path).stem
    return CACHE / f"{stem}-{model}-pad{pad_start_s:g}+{pad_end_s:g}.json"


def _frames_padded(path: Path, pad_start_s: float, pad_end_s: float) -> Iterator[Any]:
    """The clip's frames (BGR) with the first and last repeated; sets `fps` first."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open {path}")
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
        yield fps
        ok, frame = cap.read()
        if not ok:
            raise ValueError(f"{path} has no frames")
        for _ in range(round(pad_start_s * fps)):
            yield frame
        last = frame
        while ok:
            yield frame
            last = frame
            ok, frame = cap.read()
        for _ in range(round(pad_end_s * fps)):
            yield last
    finally:
        cap.release()


def record_stream(
    spec: ClipSpec,
    model: str = "full",
    pad_start_s: float = PAD_START_S,
    pad_end_s: float = PAD_END_S,
) -> RecordedStream:
    """Run the pose model over every frame (video mode, t = frame index / fps), as the
    browser's landmarker runs over the camera picture, padding included."""
    from coach.landmark_stream import encode_frame
    from coach.live_session import frame_brightness
    from coach.pose import MediaPipePose

    clip = CLIPS / spec.path
    truth = _truth_reps(clip)
    if truth is not None and truth != spec.reps:
        raise ValueError(f"{spec.path}: the truth file says {truth} reps, not {spec.reps}")
    frames: list[list[Any]] = []
    source = _frames_padded(clip, pad_start_s, pad_end_s)
    fps = float(next(source))
    width = height = 0
    with MediaPipePose(model, mode="video") as pose_model:
        for i, frame in enumerate(source):
            height, width = frame.shape[:2]
            t_s = i / fps
            pose = pose_model.detect(frame, t_s)
            frames.append(encode_frame(t_s, pose, frame_brightness(frame)))
    return RecordedStream(
        spec.path, spec.exercise, spec.reps, model, fps, width, height,
        pad_start_s, pad_end_s, frames,
    )  # fmt: skip


def load_stream(
    spec: ClipSpec,
    model: str = "full",
    pad_start_s: float = PAD_START_S,
    pad_end_s: float = PAD_END_S,
    *,
    log: Callable[[str], None] = print,
) -> RecordedStream:
    """The cached stream, recorded first if missing (a minute or so per clip)."""
    path = cache_path(spec, model, pad_start_s, pad_end_s)
    if path.is_file():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            d = json.loads(path.read_text())
            if d.get("format") == STREAM_FORMAT:
                d.pop("format")
                return RecordedStream(**d)
    log(f"recording {spec.path} with the {model} model (cached in {path.parent})...")
    t0 = time.monotonic()
    stream = record_stream(spec, model, pad_start_s, pad_end_s)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    d = {"format": STREAM_FORMAT, **stream.__dict__}
    tmp.write_text(json.dumps(d, separators=(",", ":")))
    tmp.replace(path)
    log(f"  {len(stream.frames)} frames in {time.monotonic() - t0:.0f} s")
    return stream


# -- the app server ----------------------------------------------------------------------


def app_server(log_path: Path, app: Path | None = None, env: dict[str, str] | None = None) -> Any:
    """`streamlit run` on a free 127.0.0.1 port (the browser test's `StreamlitServer`);
    `app` runs another script instead of app.py (a stand-in), same options."""
    from tests import test_browser_e2e as e2e

    return e2e.StreamlitServer(log_path, env, app)


# -- the server process's CPU and memory --------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def proc_sample(pid: int) -> tuple[float, float, int]:
    """(monotonic time, CPU seconds used by the process and its waited-for children, RSS
    bytes), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17,
    # rss (pages) 24.
    cpu = sum(int(fields[i - 3]) for i in (14, 15, 16, 17)) / _TICK
    rss = int(fields[24 - 3]) * _PAGE
    return time.monotonic(), cpu, rss


def machine_sample() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already in user time
    return (total - idle) / _TICK, total / _TICK


@dataclass
class ProcMonitor:
    pid: int
    every_s: float = 1.0
    samples: list[tuple[float, float, int]] = field(default_factory=list)
    machine: list[tuple[float, float]] = field(default_factory=list)
    marks: dict[str, int] = field(default_factory=dict)

    def sample(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            proc = proc_sample(self.pid)
            self.machine.append(machine_sample())
            self.samples.append(proc)

    def machine_busy_between(self, a: str, b: str) -> float:
        """Share of the whole machine busy between two marks (1.0 = every core)."""
        b0, t0 = self.machine[self.marks[a]]
        b1, t1 = self.machine[self.marks[b]]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    def mark(self, name: str) -> None:
        """Remember where a phase starts (a fresh sample is taken)."""
        self.sample()
        self.marks[name] = len(self.samples) - 1

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every_s)

    def cpu_between(self, a: str, b: str) -> float:
        """Share of one core used between two marks (1.0 = one core busy)."""
        t0, c0, _ = self.samples[self.marks[a]]
        t1, c1, _ = self.samples[self.marks[b]]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0

    def rss_at(self, name: str) -> int:
        return self.samples[self.marks[name]][2]

    def peak_rss(self, a: str, b: str) -> int:
        return max(s[2] for s in self.samples[self.marks[a] : self.marks[b] + 1])


# -- a simulated patient --------------------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """How a simulated browser deviates from pose_camera.js (tests of the resend logic)."""

    drop_every: int = 0
    """Every Nth batch is taken as sent but never reaches the server (lost)."""
    duplicate_every: int = 0
    """Every Nth batch that is sent goes twice (a second, identical rerun)."""
    brightness_every: int = 3
    """pose_camera.js measures the brightness on every 3rd frame it sends only."""
    stop_at_end: bool = True
    """Press Stop at the end of the pass (the `stop` event), as a patient does."""
    max_batch: int = 0
    """Frames a batch carries at most, oldest first (0: every unacknowledged frame, as
    pose_camera.js does): to try a cap on resends."""
    resend_after_s: float = RESEND_AFTER_S
    send_every_s: float | None = None
    """A fixed batch interval; None: the server's pace (`data.send_every_ms`), as the JS."""
    upload_fps: float | None = None
    """Frames a second sent; None: the server's `upload_fps`, as the JS."""
    offline: tuple[float, float] | None = None
    """(from, to) seconds into the stream: the network is down, nothing reaches the
    server (frames queue up and go when it is back, as the JS resends them)."""


@dataclass
class PassResult:
    client: int
    pass_no: int
    expected: int
    reps: int | None = None
    reps_after_stop: int | None = None
    stage: str | None = None
    error: str | None = None
    batches: int = 0
    dropped: int = 0
    duplicated: int = 0
    frames_sent: int = 0
    frames_recorded: int = 0
    frames_queued: int = 0
    """Frames meant for the server (the recorded ones thinned to `upload_fps`)."""
    bytes_sent: int = 0
    acks: int = 0
    seconds: float = 0.0
    answer_bytes: int = 0
    """Bytes the server sent this session (all ForwardMsgs)."""
    slowest_ack: tuple[float, int, float] | None = None
    """(delay s, batch seq, its newest frame's stream time s): the slowest answer."""
    pace_ms: tuple[float, float] | None = None
    """The batch interval the server asked for (`send_every_ms`): least, most."""
    unacked: int = 0
    """Batches sent whose frames were never acknowledged by the end of the pass."""
    net_errors: int = 0
    """Posts that failed on the network (their frames went again)."""
    refused: int = 0
    """Posts the route answered with an error status."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.reps == self.expected


@dataclass
class Metrics:
    ack_delays_s: list[float] = field(default_factory=list)
    unacked_delays_s: list[float] = field(default_factory=list)
    """Batches never acknowledged: how long they had waited when the pass ended."""
    passes: list[PassResult] = field(default_factory=list)
    browsers: list[Any] = field(default_factory=list)
    """`BrowserResult`s of the real browsers (--browsers)."""


class PatientPass:
    """One pass of a recorded stream through one fresh page session, as the browser does."""

    def __init__(
        self,
        url: str,
        stream: RecordedStream,
        metrics: Metrics,
        result: PassResult,
        behaviour: Behaviour = Behaviour(),
        query: str | None = None,
        cookies: dict[str, str] | None = None,
    ) -> None:
        """`cookies`: the page's cookies (a signed-in patient's sign-in cookie)."""
        self.url = url
        self.cookies = cookies
        self.stream = stream
        self.metrics = metrics
        self.result = result
        metrics.passes.append(result)  # now: a pass cut short still counts (as failed)
        self.behaviour = behaviour
        self.query = query if query is not None else f"exercise={stream.exercise}"
        self.stream_id = uuid.uuid4().hex[:16]
        self.pending: list[list[Any]] = []
        self.seq = 0
        self.in_flight: tuple[int, float] | None = None
        self.last_send = -math.inf
        self.outstanding: dict[int, tuple[float, float]] = {}
        self.sent_seqs: set[int] = set()
        self.data: dict[str, Any] = {}
        self.answer: dict[str, Any] = {}
        """The newest answer of the landmark route (the overlay's status, the ack)."""
        self.element: BidiElement | None = None
        self.client: StreamlitClient | None = None
        self.poster: JsonPoster | None = None
        self.panel_shown: Any = None
        self.panel_wanted: Any = None
        self.last_panel = -math.inf
        self.panel_task: asyncio.Task[None] | None = None
        self.last_queued_ms = -math.inf
        self.t0 = math.inf
        """`time.monotonic()` when the stream started playing."""
        self._tasks: set[asyncio.Task[None]] = set()

    def on_component(self, el: BidiElement) -> None:
        """The page drew the component (a page or fragment run)."""
        if not el.component_name.endswith(COMPONENT):
            return
        self.element = el
        data = el.data if isinstance(el.data, dict) else {}
        self.data = data
        if "panel" in data:
            self.panel_shown = data["panel"]
        self._note_pace()
        self.take_ack(data.get("ack"), el.received_s)

    def status(self) -> dict[str, Any]:
        """What the overlay shows now: the newest of the route's answer and the page."""
        if self.data.get("ended"):
            return self.data.get("status") or {}
        return self.answer.get("status") or self.data.get("status") or {}

    def _note_pace(self) -> None:
        pace = 1000.0 * self.send_every_s()
        lo_hi = self.result.pace_ms
        self.result.pace_ms = (
            (pace, pace) if lo_hi is None else (min(lo_hi[0], pace), max(lo_hi[1], pace))
        )

    def take_answer(self, answer: dict[str, Any], received_s: float) -> None:
        """The landmark route's answer (pose_camera.js `post`)."""
        self.answer = answer
        self._note_pace()
        self.take_ack(answer.get("ack"), received_s)
        panel = answer.get("panel")
        if panel is not None and panel != self.panel_shown:
            self.ask_panel(panel)

    def ask_panel(self, version: Any) -> None:
        """Rerun the page's fragment, at most once a second (pose_camera.js `askPanel`)."""
        self.panel_wanted = version
        if self.panel_task is not None and not self.panel_task.done():
            return

        async def later() -> None:
            await asyncio.sleep(max(0.0, self.last_panel + PANEL_EVERY_S - time.monotonic()))
            if self.panel_wanted == self.panel_shown:
                return
            assert self.client is not None and self.element is not None
            self.last_panel = time.monotonic()
            with contextlib.suppress(SessionClosed):
                await self.client.send_trigger(self.element, "refresh", self.panel_wanted)

        self.panel_task = asyncio.create_task(later())

    # The server's acknowledgement: drop what it has, and let the next batch go.
    def take_ack(self, ack: Any, received_s: float) -> None:
        if not (isinstance(ack, dict) and ack.get("stream") == self.stream_id):
            return
        t = float(ack.get("t", -math.inf))
        self.pending = [f for f in self.pending if f[0] > t + 1e-6]
        seq = ack.get("seq")
        if self.in_flight is not None and isinstance(seq, int) and seq >= self.in_flight[0]:
            self.in_flight = None
        for s, (sent_s, last_t) in list(self.outstanding.items()):
            if last_t <= t + 1e-6:
                delay = received_s - sent_s
                self.metrics.ack_delays_s.append(delay)
                self.result.acks += 1
                slowest = self.result.slowest_ack
                if slowest is None or delay > slowest[0]:
                    self.result.slowest_ack = (delay, s, last_t / 1000.0)
                del self.outstanding[s]

    def send_every_s(self) -> float:
        """pose_camera.js: `Math.min(1000, Math.max(100, Number(d.send_every_ms) || 250))`."""
        if self.behaviour.send_every_s is not None:
            return self.behaviour.send_every_s
        asked = self.answer.get("send_every_ms", self.data.get("send_every_ms"))
        if isinstance(asked, int | float) and not isinstance(asked, bool) and asked:
            return min(1000.0, max(100.0, float(asked))) / 1000.0
        return SEND_EVERY_S

    def _frame(self, i: int, queued: int) -> list[Any]:
        """Stream frame `i` as the `queued`-th frame sent (counting from 0)."""
        t, bright, points, world = self.stream.frames[i]
        every = self.behaviour.brightness_every
        if every > 1 and queued % every != 0:
            bright = None
        return [t, bright, points, world]

    def upload_every_ms(self) -> float:
        fps = self.behaviour.upload_fps or self.data.get("upload_fps") or 15
        return 1000.0 / min(60.0, max(5.0, float(fps)))

    def _post(self, batch: dict[str, Any], last_t: float) -> None:
        """Post without waiting, as `fetch` does: the camera loop goes on."""
        assert self.poster is not None
        url = self.data.get("post_url")
        if not isinstance(url, str):
            raise RuntimeError("the component gave no post_url")
        body = json.dumps(batch, separators=(",", ":")).encode()
        sent = time.monotonic()
        if batch["seq"] not in self.sent_seqs:  # a batch sent twice is timed once
            self.sent_seqs.add(batch["seq"])
            self.outstanding[batch["seq"]] = (sent, last_t)
        self.result.frames_sent += len(batch["frames"])
        self.result.bytes_sent += len(body)
        poster = self.poster

        async def go() -> None:
            try:
                status, answer = await poster.post(url, body)
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                self.result.net_errors += 1  # resent after resend_after_s, as the JS
                return
            if status == 200 and isinstance(answer, dict):
                self.take_answer(answer, time.monotonic())
            else:
                self.result.refused += 1
                self.result.error = self.result.error or f"the route answered {status}: {answer}"

        task = asyncio.create_task(go())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def maybe_send(self) -> None:
        now = time.monotonic()
        b = self.behaviour
        if not self.pending or now - self.last_send < self.send_every_s():
            return
        if self.in_flight is not None and now - self.in_flight[1] < b.resend_after_s:
            return
        if b.offline is not None and b.offline[0] <= now - self.t0 < b.offline[1]:
            return
        self.seq += 1
        s = self.stream
        frames = self.pending[: b.max_batch] if b.max_batch else list(self.pending)
        batch = encode_batch(self.stream_id, self.seq, s.width, s.height, frames)
        self.in_flight = (self.seq, now)
        self.last_send = now
        self.result.batches += 1
        n = self.result.batches
        if b.drop_every and n % b.drop_every == 0:
            self.result.dropped += 1
            return
        last_t = float(batch["frames"][-1][0])
        self._post(batch, last_t)
        if b.duplicate_every and n % b.duplicate_every == 0:
            self.result.duplicated += 1

            async def again() -> None:
                await asyncio.sleep(0.03)
                self._post(batch, last_t)

            task = asyncio.create_task(again())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def run(self, settle_s: float = SETTLE_S) -> PassResult:
        r = self.result
        t_start = time.monotonic()
        client = StreamlitClient(
            self.url, self.query, on_component=self.on_component, cookies=self.cookies
        )
        self.client = client
        self.poster = JsonPoster(self.url)
        try:
            await client.connect()
            await client.start(START_TIMEOUT_S)
            if client.errors:
                raise RuntimeError(f"the page failed: {client.errors[0]}")
            if self.element is None:
                raise RuntimeError(
                    f"no {COMPONENT} element on the page (is on-device pose available?)"
                )
            t0 = self.t0 = time.monotonic()
            queued = 0
            r.frames_recorded = len(self.stream.frames)
            for i in range(len(self.stream.frames)):
                due = t0 + float(self.stream.frames[i][0]) / 1000.0
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if client.closed.is_set():
                    raise SessionClosed(client.close_reason)
                t_ms = float(self.stream.frames[i][0])
                if t_ms - self.last_queued_ms < self.upload_every_ms() - UPLOAD_SLACK_MS:
                    continue  # analysed and drawn in the browser, not sent
                self.last_queued_ms = t_ms
                self.pending.append(self._frame(i, queued))
                queued += 1
                r.frames_queued = queued
                if len(self.pending) > MAX_PENDING:
                    del self.pending[: len(self.pending) - MAX_PENDING]
                await self.maybe_send()
            # The camera keeps running (still frames) until everything is acknowledged.
            deadline = time.monotonic() + settle_s
            while self.pending and time.monotonic() < deadline:
                await asyncio.sleep(1.0 / self.stream.fps)
                if client.closed.is_set():
                    raise SessionClosed(client.close_reason)
                await self.maybe_send()
            status = self.status()
            r.reps, r.stage = status.get("reps"), status.get("stage")
            if self.pending:
                ack = self.answer.get("ack") or self.data.get("ack") or {}
                lag = (float(self.pending[-1][0]) - float(ack.get("t", 0.0))) / 1000.0
                quiet = time.monotonic() - client.last_message_s
                raise TimeoutError(
                    f"{len(self.pending)} frames never acknowledged {settle_s:.0f} s after "
                    f"the last one (the server's count was {lag:.1f} s behind; its last "
                    f"message came {quiet:.0f} s ago)"
                )
            if self.behaviour.stop_at_end and self.element is not None:
                self.seq += 1
                stop = {"stream": self.stream_id, "seq": self.seq, "batch": None}
                await client.send_trigger(self.element, "stop", stop)
                with contextlib.suppress(TimeoutError):
                    await client.wait_for(
                        lambda: self.data.get("ended"), STOP_WAIT_S, "the summary"
                    )
                r.reps_after_stop = self.status().get("reps")
            if client.errors:
                r.error = f"page error: {client.errors[0]}"
        except asyncio.CancelledError:
            r.error = "cancelled: ran past the time limit"
            raise
        except Exception as exc:
            r.error = f"{type(exc).__name__}: {exc}"
        finally:
            for task in list(self._tasks):
                task.cancel()
            # Batches never acknowledged: their delay is at least this long (censored).
            end = time.monotonic()
            r.unacked = len(self.outstanding)
            self.metrics.unacked_delays_s.extend(
                end - sent for sent, _ in self.outstanding.values()
            )
            r.answer_bytes = sum(client.stats.bytes_in.values()) + self.poster.bytes_in
            r.bytes_sent += client.stats.bytes_out
            await self.poster.close()
            await client.close()
            r.seconds = time.monotonic() - t_start
        return r


async def patient(
    n: int,
    url: str,
    stream: RecordedStream,
    metrics: Metrics,
    *,
    start_delay_s: float,
    end_at: float,
    behaviour: Behaviour = Behaviour(),
    max_passes: int | None = None,
) -> None:
    """Client `n`: passes of the stream, one fresh session each, while a whole one fits."""
    await asyncio.sleep(start_delay_s)
    pass_no = 0
    while max_passes is None or pass_no < max_passes:
        if pass_no > 0 and time.monotonic() + stream.duration_s + 5.0 > end_at:
            break
        pass_no += 1
        result = PassResult(n, pass_no, stream.true_reps)
        await PatientPass(url, stream, metrics, result, behaviour).run()
        if result.error and "SessionClosed" in result.error:
            break


@dataclass
class BrowserResult:
    browser: int
    expected: int
    reps: int | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.reps == self.expected


def browser_patient(k: int, url: str, spec: ClipSpec, camera: Any, work: Path) -> BrowserResult:
    """A real headless Chromium on the Exercise page, its fake webcam playing the clip
    (the browser test's harness: the on-device model runs in the browser), read once the
    clip has played (blocking: run it in a thread)."""
    from tests import test_browser_e2e as e2e

    result = BrowserResult(k, spec.reps)
    t0 = time.monotonic()
    settle_s = e2e.PAD_START_S + camera.clip_s + e2e.PAD_END_S / 2
    try:
        with e2e.chromium_page(camera.path, work / f"profile-{k}") as page:
            run = e2e.run_live(page, url, spec.exercise, until_s=settle_s + 1, pose="browser")
        result.reps = run.count_at(settle_s)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.monotonic() - t0
    return result


async def run_browsers(url: str, spec: ClipSpec, k: int, work: Path) -> list[BrowserResult]:
    from tests import test_browser_e2e as e2e

    missing = [t for t in ("ffmpeg", "ffprobe") if shutil.which(t) is None]
    if not Path(e2e.CHROMIUM).exists():
        missing.append(e2e.CHROMIUM)
    if missing:
        return [BrowserResult(i, spec.reps, error=f"needs {', '.join(missing)}") for i in range(k)]
    camera = await asyncio.to_thread(e2e.make_fake_camera, CLIPS / spec.path, work)
    return list(
        await asyncio.gather(
            *(asyncio.to_thread(browser_patient, i, url, spec, camera, work) for i in range(k))
        )
    )


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    xs = sorted(values)
    k = (len(xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


# -- the benchmark ------------------------------------------------------------------------


@dataclass
class Summary:
    clients: int
    right: int
    passes: int
    ack_p50_ms: float
    ack_p95_ms: float
    ack_max_ms: float
    cpu_core_pct: float
    cpu_machine_pct: float
    cores: int
    rss_start_mb: float
    rss_end_mb: float
    rss_peak_mb: float
    batches: int
    seconds: float
    client_cpu_pct: float = math.nan
    """This process (all simulated patients) as % of one core: it shares the machine."""
    load: tuple[str, str] = ("?", "?")
    """/proc/loadavg's 1-minute figure at the start and at the end."""
    machine_pct: float = math.nan
    """The whole machine's CPU in use (all processes), as % of all cores."""
    browsers: int = 0
    rss_after_linger_mb: float = math.nan
    """RSS after --linger seconds and one more page load (closed sessions expired)."""

    @property
    def cpu_ms_per_batch(self) -> float:
        """Server CPU per batch answered (less sensitive to a busy machine than %)."""
        if not self.batches:
            return math.nan
        return 10.0 * self.cpu_core_pct * self.seconds / self.batches

    def line(self) -> str:
        return (
            f"clients {self.clients}: counts right {self.right}/{self.passes} passes, "
            f"ack delay p95 {self.ack_p95_ms:.0f} ms, server cpu {self.cpu_machine_pct:.0f}% "
            f"of {self.cores} cores, memory growth {self.rss_end_mb - self.rss_start_mb:.0f} MB"
        )


async def run_load(
    url: str,
    pid: int,
    stream: RecordedStream,
    clients: int,
    seconds: float,
    *,
    stagger_s: float = 5.0,
    behaviours: Sequence[Behaviour] = (),
    browsers: int = 0,
    spec: ClipSpec | None = None,
    work: Path | None = None,
    linger_s: float = 0.0,
    log: Callable[[str], None] = print,
) -> tuple[Summary, Metrics]:
    metrics = Metrics()
    mon = ProcMonitor(pid)
    stop = asyncio.Event()
    sampler = asyncio.create_task(mon.run(stop))
    # Warm up: the first page load imports the app's modules (not a patient's cost).
    warm = PassResult(-1, 0, stream.true_reps)
    try:
        async with StreamlitClient(url, f"exercise={stream.exercise}") as c:
            await c.start(START_TIMEOUT_S)
    except Exception as exc:
        warm.error = str(exc)
    if warm.error:
        log(f"warm-up failed: {warm.error}")
    mon.mark("start")
    t_start = time.monotonic()
    cpu_start = time.process_time()
    load_start = _loadavg()
    end_at = t_start + seconds
    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(
            patient(
                i,
                url,
                stream,
                metrics,
                start_delay_s=stagger_s * i / max(clients, 1),
                end_at=end_at,
                behaviour=behaviours[i] if i < len(behaviours) else Behaviour(),
            )
        )
        for i in range(clients)
    ]
    browser_task = None
    if browsers and spec is not None and work is not None:
        browser_task = asyncio.create_task(run_browsers(url, spec, browsers, work))
        tasks.append(browser_task)
    # Bounded: a pass starts only if it fits in `seconds` (the first always starts) and
    # ends within its stream, the settle time and the stop; anything later is cancelled.
    hard = max(seconds, stagger_s + stream.duration_s) + CLIENT_MARGIN_S
    _, late = await asyncio.wait(tasks, timeout=hard)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    if late:
        log(f"{len(late)} clients were still running after {hard:.0f} s and were stopped")
    if browser_task is not None and browser_task.done() and not browser_task.cancelled():
        metrics.browsers = browser_task.result()
    mon.mark("end")
    wall = time.monotonic() - t_start
    client_cpu = (time.process_time() - cpu_start) / wall if wall > 0 else math.nan
    rss_linger = math.nan
    if linger_s > 0:
        # Streamlit keeps a closed session for server.disconnectedSessionTTL (120 s) and
        # drops expired ones when its session store is next used: wait, then load a page.
        await asyncio.sleep(linger_s)
        with contextlib.suppress(Exception):
            async with StreamlitClient(url, f"exercise={stream.exercise}") as c:
                await c.start(START_TIMEOUT_S)
        await asyncio.sleep(2.0)
        mon.mark("linger")
        rss_linger = mon.rss_at("linger") / 1e6
    stop.set()
    await sampler
    passes = [p for p in metrics.passes if p.client >= 0]
    # A batch never acknowledged counts with the time it had waited (a lower bound), so a
    # server that falls behind cannot look fast by answering only some batches.
    delays_ms = [d * 1000.0 for d in (*metrics.ack_delays_s, *metrics.unacked_delays_s)]
    cores = os.cpu_count() or 1
    cpu = mon.cpu_between("start", "end")
    summary = Summary(
        clients=clients,
        right=sum(p.ok for p in passes),
        passes=len(passes),
        ack_p50_ms=percentile(delays_ms, 0.5),
        ack_p95_ms=percentile(delays_ms, 0.95),
        ack_max_ms=max(delays_ms) if delays_ms else math.nan,
        cpu_core_pct=100.0 * cpu,
        cpu_machine_pct=100.0 * cpu / cores,
        cores=cores,
        rss_start_mb=mon.rss_at("start") / 1e6,
        rss_end_mb=mon.rss_at("end") / 1e6,
        rss_peak_mb=mon.peak_rss("start", "end") / 1e6,
        batches=sum(p.batches for p in passes),
        seconds=wall,
        client_cpu_pct=100.0 * client_cpu,
        load=(load_start, _loadavg()),
        machine_pct=100.0 * mon.machine_busy_between("start", "end"),
        browsers=browsers,
        rss_after_linger_mb=rss_linger,
    )
    return summary, metrics


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except (OSError, IndexError):
        return "?"


def _report(summary: Summary, metrics: Metrics, log: Callable[[str], None]) -> None:
    passes = [p for p in metrics.passes if p.client >= 0]
    slow = sorted(
        ((p.slowest_ack, p.client, p.pass_no) for p in passes if p.slowest_ack is not None),
        reverse=True,
    )
    for (delay, seq, t), client, pass_no in slow[:3]:
        if delay > 1.0:
            log(
                f"  slow answer: client {client} pass {pass_no}, batch {seq} (frames up to "
                f"{t:.1f} s into the stream): {delay * 1000:.0f} ms"
            )
    for p in passes:
        if not p.ok:
            log(
                f"  client {p.client} pass {p.pass_no}: reps {p.reps} (after stop "
                f"{p.reps_after_stop}), expected {p.expected}, stage {p.stage}"
                + (f", error: {p.error}" if p.error else "")
            )
    if passes:
        sent = sum(p.bytes_sent for p in passes)
        answers = sum(p.answer_bytes for p in passes)
        batches = max(summary.batches, 1)
        log(
            f"  {summary.batches} batches ({summary.batches / summary.seconds:.1f}/s), "
            f"{sent / batches / 1e3:.1f} kB each; server sent {answers / 1e6:.1f} MB "
            f"({answers / batches / 1e3:.1f} kB per batch)"
        )
        log(
            f"  frames: {sum(p.frames_sent for p in passes)} sent for "
            f"{sum(p.frames_recorded for p in passes)} recorded (resends included)"
        )
    paces = [p.pace_ms for p in passes if p.pace_ms is not None]
    if paces:
        log(
            f"  batch interval (the server's pace): {min(p[0] for p in paces):.0f} to "
            f"{max(p[1] for p in paces):.0f} ms"
        )
    log(
        f"  ack delay p50 {summary.ack_p50_ms:.0f} ms, p95 {summary.ack_p95_ms:.0f} ms, "
        f"max {summary.ack_max_ms:.0f} ms ({len(metrics.ack_delays_s)} batches acknowledged, "
        f"{len(metrics.unacked_delays_s)} never: counted with the time they waited)"
    )
    log(
        f"  server cpu {summary.cpu_core_pct:.0f}% of one core "
        f"({summary.cpu_machine_pct:.0f}% of {summary.cores} cores); RSS "
        f"{summary.rss_start_mb:.0f} -> {summary.rss_end_mb:.0f} MB "
        f"(peak {summary.rss_peak_mb:.0f} MB) over {summary.seconds:.0f} s; "
        f"{summary.cpu_ms_per_batch:.1f} ms of server CPU per batch, "
        f"{summary.cpu_core_pct / max(summary.clients, 1):.1f}% of a core per patient"
    )
    if not math.isnan(summary.rss_after_linger_mb):
        log(
            f"  RSS {summary.rss_after_linger_mb:.0f} MB after the closed sessions' TTL "
            f"(+{summary.rss_after_linger_mb - summary.rss_start_mb:.0f} MB over the start)"
        )
    others = summary.machine_pct - (summary.cpu_core_pct + summary.client_cpu_pct) / summary.cores
    log(
        f"  the simulated patients used {summary.client_cpu_pct:.0f}% of one core; the "
        f"machine was {summary.machine_pct:.0f}% busy ({max(others, 0.0):.0f}% of it other "
        f"processes{', the real browsers included' if summary.browsers else ''}); "
        f"load average {summary.load[0]} -> {summary.load[1]}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clip", choices=sorted(CLIP_SPECS), default="xbot")
    ap.add_argument("--model", default="full", help="the pose model the streams are made with")
    ap.add_argument("--app", type=Path, default=None, help="another script than app.py")
    ap.add_argument("--stagger", type=float, default=5.0, help="seconds over which clients start")
    ap.add_argument(
        "--browsers", type=int, default=0, help="real headless Chromiums too (one core each)"
    )
    ap.add_argument("--record-only", action="store_true", help="build the cached streams")
    ap.add_argument("--server-log", type=Path, default=None, help="keep the server's log here")
    ap.add_argument(
        "--linger",
        type=float,
        default=0.0,
        help="then wait this long (130: past Streamlit's 120 s session TTL) and read RSS again",
    )
    ap.add_argument(
        "--max-batch", type=int, default=0, help="cap a batch's frames (0: all, as the JS)"
    )
    ap.add_argument(
        "--resend-after", type=float, default=RESEND_AFTER_S, help="seconds (the JS: 2)"
    )
    ap.add_argument(
        "--send-every",
        type=float,
        default=None,
        help="a fixed batch interval, s (default: the server's send_every_ms, as the JS)",
    )
    args = ap.parse_args(argv)
    if args.record_only:
        for spec in CLIP_SPECS.values():
            s = load_stream(spec, args.model)
            print(f"{spec.key}: {len(s.frames)} frames, {s.duration_s:.1f} s, {s.true_reps} reps")
        return 0
    stream = load_stream(CLIP_SPECS[args.clip], args.model)
    print(
        f"stream {stream.clip}: {len(stream.frames)} frames, {stream.duration_s:.1f} s a pass, "
        f"{stream.true_reps} reps; {args.clients} clients for {args.seconds:.0f} s"
    )
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="coach-ondevice-") as tmp:
        env = {"COACH_DATA_DIR": str(Path(tmp) / "data"), "COACH_POSE_MODE": "browser"}
        log_path = Path(tmp) / "server.log"
        try:
            with app_server(log_path, args.app, env) as server:
                assert server.proc is not None
                summary, metrics = asyncio.run(
                    run_load(
                        server.url,
                        server.proc.pid,
                        stream,
                        args.clients,
                        args.seconds,
                        stagger_s=args.stagger,
                        behaviours=[
                            Behaviour(
                                max_batch=args.max_batch,
                                resend_after_s=args.resend_after,
                                send_every_s=args.send_every,
                            )
                        ]
                        * args.clients,
                        browsers=args.browsers,
                        spec=CLIP_SPECS[args.clip],
                        work=Path(tmp),
                        linger_s=args.linger,
                    )
                )
        except BaseException:
            with contextlib.suppress(OSError):
                print(log_path.read_text(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            if args.server_log is not None:
                with contextlib.suppress(OSError):
                    args.server_log.write_bytes(log_path.read_bytes())
    _report(summary, metrics, print)
    print(f"  whole run {time.monotonic() - t0:.0f} s")
    browsers_ok = True
    if args.browsers:
        b = metrics.browsers
        for r in b:
            if not r.ok:
                print(f"  browser {r.browser}: reps {r.reps} of {r.expected}, error {r.error}")
        browsers_ok = len(b) == args.browsers and all(r.ok for r in b)
        print(f"browsers {args.browsers}: counts right {sum(r.ok for r in b)}/{args.browsers}")
    print(summary.line())
    ok = summary.right == summary.passes and summary.passes > 0 and browsers_ok
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
