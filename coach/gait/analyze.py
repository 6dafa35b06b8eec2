"""Gait analysis of a video file: the I/O edge around `coach.gait.core`.

One pass runs the pose model over every frame and keeps every person it finds;
the pure core picks the walker and measures; an optional second pass draws the
annotated video (decoding twice is cheap next to the model).

More than one person: the shared outdoor clip has a bystander whom a
single-person detector follows for most of the clip. The MediaPipe model is
opened as `TrackOneUntilMore`: one person tracked as well as MediaPipe can, until
a periodic look for several people finds a second one; from then on up to
`MAX_PEOPLE` are kept per frame and `coach.gait.person.pick_walker` chooses. A
caller's estimator is asked for several people when it offers `detect_all`;
otherwise its single detection is used and the report says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from coach.gait.annotate import GaitAnnotator
from coach.gait.core import analyze_detections
from coach.gait.report import build_report
from coach.landmarks import Pose
from coach.pose import MediaPipePose, PoseEstimator
from coach.pose_models import DEFAULT_MODEL  # lite also mis-tracks walking legs
from coach.progress import Progress, Stage, stage_ticker
from coach.video import VideoWriter, open_video

MAX_PEOPLE = 2
SCAN_EVERY_S = 0.2
"""While one person is tracked, a model asked for several looks at a frame this often."""


class MultiPoseEstimator(PoseEstimator, Protocol):
    def detect_all(self, frame_bgr: np.ndarray, t_s: float) -> Sequence[Pose]: ...


class TrackOneUntilMore:
    """Every person in each frame, tracking a lone person with MediaPipe's own tracking.

    MediaPipe asked for up to N people runs its person detector on every frame in
    which it tracks fewer than N, and the detector's box replaces the one tracking
    derives from the previous frame's landmarks. With one person in view that is
    every frame, and the landmarks get noisier: on the shared treadmill clip, asked
    for two, the frame-to-frame jitter of the hips doubles, now and then both legs
    are drawn together for a frame, and 4 of 34 contacts moved beyond 2.5 frames of
    the labels (none asked for one). So `single` (a model asked for one person)
    tracks, while `multi` (asked for several) looks at one frame every
    `scan_every_s`; from the first frame in which it finds more than one person,
    `multi` answers for every frame and `single` is closed.
    """

    def __init__(
        self,
        single: PoseEstimator,
        multi: MultiPoseEstimator,
        scan_every_s: float = SCAN_EVERY_S,
    ) -> None:
        self.single, self.multi = single, multi
        self.scan_every_s = scan_every_s
        self.crowded_since_s: float | None = None
        """When `multi` first found more than one person (None: not yet)."""
        self._next_scan_s = -math.inf

    def detect_all(self, frame_bgr: np.ndarray, t_s: float) -> list[Pose]:
        if self.crowded_since_s is None and t_s >= self._next_scan_s:
            self._next_scan_s = t_s + self.scan_every_s - 1e-3  # frame times are not exact
            people = list(self.multi.detect_all(frame_bgr, t_s))
            if len(people) > 1:
                self.crowded_since_s = t_s
                self.single.close()
                return people
        if self.crowded_since_s is not None:
            return list(self.multi.detect_all(frame_bgr, t_s))
        pose = self.single.detect(frame_bgr, t_s)
        return [] if pose is None else [pose]

    def detect(self, frame_bgr: np.ndarray, t_s: float) -> Pose | None:
        people = self.detect_all(frame_bgr, t_s)
        return people[0] if people else None

    def close(self) -> None:
        self.single.close()
        self.multi.close()


def open_walk_estimator(model: str) -> TrackOneUntilMore:
    """The video-mode pose model for walking, ready for bystanders (they are common).

    Used for recorded walks and for live gait practice alike.
    """
    single = MediaPipePose(model, mode="video")
    try:
        multi = MediaPipePose(model, mode="video", num_poses=MAX_PEOPLE)
    except BaseException:
        single.close()
        raise
    return TrackOneUntilMore(single, multi)


def _detect(estimator: PoseEstimator, multi: bool, frame: np.ndarray, t_s: float) -> list[Pose]:
    if multi:
        return list(estimator.detect_all(frame, t_s))  # type: ignore[attr-defined]
    pose = estimator.detect(frame, t_s)
    return [] if pose is None else [pose]


def analyze_gait_video(
    path: str | Path,
    *,
    model: str = DEFAULT_MODEL,
    annotated: Path | None = None,
    progress: Progress | None = None,
    estimator: PoseEstimator | None = None,
    max_s: float | None = None,
) -> dict[str, Any]:
    """Analyse walking in a side-view video; returns the report dict (the CLI's JSON).

    `estimator` replaces the MediaPipe model (tests, or a caller reusing one); it may
    offer `detect_all` for several people. `max_s` stops after that many seconds of
    video. Raises `coach.video.VideoReadError` for unreadable files.
    """
    path = Path(path)
    warnings: list[str] = []
    reading = stage_ticker(progress, Stage.READING)
    reading(0, 1)
    posing = stage_ticker(progress, Stage.POSE)
    with open_video(path) as video:
        reading(1, 1)
        total = video.frame_count or 0
        if max_s is not None and total:
            total = min(total, int(max_s * video.fps) + 1)
        times: list[float] = []
        detections: list[list[Pose]] = []
        started = time.perf_counter()
        own = estimator is None
        if estimator is None:
            estimator = open_walk_estimator(model)
        multi = hasattr(estimator, "detect_all")
        try:
            for i, (t_s, frame) in enumerate(video):
                if max_s is not None and t_s > max_s:
                    break
                times.append(t_s)
                detections.append(_detect(estimator, multi, frame, t_s))
                posing(i + 1, max(total, i + 1))
        finally:
            if own:
                estimator.close()
        width, height, fps = video.width, video.height, video.fps
    measuring = stage_ticker(progress, Stage.COUNTING)
    measuring(0, len(times))
    analysis = analyze_detections(times, detections, width, height)
    measuring(len(times), len(times))
    if not multi and analysis.walker is not None and analysis.walker.tracks > 1:
        warnings.append(
            "The pose model follows one person at a time and switched between people in this "
            "video: the walker was missed while it followed someone else."
        )
    elapsed = time.perf_counter() - started
    fps_processed = len(times) / elapsed if elapsed > 0 else None
    if annotated is not None:
        encoding = write_annotated(
            path,
            annotated,
            analysis_annotator=GaitAnnotator(analysis),
            progress=stage_ticker(progress, Stage.DRAWING),
        )
        if encoding == "mp4v":
            warnings.append(
                "The annotated video is MPEG-4 Part 2 (no H.264 encoder found); "
                "a browser may not play it."
            )
    return build_report(
        analysis,
        source=path.name,
        model=model if own else type(estimator).__name__,
        fps_processed=fps_processed,
        video_fps=fps,
        extra_warnings=warnings,
    )


def write_annotated(
    source: Path,
    out: Path,
    *,
    analysis_annotator: GaitAnnotator,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """Re-read `source` and write it with the gait overlay to `out`; returns the encoding."""
    last = analysis_annotator.analysis.series.t
    total = len(last)
    with open_video(source) as video, VideoWriter(out, video.fps) as writer:
        for i, (t_s, frame) in enumerate(video):
            if total and t_s > last[-1] + 0.5:
                break
            writer.write(analysis_annotator.draw(frame, t_s))
            if progress is not None and (i + 1) % 15 == 0:
                progress(min(i + 1, total), total)
    if progress is not None:
        progress(total, total)
    return writer.encoding
