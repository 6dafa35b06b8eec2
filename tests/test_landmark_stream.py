"""On-device pose without a browser: the landmark wire format, the resend gate, and the
live holder fed batch by batch as the browser would (drops, resends, merged batches)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import pytest

from coach.exercise import load_exercises
from coach.landmark_stream import (
    MAX_FRAMES,
    BatchError,
    FrameGate,
    batch_interval_ms,
    encode_batch,
    encode_frame,
    parse_batch,
)
from coach.landmarks import Landmark, Pose
from coach.live_session import LiveSession
from coach.ui.live import LiveConfig, LiveHolder
from tests.conftest import ankle_trace, side_view_pose

EXS = load_exercises()
ROM = EXS["range_of_motion"]


def with_world(pose: Pose) -> Pose:
    world = tuple((0.01 * i, -0.02 * i, 0.003 * i) for i in range(len(Landmark)))
    return Pose(pose.keypoints, pose.width, pose.height, world)


def good_batch(**changes: Any) -> dict[str, Any]:
    pose = with_world(side_view_pose(5.0))
    frames = [encode_frame(0.0, pose, 120.0), encode_frame(0.033, None, None)]
    batch = encode_batch("s1", 1, 640, 480, frames)
    batch.update(changes)
    return batch


def test_a_frame_survives_the_wire_within_rounding() -> None:
    pose = with_world(side_view_pose(12.0))
    batch = parse_batch(encode_batch("cam", 3, 640, 480, [encode_frame(1.5, pose, 99.94)], 2))
    assert (batch.stream, batch.seq, batch.width, batch.height, batch.skipped) == (
        "cam",
        3,
        640,
        480,
        2,
    )
    (frame,) = batch.frames
    assert frame.t_s == pytest.approx(1.5)
    assert frame.brightness == pytest.approx(99.9)
    assert frame.pose is not None and frame.pose.world is not None
    for a, b in zip(frame.pose.keypoints, pose.keypoints, strict=True):
        assert a.x == pytest.approx(b.x, abs=0.01) and a.y == pytest.approx(b.y, abs=0.01)
        assert a.visibility == pytest.approx(b.visibility, abs=1e-5)
        assert a.presence == pytest.approx(b.presence, abs=1e-5)
    assert frame.pose.world[5] == pytest.approx(pose.world[5], abs=1e-4)  # type: ignore[index]


def test_nobody_in_view_is_a_frame_without_a_pose() -> None:
    batch = parse_batch(good_batch())
    assert batch.frames[1].pose is None and batch.frames[1].brightness is None


N = len(Landmark)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"v": 2}, "v"),
        ({"stream": ""}, "stream"),
        ({"stream": "x" * 65}, "stream"),
        ({"seq": -1}, "seq"),
        ({"seq": 1.5}, "seq"),
        ({"w": 0}, "w"),
        ({"h": "480"}, "h"),
        ({"skipped": True}, "skipped"),
        ({"frames": None}, "frames"),
        ({"frames": [[0.0, None, None, None]] * (MAX_FRAMES + 1)}, "frames"),
        ({"frames": [[0.0, None, None]]}, "frames[0]"),
        ({"frames": [[-1.0, None, None, None]]}, "frames[0].time"),
        ({"frames": [[float("nan"), None, None, None]]}, "frames[0].time"),
        ({"frames": [[0.0, "dark", None, None]]}, "frames[0].brightness"),
        ({"frames": [[0.0, None, [0.5] * (5 * N - 1), None]]}, "frames[0].landmarks"),
        ({"frames": [[0.0, None, [0.5] * (5 * N - 1) + [math.inf], None]]}, "frames[0].landmarks"),
        ({"frames": [[0.0, None, [0.5] * (5 * N), [0.0] * 3]]}, "frames[0].world"),
        ({"frames": [[5.0, None, None, None], [5.0, None, None, None]]}, "frames[1].time"),
    ],
)
def test_bad_batches_are_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(BatchError) as err:
        parse_batch(good_batch(**changes))
    assert err.value.field == field


def test_a_batch_must_be_an_object() -> None:
    with pytest.raises(BatchError):
        parse_batch([1, 2, 3])


def frames_at(times: list[float]) -> list[list[Any]]:
    return [encode_frame(t, None) for t in times]


@pytest.mark.parametrize(
    ("batches", "fresh_counts", "ack_ms"),
    [
        # stream, times (s) -> frames let through
        ([("a", [0.0, 0.1]), ("a", [0.2])], [2, 1], 200.0),
        ([("a", [0.0, 0.1]), ("a", [0.0, 0.1, 0.2])], [2, 1], 200.0),  # resent + new
        ([("a", [0.0, 0.1, 0.2]), ("a", [0.1, 0.2])], [3, 0], 200.0),  # a late duplicate
        ([("a", [0.0]), ("b", [0.0, 0.05])], [1, 2], 50.0),  # the camera restarted
        ([("a", [0.5]), ("a", [])], [1, 0], 500.0),
    ],
)
def test_the_gate_lets_each_frame_through_once(
    batches: list[tuple[str, list[float]]], fresh_counts: list[int], ack_ms: float
) -> None:
    gate = FrameGate()
    got = []
    for i, (stream, times) in enumerate(batches):
        got.append(
            len(gate.fresh(parse_batch(encode_batch(stream, i, 640, 480, frames_at(times)))))
        )
    assert got == fresh_counts
    ack = gate.ack()
    assert ack is not None and ack["t"] == pytest.approx(ack_ms)


# -- the holder, batch by batch ------------------------------------------------------------

FPS = 30.0
SECONDS = 3.0 + 3.0 * 6 + 1.0  # still, six reps, still


def session_frames() -> list[list[Any]]:
    n = int(SECONDS * FPS)
    return [encode_frame(i / FPS, side_view_pose(ankle_trace(i / FPS)), 120.0) for i in range(n)]


def make_holder() -> LiveHolder:
    config = LiveConfig(ROM.id, "full", "auto", True, "browser", 0.0)
    session = LiveSession(ROM, calibrate=True)

    def no_model() -> Any:
        raise AssertionError("on-device mode never runs a model on the server")

    return LiveHolder(ROM, config, no_model, session)


Sender = Callable[[list[list[Any]], random.Random], list[list[list[Any]]]]


def in_batches(frames: list[list[Any]], rng: random.Random) -> list[list[list[Any]]]:
    return [frames[i : i + 8] for i in range(0, len(frames), 8)]


def lossy(frames: list[list[Any]], rng: random.Random) -> list[list[list[Any]]]:
    """Every third message lost: the browser resends those frames with the next one."""
    out, pending, sent = [], [], 0
    for i in range(0, len(frames), 8):
        pending += frames[i : i + 8]
        sent += 1
        if sent % 3 == 0:
            continue  # lost in a rerun: nothing acknowledged, all kept
        out.append(list(pending))
        pending = []
    if pending:
        out.append(pending)
    return out


def duplicated(frames: list[list[Any]], rng: random.Random) -> list[list[list[Any]]]:
    """Each batch sent twice, and each overlapping the previous by half."""
    out = []
    for i in range(0, len(frames), 8):
        batch = frames[max(0, i - 4) : i + 8]
        out += [batch, batch]
    return out


def stalled(frames: list[list[Any]], rng: random.Random) -> list[list[list[Any]]]:
    """Irregular batches, up to 4 s of frames at once (a busy tab), in order."""
    out, i = [], 0
    while i < len(frames):
        k = rng.choice([1, 3, 8, 30, 120])
        out.append(frames[i : i + k])
        i += k
    return out


def thinned(frames: list[list[Any]], rng: random.Random) -> list[list[list[Any]]]:
    """A slow phone analysing every third camera frame only (10 a second)."""
    return in_batches(frames[::3], rng)


@pytest.mark.parametrize("sender", [in_batches, lossy, duplicated, stalled, thinned])
def test_the_count_does_not_depend_on_how_the_batches_arrived(sender: Sender) -> None:
    frames = session_frames()
    reference = make_holder()
    for i, batch in enumerate(in_batches(frames, random.Random(0))):
        reference.process_batch(parse_batch(encode_batch("cam", i, 640, 480, batch)), float(i))
    expected = reference.rep_count
    assert expected == 6

    holder = make_holder()
    sent = sender(frames, random.Random(7))
    for i, batch in enumerate(sent):
        holder.process_batch(parse_batch(encode_batch("cam", i, 640, 480, batch)), float(i))
    assert holder.rep_count == expected
    snap = holder.snapshot()
    newest_ms = max(f[0] for batch in sent for f in batch)
    assert snap.ack is not None and snap.ack["t"] == pytest.approx(newest_ms)
    assert snap.result is not None and snap.result.side is not None


def test_frames_keep_the_browsers_spacing_not_the_arrival_time() -> None:
    """Ten seconds of frames arriving in one burst still span ten seconds of session."""
    holder = make_holder()
    frames = session_frames()[: int(10 * FPS)]
    holder.process_batch(parse_batch(encode_batch("cam", 1, 640, 480, frames[:600])), 100.0)
    status = holder.snapshot().status
    assert status.t_s == pytest.approx(10.0 - 1 / FPS, abs=0.01)


@pytest.mark.parametrize(
    ("sessions", "interval_ms"),
    [(0, 250), (1, 250), (8, 250), (25, 250), (50, 500), (80, 800), (100, 1000), (500, 1000)],
)
def test_browsers_batch_more_as_the_server_gets_busier(sessions: int, interval_ms: int) -> None:
    assert batch_interval_ms(sessions) == interval_ms


def test_the_server_counts_only_sessions_seen_lately() -> None:
    from coach.ui.landmark_api import ActiveSessions

    active = ActiveSessions(window_s=5.0)
    active.seen("a", 0.0)
    active.seen("b", 3.0)
    assert active.count(4.0) == 2
    assert active.count(6.0) == 1  # "a" stopped sending
    active.seen("a", 7.0)
    assert active.count(7.0) == 2
