"""Thin OpenCV video file I/O with clear errors and browser-playable output.

Reading: `open_video` checks up front that at least one frame decodes, so a text file
renamed ``.mp4``, an empty file or a header-only fragment fails at once with a
`VideoReadError` instead of producing an empty analysis. Frames come with timestamps in
seconds taken from the decoder (strictly increasing), as the rest of the package expects.

Writing: `VideoWriter` produces H.264 MP4 in-process with PyAV when it can, because
browsers (Streamlit's ``st.video``) do not play OpenCV's default MPEG-4 Part 2 ('mp4v')
files, and it saves atomically: a finished file or the previous one, never half a file.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import threading
from collections.abc import Iterator
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import cv2
import numpy as np

from coach.atomic import AtomicFile, WriteError, plain_reason, remove_stale_temp_files
from coach.closeable import Closeable

__all__ = [
    "DEFAULT_FPS",
    "ReadProblem",
    "VideoReadError",
    "VideoSource",
    "VideoWriteError",
    "VideoWriter",
    "open_video",
]

DEFAULT_FPS = 30.0
"""Used when a file reports no usable frame rate (0, NaN, absurd)."""

# Browser-recorded WebM often reports its 1 ms time base (1000 "fps"); real cameras,
# slow-motion included, stay below this.
_MAX_SANE_FPS = 300.0


class ReadProblem(StrEnum):
    """Why a file could not be read as a video (pages word each their own way)."""

    NOT_FOUND = "not_found"
    NOT_A_FILE = "not_a_file"
    EMPTY = "empty"
    NOT_A_VIDEO = "not_a_video"
    TRUNCATED = "truncated"
    STILL_PHOTO = "still_photo"
    SOUND_ONLY = "sound_only"


class VideoReadError(Exception):
    """A video file cannot be read; the message is one human-readable line, `problem` says
    which kind of problem it is."""

    def __init__(self, message: str, problem: ReadProblem = ReadProblem.NOT_A_VIDEO) -> None:
        super().__init__(message)
        self.problem = problem

    def __reduce__(self) -> tuple[type[VideoReadError], tuple[str, ReadProblem]]:
        """Survive pickling (pose workers send errors back to their parent)."""
        return type(self), (str(self), self.problem)


class VideoWriteError(WriteError):
    """A video file cannot be written; the message is one human-readable line."""


def _not_readable(
    path: Path, reason: str, problem: ReadProblem = ReadProblem.NOT_A_VIDEO
) -> VideoReadError:
    return VideoReadError(f"not a readable video: {path.name} ({reason})", problem)


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
            raise VideoReadError(f"video file not found: {self.path.name}", ReadProblem.NOT_FOUND)
        if not self.path.is_file():
            raise _not_readable(self.path, "it is not a file", ReadProblem.NOT_A_FILE)
        if self.path.stat().st_size == 0:
            raise _not_readable(self.path, "the file is empty", ReadProblem.EMPTY)
        if _is_still_image(self.path):
            raise VideoReadError(
                f"{self.path.name} is a still photo, not a video: "
                "please upload a video of the exercise",
                ReadProblem.STILL_PHOTO,
            )

    def _open(self) -> tuple[cv2.VideoCapture, _Decoded]:
        """Open the capture and decode the first frame, or raise VideoReadError."""
        cap = cv2.VideoCapture(str(self.path))
        first = _read(cap) if cap.isOpened() else None
        if first is not None:
            return cap, first
        opened = cap.isOpened()
        cap.release()
        if _has_sound_but_no_picture(self.path):
            raise VideoReadError(
                f"{self.path.name} has sound but no video: please upload a video of the exercise",
                ReadProblem.SOUND_ONLY,
            )
        if not opened:
            raise _not_readable(
                self.path, "not a supported video format, or the file is damaged or truncated"
            )
        raise _not_readable(self.path, "no frames could be decoded")

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
        """Raise when decoding stopped clearly short of the declared frame count, or when
        the whole "video" was one picture (a photo in a video container, or noise that
        happened to decode): nothing can move in it, so nothing can be counted."""
        if self._closed:
            return
        if self.frames_read == 1:
            raise VideoReadError(
                f"{self.path.name} holds a single picture, not a video: "
                "please upload a video of the exercise",
                ReadProblem.STILL_PHOTO,
            )
        if not self.frame_count or self.allow_truncated:
            return
        missing = self.frame_count - self.frames_read
        if missing > max(3, 0.02 * self.frame_count):
            raise _not_readable(
                self.path,
                f"decoding stopped after {self.frames_read} of {self.frame_count} frames; "
                "the file is probably truncated or damaged",
                ReadProblem.TRUNCATED,
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


# Leading bytes of photo formats, which OpenCV would happily read as a one-frame video.
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00", b"MM\x00*")
_IMAGE_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"mif1", b"avif")  # HEIC/AVIF photos


def _is_still_image(path: Path) -> bool:
    """True for a JPEG, PNG, WebP, BMP, TIFF, HEIC or AVIF photo, whatever its name."""
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError:
        return False
    if head.startswith(_IMAGE_MAGIC):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    return head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS


def _has_sound_but_no_picture(path: Path) -> bool:
    """True for an audio-only file (a voice memo, an .m4a); only asked once OpenCV gave up."""
    try:
        import av

        with av.open(str(path)) as container:
            return not container.streams.video and bool(container.streams.audio)
    except Exception:  # not even FFmpeg can open it: the caller's generic message stands
        return False


def open_video(path: str | Path, *, allow_truncated: bool = False) -> VideoSource:
    """Open a video file for reading; raises `VideoReadError` with a clear reason."""
    return VideoSource(path, allow_truncated=allow_truncated)


Encoding = Literal["h264", "mp4v"]

_NEARLY_FULL_BYTES = 4 << 20
"""OpenCV reports no write errors: an incomplete file with this little space left means full."""

# Tried in this order; "h264" is whatever FFmpeg's build calls its default H.264 encoder.
_H264_ENCODERS = ("libx264", "libopenh264", "h264")
_h264_encoder: str | None = None
_h264_probed = False


def _find_h264_encoder() -> str | None:
    """The first H.264 encoder in PyAV's FFmpeg that really encodes a frame; probed once.

    Listed is not enough (hardware encoders are listed without the hardware), so each is
    opened and fed a tiny frame, which takes milliseconds.
    """
    global _h264_encoder, _h264_probed
    if _h264_probed:
        return _h264_encoder
    _h264_probed = True
    try:
        import av
    except ImportError:
        return None
    for name in _H264_ENCODERS:
        if name not in av.codecs_available:
            continue
        try:
            ctx = av.CodecContext.create(name, "w")
            assert isinstance(ctx, av.VideoCodecContext)
            ctx.width, ctx.height, ctx.pix_fmt = 64, 64, "yuv420p"
            ctx.time_base = Fraction(1, 30)
            ctx.open()
            frame = av.VideoFrame(64, 64, "yuv420p")
            frame.pts = 0
            ctx.encode(frame)
            ctx.encode(None)
        except (av.FFmpegError, ValueError, AssertionError):
            continue
        _h264_encoder = name
        break
    return _h264_encoder


def _reason(exc: BaseException) -> str:
    """Plain words for an encoder or file error (no temporary names, no internal codes)."""
    if isinstance(exc, OSError):
        return plain_reason(exc)
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else (str(exc) or type(exc).__name__)


class VideoWriter(Closeable):
    """Write BGR frames to an MP4 that browsers can play, all or nothing.

    Encoding, recorded in `encoding`: ``"h264"`` (H.264 / yuv420p with the index at the
    front, ``+faststart``, so browsers start playing at once) in this process with PyAV;
    or, when no H.264 encoder is available, ``"mp4v"`` (MPEG-4 Part 2 via OpenCV), which
    desktop players play but browsers may not (`browser_playable` is False).

    Frames go to a hidden temporary file next to `path` (see `coach.atomic`), which
    replaces `path` only when `close()` succeeds; an error, or leaving a ``with`` block by
    an exception, removes it and leaves any previous file at `path` untouched. Failures
    raise `VideoWriteError` naming the file and the reason.

    The frame size is taken from `frame_size` or from the first frame; every frame must
    match it. An odd width or height is padded by one replicated pixel, since H.264 with
    yuv420p needs even sizes. Closing before any frame was written saves nothing.
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
        self.codec: str | None = _find_h264_encoder() if prefer_h264 else None
        """The H.264 encoder used, or None for OpenCV's mp4v."""
        self.encoding: Encoding = "h264" if self.codec is not None else "mp4v"
        self._save: AtomicFile | None = None
        self._container: Any = None  # av.container.OutputContainer
        self._stream: Any = None  # av.VideoStream
        self._cv_writer: cv2.VideoWriter | None = None
        self._closed = False
        if frame_size is not None:
            self._open(frame_size)

    @property
    def browser_playable(self) -> bool:
        """True when the output is H.264, which every mainstream browser plays."""
        return self.encoding == "h264"

    def _error(self, reason: str) -> VideoWriteError:
        return VideoWriteError(f"cannot save video {self.path.name}: {reason}")

    def _open(self, frame_size: tuple[int, int]) -> None:
        self.frame_size = frame_size
        width, height = frame_size
        even_size = (width + width % 2, height + height % 2)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._error(f"cannot create its folder ({plain_reason(exc)})") from exc
        if self.path.is_dir():
            raise self._error("it is a folder")
        remove_stale_temp_files(self.path.parent)
        self._save = save = AtomicFile(self.path)
        try:
            if self.codec is not None:
                self._open_av(save.tmp, even_size)
            else:
                self._open_cv(save.tmp, even_size)
        except Exception as exc:
            self.discard()
            if isinstance(exc, VideoWriteError):
                raise
            raise self._error(_reason(exc)) from exc

    def _open_av(self, tmp: Path, size: tuple[int, int]) -> None:
        import av

        rate = Fraction(self.fps).limit_denominator(1001)
        self._container = av.open(
            str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}
        )
        stream = self._container.add_stream(self.codec, rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = 1 / rate
        if self.codec == "libx264":
            stream.options = {"preset": "veryfast", "crf": "23"}
        self._stream = stream

    def _open_cv(self, tmp: Path, size: tuple[int, int]) -> None:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, size)
        if not writer.isOpened():
            writer.release()
            raise self._error("no video encoder is available")
        self._cv_writer = writer

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
        if self._save is None:
            self._open(size)
        elif size != self.frame_size:
            raise ValueError(f"frame size {size} differs from the video's {self.frame_size}")
        pad_bottom, pad_right = size[1] % 2, size[0] % 2
        if pad_bottom or pad_right:
            frame_bgr = cv2.copyMakeBorder(
                frame_bgr, 0, pad_bottom, 0, pad_right, cv2.BORDER_REPLICATE
            )
        frame_bgr = np.ascontiguousarray(frame_bgr)
        try:
            if self._stream is not None:
                self._encode(frame_bgr)
            else:
                assert self._cv_writer is not None
                self._cv_writer.write(frame_bgr)
        except Exception as exc:
            self.discard()
            raise self._error(_reason(exc)) from exc
        self.frames_written += 1

    def _encode(self, frame_bgr: np.ndarray | None) -> None:
        """Encode one frame (None: flush the encoder) and mux what comes out."""
        import av

        frame = None
        if frame_bgr is not None:
            frame = av.VideoFrame.from_ndarray(frame_bgr, format="bgr24")
            frame.pts = self.frames_written
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        """Finish the file and move it into place; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        save = self._save
        if save is None or not save.pending:
            return
        try:
            if self._stream is not None:
                self._encode(None)
                container, self._container, self._stream = self._container, None, None
                container.close()
            else:
                self._finish_cv(save.tmp)
            save.commit()
        except Exception as exc:
            self.discard()
            if isinstance(exc, (VideoWriteError, WriteError)):
                raise VideoWriteError(str(exc)) from exc
            raise self._error(_reason(exc)) from exc

    def _finish_cv(self, tmp: Path) -> None:
        """Release OpenCV's writer and check the file: it reports no write errors itself."""
        assert self._cv_writer is not None
        self._cv_writer.release()
        self._cv_writer = None
        cap = cv2.VideoCapture(str(tmp))
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT) if cap.isOpened() else 0
        cap.release()
        if count != self.frames_written:
            try:
                full = shutil.disk_usage(tmp.parent).free < _NEARLY_FULL_BYTES
            except OSError:
                full = False
            raise self._error("the disk is full" if full else "the file came out incomplete")

    def discard(self) -> None:
        """Stop writing and remove the temporary file; `path` stays as it was."""
        self._closed = True
        container, self._container, self._stream = self._container, None, None
        if container is not None:
            with contextlib.suppress(Exception):
                container.close()
        if self._cv_writer is not None:
            self._cv_writer.release()
            self._cv_writer = None
        if self._save is not None:
            self._save.discard()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:  # half a video is worse than none: keep the previous file
            self.discard()
