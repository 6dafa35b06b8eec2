"""On-device mode over Streamlit's real protocol: recorded landmarks in, reps out.

`streamlit run app.py` on 127.0.0.1 and three simulated browsers (`benchmarks.st_client`
speaks the websocket protocol; `benchmarks.ondevice_load` plays pose_camera.js: a batch
at most every 250 ms, one in flight, unacknowledged frames resent). Each opens the
Exercise page as a guest (`/?exercise=range_of_motion`), replays the full model's
landmarks of the rendered `xbot_seated_pumps_side` clip (10 reps) in real time, and
presses Stop:

- two well-behaved clients must each end with exactly 10 reps;
- a third loses every 3rd batch it sends and sends some twice, so the server sees
  resent, overlapping frames (and waits for the 2 s resend): still exactly 10.

The landmark stream is recorded once into `.cache/landmark_streams/` (about 30 s of
pose model time the first time). The clients run together, about a minute.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from benchmarks.ondevice_load import (
    CLIP_SPECS,
    CLIPS,
    Behaviour,
    Metrics,
    PassResult,
    PatientPass,
    RecordedStream,
    load_stream,
)
from tests.test_browser_e2e import StreamlitServer

SPEC = CLIP_SPECS["xbot"]
LOSSY = Behaviour(drop_every=3, duplicate_every=4)


async def _replay(
    url: str, stream: RecordedStream, behaviours: list[Behaviour]
) -> tuple[Metrics, list[PassResult]]:
    metrics = Metrics()
    results = [PassResult(i, 1, stream.true_reps) for i in range(len(behaviours))]
    runs = [
        PatientPass(url, stream, metrics, r, b).run()
        for r, b in zip(results, behaviours, strict=True)
    ]
    budget = stream.duration_s + 45.0
    await asyncio.wait_for(asyncio.gather(*runs), budget)
    return metrics, results


def test_recorded_landmarks_count_ten_reps_over_the_real_protocol(tmp_path: Path) -> None:
    clip = CLIPS / SPEC.path
    if not clip.is_file():
        pytest.skip(f"shared clip not found: {clip}")
    stream = load_stream(SPEC, "full")
    assert stream.true_reps == 10
    env = {"COACH_POSE_MODE": "browser", "COACH_DATA_DIR": str(tmp_path / "data")}
    server = StreamlitServer(tmp_path / "server.log", env)
    with server:
        try:
            metrics, results = asyncio.run(
                _replay(server.url, stream, [Behaviour(), Behaviour(), LOSSY])
            )
        except BaseException:
            print(f"--- server log ---\n{server.log()}")
            raise
        problems = [r for r in results if not r.ok or r.reps_after_stop != r.expected]
        if problems:
            print(f"--- server log ---\n{server.log()}")
    for r in results:
        print(
            f"client {r.client}: reps {r.reps} (after Stop {r.reps_after_stop}) of {r.expected}, "
            f"{r.batches} batches ({r.dropped} lost, {r.duplicated} sent twice), "
            f"{r.frames_sent} frames sent for {r.frames_recorded}, error {r.error}"
        )
    assert not problems, problems
    lossy = results[2]
    assert lossy.dropped >= 10 and lossy.duplicated >= 5  # the server really saw resends
    assert lossy.frames_sent > lossy.frames_recorded
    # Every batch sent got its acknowledgement (the lost ones were covered by later ones).
    assert not metrics.unacked_delays_s
    assert len(metrics.ack_delays_s) == sum(r.batches - r.dropped for r in results)
