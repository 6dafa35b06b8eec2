"""Analysing an uploaded video, shared by the Review and Gait pages.

The upload is written to a private temp folder only while it is analysed, with a progress
bar that names each stage; the folder is removed when the analysis ends, whether it
succeeded or not. What a page shows afterwards (the report, the annotated video, the CSV)
is kept in memory in `st.session_state`, so no patient file stays on disk: the result is
dropped when the upload is removed, and goes with the browser session.

Folders are named after the server's process id (``coach-review-<pid>-...``), so the
folders of a server that was killed mid-analysis are found and removed when the next one
starts (`remove_stale_uploads_once`, called from app.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import streamlit as st

from coach.atomic import pid_alive
from coach.pose_models import ModelUnavailableError
from coach.progress import Progress, Stage
from coach.ui.common import MODEL_MISSING, md_escape
from coach.ui.state import get_hooks, make_estimator
from coach.video import ReadProblem, VideoReadError

if TYPE_CHECKING:
    from streamlit.runtime.uploaded_file_manager import UploadedFile

    from coach.pose import PoseEstimator

log = logging.getLogger(__name__)

VIDEO_TYPES = ["video/*", ".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm"]
REVIEW_PREFIX = "coach-review-"
GAIT_PREFIX = "coach-gait-"
TEMP_PREFIXES = (REVIEW_PREFIX, GAIT_PREFIX)
"""Every temp folder prefix the pages use; `tempdir_name` adds the server's pid."""
_OWNED = re.compile(r"^(?:coach-review|coach-gait)-(\d+)-")

STAGE_TEXT: dict[Stage, str] = {
    Stage.READING: "Reading the video",
    Stage.POSE: "Finding your pose",
    Stage.COUNTING: "Counting reps",
    Stage.DRAWING: "Drawing the annotated video",
}
"""What the progress bar says in each stage (a page may reword some)."""
FRAME_STAGES = frozenset({Stage.POSE, Stage.DRAWING})
"""Stages that go frame by frame, so the bar shows "frame i of n"."""
BAR_INTERVAL_S = 0.25


class ReviewError(Exception):
    """A plain-language reason the upload could not be analysed."""


UNREADABLE_TEXT: dict[ReadProblem, str] = {
    ReadProblem.TRUNCATED: (
        "“{name}” stops part-way through: only some of the file arrived, or the recording "
        "was cut off. Please upload the whole video again."
    ),
    ReadProblem.STILL_PHOTO: (
        "“{name}” is a photo, not a video. Please upload a video of the exercise."
    ),
    ReadProblem.SOUND_ONLY: (
        "“{name}” has sound but no picture. Please upload a video of the exercise."
    ),
    ReadProblem.EMPTY: "“{name}” is empty. Please choose the video again.",
}
_UNREADABLE_OTHER = (
    "“{name}” could not be read as a video. Please upload a video file (for example MP4 or "
    "MOV) straight from your phone or camera."
)


def unreadable_text(name: str, problem: ReadProblem) -> str:
    """Why an upload could not be read, in words for the patient, naming their file."""
    return UNREADABLE_TEXT.get(problem, _UNREADABLE_OTHER).format(name=md_escape(name))


# -- temp folders ---------------------------------------------------------------------------


def make_tempdir(prefix: str) -> Path:
    """A private temp folder whose name carries this server's pid: ``<prefix><pid>-XXXX``."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def remove_stale_uploads(root: Path | None = None) -> list[Path]:
    """Remove the pages' temp folders left by a server that is no longer running.

    Only folders named ``coach-review-<pid>-...`` or ``coach-gait-<pid>-...`` whose pid is
    not alive are removed; returns them.
    """
    root = Path(tempfile.gettempdir()) if root is None else root
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError as exc:
        log.warning("could not look for stale upload folders in %s: %s", root, exc)
        return removed
    for entry in entries:
        match = _OWNED.match(entry.name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError as exc:
            log.warning("could not remove the stale upload folder %s: %s", entry, exc)
            continue
        removed.append(entry)
    if removed:
        log.info("removed %d upload folder(s) left by a stopped server", len(removed))
    return removed


_cleaned = False
_clean_lock = threading.Lock()


def remove_stale_uploads_once() -> None:
    """`remove_stale_uploads`, the first time it is called in this process (app start)."""
    global _cleaned
    with _clean_lock:
        if _cleaned:
            return
        _cleaned = True
    remove_stale_uploads()


# -- progress -------------------------------------------------------------------------------


def progress_text(
    stage: Stage, done: int, total: int, words: Mapping[Stage, str] = STAGE_TEXT
) -> str:
    """The bar's label: the stage in words, and for a frame-by-frame stage how far it is."""
    text = words.get(stage) or STAGE_TEXT.get(stage) or "Analysing your video"
    if stage in FRAME_STAGES and done > 0:
        return f"{text}: frame {done}" + (f" of {max(total, done)}" if total > 0 else "")
    return text


class StageBar:
    """The analysis' `progress(stage, done, total)`, drawn on a Streamlit progress bar.

    Each stage fills the bar on its own (its own fraction); within a stage the bar is
    redrawn at most every `BAR_INTERVAL_S`, but always on a new stage and at a stage's end.
    """

    def __init__(
        self,
        bar: Any,
        words: Mapping[Stage, str] = STAGE_TEXT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bar = bar
        self._words = words
        self._clock = clock
        self._stage: Stage | None = None
        self._last = 0.0

    def __call__(self, stage: Stage, done: int, total: int) -> None:
        now = self._clock()
        new = stage != self._stage
        if not new and done != total and now - self._last < BAR_INTERVAL_S:
            return
        self._stage, self._last = stage, now
        frac = min(1.0, max(0.0, done / total)) if total > 0 else 0.0
        self._bar.progress(frac, text=progress_text(stage, done, total, self._words))


# -- one analysis ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UploadJob:
    """Where the upload and its annotated video go, and what the analysis reports to."""

    workdir: Path
    src: Path
    annotated: Path
    progress: Progress
    estimator: PoseEstimator | None
    """The test hooks' pose model, or None: the analysis makes its own."""

    def annotated_bytes(self) -> bytes | None:
        """The annotated video, if one was written (read before the folder goes)."""
        path = self.annotated
        if path.is_file() and path.stat().st_size > 0:
            return path.read_bytes()
        return None


def _remove(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
    if workdir.exists():
        log.warning("could not remove the upload folder %s", workdir)


@contextmanager
def analysing_upload(
    name: str,
    data: bytes,
    model: str,
    *,
    prefix: str,
    words: Mapping[Stage, str] = STAGE_TEXT,
) -> Iterator[UploadJob]:
    """Write the upload to a private temp folder and show a progress bar while it is analysed.

    Read what the page keeps inside the block: the folder is removed when it ends, on
    success or failure. Inside the block, an unreadable video or a missing model becomes a
    `ReviewError` (details go to the log). The bar goes and the pose model is closed either
    way. `words` rewords the bar's stages (`STAGE_TEXT`).
    """
    workdir = make_tempdir(prefix)
    estimator: PoseEstimator | None = None
    bar = None
    try:
        suffix = Path(name).suffix.lower() or ".mp4"
        src = workdir / f"upload{suffix if len(suffix) <= 6 else '.mp4'}"
        src.write_bytes(data)
        bar = st.progress(0.0, text=progress_text(Stage.READING, 0, 0, words))
        if get_hooks().estimator_factory is not None:
            estimator = make_estimator(model)
        yield UploadJob(workdir, src, workdir / "annotated.mp4", StageBar(bar, words), estimator)
    except VideoReadError as exc:
        log.info("unreadable upload %s: %s", name, exc)
        raise ReviewError(unreadable_text(name, exc.problem)) from None
    except ModelUnavailableError as exc:
        log.error("the pose model %r is not available: %s", model, exc)
        raise ReviewError(MODEL_MISSING) from None
    finally:
        try:
            if estimator is not None:
                estimator.close()
        finally:
            _remove(workdir)
            if bar is not None:
                bar.empty()


# -- the result kept in the session ---------------------------------------------------------


class AnalysedUpload(Protocol):
    """A page's analysis result, all in memory: `key` is what it was made from."""

    @property
    def key(self) -> tuple[str, ...]: ...


R = TypeVar("R", bound=AnalysedUpload)


def upload_data(upload: UploadedFile) -> tuple[bytes, str] | None:
    """The uploaded bytes and their digest; None (after saying so) for an empty file."""
    data = upload.getvalue()
    if not data:
        st.error("The uploaded file is empty. Please choose the video again.")
        return None
    return data, hashlib.sha1(data, usedforsecurity=False).hexdigest()


def forget_result(state_key: str) -> None:
    """Drop the kept analysis (its video and CSV): the upload was removed."""
    st.session_state.pop(state_key, None)


def kept_result(
    state_key: str, result_type: type[R], key: tuple[Any, ...], analyse: Callable[[], R]
) -> R | None:
    """The analysis kept in the session for `key`, or a new one from `analyse` (the old
    one is dropped first); None, after showing why, when the upload cannot be analysed.
    """
    result = st.session_state.get(state_key)
    if isinstance(result, result_type) and result.key == key:
        return result
    forget_result(state_key)
    try:
        result = analyse()
    except ReviewError as exc:
        st.error(str(exc))
        return None
    st.session_state[state_key] = result
    return result
