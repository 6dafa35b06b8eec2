"""Thin OpenCV video file I/O with clear errors and browser-playable output.

Reading: `open_video` checks up front that at least one frame decodes, so a text file
renamed ``.mp4``, an empty file or a header-only fragment fails at once with a
`VideoReadError` instead of producing an empty analysis. Frames come with timestamps in
seconds taken from the decoder (strictly increasing), as the rest of the package expects.

Writing: `VideoWriter` produces H.264 MP4 when it can, because browsers (Streamlit's
``st.video``) do not play OpenCV's default MPEG-4 Part 2 ('mp4v') files.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from coach.closeable import Closeable

__all__ = [
    "DEFAULT_FPS",
    "VideoReadError",
    "VideoSource",
    "VideoWriteError",
    "VideoWriter",
    "filtered_stderr",
    "open_video",
]

log = logging.getLogger(__name__)

DEFAULT_FPS = 30.0
"""Used when a file reports no usable frame rate (0, NaN, absurd)."""

# Browser-recorded WebM often reports its 1 ms time base (1000 "fps"); real cameras,
# slow-motion included, stay below this.
_MAX_SANE_FPS = 300.0


class VideoReadError(Exception):
    """A video file cannot be read; the message is one human-readable line."""


class VideoWriteError(Exception):
    """A video file cannot be written; the message is one human-readable line."""


def _not_readable(path: Path, reason: str) -> VideoReadError:
    return VideoReadError(f"not a readable video: {path.name} ({reason})")


_Decoded = tuple[np.ndarray, float]
"""A frame and the decoder's position for it in milliseconds (may be nonsense)."""


def _read(cap: cv2.VideoCapture) -> _Decoded | None:
    """The next decoded frame and its position, or None at the end or on a decoding failure."""
    ok, frame = cap.read()
    if not ok or frame is None or frame.size == 0:
        return None
    return np.asarray(frame), float(cap.get(cv2.CAP_PROP_POS_MSEC))


class VideoSource(Closeable):
    """An opened video file: metadata plus iteration over ``(t_s, frame_bgr)``.

    Iterating a second time re-opens the file and starts again from the first frame.
    A file that stops decoding well before its declared frame count raises
    `VideoReadError` at that point (truncated download/upload) unless `allow_truncated`.
    """

    def __init__(self, path: str | Path, *, allow_truncated: bool = False) -> None:
        self.path = Path(path)
        self.allow_truncated = allow_truncated
        self.frames_read = 0
        """Frames yielded by the most recent iteration."""
        self._closed = False
        # close() may come from another thread than the one iterating (e.g. a prefetching
        # reader); OpenCV captures are not thread-safe, so reads and release take turns.
        self._io_lock = threading.Lock()
        self._cap: cv2.VideoCapture | None = None
        self._first: _Decoded | None = None
        self._check_file()
        cap, first = self._open()
        self._cap, self._first = cap, first
        first_frame = first[0]

        fps = float(cap.get(cv2.CAP_PROP_FPS))
        self.fps: float = fps if math.isfinite(fps) and 0 < fps <= _MAX_SANE_FPS else DEFAULT_FPS
        count = float(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count: int = int(count) if math.isfinite(count) and count > 0 else 0
        # The decoded frame is the truth: OpenCV may auto-rotate phone videos, in which case
        # the container's width/height are swapped relative to the frames we hand out.
        self.height: int = int(first_frame.shape[0])
        self.width: int = int(first_frame.shape[1])
        self.duration_s: float = self.frame_count / self.fps if self.frame_count else 0.0

    def _check_file(self) -> None:
        if not self.path.exists():
            raise VideoReadError(f"video file not found: {self.path}")
        if not self.path.is_file():
            raise _not_readable(self.path, "it is not a file")
        if self.path.stat().st_size == 0:
            raise _not_readable(self.path, "the file is empty")

    def _open(self) -> tuple[cv2.VideoCapture, _Decoded]:
        """Open the capture and decode the first frame, or raise VideoReadError."""
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise _not_readable(
                self.path, "not a supported video format, or the file is damaged or truncated"
            )
        first = _read(cap)
        if first is None:
            cap.release()
            raise _not_readable(self.path, "no frames could be decoded")
        return cap, first

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        if self._cap is None or self._first is None:
            self._check_file()
            self._cap, self._first = self._open()
        cap = self._cap
        decoded: _Decoded | None = self._first
        self._first = None
        self._closed = False
        self.frames_read = 0
        last_t = -math.inf
        try:
            while decoded is not None:
                frame, pos_ms = decoded
                t_s = self._timestamp(pos_ms, self.frames_read, last_t)
                last_t = t_s
                self.frames_read += 1
                yield t_s, frame
                with self._io_lock:
                    decoded = _read(cap)
        finally:
            with self._io_lock:
                cap.release()
                if self._cap is cap:
                    self._cap = None
        self._check_complete()

    def _timestamp(self, pos_ms: float, index: int, last_t: float) -> float:
        """Decoder position when it is sane (finite, increasing), else ``index / fps``."""
        pos_s = pos_ms / 1000.0
        if math.isfinite(pos_s) and pos_s >= 0.0 and pos_s > last_t:
            return pos_s
        fallback = index / self.fps
        return fallback if fallback > last_t else last_t + 1.0 / self.fps

    def _check_complete(self) -> None:
        """Raise when decoding stopped clearly short of the declared frame count."""
        if not self.frame_count or self.allow_truncated or self._closed:
            return
        missing = self.frame_count - self.frames_read
        if missing > max(3, 0.02 * self.frame_count):
            raise _not_readable(
                self.path,
                f"decoding stopped after {self.frames_read} of {self.frame_count} frames; "
                "the file is probably truncated or damaged",
            )

    def close(self) -> None:
        """Release the decoder; safe to call more than once."""
        with self._io_lock:
            self._closed = True
            if self._cap is not None:
                self._cap.release()
                self._cap = None
            self._first = None

    def __repr__(self) -> str:
        return (
            f"VideoSource({self.path.name!r}, {self.width}x{self.height}, "
            f"fps={self.fps:g}, frames={self.frame_count})"
        )


def open_video(path: str | Path, *, allow_truncated: bool = False) -> VideoSource:
    """Open a video file for reading; raises `VideoReadError` with a clear reason."""
    return VideoSource(path, allow_truncated=allow_truncated)


_stderr_lock = threading.RLock()


@contextlib.contextmanager
def filtered_stderr(is_noise: Callable[[str], bool]) -> Iterator[None]:
    """Hold back what native code writes to stderr during the block; re-emit all but noise.

    C/C++ libraries (FFmpeg, MediaPipe's absl logging, TFLite) write straight to file
    descriptor 2 and offer no Python-side log level, so the only way to drop their known,
    harmless chatter while keeping real errors is to capture fd 2 briefly and filter by
    line. Held-back lines are written out when the block ends. Serialised by a lock
    because fd 2 is process-wide. Set ``COACH_NATIVE_LOGS=1`` to disable filtering.
    """
    if os.environ.get("COACH_NATIVE_LOGS", "") not in ("", "0"):
        yield
        return
    with _stderr_lock, tempfile.TemporaryFile() as held:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode("utf-8", errors="replace")
            kept = "".join(ln for ln in text.splitlines(keepends=True) if not is_noise(ln))
            if kept:
                os.write(2, kept.encode("utf-8"))


_ENCODER_PROBE_NOISE = re.compile(
    r"^(\[(h264\w*|libx264\w*|libopenh264|hevc\w*) @ 0x[0-9a-f]+\]|OpenCV: FFMPEG:|\[ERROR:)"
)


Encoding = Literal["avc1", "mp4v+ffmpeg", "mp4v"]

_avc1_supported: bool | None = None


def _opencv_has_avc1() -> bool:
    """Probe once whether this OpenCV build can encode H.264 ('avc1') to MP4.

    The pip wheels usually cannot (no libx264) and the failed probe logs errors, so the
    answer is cached and OpenCV's own logging is quietened while probing.
    """
    global _avc1_supported
    if _avc1_supported is None:
        previous = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            with (
                filtered_stderr(lambda line: bool(_ENCODER_PROBE_NOISE.match(line))),
                tempfile.TemporaryDirectory() as tmp,
            ):
                probe = cv2.VideoWriter(
                    str(Path(tmp) / "probe.mp4"), cv2.VideoWriter.fourcc(*"avc1"), 30.0, (64, 64)
                )
                ok = probe.isOpened()
                if ok:
                    probe.write(np.zeros((64, 64, 3), np.uint8))
                probe.release()
                _avc1_supported = ok and (Path(tmp) / "probe.mp4").stat().st_size > 0
        except (cv2.error, OSError):
            _avc1_supported = False
        finally:
            cv2.utils.logging.setLogLevel(previous)
    return _avc1_supported


class VideoWriter(Closeable):
    """Write BGR frames to an MP4 that browsers can play.

    Strategy, recorded in `encoding`:

    - ``"avc1"``: OpenCV encodes H.264 directly;
    - ``"mp4v+ffmpeg"``: OpenCV writes MPEG-4 Part 2 to a temporary file and ``ffmpeg``
      (found on PATH) transcodes it to H.264 / yuv420p with ``+faststart`` on close;
    - ``"mp4v"``: no H.264 encoder available; the file plays in desktop players but
      maybe not in a browser (`browser_playable` is False).

    The frame size is taken from `frame_size` or from the first frame; every frame must
    match it (OpenCV would silently drop mismatched frames). An odd width or height is
    padded by one replicated pixel, since H.264 with yuv420p needs even sizes.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        frame_size: tuple[int, int] | None = None,
        *,
        prefer_h264: bool = True,
    ) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self.fps = float(fps)
        self.frame_size = frame_size
        """(width, height) of every frame."""
        self.frames_written = 0
        self._prefer_h264 = prefer_h264
        self._ffmpeg = shutil.which("ffmpeg") if prefer_h264 else None
        self.encoding: Encoding = self._choose_encoding()
        self._writer: cv2.VideoWriter | None = None
        self._raw_path: Path | None = None
        self._closed = False
        if frame_size is not None:
            self._open(frame_size)

    def _choose_encoding(self) -> Encoding:
        if self._prefer_h264 and _opencv_has_avc1():
            return "avc1"
        if self._ffmpeg is not None:
            return "mp4v+ffmpeg"
        return "mp4v"

    @property
    def browser_playable(self) -> bool:
        """True when the output is H.264, which every mainstream browser plays."""
        return self.encoding != "mp4v"

    def _open(self, frame_size: tuple[int, int]) -> None:
        self.frame_size = frame_size
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.encoding == "mp4v+ffmpeg":
            self._raw_path = self._sibling("mp4v.mp4")
            target, fourcc = self._raw_path, "mp4v"
        else:
            target, fourcc = self.path, self.encoding
        width, height = frame_size
        even_size = (width + width % 2, height + height % 2)
        writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*fourcc), self.fps, even_size)
        if not writer.isOpened():
            writer.release()
            self._discard_raw()
            raise VideoWriteError(f"cannot write video {self.path} with codec {fourcc!r}")
        self._writer = writer

    def write(self, frame_bgr: np.ndarray) -> None:
        """Append one BGR uint8 frame of the writer's size."""
        if self._closed:
            raise VideoWriteError(f"video {self.path.name} is already closed")
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise ValueError(
                f"expected a BGR uint8 frame of shape (h, w, 3), got {frame_bgr.dtype} "
                f"{frame_bgr.shape}"
            )
        size = (int(frame_bgr.shape[1]), int(frame_bgr.shape[0]))
        if self._writer is None:
            self._open(size)
        elif size != self.frame_size:
            raise ValueError(f"frame size {size} differs from the video's {self.frame_size}")
        assert self._writer is not None
        pad_bottom, pad_right = size[1] % 2, size[0] % 2
        if pad_bottom or pad_right:
            frame_bgr = cv2.copyMakeBorder(
                frame_bgr, 0, pad_bottom, 0, pad_right, cv2.BORDER_REPLICATE
            )
        self._writer.write(np.ascontiguousarray(frame_bgr))
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file (and transcode it when needed); safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        if self._raw_path is not None:
            self._transcode()

    def _transcode(self) -> None:
        """Turn the temporary mp4v file into H.264 at `path`; keep mp4v if ffmpeg fails."""
        assert self._raw_path is not None and self._ffmpeg is not None
        raw, self._raw_path = self._raw_path, None
        tmp_out = str(self._sibling("h264.mp4"))
        cmd = [
            self._ffmpeg, "-y", "-nostdin", "-loglevel", "error", "-i", str(raw),
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
            "-an", tmp_out,
        ]  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            ok, error = done.returncode == 0, done.stderr.strip()
        except OSError as exc:
            ok, error = False, str(exc)
        if ok and Path(tmp_out).is_file() and Path(tmp_out).stat().st_size > 0:
            os.replace(tmp_out, self.path)
            raw.unlink(missing_ok=True)
            return
        log.warning(
            "ffmpeg could not transcode %s to H.264 (%s); keeping MPEG-4 Part 2, "
            "which browsers may not play",
            self.path.name,
            error.splitlines()[-1] if error else "unknown error",
        )
        Path(tmp_out).unlink(missing_ok=True)
        os.replace(raw, self.path)
        self.encoding = "mp4v"

    def _sibling(self, suffix: str) -> Path:
        """A unique hidden temporary name next to the output (same folder: atomic rename)."""
        return self.path.with_name(f".{self.path.stem}.{uuid.uuid4().hex[:8]}.{suffix}")

    def _discard_raw(self) -> None:
        if self._raw_path is not None:
            self._raw_path.unlink(missing_ok=True)
            self._raw_path = None
