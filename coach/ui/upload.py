"""Analysing an uploaded video, shared by the Review and Gait pages.

The upload is written to a private temp folder, analysed with a progress bar, and any
reason it could not be analysed becomes a plain-language `ReviewError`; on failure no
files are left behind.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import streamlit as st

from coach.models import ModelUnavailableError
from coach.ui.common import md_escape
from coach.ui.state import get_hooks, make_estimator
from coach.video import VideoReadError

if TYPE_CHECKING:
    from streamlit.runtime.uploaded_file_manager import UploadedFile

    from coach.pose import PoseEstimator

log = logging.getLogger(__name__)

VIDEO_TYPES = ["video/*", ".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm"]


class ReviewError(Exception):
    """A plain-language reason the upload could not be analysed."""


@dataclass(frozen=True, slots=True)
class UploadJob:
    """Where the upload and its annotated video go, and what the analysis reports to."""

    workdir: Path
    src: Path
    annotated: Path
    progress: Callable[[int, int], None]
    estimator: PoseEstimator | None
    """The test hooks' pose model, or None: the analysis makes its own."""


@contextmanager
def analysing_upload(
    name: str,
    data: bytes,
    model: str,
    *,
    prefix: str,
    first_text: str,
    frame_text: Callable[[int, int], str],
) -> Iterator[UploadJob]:
    """Write the upload to a private temp folder and show a progress bar while it is analysed.

    `frame_text(i, total)` labels the bar (updated at most four times a second). Inside
    the block, an unreadable video or a missing model becomes a `ReviewError`; any error
    removes the folder. The bar goes and the pose model is closed either way.
    """
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    suffix = Path(name).suffix.lower() or ".mp4"
    src = workdir / f"upload{suffix if len(suffix) <= 6 else '.mp4'}"
    src.write_bytes(data)
    bar = st.progress(0.0, text=first_text)
    last = [0.0]

    def progress(i: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < 0.25 and i != total:
            return
        last[0] = now
        frac = min(1.0, i / total) if total > 0 else 0.0
        bar.progress(frac, text=frame_text(i, total))

    estimator = make_estimator(model) if get_hooks().estimator_factory is not None else None
    try:
        yield UploadJob(workdir, src, workdir / "annotated.mp4", progress, estimator)
    except VideoReadError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        log.info("unreadable upload %s: %s", name, exc)
        raise ReviewError(
            f"“{md_escape(name)}” could not be read as a video. Please upload a video file "
            "(for example MP4 or MOV) straight from your phone or camera."
        ) from None
    except ModelUnavailableError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise ReviewError(f"The pose model could not be loaded. {exc}") from None
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)  # the page reports it; leave no files
        raise
    finally:
        if estimator is not None:
            estimator.close()
        bar.empty()


def annotated_or_none(path: Path) -> Path | None:
    """The annotated video, if one was written."""
    return path if path.is_file() and path.stat().st_size > 0 else None


class AnalysedUpload(Protocol):
    """A page's analysis result: what it was made from, and its files to remove."""

    @property
    def key(self) -> tuple[str, ...]: ...

    def discard(self) -> None: ...


R = TypeVar("R", bound=AnalysedUpload)


def upload_data(upload: UploadedFile) -> tuple[bytes, str] | None:
    """The uploaded bytes and their digest; None (after saying so) for an empty file."""
    data = upload.getvalue()
    if not data:
        st.error("The uploaded file is empty. Please choose the video again.")
        return None
    return data, hashlib.sha1(data, usedforsecurity=False).hexdigest()


def kept_result(
    state_key: str, result_type: type[R], key: tuple[Any, ...], analyse: Callable[[], R]
) -> R | None:
    """The analysis kept in the session for `key`, or a new one from `analyse` (replacing
    the old one and its files); None, after showing why, when the upload cannot be analysed.
    """
    result = st.session_state.get(state_key)
    if isinstance(result, result_type) and result.key == key:
        return result
    if isinstance(result, result_type):
        result.discard()
        st.session_state.pop(state_key, None)
    try:
        result = analyse()
    except ReviewError as exc:
        st.error(str(exc))
        return None
    st.session_state[state_key] = result
    return result
