"""Quiet by default: native libraries' log lines stay off the terminal unless asked for.

MediaPipe, LiteRT/TFLite, OpenCV and FFmpeg write log lines straight to file descriptor
2 from native code and threads of their own, at start-up, on the first detection and at
close, in wordings that change from release to release (mediapipe 1.2.3 added about 48
lines a run). Their log-level variables are set before they load, but most of these
libraries ignore them, so what remains is filtered at the file-descriptor level: fd 2
becomes a pipe read by a small filter process (`coach.stderr_filter`) that drops lines
shaped like log lines and passes everything else on. Python's own ``sys.stderr`` (our
messages, tracebacks, the progress bar) is pointed at the real stderr and bypasses it.

Each process that loads these libraries (the CLI, the app, every pose worker) calls
`quiet_native_logs` at its start, before mediapipe or cv2 is imported, and gets a filter
of its own: LiteRT writes a line's severity and its message in separate writes, so two
workers sharing one pipe would interleave the halves into lines no pattern recognises.

``--verbose`` on the command line or ``COACH_DEBUG=1`` switches all of this off, for the
process and its children.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["ENV_DEBUG", "debug_requested", "quiet_native_logs"]

ENV_DEBUG = "COACH_DEBUG"
_QUIET_ENV = {
    "GLOG_minloglevel": "2",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "OPENCV_LOG_LEVEL": "ERROR",
    "OPENCV_FFMPEG_LOGLEVEL": "-8",
}
_FILTER_SCRIPT = Path(__file__).with_name("stderr_filter.py")
_filter: subprocess.Popen[bytes] | None = None


def debug_requested() -> bool:
    """True when ``COACH_DEBUG`` asks for every library line (and debug logging)."""
    return os.environ.get(ENV_DEBUG, "").strip().lower() not in ("", "0", "false", "no")


def quiet_native_logs(*, verbose: bool = False) -> bool:
    """Keep native log lines off stderr for this process and its children.

    Returns True when stderr is filtered (now or already). With `verbose` (or
    ``COACH_DEBUG=1``) nothing is filtered, and children are told so too. Inside a pytest
    process (which captures fd 2 itself, test by test) only the log-level variables are
    set; the processes its tests start filter as usual.
    """
    global _filter
    if verbose or debug_requested():
        os.environ[ENV_DEBUG] = "1"
        logging.getLogger("coach").setLevel(logging.DEBUG)
        return False
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    try:
        os.fstat(2)
    except OSError:
        return False  # no stderr at all: nothing to keep quiet
    if _filter is not None or "_pytest" in sys.modules:
        return _filter is not None
    return _start_filter()


def _start_filter() -> bool:
    global _filter
    read_end, write_end = os.pipe()
    real_stderr = os.dup(2)
    try:
        _filter = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_FILTER_SCRIPT)],
            stdin=read_end,
            stdout=real_stderr,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            process_group=0,  # out of the terminal's reach: Ctrl-C must not stop it first
        )
    except OSError:
        for fd in (read_end, write_end, real_stderr):
            os.close(fd)
        return False
    os.close(read_end)
    _flush(sys.stderr)
    os.dup2(write_end, 2)
    os.close(write_end)
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    sys.stderr = io.TextIOWrapper(
        io.FileIO(real_stderr, "w"),
        encoding=encoding,
        errors="backslashreplace",
        line_buffering=True,
        write_through=True,
    )
    return True


def _flush(stream: object) -> None:
    flush = getattr(stream, "flush", None)
    if flush is not None:
        with contextlib.suppress(OSError, ValueError):
            flush()
