"""Every page under Streamlit's AppTest, plus the WebRTC glue fed with real av frames.

The pose model is replaced by a fake (through `AppHooks` in the session state) where the
model is not the point, and the WebRTC widget, which needs a browser, by a stand-in.
The real browser path is tests/test_browser_e2e.py.
"""

from __future__ import annotations

import asyncio
import os
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from coach.landmarks import Pose
from coach.ui.exercise_page import HOLDER_KEY
from coach.ui.live import CoachVideoProcessor, LiveHolder
from coach.ui.state import HOOKS_KEY, SETTINGS_KEY, AppHooks, Settings
from tests.conftest import ankle_trace, side_view_pose

APP = str(Path(__file__).resolve().parents[1] / "app.py")
EXERCISE = "coach/ui/pages/exercise.py"
REVIEW = "coach/ui/pages/review.py"
LIBRARY = "coach/ui/pages/library.py"
SETTINGS = "coach/ui/pages/settings.py"


class FakePose:
    """A `PoseEstimator` that ignores the picture: the leg follows `ankle_trace(t)`."""

    def __init__(self, present: bool = True, amplitude: float = 1.0) -> None:
        self.present = present
        self.amplitude = amplitude
        self.closed = False
        self.calls = 0

    def detect(self, frame_bgr: np.ndarray, t_s: float) -> Pose | None:
        self.calls += 1
        return side_view_pose(self.amplitude * ankle_trace(t_s)) if self.present else None

    def close(self) -> None:
        self.closed = True


class FakeState:
    def __init__(self, playing: bool) -> None:
        self.playing = playing


class FakeStreamer:
    """Stands in for `webrtc_streamer` (which needs a browser) and records its arguments."""

    def __init__(self, playing: bool = False) -> None:
        self.playing = playing
        self.kwargs: dict[str, Any] = {}

    def __call__(self, **kwargs: Any) -> Any:
        self.kwargs = kwargs
        ctx = type("Ctx", (), {})()
        ctx.state = FakeState(self.playing)
        return ctx


def app(
    *, present: bool = True, playing: bool = False, real_model: bool = False, amplitude: float = 1.0
) -> tuple[AppTest, FakeStreamer]:
    """The app with the server-side camera path (a stand-in WebRTC widget feeding the real
    video processor) and no get-into-place countdown, so a few seconds of frames count."""
    at = AppTest.from_file(APP, default_timeout=120)
    streamer = FakeStreamer(playing)
    at.session_state[HOOKS_KEY] = AppHooks(
        estimator_factory=None if real_model else (lambda model: FakePose(present, amplitude)),
        streamer=streamer,
    )
    at.session_state[SETTINGS_KEY] = Settings(pose_mode="server", countdown_s=0.0)
    return at, streamer


def no_trace(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def metric(at: AppTest, label: str) -> str | None:
    found = [m.value for m in at.metric if m.label == label]
    return found[0] if found else None


def feed(
    holder: LiveHolder, seconds: float, fps: float = 30.0, start_s: float = 0.0, end: bool = True
) -> Any:
    """Push frames through the real video processor, as streamlit-webrtc's thread does."""
    proc = CoachVideoProcessor(holder)
    out = None
    img = np.full((480, 640, 3), 170, np.uint8)
    for i in range(int(seconds * fps)):
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        frame.time_base = Fraction(1, 90000)
        frame.pts = int((start_s + i / fps) * 90000)
        out = proc.recv(frame)
    if end:
        proc.on_ended()
    return out


# -- Exercise (live) ------------------------------------------------------------------------


def test_movement_seen_but_not_counted_is_explained_not_keep_going() -> None:
    at, _ = app(playing=True, amplitude=0.2)  # the foot moves, but far too little to count
    at.query_params["exercise"] = "range_of_motion"
    at.run()
    feed(at.session_state[HOLDER_KEY], 3.0 + 6 * 3.0, end=False)
    at.run()
    no_trace(at)
    assert metric(at, "Reps") == "0"
    assert any("too small to count" in w.value for w in at.warning)  # the cue or the box
    assert not any("keep going" in c.value for c in at.caption)


def test_exercise_page_before_start_shows_instructions_and_rtc_settings() -> None:
    at, streamer = app()
    at.query_params["exercise"] = "range_of_motion"
    at.run()
    no_trace(at)
    assert at.title[0].value == "Exercise"
    assert at.selectbox(key="coach_live_exercise").value == "range_of_motion"
    assert any("Press **START**" in i.value for i in at.info)
    assert streamer.kwargs["rtc_configuration"] == {"iceServers": []}
    video = streamer.kwargs["media_stream_constraints"]["video"]
    assert (
        video["width"]["ideal"] == 640
        and streamer.kwargs["media_stream_constraints"]["audio"] is False
    )
    assert callable(streamer.kwargs["video_processor_factory"])


def test_exercise_page_shows_live_counts_from_the_camera_thread() -> None:
    at, _ = app(playing=True)
    at.query_params["exercise"] = "range_of_motion"
    at.run()
    holder = at.session_state[HOLDER_KEY]
    assert isinstance(holder, LiveHolder)
    out = feed(holder, 3.0 + 4 * 3.0 + 0.8, end=False)
    at.run()
    no_trace(at)
    assert metric(at, "Reps") == "4"
    assert metric(at, "Ankle angle") not in (None, "-")  # side-on: the angle is shown
    assert any("reps to go" in i.value for i in at.info)
    assert any("frames/s" in c.value for c in at.caption)
    # The frame that went back to the browser carries the overlay (the target gauge).
    img = out.to_ndarray(format="bgr24")
    column = img[100:380, 640 - 34]
    assert (column.max(axis=1) < 70).sum() > 20, "no gauge drawn"
    assert at.selectbox(key="coach_live_exercise").disabled  # reps to keep: no switching


def test_plan_with_sets_and_holds_shows_hold_set_and_rest() -> None:
    at, _ = app(playing=True)
    at.query_params["exercise"] = "ankle_dorsiflexion"  # 3 sets, 5 s holds
    at.run()
    feed(at.session_state[HOLDER_KEY], 3.0 + 2 * 3.0, end=False)
    at.run()
    no_trace(at)
    labels = [m.label for m in at.metric]
    assert {"Reps", "Ankle angle", "Hold", "Set", "Rest"} <= set(labels)
    assert metric(at, "Set") == "1 of 3"


def test_summary_appears_when_the_last_set_is_done() -> None:
    at, _ = app(playing=True)
    at.query_params["exercise"] = "range_of_motion"  # 1 set of 10
    at.run()
    feed(at.session_state[HOLDER_KEY], 3.0 + 10 * 3.0 + 0.8, end=False)
    at.run()
    no_trace(at)
    assert metric(at, "Reps") == "10"
    assert metric(at, "Reps done") == "10 of 10"
    assert any("well done" in s.value for s in at.success)


def test_setup_guidance_is_shown_until_the_view_is_usable() -> None:
    at, _ = app(present=False, playing=True)
    at.query_params["exercise"] = "range_of_motion"
    at.run()
    feed(at.session_state[HOLDER_KEY], 2.5)
    at.run()
    no_trace(at)
    texts = " ".join(w.value for w in at.warning)
    assert "Camera set-up" in texts and "can't see you" in texts


def test_session_survives_camera_stop_and_summary_has_downloads() -> None:
    at, streamer = app(playing=True)
    at.query_params["exercise"] = "range_of_motion"
    at.run()
    holder = at.session_state[HOLDER_KEY]
    feed(holder, 3.0 + 3 * 3.0 + 0.8)
    streamer.playing = False  # the patient pressed STOP (or the camera dropped)
    at.run()
    no_trace(at)
    assert at.session_state[HOLDER_KEY] is holder
    assert metric(at, "Reps done") == "3 of 10"
    # The camera comes back: a new stream continues the same session.
    streamer.playing = True
    feed(holder, 3 * 3.0 + 0.8, start_s=300.0)
    at.run()
    assert metric(at, "Reps") is not None and int(metric(at, "Reps") or 0) >= 5
    end = [b for b in at.button if b.label == "End session"]
    assert end, "End session button missing"
    end[0].click()
    at.run()
    no_trace(at)
    assert holder.snapshot().ended
    assert streamer.kwargs["desired_playing_state"] is False
    assert at.get("download_button"), "no downloads in the summary"
    labels = [d.proto.label for d in at.get("download_button")]
    assert "Download session (JSON)" in labels and "Download reps (CSV)" in labels
    new = [b for b in at.button if b.label == "Start a new session"]
    new[0].click()
    at.run()
    assert at.session_state[HOLDER_KEY] is not holder


def test_video_processor_analyses_only_the_newest_of_queued_frames() -> None:
    at, _ = app()
    at.run()
    holder = at.session_state[HOLDER_KEY]
    proc = CoachVideoProcessor(holder)
    frames = []
    for i in range(3):
        f = av.VideoFrame.from_ndarray(np.zeros((120, 160, 3), np.uint8), format="bgr24")
        f.time_base = Fraction(1, 30)
        f.pts = i
        frames.append(f)
    out = asyncio.run(proc.recv_queued(frames))
    assert len(out) == 1
    snap = holder.snapshot()
    assert (snap.frames, snap.dropped) == (1, 2)
    proc.on_ended()
    assert not holder.snapshot().streaming


def test_model_failure_is_a_message_not_a_trace() -> None:
    at = AppTest.from_file(APP, default_timeout=60)

    def broken(model: str) -> Any:
        raise RuntimeError("boom")

    at.session_state[HOOKS_KEY] = AppHooks(estimator_factory=broken, streamer=FakeStreamer(True))
    at.run()
    feed(at.session_state[HOLDER_KEY], 0.3)
    at.run()
    no_trace(at)
    assert any("pose model could not be started" in e.value for e in at.error)


# -- Review a video -------------------------------------------------------------------------


def synthetic_video(path: Path, seconds: float, fps: float = 15.0) -> bytes:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (320, 240))
    for i in range(int(seconds * fps)):
        img = np.full((240, 320, 3), 90 + (i % 50), np.uint8)
        writer.write(img)
    writer.release()
    return path.read_bytes()


@pytest.fixture(scope="module")
def small_video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return synthetic_video(tmp_path_factory.mktemp("vid") / "clip.mp4", 3.0 + 3 * 3.0 + 1.0)


def test_review_counts_reps_and_offers_downloads(small_video: bytes) -> None:
    at, _ = app()
    at.run()
    at.switch_page(REVIEW).run()
    at.selectbox(key="coach_review_exercise").set_value("range_of_motion").run()
    at.file_uploader(key="coach_review_upload").upload("clip.mp4", small_video, "video/mp4")
    at.run()
    no_trace(at)
    assert not at.error, [e.value for e in at.error]
    assert metric(at, "Reps") == "3"
    assert any(c.value.startswith("Camera view: side-on. Ankle angles") for c in at.caption)
    average = metric(at, "Average range")
    assert average is not None and average.endswith("°")  # degrees: seen side-on
    labels = [d.proto.label for d in at.get("download_button")]
    assert {"Download report (JSON)", "Download frames (CSV)", "Download annotated video"} <= set(
        labels
    )
    assert at.get("video"), "annotated video not shown"
    assert len(at.get("vega_lite_chart")) >= 2  # angle over time, range per rep
    # A rerun (e.g. a download click) reuses the analysis.
    at.run()
    assert metric(at, "Reps") == "3"


@pytest.mark.parametrize(
    ("name", "data", "mime"),
    [
        ("notes.mp4", b"this is not a video at all", "video/mp4"),
        ("notes.txt", b"plain text", "text/plain"),
        ("broken.mov", b"\x00\x00\x00\x18ftypqt  " + bytes(200), "video/quicktime"),
    ],
)
def test_review_rejects_non_video_uploads_with_a_message(name: str, data: bytes, mime: str) -> None:
    at, _ = app()
    at.run()
    at.switch_page(REVIEW).run()
    at.file_uploader(key="coach_review_upload").upload(name, data, mime)
    at.run()
    no_trace(at)
    assert any("could not be read as a video" in e.value for e in at.error)


def test_review_with_nobody_in_the_clip_says_so(small_video: bytes) -> None:
    at, _ = app(present=False)
    at.run()
    at.switch_page(REVIEW).run()
    at.file_uploader(key="coach_review_upload").upload("empty.mp4", small_video, "video/mp4")
    at.run()
    no_trace(at)
    assert any("No person was found" in e.value for e in at.error)
    assert metric(at, "Reps") == "0"


def test_review_with_the_real_model_on_an_empty_scene(tmp_path: Path) -> None:
    """The real MediaPipe path through the page (short clip: the model is quick here)."""
    os.environ.setdefault("COACH_MODELS_DIR", str(Path(APP).parents[1] / "shared" / "models"))
    data = synthetic_video(tmp_path / "blank.mp4", 1.5, fps=10)
    at, _ = app(real_model=True)
    at.run()
    at.switch_page(REVIEW).run()
    at.file_uploader(key="coach_review_upload").upload("blank.mp4", data, "video/mp4")
    at.run()
    no_trace(at)
    assert any("No person was found" in e.value for e in at.error)


# -- Library and Settings -------------------------------------------------------------------


def test_library_lists_every_exercise_with_purpose_setup_steps_and_dose() -> None:
    from coach.exercise import load_exercises

    at, _ = app()
    at.run()
    at.switch_page(LIBRARY).run()
    no_trace(at)
    exercises = load_exercises()
    assert len(at.expander) == len(exercises)
    text = " ".join(m.value for m in at.markdown)
    for ex in exercises.values():
        assert ex.purpose in text and ex.camera in text and ex.instructions[0] in text
    assert text.count("**Default dose.**") == len(exercises)
    # "Do this exercise now" opens the Exercise page with that exercise chosen.
    at.button(key="coach_lib_start_towel_stretch").click().run()
    no_trace(at)
    assert at.title[0].value == "Exercise"
    assert at.selectbox(key="coach_live_exercise").value == "towel_stretch"


def test_settings_persist_across_pages_and_feed_the_live_page() -> None:
    at, streamer = app()
    at.run()
    at.switch_page(SETTINGS).run()
    no_trace(at)
    at.radio(key="coach_set_model").set_value("lite").run()
    at.radio(key="coach_set_review_model").set_value("full").run()
    at.selectbox(key="coach_set_side").set_value("left").run()
    at.text_area(key="coach_settings_ice_text").input(
        '[{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "c"}]'
    ).run()
    no_trace(at)
    settings = at.session_state[SETTINGS_KEY]
    assert isinstance(settings, Settings)
    assert (settings.model, settings.review_model, settings.side) == ("lite", "full", "left")
    assert settings.ice_servers and settings.ice_servers[0]["urls"] == [
        "turn:turn.example.org:3478"
    ]
    at.switch_page(EXERCISE).run()
    no_trace(at)
    assert streamer.kwargs["rtc_configuration"]["iceServers"][0]["username"] == "u"
    assert at.session_state[HOLDER_KEY].config.model == "lite"
    at.switch_page(SETTINGS).run()
    assert at.radio(key="coach_set_model").value == "lite"  # still there after leaving
    assert at.radio(key="coach_set_review_model").value == "full"


def test_settings_reject_bad_ice_servers_with_a_message() -> None:
    at, _ = app()
    at.run()
    at.switch_page(SETTINGS).run()
    at.text_area(key="coach_settings_ice_text").input('[{"urls": ["http://nope"]}]').run()
    no_trace(at)
    assert any("were not saved" in e.value for e in at.error)
    assert at.session_state[SETTINGS_KEY].ice_servers is None


def test_ice_servers_from_secrets() -> None:
    at, streamer = app()
    at.secrets["ice_servers"] = [{"urls": ["stun:stun.example.org:3478"]}]
    at.run()
    no_trace(at)
    assert streamer.kwargs["rtc_configuration"] == {
        "iceServers": [{"urls": ["stun:stun.example.org:3478"]}]
    }


def test_a_failing_page_shows_a_message_not_a_trace() -> None:
    def page() -> None:
        from coach.ui.common import guarded

        def render() -> None:
            raise RuntimeError("internal detail")

        guarded(render)

    at = AppTest.from_function(page).run()
    no_trace(at)
    assert at.error and "something went wrong" in at.error[0].value
    assert "internal detail" not in at.error[0].value


# -- Exercise, on-device pose ------------------------------------------------------------


def on_device_app() -> tuple[AppTest, FakeStreamer]:
    """The default mode: the browser runs the model; the page must never start WebRTC."""
    at, streamer = app()
    at.session_state[SETTINGS_KEY] = Settings(countdown_s=0.0)  # pose_mode: the default
    at.query_params["exercise"] = "range_of_motion"
    return at, streamer


def test_the_exercise_page_runs_pose_on_the_device_by_default_and_says_so() -> None:
    at, streamer = on_device_app()
    at.run()
    no_trace(at)
    assert any("Pose measured on this device" in c.value for c in at.caption)
    assert any("Press **Start** under the picture" in i.value for i in at.info)
    assert streamer.kwargs == {}, "no WebRTC stream in on-device mode"
    holder = at.session_state[HOLDER_KEY]
    assert isinstance(holder, LiveHolder) and holder.config.pose == "browser"


def test_landmark_batches_from_the_browser_count_on_the_page() -> None:
    """What the component's callback does with each batch, then the page's read-out."""
    from coach.landmark_stream import encode_batch, encode_frame, parse_batch
    from coach.ui.pose_camera import overlay_status

    at, _ = on_device_app()
    at.run()
    holder = at.session_state[HOLDER_KEY]
    fps = 30.0
    frames = [
        encode_frame(i / fps, side_view_pose(ankle_trace(i / fps)), 120.0)
        for i in range(int((3.0 + 4 * 3.0 + 0.8) * fps))
    ]
    for k in range(0, len(frames), 8):
        batch = parse_batch(encode_batch("cam", k, 640, 480, frames[k : k + 8]))
        holder.process_batch(batch, time.monotonic())  # just arrived: the camera is on
    at.run()
    no_trace(at)
    assert metric(at, "Reps") == "4"
    assert any("This device analyses" in c.value for c in at.caption)
    # The overlay shows the very numbers the panel shows.
    overlay = overlay_status(holder.snapshot(), holder.exercise)
    assert overlay["reps"] == 4 and overlay["side"] in ("left", "right")
    assert overlay["value_text"] == f"Ankle {holder.snapshot().status.angle_deg:+.0f}°"
    assert metric(at, "Ankle angle") == f"{holder.snapshot().status.angle_deg:+.0f}°"


def test_without_the_web_landmarker_the_page_falls_back_to_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from coach.ui import exercise_page
    from coach.web_assets import WebAssetsMissing

    def missing(model: str, base_path: str = "") -> Any:
        raise WebAssetsMissing("not published (test)")

    exercise_page._web_assets.clear()
    monkeypatch.setattr(exercise_page, "web_pose_assets", missing)
    try:
        at, streamer = on_device_app()
        at.run()
        no_trace(at)
        captions = " ".join(c.value for c in at.caption)
        assert "Pose measured on the server" in captions
        assert "cannot offer on-device pose" in captions
        assert "not published" not in captions  # the reason is for the server's log only
        assert callable(streamer.kwargs["video_processor_factory"])
    finally:
        exercise_page._web_assets.clear()
