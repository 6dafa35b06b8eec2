"""The stderr filter process: copies stdin to stdout, less native libraries' log lines.

Run by `coach.native_logs` as ``python -I -S stderr_filter.py`` with the write end of a pipe
as the coach's file descriptor 2. Standard library only (it must start fast and must not
load the coach). It is a separate process, not a thread, so that what a dying process
writes last (a native crash report) still reaches the terminal; it ends when every writer
has closed the pipe, i.e. when the coach and all its children have ended.

Lines are recognised by the shape of a log line, not by their wording, so a new library
release with new messages stays quiet: glog/absl (``W1202 10:00:00.1 42 file.cc:12] ...``),
TFLite/LiteRT (``INFO: [file.cc:36] ...``), OpenCV (``[ WARN:0@0.1] ...``) and FFmpeg
(``[h264 @ 0x55...] ...``). Fatal lines (glog ``F``) and anything else are kept.

Pose workers share the pipe, and LiteRT writes its severity and its message in separate
writes, so two workers starting together interleave them: ``WARNING: WARNING: [a.cc:1] x``
and a bare ``[a.cc:1] x``. Both shapes count as log lines too.
"""

from __future__ import annotations

import os
import re
import signal
import sys

LOG_LINE = re.compile(
    rb"^(?:"
    rb"[IWE]\d{4} \d\d:\d\d:\d\d[.\d]* +\d+ [^\]]*\] "  # glog / absl
    rb"|(?:(?:INFO|WARNING|ERROR|VERBOSE|DEBUG): )+"  # TFLite / LiteRT minimal logger
    rb"|\[[\w./-]+\.(?:cc|cpp|cxx|c|h|hpp|mm):\d+\] "  # its message, split from the severity
    rb"|\[ ?(?:INFO|WARN|ERROR|DEBUG|VERBOSE):[\d@. ]*\] "  # OpenCV
    rb"|OpenCV: FFMPEG: "  # OpenCV's FFmpeg backend
    rb"|\[[^\]\s]+ @ 0x[0-9a-f]+\] "  # FFmpeg av_log
    rb"|\s*$"  # blank lines between log blocks
    rb")"
)


def is_log_line(line: bytes) -> bool:
    """True for a native library's INFO/WARNING/ERROR log line (what quiet mode drops)."""
    return LOG_LINE.match(line) is not None


def run(source: int = 0, sink: int = 1) -> None:
    """Copy `source` to `sink` line by line, dropping log lines, until end of file."""
    pending = b""
    while True:
        try:
            chunk = os.read(source, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        kept = b"".join(line + b"\n" for line in lines if not is_log_line(line))
        if kept:
            _write(sink, kept)
    if pending and not is_log_line(pending):
        _write(sink, pending)


def _write(sink: int, data: bytes) -> None:
    while data:
        try:
            data = data[os.write(sink, data) :]
        except InterruptedError:
            continue
        except OSError:  # the terminal went away: nothing left to show it to
            return


if __name__ == "__main__":
    # Ctrl-C in a terminal goes to the whole process group: keep forwarding until the
    # coach itself has ended (end of file), so its last words are not lost.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    run()
    sys.exit(0)
