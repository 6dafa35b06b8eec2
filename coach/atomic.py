"""Save files whole or not at all, and tidy up after writers that were killed.

A report or video is written to a hidden temporary file in the destination folder and
renamed over the destination (`os.replace`, atomic on one file system) only once it is
complete, so a reader never sees half a file and a previous file survives a failed save.
Temporary names carry the writer's pid (``.<stem>.coach-tmp-<pid>-<hex><suffix>``), so
files left by a process that was killed can be recognised and removed later by
`remove_stale_temp_files` without touching those of a writer still at work.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "AtomicFile",
    "WriteError",
    "atomic_write_path",
    "check_writable",
    "pid_alive",
    "plain_reason",
    "remove_stale_temp_files",
    "temp_path_for",
]

_TEMP_NAME = re.compile(r"^\..*\.coach-tmp-(?P<pid>\d+)-[0-9a-f]{8}(\.[^.]*)?$")

# Names of the temporary files this process is writing now (the random part makes a name
# unique): a file with our pid that is not in here was left by an earlier process that had
# the same pid, as happens when a container restarts.
_live: set[str] = set()
_live_lock = threading.Lock()


class WriteError(Exception):
    """A file cannot be saved; the message is one plain line naming the file."""


def plain_reason(exc: OSError) -> str:
    """A few plain words for why a file operation failed."""
    return {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
        errno.EROFS: "the folder is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOENT: "the folder does not exist",
        errno.ENOTDIR: "part of the path is a file, not a folder",
        errno.EISDIR: "it is a folder",
        errno.ENAMETOOLONG: "the name is too long",
        errno.EIO: "the disk reported an error",
    }.get(exc.errno or 0, exc.strerror or str(exc) or type(exc).__name__)


def temp_path_for(path: Path) -> Path:
    """A fresh temporary name next to `path`, tied to this process, keeping the suffix.

    The suffix is kept because some writers (FFmpeg, OpenCV) choose the format from it.
    """
    token = f"coach-tmp-{os.getpid()}-{secrets.token_hex(4)}"
    return path.with_name(f".{path.stem}.{token}{path.suffix}")


def _forget(tmp: str) -> None:
    with _live_lock:
        _live.discard(os.path.basename(tmp))


def _discard(tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    _forget(tmp)


class AtomicFile:
    """One save in progress: write to `tmp`, then `commit()` or `discard()`.

    For writers that live longer than one `with` block (a video encoder fed frame by
    frame). If neither is called the temporary file is removed when this object is
    garbage-collected or the interpreter exits.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.tmp = temp_path_for(self.path)
        with _live_lock:
            _live.add(self.tmp.name)
        self._finalizer = weakref.finalize(self, _discard, str(self.tmp))

    @property
    def pending(self) -> bool:
        """True until the save is committed or discarded."""
        return self._finalizer.alive

    def commit(self) -> None:
        """Flush the finished temporary file to disk and rename it over `path`."""
        if not self.pending:
            raise WriteError(f"cannot save {self.path.name}: this save is already finished")
        try:
            fd = os.open(self.tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.discard()
            raise WriteError(f"cannot save {self.path.name}: {plain_reason(exc)}") from exc
        self._finalizer.detach()
        _forget(str(self.tmp))

    def discard(self) -> None:
        """Remove the temporary file; `path` stays as it was. Safe to call more than once."""
        self._finalizer()


@contextlib.contextmanager
def atomic_write_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces `path` only if the block succeeds.

    An exception inside the block removes the temporary file and leaves `path` as it was;
    a failed write inside it (disk full, say) or a failure to rename raises `WriteError`
    naming `path` (not the temporary name, which means nothing to the user).
    """
    save = AtomicFile(path)
    try:
        yield save.tmp
    except OSError as exc:
        save.discard()
        raise WriteError(f"cannot save {save.path.name}: {plain_reason(exc)}") from exc
    except BaseException:
        save.discard()
        raise
    save.commit()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id still runs (a zombie does not; another user's does)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    with contextlib.suppress(OSError, IndexError):  # Linux: a zombie writes nothing
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] != "Z"
    return True


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Remove temporary files in `folder` left by writers that are gone; returns them.

    Best effort: a folder that cannot be listed, or a file that cannot be removed, is
    skipped silently (this only tidies up).
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    me = os.getpid()
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None:
            continue
        pid = int(match["pid"])
        with _live_lock:
            ours_now = entry.name in _live
        if ours_now or (pid != me and pid_alive(pid)):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def check_writable(path: str | Path) -> None:
    """Raise `WriteError` now if `path` could not be saved later (before a long analysis).

    Creates the folder when it is missing, then creates and removes a probe file in it:
    the only test that holds for root, read-only mounts and network folders alike.
    """
    path = Path(path)
    name = path.name or str(path)
    if path.is_dir():
        raise WriteError(f"cannot save {name}: it is a folder")
    folder = path.parent
    for ancestor in (folder, *folder.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise WriteError(f"cannot save {name}: {ancestor.name} is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(
            f"cannot save {name}: cannot create its folder ({plain_reason(exc)})"
        ) from exc
    probe = temp_path_for(path)
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise WriteError(f"cannot save {name}: {plain_reason(exc)}") from exc
    with contextlib.suppress(OSError):
        os.unlink(probe)
