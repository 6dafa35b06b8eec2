"""Landmark streams from the patient's browser: the wire format and the resend gate.

In on-device mode the browser runs the Pose Landmarker and sends only timestamped
landmarks, in batches (`LandmarkBatch`), never video. This module is the boundary:
a batch is validated here and converted once into our `Pose` objects, and everything
after it (the `LiveSession`, the counter, the cues) is the same code the server-side
camera path uses.

The browser resends every frame the server has not acknowledged yet, so a message lost
in a page rerun, or two batches merged into one, changes nothing: `FrameGate` keeps, per
camera stream, the newest frame time handled and lets only newer frames through. Frame
times are the browser's own (milliseconds since that camera stream started), so the
counter sees the real spacing of the frames whatever the network did.

Wire format, version 1 (JSON)::

    {"v": 1, "stream": "k3j9...", "seq": 12, "w": 640, "h": 480, "skipped": 3,
     "frames": [[t_ms, brightness | null, landmarks | null, world | null], ...]}

`landmarks`: 33 x (x, y, z, visibility, presence), flat, x and y in shares of the
picture; `world`: 33 x (x, y, z) in metres; null when nobody was found. `skipped`:
camera frames the browser could not analyse since its last batch (it was busy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coach.landmarks import Landmark, Pose

WIRE_VERSION = 1
POINT_VALUES = 5
WORLD_VALUES = 3
MAX_FRAMES = 900
"""Frames one batch may carry: 30 s at 30 frames a second (a long stall, resent whole)."""
MAX_SIDE_PX = 8192
STREAM_ID_MAX = 64

UPLOAD_FPS = 15
"""Frames a second the browser sends at most (it analyses and draws at camera rate):
counting and holds are measured right at 15 (tests/test_still_start.py runs every
rendered clip at 15), and half the frames is half the server's work per patient."""

FASTEST_BATCH_MS = 250
"""Four batches a second is plenty for the count and the beep to feel immediate (the
leg is drawn in the browser at camera rate)."""
SLOWEST_BATCH_MS = 1000
"""Never slower: the count, the beep and the cue lag the movement by up to this much."""
BATCH_BUDGET_PER_S = 100.0
"""Landmark batches a second one server process takes before it asks browsers to batch
more: each is one HTTP request to the landmark route (measured:
benchmarks/ondevice_load.py, docs/benchmark.md)."""


def batch_interval_ms(active_sessions: int, budget_per_s: float = BATCH_BUDGET_PER_S) -> int:
    """How often each browser should send a batch, given the on-device sessions this
    server runs now: fast while there is room, then slower so the requests stay within
    budget, but never slower than `SLOWEST_BATCH_MS`. Batching more changes no count
    (frames keep their own times), only how soon the page shows it."""
    if budget_per_s <= 0:
        return SLOWEST_BATCH_MS
    wanted = 1000.0 * max(1, active_sessions) / budget_per_s
    return int(min(SLOWEST_BATCH_MS, max(FASTEST_BATCH_MS, round(wanted))))


class BatchError(ValueError):
    """A batch the server cannot use; `field` names the part and `problem` says why."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"landmark batch: {field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class BrowserFrame:
    """One analysed camera frame: its time on the stream's clock, and what was seen."""

    t_s: float
    brightness: float | None
    pose: Pose | None


@dataclass(frozen=True, slots=True)
class LandmarkBatch:
    stream: str
    seq: int
    width: int
    height: int
    frames: tuple[BrowserFrame, ...]
    skipped: int = 0

    @property
    def last_t_s(self) -> float | None:
        return self.frames[-1].t_s if self.frames else None


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BatchError(field, "expected a number")
    v = float(value)
    if not math.isfinite(v):
        raise BatchError(field, "expected a finite number")
    return v


def _int(value: Any, field: str, lo: int, hi: int) -> int:
    v = _number(value, field)
    if v != int(v) or not lo <= v <= hi:
        raise BatchError(field, f"expected a whole number from {lo} to {hi}")
    return int(v)


def _flat(value: Any, field: str, per: int) -> list[float]:
    if not isinstance(value, list) or len(value) != per * len(Landmark):
        raise BatchError(field, f"expected {per * len(Landmark)} numbers")
    return [_number(v, field) for v in value]


def _frame(raw: Any, i: int, width: int, height: int) -> BrowserFrame:
    where = f"frames[{i}]"
    if not isinstance(raw, list) or len(raw) != 4:
        raise BatchError(where, "expected [time_ms, brightness, landmarks, world]")
    t_ms, bright, points, world = raw
    t_s = _number(t_ms, f"{where}.time") / 1000.0
    if t_s < 0:
        raise BatchError(f"{where}.time", "must not be negative")
    brightness = None if bright is None else _number(bright, f"{where}.brightness")
    if points is None:
        return BrowserFrame(t_s, brightness, None)
    flat = _flat(points, f"{where}.landmarks", POINT_VALUES)
    tuples = [
        (flat[j], flat[j + 1], flat[j + 2], flat[j + 3], flat[j + 4])
        for j in range(0, len(flat), POINT_VALUES)
    ]
    world_tuples = None
    if world is not None:
        w = _flat(world, f"{where}.world", WORLD_VALUES)
        world_tuples = [(w[j], w[j + 1], w[j + 2]) for j in range(0, len(w), WORLD_VALUES)]
    return BrowserFrame(t_s, brightness, Pose.from_normalized(tuples, width, height, world_tuples))


def parse_batch(payload: Any) -> LandmarkBatch:
    """Validate one message from the browser and convert it into poses (or `BatchError`)."""
    if not isinstance(payload, Mapping):
        raise BatchError("batch", "expected an object")
    if payload.get("v") != WIRE_VERSION:
        raise BatchError("v", f"this server reads version {WIRE_VERSION}")
    stream = payload.get("stream")
    if not isinstance(stream, str) or not 0 < len(stream) <= STREAM_ID_MAX:
        raise BatchError("stream", f"expected an id of 1 to {STREAM_ID_MAX} characters")
    seq = _int(payload.get("seq"), "seq", 0, 2**53)
    width = _int(payload.get("w"), "w", 1, MAX_SIDE_PX)
    height = _int(payload.get("h"), "h", 1, MAX_SIDE_PX)
    skipped = _int(payload.get("skipped", 0), "skipped", 0, 2**31)
    frames = payload.get("frames")
    if not isinstance(frames, list):
        raise BatchError("frames", "expected a list")
    if len(frames) > MAX_FRAMES:
        raise BatchError("frames", f"at most {MAX_FRAMES} a batch")
    parsed = tuple(_frame(raw, i, width, height) for i, raw in enumerate(frames))
    for i in range(1, len(parsed)):
        if parsed[i].t_s <= parsed[i - 1].t_s:
            raise BatchError(f"frames[{i}].time", "frame times must increase")
    return LandmarkBatch(stream, seq, width, height, parsed, skipped)


def encode_frame(t_s: float, pose: Pose | None, brightness: float | None = None) -> list[Any]:
    """One frame as the browser sends it (recorded streams and tests replay these)."""
    if pose is None:
        return [round(t_s * 1000.0, 3), brightness, None, None]
    w, h = max(pose.width, 1), max(pose.height, 1)
    points = [
        round(v, 5)
        for k in pose.keypoints
        for v in (k.x / w, k.y / h, k.z / w, k.visibility, k.presence)
    ]
    world = [round(v, 4) for p in pose.world for v in p] if pose.world else None
    bright = None if brightness is None else round(brightness, 1)
    return [round(t_s * 1000.0, 3), bright, points, world]


def encode_batch(
    stream: str,
    seq: int,
    width: int,
    height: int,
    frames: Sequence[list[Any]],
    skipped: int = 0,
) -> dict[str, Any]:
    return {
        "v": WIRE_VERSION,
        "stream": stream,
        "seq": seq,
        "w": width,
        "h": height,
        "skipped": skipped,
        "frames": list(frames),
    }


@dataclass
class FrameGate:
    """Lets each frame through once: per stream, only frames newer than the newest seen.

    `ack()` is what the server tells the browser it has (the browser drops those frames
    from what it resends).
    """

    _newest: dict[str, float]

    def __init__(self) -> None:
        self._newest = {}
        self._last_stream: str | None = None

    def fresh(self, batch: LandmarkBatch) -> list[BrowserFrame]:
        newest = self._newest.get(batch.stream, -math.inf)
        out = [f for f in batch.frames if f.t_s > newest]
        if out:
            self._newest[batch.stream] = out[-1].t_s
        self._last_stream = batch.stream
        return out

    def ack(self) -> dict[str, Any] | None:
        stream = self._last_stream
        if stream is None or stream not in self._newest:
            return None
        return {"stream": stream, "t": round(self._newest[stream] * 1000.0, 3)}
