"""Find (or fetch) the MediaPipe pose model bundle to use.

Lookup order, so the app works offline once a model is on disk:

1. an explicit path to an existing file;
2. the project's own ``models/`` folder (``pose_landmarker_{name}.task``);
3. the folder named by the ``COACH_MODELS_DIR`` environment variable;
4. a download of the official bundle into ``models/``.

Downloads come from a versioned address and are checked against a pinned SHA-256
(`MODEL_SHA256`) while they are written to a temporary file in the destination folder;
only a matching file is moved into place with ``os.replace``, so an interrupted or
tampered download never leaves a model behind. `check_model_file` tells a damaged bundle
on disk from a good one before MediaPipe sees it (MediaPipe's own errors do not name the
file, or are a traceback).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Mapping
from http.client import HTTPException
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "DEFAULT_MODELS_DIR",
    "ENV_MODELS_DIR",
    "MODEL_NAMES",
    "MODEL_SHA256",
    "MODEL_URL_TEMPLATE",
    "ModelDamagedError",
    "ModelUnavailableError",
    "check_model_file",
    "download_model",
    "find_model",
    "model_filename",
    "resolve_model",
]

log = logging.getLogger(__name__)

MODEL_NAMES: tuple[str, ...] = ("lite", "full", "heavy")
DEFAULT_MODEL = "full"
"""Live coaching and gait, measured on every shared clip (docs/benchmark.md): full counts
every rendered clip right at 30, 10 and 5 analysed frames a second (live frames are
dropped when the machine is busy); lite over-counts from the floor and 45-degree cameras;
heavy is too slow live on two cores."""
RECORDED_MODEL = "heavy"
"""Recorded exercise videos, where every frame is analysed and time is not pressing: heavy
counts every rendered clip right at 30 frames a second too, and its angles are 1.5-3.1
degrees off the truth against full's 2.4-8.0 (full reads only half of the movement from a
floor camera)."""
"""Valid model names, fastest and least accurate first."""

ENV_MODELS_DIR = "COACH_MODELS_DIR"
"""Environment variable naming an extra folder with model bundles (tests and CI use it)."""

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = REPO_ROOT / "models"

MODEL_URL_TEMPLATE = (
    "https://storage.googleapis.com/mediapipe-models/pose_landmarker/"
    "pose_landmarker_{name}/float16/1/pose_landmarker_{name}.task"
)
"""Where the official bundles live; ``{name}`` is one of `MODEL_NAMES`. Version 1, not
``latest``: a pinned hash only makes sense for a file that cannot change."""

MODEL_SHA256: Mapping[str, str] = {
    "lite": "59929e1d1ee95287735ddd833b19cf4ac46d29bc7afddbbf6753c459690d574a",
    "full": "5134a3aad27a58b93da0088d431f366da362b44e3ccfbe3462b3827a839011b1",
    "heavy": "64437af838a65d18e5ba7a0d39b465540069bc8aae8308de3e318aad31fcbc7b",
}
"""SHA-256 of each official float16/1 bundle (5,777,746, 9,398,198 and 30,664,242 bytes),
as published by several independent projects that pin them. A download must match."""

MODEL_MEMBERS: tuple[str, ...] = ("pose_detector.tflite", "pose_landmarks_detector.tflite")
"""The two networks every pose landmarker bundle holds."""

DEFAULT_TIMEOUT_S = 30.0
_CHUNK_BYTES = 64 * 1024

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(bytes_done, bytes_total)``; ``bytes_total`` is 0 when unknown."""


class ModelUnavailableError(RuntimeError):
    """No model file could be found or downloaded; the message says how to fix it."""


class ModelDamagedError(ModelUnavailableError):
    """A model file is there but cannot be used (cut short, corrupt, not a pose bundle)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"the pose model file {path} is damaged ({reason}). "
            f"Delete it and download it again, or copy a good copy of {path.name} there."
        )
        self.path, self.reason = path, reason

    def __reduce__(self) -> tuple[type[ModelDamagedError], tuple[Path, str]]:
        """Survive pickling: pose workers send it to the parent process, which re-raises it."""
        return type(self), (self.path, self.reason)


def model_filename(name: str) -> str:
    """File name of a bundle, e.g. ``pose_landmarker_full.task``."""
    _check_name(name)
    return f"pose_landmarker_{name}.task"


def _check_name(name: str) -> None:
    if name not in MODEL_NAMES:
        raise ValueError(
            f"unknown pose model {name!r}: use one of {', '.join(MODEL_NAMES)} "
            "or a path to an existing .task file"
        )


def _env_models_dir() -> Path | None:
    """The folder from ``COACH_MODELS_DIR``.

    A relative value is tried against the working directory first and then against the
    repository root, so ``../shared/models`` works from either place.
    """
    value = os.environ.get(ENV_MODELS_DIR, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute() and not path.is_dir() and (REPO_ROOT / path).is_dir():
        return REPO_ROOT / path
    return path


def _looks_like_path(value: str | Path) -> bool:
    if isinstance(value, Path):
        return True
    return value.endswith(".task") or os.sep in value or (os.altsep or os.sep) in value


def find_model(name: str, *, models_dir: Path | None = None) -> Path | None:
    """Return an already-present bundle for `name`, or None; never downloads."""
    filename = model_filename(name)
    for folder in (models_dir or DEFAULT_MODELS_DIR, _env_models_dir()):
        if folder is not None and (folder / filename).is_file():
            return folder / filename
    return None


def resolve_model(
    name_or_path: str | Path,
    *,
    models_dir: Path | None = None,
    download: bool = True,
    progress: ProgressCallback | None = None,
    url_template: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    pins: Mapping[str, str] = MODEL_SHA256,
) -> Path:
    """Path to a usable model bundle for a name ("lite" | "full" | "heavy") or a file path.

    `models_dir` replaces the project's ``models/`` folder (for lookup and as the download
    target). Raises ValueError for an unknown name and `ModelUnavailableError` when the
    model is neither on disk nor downloadable.
    """
    candidate = Path(name_or_path).expanduser()
    if candidate.is_file():
        return candidate
    if _looks_like_path(name_or_path):
        raise ModelUnavailableError(
            f"pose model file not found: {candidate}. "
            f"Pass an existing .task file or one of {', '.join(MODEL_NAMES)}."
        )
    name = str(name_or_path)
    _check_name(name)
    found = find_model(name, models_dir=models_dir)
    if found is not None:
        return found
    target_dir = models_dir or DEFAULT_MODELS_DIR
    if not download:
        raise ModelUnavailableError(
            f"pose model {name!r} not found and downloading is switched off. "
            + _fix_hint(name, target_dir)
        )
    return download_model(
        name,
        target_dir,
        progress=progress,
        url_template=url_template or MODEL_URL_TEMPLATE,
        timeout_s=timeout_s,
        pins=pins,
    )


def _fix_hint(name: str, target_dir: Path) -> str:
    return (
        f"To fix it, copy {model_filename(name)} into {target_dir} "
        f"or set {ENV_MODELS_DIR} to a folder that contains it."
    )


def check_model_file(path: Path) -> None:
    """Raise `ModelDamagedError` unless `path` is a complete pose landmarker bundle.

    A .task file is a zip archive; reading every member (`testzip` checks each CRC)
    finds a truncated or corrupted copy, in well under a second even for "heavy".
    """
    if not path.is_file():
        raise ModelUnavailableError(f"pose model file not found: {path}")
    try:
        with zipfile.ZipFile(path) as bundle:
            bad = bundle.testzip()
            names = set(bundle.namelist())
    except zipfile.BadZipFile as exc:
        raise ModelDamagedError(path, f"not a valid .task bundle: {exc}") from None
    except (OSError, EOFError, zlib.error, ValueError, NotImplementedError, RuntimeError) as exc:
        raise ModelDamagedError(path, f"cannot be read: {exc}") from None
    if bad is not None:
        raise ModelDamagedError(path, f"the part {bad} is corrupt")
    missing = [m for m in MODEL_MEMBERS if m not in names]
    if missing:
        raise ModelDamagedError(
            path, f"cut short or not a pose landmarker bundle: no {' or '.join(missing)} in it"
        )


def download_model(
    name: str,
    dest_dir: Path,
    *,
    progress: ProgressCallback | None = None,
    url_template: str = MODEL_URL_TEMPLATE,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    pins: Mapping[str, str] = MODEL_SHA256,
) -> Path:
    """Download the official bundle for `name` into `dest_dir`, atomically and verified.

    The file is streamed into a temporary file next to its destination, checked to be a
    zip archive (a .task bundle is one) and to match its pinned SHA-256 (`pins`), and only
    then renamed into place. A model without a pin is not downloaded at all. Any failure
    removes the temporary file and raises `ModelUnavailableError`.
    """
    filename = model_filename(name)
    url = url_template.format(name=name)
    expected = pins.get(name, "").lower()
    if not expected:
        raise ModelUnavailableError(
            f"pose model {name!r} has no pinned checksum, so it is not downloaded "
            "(an unchecked file could be anything). " + _fix_hint(name, dest_dir)
        )
    dest = dest_dir / filename
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        # A unique name in the destination folder, so os.replace is an atomic rename; open
        # with "xb" (not mkstemp) so the final file gets normal, umask-based permissions.
        tmp = dest_dir / f".{filename}.tmp-{secrets.token_hex(4)}"
        out = tmp.open("xb")
    except OSError as exc:
        raise ModelUnavailableError(
            f"could not save the pose model {name!r} to {dest_dir}: {exc}. "
            + _fix_hint(name, dest_dir)
        ) from exc
    log.info("downloading pose model %s from %s", name, url)
    try:
        with out:
            digest = _stream(url, out, progress=progress, timeout_s=timeout_s)
            out.flush()
            os.fsync(out.fileno())
        if not zipfile.is_zipfile(tmp):
            raise ModelUnavailableError(
                f"the download of pose model {name!r} from {url} is not a valid .task bundle "
                "(not a zip archive); a proxy or captive portal may have answered instead. "
                + _fix_hint(name, dest_dir)
            )
        if digest != expected:
            raise ModelUnavailableError(
                f"the download of pose model {name!r} from {url} does not match its pinned "
                f"SHA-256 checksum (expected {expected}, got {digest}), so it was deleted. "
                + _fix_hint(name, dest_dir)
            )
        os.replace(tmp, dest)
    except ModelUnavailableError:
        _remove(tmp)
        raise
    except urllib.error.HTTPError as exc:
        _remove(tmp)
        raise ModelUnavailableError(
            f"could not download the pose model {name!r} from {url}: the server answered "
            f"HTTP {exc.code} {exc.reason}. " + _fix_hint(name, dest_dir)
        ) from exc
    except (urllib.error.URLError, HTTPException, TimeoutError, ConnectionError) as exc:
        _remove(tmp)
        reason = getattr(exc, "reason", None) or exc
        raise ModelUnavailableError(
            f"could not download the pose model {name!r} from {url} ({reason}). "
            "This machine may be offline or unable to reach the model server. "
            + _fix_hint(name, dest_dir)
            + " (On a machine with internet access, the file can be fetched from that URL.)"
        ) from exc
    except BaseException as exc:
        _remove(tmp)
        if isinstance(exc, OSError):
            raise ModelUnavailableError(
                f"could not save the pose model {name!r} to {dest_dir}: {exc}. "
                + _fix_hint(name, dest_dir)
            ) from exc
        raise
    log.info("saved pose model %s to %s", name, dest)
    return dest


def _stream(
    url: str,
    out: BinaryIO,
    *,
    progress: ProgressCallback | None,
    timeout_s: float,
) -> str:
    """Copy the body at `url` to `out`, reporting progress; raise on a short read.

    Returns the SHA-256 (hex) of what was written, computed on the way through.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "coach-model-fetch"})
    digest = hashlib.sha256()
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else 0
        done = 0
        if progress is not None:
            progress(done, total)
        while True:
            chunk = response.read(_CHUNK_BYTES)
            if not chunk:
                break
            out.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    if total and done != total:
        raise ConnectionError(f"connection closed after {done} of {total} bytes")
    return digest.hexdigest()


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
