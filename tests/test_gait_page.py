"""The Gait training page under Streamlit's AppTest, and its live glue fed with av frames.

The pose model is replaced by the synthetic walker of tests/test_gait_synthetic.py
(poses served by timestamp) where the model is not the point, so a flagged walk has
known flags; one test runs the real model on the shared outdoor clip. The WebRTC widget
is replaced by the stand-in of tests/test_app_pages.py.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from coach.landmarks import Pose, Side
from coach.ui import gait_page
from coach.ui.gait_page import (
    HOLDER_KEY,
    RECORDED_TAB,
    RESULT_KEY,
    TABS_KEY,
    GaitHolder,
    GaitResult,
    GaitVideoProcessor,
    steps_csv,
)
from coach.ui.state import HOOKS_KEY, AppHooks
from tests.test_app_pages import APP, FakeStreamer, metric, no_trace
from tests.test_gait_synthetic import FPS, FakeModel, H, W, Walk, frontal_pose, synth_walk

GAIT = "coach/ui/pages/gait.py"
SCALE = 0.25
"""The synthetic walker is 1920x1080; videos and frames are a quarter of that."""
SIZE = (round(W * SCALE), round(H * SCALE))
DROP = Walk(duration_s=7.0, clearance={Side.LEFT: 0.0, Side.RIGHT: 0.05})
"""Left toes at floor level in mid-swing: low toe clearance on the left (the near side)."""


class Nobody:
    """A model that finds no one."""

    def detect(self, frame_bgr: np.ndarray, t_s: float) -> Pose | None:
        return None

    def close(self) -> None:
        pass


class Facing(FakeModel):
    """Someone facing the camera (a front or rear view) the whole time."""

    def _pose(self, t_s: float) -> Pose:
        self.poses = [frontal_pose(t_s, W / 2)]
        self.times = [t_s]
        return super()._pose(t_s)


def model_for(walk: Walk) -> FakeModel:
    times, poses, _ = synth_walk(walk)
    return FakeModel(times, poses, SCALE, others=False)


def gait_app(
    model: Any = None, *, playing: bool = False, real_model: bool = False
) -> tuple[AppTest, FakeStreamer]:
    at = AppTest.from_file(APP, default_timeout=180)
    streamer = FakeStreamer(playing)
    at.session_state[HOOKS_KEY] = AppHooks(
        estimator_factory=None if real_model else (lambda name: model),
        streamer=streamer,
    )
    at.run()
    at.switch_page(GAIT).run()
    return at, streamer


def upload(at: AppTest, name: str, data: bytes, mime: str = "video/mp4") -> AppTest:
    at.session_state[TABS_KEY] = RECORDED_TAB
    at.run()
    at.file_uploader(key="coach_gait_upload").upload(name, data, mime)
    return at.run()


@pytest.fixture(scope="module")
def walk_video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A blank video as long as the synthetic walk (the fake model supplies the poses)."""
    path = tmp_path_factory.mktemp("gait") / "walk.mp4"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, SIZE)
    for i in range(int(DROP.duration_s * FPS)):
        out.write(np.full((SIZE[1], SIZE[0], 3), 80 + i % 40, np.uint8))
    out.release()
    return path.read_bytes()


def texts(elements: Any) -> str:
    return " ".join(e.value for e in elements)


def test_page_renders_with_live_practice_first() -> None:
    at, streamer = gait_app(model_for(Walk()))
    no_trace(at)
    assert at.title[0].value == "Gait training"
    assert any("Press **START**" in i.value for i in at.info)
    assert streamer.kwargs["key"].startswith("coach-gait-live-")
    assert streamer.kwargs["rtc_configuration"] == {"iceServers": []}
    assert callable(streamer.kwargs["video_processor_factory"])


def test_recorded_walk_shows_flags_metrics_charts_table_and_downloads(walk_video: bytes) -> None:
    at, _ = gait_app(model_for(DROP))
    upload(at, "walk.mp4", walk_video)
    no_trace(at)
    assert not at.error, [e.value for e in at.error]
    flags = texts(at.warning) + texts(at.info)  # warning, or info when confidence is low
    assert "Low toe clearance (left side)" in flags and "Confidence: **low**" in flags
    assert "Lift your toes" in flags  # the practice cue
    assert "No foot-drop signs" not in texts(at.success)
    assert metric(at, "Cadence (steps/min)") not in (None, "-")
    assert at.get("video"), "annotated video not shown"
    assert len(at.get("vega_lite_chart")) >= 2  # toe clearance and ankle at contact
    tables = [t.value for t in at.dataframe]
    steps = next(t for t in tables if "Toe clearance (leg lengths)" in t.columns)
    assert len(steps) >= 8 and "low toe clearance" in " ".join(steps["Signs"])
    labels = {d.proto.label for d in at.get("download_button")}
    assert {"Download report (JSON)", "Download steps (CSV)", "Download annotated video"} <= labels
    result = at.session_state[RESULT_KEY]
    assert isinstance(result, GaitResult)
    csv = pd.read_csv(io.StringIO(steps_csv(result.report["steps"])))
    assert len(csv) == len(result.report["steps"]) == len(steps)  # one row per step
    assert {"t_s", "side", "toe_clearance", "ankle_ic_deg", "kind"} <= set(csv.columns)
    at.run()  # a rerun (e.g. a download click) reuses the analysis
    assert at.session_state[RESULT_KEY] is result


def test_healthy_walk_says_no_foot_drop_signs(walk_video: bytes) -> None:
    at, _ = gait_app(model_for(Walk(duration_s=7.0)))
    upload(at, "walk.mp4", walk_video)
    no_trace(at)
    assert "No foot-drop signs found" in texts(at.success)


@pytest.mark.parametrize(
    ("name", "data", "mime"),
    [
        ("notes.mp4", b"this is not a video at all", "video/mp4"),
        ("notes.txt", b"plain text", "text/plain"),
    ],
)
def test_non_video_upload_gives_a_clear_error(name: str, data: bytes, mime: str) -> None:
    at, _ = gait_app(model_for(Walk()))
    upload(at, name, data, mime)
    no_trace(at)
    assert any("could not be read as a video" in e.value for e in at.error)
    assert RESULT_KEY not in at.session_state


def test_nobody_in_the_clip_says_so(walk_video: bytes) -> None:
    at, _ = gait_app(Nobody())
    upload(at, "empty.mp4", walk_video)
    no_trace(at)
    assert any("No person was found" in e.value for e in at.error)
    assert not at.get("vega_lite_chart")


def test_front_or_rear_view_is_explained(walk_video: bytes) -> None:
    at, _ = gait_app(Facing([0.0], [frontal_pose(0.0, W / 2)], SCALE, others=False))
    upload(at, "rear.mp4", walk_video)
    no_trace(at)
    assert any("No steps could be measured" in e.value for e in at.error)
    assert "not seen side-on" in texts(at.warning)


def test_real_model_on_the_shared_outdoor_walk(
    clips_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real MediaPipe path through the page, on the first 6 s of the outdoor clip."""
    monkeypatch.setattr(gait_page, "MAX_S", 6.0)  # the walker crosses from 2 s to 6.7 s
    data = (clips_dir / "real" / "outdoor_walk_side_two_people.mp4").read_bytes()
    at, _ = gait_app(real_model=True)
    upload(at, "outdoor.mp4", data)
    no_trace(at)
    assert not at.error, [e.value for e in at.error]
    assert "No foot-drop signs found" in texts(at.success)
    steps = next(t.value for t in at.dataframe if "Landing" in t.value.columns)
    assert 4 <= len(steps) <= 7 and "heel first" in set(steps["Landing"])
    assert "More than one person" in texts(at.markdown)
    assert "only the first 6 s analysed" in texts(at.caption)
    assert at.get("video") and len(at.get("vega_lite_chart")) >= 2


def feed(holder: GaitHolder, walk: Walk, start_s: float = 0.0) -> av.VideoFrame | None:
    """Push frames through the real video processor, as streamlit-webrtc's thread does."""
    proc = GaitVideoProcessor(holder)
    out = None
    img = np.full((SIZE[1], SIZE[0], 3), 120, np.uint8)
    for i in range(int(walk.duration_s * FPS)):
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        frame.time_base = Fraction(1, 90000)
        frame.pts = int((start_s + i / FPS) * 90000)
        out = proc.recv(frame)
    proc.on_ended()
    return out


def test_live_practice_counts_steps_and_cues() -> None:
    walk = Walk(duration_s=10.0, clearance={Side.LEFT: 0.0, Side.RIGHT: 0.05})
    at, streamer = gait_app(model_for(walk), playing=True)
    holder = at.session_state[HOLDER_KEY]
    assert isinstance(holder, GaitHolder)
    out = feed(holder, walk)
    at.run()
    no_trace(at)
    steps = int(metric(at, "Steps") or 0)
    assert steps >= 10
    recent = next(t.value for t in at.dataframe if "Toe clearance" in t.value.columns)
    assert list(recent["Step"])[-1] == steps  # the last few steps, numbered as counted
    assert int(metric(at, "Cues") or 0) >= 1
    snap = holder.snapshot()
    assert snap.cues and all("Lift your toes" in c for _, c in snap.cues)
    assert any(e.kind == "say" and "Lift your toes" in e.text for e in snap.events)
    # The frame that went back to the browser carries the overlay (the step count box).
    assert out is not None
    corner = out.to_ndarray(format="bgr24")[:30, -60:]
    assert (corner < 60).any() and (corner > 200).any(), "no step count drawn"
    # The camera stops: the walk is summarised with the same table, charts and downloads.
    streamer.playing = False
    at.run()
    no_trace(at)
    assert any(s.value == "Your practice walk" for s in at.subheader)
    assert len(at.get("vega_lite_chart")) >= 2
    labels = {d.proto.label for d in at.get("download_button")}
    assert {"Download report (JSON)", "Download steps (CSV)"} <= labels
    again = [b for b in at.button if b.label == "Start again"]
    again[0].click().run()
    no_trace(at)
    assert at.session_state[HOLDER_KEY] is not holder


def test_live_model_failure_is_a_message_not_a_trace() -> None:
    def broken(name: str) -> Any:
        raise RuntimeError("boom")

    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[HOOKS_KEY] = AppHooks(estimator_factory=broken, streamer=FakeStreamer(True))
    at.run()
    at.switch_page(GAIT).run()
    feed(at.session_state[HOLDER_KEY], Walk(duration_s=0.3))
    at.run()
    no_trace(at)
    assert any("pose model could not be started" in e.value for e in at.error)
