"""MediaPipe Tasks PoseLandmarker adapter: the only module that imports mediapipe.

Frames go in as BGR arrays with timestamps in seconds; `coach.landmarks.Pose` objects in
pixel coordinates come out, converted once here so nothing else depends on MediaPipe.

One landmarker is created per `MediaPipePose` and reused for the whole stream (re-creating
it per frame leaks memory, sharing one between threads breaks its timestamps). Close it
explicitly or use ``with``: MediaPipe's own ``__del__`` raises a noisy TypeError when it
only runs during interpreter shutdown (and a forgotten live-stream landmarker crashes in
native code there), so open instances are also closed by an exit hook.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
import weakref
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import cv2
import numpy as np

from coach.closeable import Closeable
from coach.landmarks import Landmark, Pose
from coach.pose_models import ModelDamagedError, check_model_file, resolve_model

if TYPE_CHECKING:
    import mediapipe as mp
    from mediapipe.tasks.python.vision import pose_landmarker as mp_pose

__all__ = ["MediaPipePose", "Mode", "PoseEstimator"]

log = logging.getLogger(__name__)

Mode = Literal["video", "image", "live"]

_RUNNING_MODES: dict[str, str] = {"video": "VIDEO", "image": "IMAGE", "live": "LIVE_STREAM"}


def _load_mediapipe() -> tuple[ModuleType, ModuleType]:
    """Import mediapipe on first use, so ``import coach.pose`` stays cheap (the Protocol is
    used widely). Its log lines are kept off stderr by `coach.native_logs`, which the
    entry points (CLI, app) start before this runs.
    """
    import mediapipe
    from mediapipe.tasks.python import vision

    return mediapipe, vision


@runtime_checkable
class PoseEstimator(Protocol):
    """Anything that finds one person's pose in a frame (MediaPipe, or a fake in tests)."""

    def detect(self, frame_bgr: np.ndarray, t_s: float) -> Pose | None:
        """The pose in `frame_bgr` (taken at `t_s` seconds), or None if nobody was found."""
        ...

    def close(self) -> None:
        """Release the model; safe to call more than once."""
        ...


_open_instances: weakref.WeakSet[MediaPipePose] = weakref.WeakSet()
_exit_hook_registered = False


def _close_open_instances() -> None:
    """Close instances nobody closed, while MediaPipe can still run its shutdown."""
    for estimator in list(_open_instances):
        try:
            estimator.close()
        except Exception:
            log.debug("could not close %r at exit", estimator, exc_info=True)


def _register_exit_hook() -> None:
    """Run `_close_open_instances` before Python stops its threads.

    MediaPipe runs every C call on a thread pool that is shut down *before* ordinary
    `atexit` hooks run; closing a live-stream landmarker after that crashes in native code.
    ``threading._register_atexit`` (what concurrent.futures itself uses) runs earlier, in
    reverse order of registration, so it must be registered after mediapipe is imported.
    """
    global _exit_hook_registered
    if not _exit_hook_registered:
        register = getattr(threading, "_register_atexit", atexit.register)
        register(_close_open_instances)
        _exit_hook_registered = True


class MediaPipePose(Closeable):
    """`PoseEstimator` backed by one MediaPipe Tasks PoseLandmarker (one person).

    Modes:

    - ``"video"`` (files): ``detect_for_video``, tracking between frames. Timestamps are
      made strictly increasing integer milliseconds (a repeat is bumped by 1 ms).
    - ``"image"``: independent detection per frame, no tracking; `t_s` is ignored.
    - ``"live"`` (webcam): ``detect_async``; `detect` never waits for the model. It
      submits the frame unless the previous one is still being processed, and returns
      the most recent completed result (so the pose lags the frame by about one
      inference). `latest_t_s` says which frame that result belongs to.

    Call `detect` from one thread per instance (one instance per stream).
    """

    def __init__(
        self,
        model: str | Path = "full",
        mode: Mode = "video",
        *,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        models_dir: Path | None = None,
        live_timeout_s: float = 2.0,
        num_poses: int = 1,
    ) -> None:
        if mode not in _RUNNING_MODES:
            raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(_RUNNING_MODES)}")
        self.mode: Mode = mode
        self.model_path: Path = resolve_model(model, models_dir=models_dir)
        # MediaPipe meets a damaged bundle with a traceback or a message without the file
        # name: check it first, and name the file for anything MediaPipe still rejects.
        check_model_file(self.model_path)
        self.live_timeout_s = live_timeout_s
        self._last_ts_ms: int | None = None

        # Live-stream state, shared with MediaPipe's callback thread.
        self._lock = threading.Lock()
        self._latest: Pose | None = None
        self._latest_t_s: float | None = None
        self._latest_ms = -1
        self._in_flight_since: float | None = None
        self._in_flight_ms = -1
        self._submitted_t_s: dict[int, float] = {}  # timestamp_ms -> t_s, for latest_t_s

        self._mp, vision = _load_mediapipe()
        options = vision.PoseLandmarkerOptions(
            base_options=self._mp.tasks.BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=vision.RunningMode[_RUNNING_MODES[mode]],
            num_poses=num_poses,
            min_pose_detection_confidence=min_detection_confidence,
            min_pose_presence_confidence=min_presence_confidence,
            min_tracking_confidence=min_tracking_confidence,
            output_segmentation_masks=False,
            result_callback=self._on_live_result if mode == "live" else None,
        )
        try:
            self._landmarker: mp_pose.PoseLandmarker | None = (
                vision.PoseLandmarker.create_from_options(options)
            )
        except Exception as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise ModelDamagedError(
                self.model_path, f"MediaPipe could not load it: {reason[:200]}"
            ) from exc
        _open_instances.add(self)
        _register_exit_hook()

    @property
    def closed(self) -> bool:
        return self._landmarker is None

    @property
    def latest_t_s(self) -> float | None:
        """Live mode: `t_s` of the frame the latest returned pose was detected in."""
        with self._lock:
            return self._latest_t_s

    def detect(self, frame_bgr: np.ndarray, t_s: float) -> Pose | None:
        """Find the person in a BGR (or gray/BGRA) uint8 frame taken at `t_s` seconds."""
        landmarker = self._landmarker
        if landmarker is None:
            raise RuntimeError("MediaPipePose is closed")
        if not math.isfinite(t_s):
            raise ValueError(f"timestamp must be a finite number of seconds, got {t_s}")
        rgb = _to_rgb(frame_bgr)
        height, width = rgb.shape[:2]
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        if self.mode == "live":
            return self._submit_live(landmarker, image, t_s)
        poses = self._detect_now(landmarker, image, t_s, width, height)
        return poses[0] if poses else None

    def detect_all(self, frame_bgr: np.ndarray, t_s: float) -> list[Pose]:
        """Every person found (up to `num_poses`), most confident first; video/image modes.

        For scenes with bystanders (gait clips): the caller picks the person to follow.
        """
        landmarker = self._landmarker
        if landmarker is None:
            raise RuntimeError("MediaPipePose is closed")
        if self.mode == "live":
            raise ValueError("detect_all is for video and image modes")
        rgb = _to_rgb(frame_bgr)
        height, width = rgb.shape[:2]
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        return self._detect_now(landmarker, image, t_s, width, height)

    def _detect_now(
        self, landmarker: mp_pose.PoseLandmarker, image: mp.Image, t_s: float, w: int, h: int
    ) -> list[Pose]:
        return _to_poses(self._run(landmarker, image, t_s), w, h)

    def _run(
        self, landmarker: mp_pose.PoseLandmarker, image: mp.Image, t_s: float
    ) -> mp_pose.PoseLandmarkerResult:
        if self.mode == "image":
            return landmarker.detect(image)
        return landmarker.detect_for_video(image, self._next_timestamp_ms(t_s))

    def _next_timestamp_ms(self, t_s: float) -> int:
        """Integer ms, strictly increasing as MediaPipe's video and live modes require."""
        ts_ms = round(t_s * 1000.0)
        if self._last_ts_ms is not None and ts_ms <= self._last_ts_ms:
            ts_ms = self._last_ts_ms + 1
        self._last_ts_ms = ts_ms
        return ts_ms

    def _submit_live(
        self, landmarker: mp_pose.PoseLandmarker, image: mp.Image, t_s: float
    ) -> Pose | None:
        now = time.monotonic()
        with self._lock:
            latest = self._latest
            since = self._in_flight_since
            # A result that never came back (dropped inside MediaPipe) must not block us.
            busy = since is not None and now - since < self.live_timeout_s
            if not busy:
                ts_ms = self._next_timestamp_ms(t_s)
                self._in_flight_since = now
                self._in_flight_ms = ts_ms
                self._submitted_t_s[ts_ms] = t_s
        if not busy:
            try:
                landmarker.detect_async(image, ts_ms)
            except BaseException:
                with self._lock:
                    self._in_flight_since = None
                    self._submitted_t_s.pop(ts_ms, None)
                raise
        return latest

    def _on_live_result(
        self, result: mp_pose.PoseLandmarkerResult, image: mp.Image, timestamp_ms: int
    ) -> None:
        """Runs on MediaPipe's thread: convert once, publish under the lock, never raise."""
        try:
            pose = _to_pose(result, image.width, image.height)
        except Exception:
            log.exception("could not convert a live pose result")
            pose = None
        with self._lock:
            t_s = self._submitted_t_s.pop(timestamp_ms, timestamp_ms / 1000.0)
            for stale in [ms for ms in self._submitted_t_s if ms < timestamp_ms]:
                del self._submitted_t_s[stale]
            if timestamp_ms > self._latest_ms:  # a late, older result must not win
                self._latest, self._latest_t_s, self._latest_ms = pose, t_s, timestamp_ms
            if timestamp_ms == self._in_flight_ms:
                self._in_flight_since = None

    def close(self) -> None:
        """Release the landmarker (idempotent)."""
        landmarker, self._landmarker = self._landmarker, None
        if landmarker is not None:
            _open_instances.discard(self)
            landmarker.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"MediaPipePose({self.model_path.name!r}, mode={self.mode!r}, {state})"


def _to_rgb(frame: np.ndarray) -> np.ndarray:
    """One colour conversion to the contiguous RGB uint8 array MediaPipe wants."""
    if frame.dtype != np.uint8:
        raise ValueError(f"expected a uint8 frame, got {frame.dtype}")
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    raise ValueError(f"expected a BGR frame of shape (h, w, 3), got {frame.shape}")


def _value(v: Any) -> float:
    """MediaPipe leaves visibility/presence as None when unknown: count that as 0."""
    return float(v) if v is not None else 0.0


def _to_pose(result: mp_pose.PoseLandmarkerResult, width: int, height: int) -> Pose | None:
    """The first person in a result as a pixel-coordinate `Pose`, or None."""
    poses = _to_poses(result, width, height)
    return poses[0] if poses else None


def _to_poses(result: mp_pose.PoseLandmarkerResult, width: int, height: int) -> list[Pose]:
    """Every complete person in a result, as pixel-coordinate `Pose`s."""
    out = []
    worlds = result.pose_world_landmarks or []
    for i, landmarks in enumerate(result.pose_landmarks or []):
        if len(landmarks) != len(Landmark) or any(lm.x is None or lm.y is None for lm in landmarks):
            log.warning("ignoring an incomplete pose result (%d landmarks)", len(landmarks))
            continue
        points = [
            (float(lm.x), float(lm.y), _value(lm.z), _value(lm.visibility), _value(lm.presence))
            for lm in landmarks
        ]
        world = worlds[i] if i < len(worlds) else None
        world_points = (
            [(_value(p.x), _value(p.y), _value(p.z)) for p in world]
            if world is not None and len(world) == len(Landmark)
            else None
        )
        out.append(Pose.from_normalized(points, width, height, world_points))
    return out
