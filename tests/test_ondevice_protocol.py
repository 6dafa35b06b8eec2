"""On-device mode over Streamlit's real protocol: recorded landmarks in, reps out.

`streamlit run app.py` on 127.0.0.1 and three simulated browsers (`benchmarks.st_client`
speaks the websocket protocol; `benchmarks.ondevice_load` plays pose_camera.js: frames
thinned to the server's `upload_fps`, a batch posted to the landmark route at most every
250 ms, one in flight, unacknowledged frames resent, the page's fragment rerun only when
the answer says its panel changed). Each opens the
Exercise page as a guest (`/?exercise=range_of_motion`), replays the full model's
landmarks of the rendered `xbot_seated_pumps_side` clip (10 reps) in real time, and
presses Stop:

- two well-behaved clients must each end with exactly 10 reps;
- a third loses every 3rd batch it sends and sends some twice, so the server sees
  resent, overlapping frames (and waits for the 2 s resend): still exactly 10.

The landmark route itself refuses, in plain words, an unknown session, a body that is
not JSON, a batch it cannot read and one too large, and loses nothing for it.

The landmark stream is recorded once into `.cache/landmark_streams/` (about 30 s of
pose model time the first time). The clients run together, about a minute.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import requests

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
from coach.ui.landmark_api import BAD, GONE, MAX_BODY_BYTES, TOO_BIG, landmark_url
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


def _refusals(url: str) -> list[tuple[int, str]]:
    """What the route answers to a made-up session and to bodies it cannot use (a live
    session's own token is needed for the last three: a fresh page has one)."""
    import re

    from benchmarks.st_client import StreamlitClient

    async def token() -> str:
        found: list[str] = []

        def seen(el: object) -> None:
            data = getattr(el, "data", None)
            if isinstance(data, dict) and isinstance(data.get("post_url"), str):
                found.append(data["post_url"])

        async with StreamlitClient(url, "exercise=range_of_motion", on_component=seen) as c:
            await c.start(30.0)
            post_url = found[-1]
            out = []
            for body in (b"{}", b"not json", json.dumps({"v": 1, "frames": 3}).encode(),
                         b"[" + b" " * MAX_BODY_BYTES + b"]"):  # fmt: skip
                target = post_url if body != b"{}" else landmark_url("", "made-up-session")
                res = await asyncio.to_thread(requests.post, url + target, data=body, timeout=30)
                out.append((res.status_code, res.json()["error"]))
            assert re.fullmatch(r"/coach-api/landmarks/[\w-]{32}", post_url), post_url
            return json.dumps(out)

    return [tuple(x) for x in json.loads(asyncio.run(token()))]


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
        refusals = _refusals(server.url)
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
    assert refusals == [
        (404, GONE), (400, BAD), (400, BAD), (413, TOO_BIG),
    ]  # fmt: skip
    lossy = results[2]
    assert lossy.dropped >= 10 and lossy.duplicated >= 5  # the server really saw resends
    assert lossy.frames_sent > lossy.frames_queued
    # Every batch sent got its acknowledgement (the lost ones were covered by later ones).
    assert not metrics.unacked_delays_s
    assert len(metrics.ack_delays_s) == sum(r.batches - r.dropped for r in results)
