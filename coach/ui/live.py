"""The WebRTC glue: a lock-protected holder the page reads, and the per-stream video processor.

streamlit-webrtc runs the video processor on its own thread, where `st.*` must not be
used. So the processor only turns a frame into a result: it runs the pose model, hands
the pose to the shared `LiveSession` under the holder's lock, and draws the overlay.
The page polls `LiveHolder.snapshot()`. The holder lives in `st.session_state`, so the
session (and its log) outlives the camera stopping, a new stream, or a visit to another
page; the video processor, and the MediaPipe landmarker it owns, live for one stream.

Frames are dropped, not queued, when the model is slower than the camera:
streamlit-webrtc hands `recv_queued` every frame that arrived while the previous one
was being processed, and only the newest is analysed. Counting uses the frames' own
timestamps, so a dropped frame shortens nothing.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import av
import cv2
import numpy as np
from streamlit_webrtc import VideoProcessorBase

from coach.annotate import annotate, draw_label
from coach.events import BackgroundSubscriber
from coach.exercise import Exercise
from coach.landmark_stream import FrameGate, LandmarkBatch
from coach.landmarks import Pose
from coach.live_session import LiveSession, LiveStatus, SessionClock, Stage
from coach.live_session import frame_brightness as brightness_of
from coach.pose_models import ModelUnavailableError
from coach.processor import FrameResult
from coach.side_select import SideChoice
from coach.speech import AudioEvent
from coach.telehealth.steps import StepIn
from coach.ui.common import MODEL_MISSING
from coach.wording import message_sentence, prompt_sentence

if TYPE_CHECKING:
    from coach.pose import PoseEstimator
    from coach.services.monitor import LiveLink

log = logging.getLogger(__name__)

FPS_WINDOW_S = 3.0
BROWSER_IDLE_S = 3.0
"""On-device mode: the camera counts as running while batches arrive this often."""


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """What a holder was made with: a different choice needs a new session."""

    exercise_id: str
    model: str
    side: SideChoice
    calibrate: bool
    pose: str = "server"
    """Where the pose model runs: "browser" (on-device) or "server" (WebRTC)."""
    countdown_s: float = 0.0


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    """Everything the page shows, copied under the lock so the page never waits on a frame."""

    status: LiveStatus
    events: tuple[AudioEvent, ...]
    frames: int
    dropped: int
    fps: float
    frame_ms: float
    model_ms: float
    error: str | None
    ended: bool
    streaming: bool
    result: FrameResult | None = None
    """The newest frame's result (on-device mode draws its overlay from it)."""
    ack: dict[str, Any] | None = None
    """On-device mode: the newest landmark frame handled, for the browser to drop."""


class StreamHolder:
    """The part of a holder every live page shares: the lock, the session clock, and the
    stream's frame count, frame rate, open streams and last error.

    The camera thread writes, the page reads, both under `_lock`; a subclass counts its
    frames with `_count_frame` and reads the rate with `_fps`, both under the lock.
    """

    def __init__(self, estimator_factory: Callable[[], PoseEstimator]) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.estimator_factory = estimator_factory
        self._lock = threading.Lock()
        self._clock = SessionClock()
        self._frames = 0
        self._dropped = 0
        self._times: deque[float] = deque()
        self._error: str | None = None
        self._streams = 0

    # -- camera thread (the processor) ------------------------------------------------------

    def session_time(self, stream: object, frame_time_s: float | None, now_s: float) -> float:
        with self._lock:
            return self._clock.to_session(stream, frame_time_s, now_s)

    def stream_started(self) -> None:
        with self._lock:
            self._streams += 1
            self._error = None

    def stream_ended(self) -> None:
        with self._lock:
            self._streams = max(0, self._streams - 1)
            self._times.clear()

    def set_error(self, message: str) -> None:
        with self._lock:
            self._error = message

    def _count_frame(self, now_s: float, dropped: int = 0) -> None:
        """One analysed frame (and the ones dropped before it); hold the lock."""
        self._frames += 1
        self._dropped += dropped
        self._times.append(now_s)
        while self._times and now_s - self._times[0] > FPS_WINDOW_S:
            self._times.popleft()

    def _fps(self) -> float:
        """Analysed frames per second over the last `FPS_WINDOW_S`; hold the lock."""
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class LiveHolder(StreamHolder):
    """One live session shared by the camera thread (writer) and the page (reader)."""

    def __init__(
        self,
        exercise: Exercise,
        config: LiveConfig,
        estimator_factory: Callable[[], PoseEstimator],
        session: LiveSession | None = None,
        recorder: BackgroundSubscriber | None = None,
    ) -> None:
        """`session`: one made by the session service (a signed-in patient's, recorded
        through `recorder`); otherwise a guest session that is not stored."""
        super().__init__(estimator_factory)
        self.exercise = exercise
        self.config = config
        self._session = session or LiveSession(
            exercise, side=config.side, calibrate=config.calibrate, countdown_s=config.countdown_s
        )
        self.recorder = recorder
        self.link: LiveLink | None = None
        """A signed-in patient's link to the therapist's live monitor (closed with the
        session)."""
        self._frame_ms = 0.0
        self._model_ms = 0.0
        self._gate = FrameGate()
        self._ack: dict[str, Any] | None = None
        self._browser_seen = -math.inf
        self._result: FrameResult | None = None
        self.upload_token = secrets.token_urlsafe(24)
        """On-device mode: the browser posts its landmark batches under this unguessable
        name (`coach.ui.landmark_api`); only the page that holds the session knows it."""

    # -- camera thread --------------------------------------------------------------------

    def process(
        self, pose: Pose | None, t_s: float, brightness: float, now_s: float, dropped: int
    ) -> tuple[FrameResult, LiveStatus]:
        """Hand one frame's pose to the session (called by the camera thread)."""
        with self._lock:
            result = self._session.process_pose(pose, t_s, brightness)
            self._count_frame(now_s, dropped)
            return result, self._session.status

    def process_batch(self, batch: LandmarkBatch, now_s: float) -> int:
        """On-device mode: the batch's frames not handled yet go through the session, on
        the browser's frame times (so a resent or late batch changes nothing). Returns
        how many frames were new."""
        with self._lock:
            fresh = self._gate.fresh(batch)
            for frame in fresh:
                t_s = self._clock.to_session(batch.stream, frame.t_s, now_s)
                self._result = self._session.process_pose(frame.pose, t_s, frame.brightness)
                self._count_frame(t_s)
            self._dropped += batch.skipped if fresh else 0
            self._browser_seen = now_s
            ack = self._gate.ack()
            self._ack = None if ack is None else {**ack, "seq": batch.seq}
            return len(fresh)

    def step_in(self, step: StepIn, announce: bool = True) -> None:
        """A therapist's message or new dose (from the live bus's thread)."""
        with self._lock:
            self._session.step_in(step, announce=announce)

    def storage_error(self) -> BaseException | None:
        """The recorder's first failure (the page says the session is not being saved)."""
        return self.recorder.error if self.recorder is not None else None

    def record_timing(self, frame_ms: float, model_ms: float) -> None:
        """Smoothed per-frame costs, shown to the therapist and read by the benchmark."""
        with self._lock:
            a = 0.1 if self._frame_ms else 1.0
            self._frame_ms += a * (frame_ms - self._frame_ms)
            self._model_ms += a * (model_ms - self._model_ms)

    # -- page -----------------------------------------------------------------------------

    def snapshot(self) -> LiveSnapshot:
        with self._lock:
            s = self._session
            return LiveSnapshot(
                status=s.status,
                events=tuple(s.audio.events),
                frames=self._frames,
                dropped=self._dropped,
                fps=self._fps(),
                frame_ms=self._frame_ms,
                model_ms=self._model_ms,
                error=self._error,
                ended=s.ended,
                streaming=self._streams > 0
                or time.monotonic() - self._browser_seen < BROWSER_IDLE_S,
                result=self._result,
                ack=self._ack,
            )

    def with_session(self, action: Callable[[LiveSession], Any]) -> Any:
        """Run `action` on the session under the lock (page buttons, exports)."""
        with self._lock:
            return action(self._session)

    @property
    def rep_count(self) -> int:
        with self._lock:
            return len(self._session.log.reps)


def weak_step_in(holder: LiveHolder) -> Callable[[StepIn, bool], None]:
    """`holder.step_in` for the live bus, without the bus keeping the holder (and its
    session) alive after the page has gone."""
    ref = weakref.WeakMethod(holder.step_in)

    def apply(step: StepIn, announce: bool) -> None:
        method = ref()
        if method is not None:
            method(step, announce)

    return apply


H = TypeVar("H", bound=StreamHolder)


class PoseStreamProcessor(VideoProcessorBase, Generic[H]):
    """One per camera stream: owns the landmarker, runs it on the newest frame, cleans up.

    Subclasses implement `handle` (hand the pose to their holder, draw the overlay in
    place) and may override `record_timing`. Runs on streamlit-webrtc's thread: no `st.*`.
    """

    failure_log = "live frame processing failed"

    def __init__(self, holder: H) -> None:
        self.holder = holder
        self._estimator: PoseEstimator | None = None
        self._failed = False
        self._closed = False
        holder.stream_started()

    def _get_estimator(self) -> PoseEstimator | None:
        # Created on the first frame, on the processing thread, so a slow model load
        # never blocks the WebRTC event loop (frames pass through meanwhile).
        if self._estimator is None and not self._failed and not self._closed:
            try:
                self._estimator = self.holder.estimator_factory()
            except ModelUnavailableError as exc:
                log.error("the pose model is not available: %s", exc)
                self._failed = True
                self.holder.set_error(MODEL_MISSING)
            except Exception:
                log.exception("could not create the pose model")
                self._failed = True
                self.holder.set_error("The pose model could not be started on the server.")
        return self._estimator

    def recv(self, frame: av.VideoFrame) -> av.VideoFrame:
        return self.process(frame, dropped=0)

    async def recv_queued(self, frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
        """Analyse only the newest frame; the others are dropped (counted, not queued)."""
        return [self.process(frames[-1], dropped=len(frames) - 1)]

    def process(self, frame: av.VideoFrame, dropped: int = 0) -> av.VideoFrame:
        """Frame in, annotated frame out; never raises (the stream must keep running)."""
        started = time.perf_counter()
        img = frame.to_ndarray(format="bgr24")
        try:
            estimator = self._get_estimator()
            if estimator is None:
                draw_banner(img, ["The pose model is not available: see the message on the page."])
            else:
                now = time.monotonic()
                t_s = self.holder.session_time(self, frame.time, now)
                before = time.perf_counter()
                pose = self.detect(estimator, img, t_s)  # outside the lock: the slow part
                model_s = time.perf_counter() - before
                self.handle(img, pose, t_s, now, dropped)
                total_s = time.perf_counter() - started
                self.record_timing(1000 * total_s, 1000 * model_s)
        except Exception:
            log.exception(self.failure_log)
            self.holder.set_error("Something went wrong analysing the camera picture.")
        return av.VideoFrame.from_ndarray(img, format="bgr24")

    def detect(self, estimator: PoseEstimator, img: np.ndarray, t_s: float) -> Pose | None:
        """Run the model on one frame (a subclass may look for several people)."""
        return estimator.detect(img, t_s)

    def handle(
        self, img: np.ndarray, pose: Pose | None, t_s: float, now_s: float, dropped: int
    ) -> None:
        """Hand one frame's pose to the holder and draw the overlay on `img` (BGR, in place)."""
        raise NotImplementedError

    def record_timing(self, frame_ms: float, model_ms: float) -> None:
        """The frame's total and model cost in ms; ignored unless a subclass keeps them."""

    def on_ended(self) -> None:
        self._closed = True
        estimator, self._estimator = self._estimator, None
        if estimator is not None:
            try:
                estimator.close()
            except Exception:
                log.exception("closing the pose model failed")
        self.holder.stream_ended()


class CoachVideoProcessor(PoseStreamProcessor[LiveHolder]):
    """The Exercise page's processor: the pose goes to the `LiveSession`, reps on the overlay."""

    def handle(
        self, img: np.ndarray, pose: Pose | None, t_s: float, now_s: float, dropped: int
    ) -> None:
        result, status = self.holder.process(pose, t_s, brightness_of(img), now_s, dropped)
        draw_overlay(img, result, status, self.holder.exercise)

    def record_timing(self, frame_ms: float, model_ms: float) -> None:
        self.holder.record_timing(frame_ms, model_ms)


# -- overlay --------------------------------------------------------------------------------

WHITE = (255, 255, 255)
AMBER = (0, 190, 255)
GREEN = (80, 200, 80)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    if line:
        lines.append(line)
    return lines


def draw_banner(
    img: np.ndarray,
    lines: list[str],
    color: tuple[int, int, int] = WHITE,
    progress: float | None = None,
) -> None:
    """A dark band across the bottom with the patient's instruction, readable on any scene."""
    h, w = img.shape[:2]
    scale = max(0.5, h / 720) * 0.9
    line_h = int(30 * scale)
    wrapped = [piece for text in lines for piece in _wrap(text, max(20, int(w / (17 * scale))))]
    wrapped = wrapped[:3]
    band_h = line_h * len(wrapped) + int(16 * scale) + (int(10 * scale) if progress else 0)
    top = h - band_h
    roi = img[top:h]
    roi[:] = (roi * 0.35).astype(np.uint8)
    y = top + line_h
    for text in wrapped:
        cv2.putText(
            img, text, (12, y), FONT, 0.8 * scale, color, max(1, int(2 * scale)), cv2.LINE_AA
        )
        y += line_h
    if progress:
        x1 = 12 + int((w - 24) * min(1.0, progress))
        cv2.rectangle(img, (12, h - int(12 * scale)), (x1, h - int(6 * scale)), GREEN, -1)


def draw_corner(img: np.ndarray, text: str) -> None:
    """Top-right label on a dark box (the set number), above the target gauge."""
    h, w = img.shape[:2]
    scale = max(0.5, h / 720) * 0.9
    thick = max(1, int(2 * scale))
    (tw, th), _ = cv2.getTextSize(text, FONT, scale, thick)
    draw_label(img, text, (w - tw - 16, int(12 * scale) + th), scale, WHITE)


def draw_overlay(img: np.ndarray, result: FrameResult, status: LiveStatus, ex: Exercise) -> None:
    """The core overlay (leg, angle, target gauge, reps, hold) plus the session's stage."""
    stage = status.stage
    if stage in (Stage.COUNTDOWN, Stage.SETUP, Stage.CALIBRATING):
        # Cues and "Reps 0" would compete with the set-up instruction: show that alone.
        annotate(img, replace(result, active_cue=None), ex)
        color = AMBER if stage is Stage.SETUP else WHITE  # the countdown and calibration: white
        draw_banner(
            img, [prompt_sentence(status.prompt, status.prompt_params)], color, status.progress
        )
        return
    annotate(img, result, ex)
    plan = status.plan
    if plan.sets > 1:
        draw_corner(img, f"Set {plan.set_no} of {plan.sets}")
    if stage is Stage.RESTING:
        draw_banner(
            img, [f"Rest {plan.rest_left_s:.0f} s - next: set {plan.set_no + 1} of {plan.sets}"]
        )
    elif stage is Stage.DONE:
        draw_banner(img, ["All sets done - well done!"], GREEN)
    if status.message is not None:
        draw_banner(img, [message_sentence(status.message)], AMBER)
