"""Model lookup order and the download path, against a real local HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import io
import itertools
import os
import pickle
import re
import socket
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from coach import cli
from coach import pose_models as models
from coach.pose_models import (
    MODEL_NAMES,
    MODEL_SHA256,
    ModelDamagedError,
    ModelUnavailableError,
    check_model_file,
    resolve_model,
)

SHARED_LITE = Path(os.environ["COACH_MODELS_DIR"]) / "pose_landmarker_lite.task"


def _zip_bytes(size: int = 200_000) -> bytes:
    """A small zip archive (what a .task bundle is), big enough for several chunks."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("pose_detector.tflite", os.urandom(size))
    return buf.getvalue()


ZIP_BODY = _zip_bytes()
ZIP_PINS = {name: hashlib.sha256(ZIP_BODY).hexdigest() for name in MODEL_NAMES}
"""Pins that match what the test server sends (the real pins are the official files')."""


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes: /ok/<file> a zip, /html/<file> a web page, /short/<file> a cut-off body."""

    def do_GET(self) -> None:
        route = self.path.split("/")[1]
        if route == "ok":
            self._send(200, ZIP_BODY, "application/octet-stream")
        elif route == "html":
            self._send(200, b"<html>please log in to the wifi</html>", "text/html")
        elif route == "short":
            self.send_response(200)
            self.send_header("Content-Length", str(len(ZIP_BODY)))
            self.end_headers()
            self.wfile.write(ZIP_BODY[:1000])
            self.wfile.flush()
            self.close_connection = True
        else:
            self._send(404, b"not found", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, /, *args: object) -> None:
        """Keep test output clean."""


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(models.ENV_MODELS_DIR, raising=False)


def _put_model(folder: Path, name: str = "full") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"pose_landmarker_{name}.task"
    path.write_bytes(ZIP_BODY)
    return path


def _closed_port() -> int:
    """A local port with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- lookup order -------------------------------------------------------------------------


@pytest.mark.usefixtures("no_env")
def test_explicit_existing_path_wins(tmp_path: Path) -> None:
    custom = tmp_path / "my_model.task"
    custom.write_bytes(ZIP_BODY)
    _put_model(tmp_path / "models")
    assert resolve_model(custom, models_dir=tmp_path / "models") == custom
    assert resolve_model(str(custom), models_dir=tmp_path / "models") == custom


@pytest.mark.usefixtures("no_env")
def test_missing_explicit_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="not found"):
        resolve_model(tmp_path / "nope.task", models_dir=tmp_path, download=False)
    with pytest.raises(ModelUnavailableError, match="not found"):
        resolve_model("somewhere/else.task", models_dir=tmp_path, download=False)


@pytest.mark.usefixtures("no_env")
def test_unknown_name_lists_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lite, full, heavy"):
        resolve_model("medium", models_dir=tmp_path)


def test_project_folder_before_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _put_model(tmp_path / "project_models")
    _put_model(tmp_path / "env_models")
    monkeypatch.setenv(models.ENV_MODELS_DIR, str(tmp_path / "env_models"))
    assert resolve_model("full", models_dir=tmp_path / "project_models") == project


def test_env_folder_when_project_folder_lacks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _put_model(tmp_path / "project_models", "lite")
    env_model = _put_model(tmp_path / "env_models", "full")
    monkeypatch.setenv(models.ENV_MODELS_DIR, str(tmp_path / "env_models"))
    found = resolve_model("full", models_dir=tmp_path / "project_models", download=False)
    assert found == env_model


def test_relative_env_folder_is_tried_against_the_repo_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_model = _put_model(tmp_path / "shared" / "models")
    relative = os.path.relpath(env_model.parent, models.REPO_ROOT)
    elsewhere = tmp_path / "a" / "b" / "c" / "d" / "e"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    assert not (elsewhere / relative).is_dir()
    monkeypatch.setenv(models.ENV_MODELS_DIR, relative)
    found = resolve_model("full", models_dir=tmp_path / "empty", download=False)
    assert found.resolve() == env_model.resolve()


@pytest.mark.usefixtures("no_env")
def test_not_found_without_download_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError) as info:
        resolve_model("heavy", models_dir=tmp_path, download=False)
    message = str(info.value)
    assert "pose_landmarker_heavy.task" in message
    assert models.ENV_MODELS_DIR in message
    assert str(tmp_path) in message


def test_default_project_folder_is_repo_models() -> None:
    expected = Path(models.__file__).resolve().parent.parent / "models"
    assert expected == models.DEFAULT_MODELS_DIR


# --- download -----------------------------------------------------------------------------


@pytest.mark.usefixtures("no_env")
def test_download_is_atomic_with_progress(tmp_path: Path, server_url: str) -> None:
    dest_dir = tmp_path / "models"
    calls: list[tuple[int, int]] = []
    path = resolve_model(
        "full",
        models_dir=dest_dir,
        progress=lambda done, total: calls.append((done, total)),
        url_template=server_url + "/ok/pose_landmarker_{name}.task",
        timeout_s=5,
        pins=ZIP_PINS,
    )
    assert path == dest_dir / "pose_landmarker_full.task"
    assert path.read_bytes() == ZIP_BODY
    assert zipfile.is_zipfile(path)
    assert sorted(p.name for p in dest_dir.iterdir()) == ["pose_landmarker_full.task"]
    # progress: starts at 0, never goes back, ends at the full size, knows the total
    assert calls[0] == (0, len(ZIP_BODY))
    assert calls[-1] == (len(ZIP_BODY), len(ZIP_BODY))
    assert len(calls) > 2
    assert all(b[0] >= a[0] for a, b in itertools.pairwise(calls))
    # a second lookup finds the file on disk and needs no server
    again = resolve_model(
        "full", models_dir=dest_dir, url_template="http://127.0.0.1:9/{name}", download=False
    )
    assert again == path


@pytest.mark.usefixtures("no_env")
def test_offline_download_fails_clearly_and_leaves_nothing(tmp_path: Path) -> None:
    dest_dir = tmp_path / "models"
    url = f"http://127.0.0.1:{_closed_port()}/pose_landmarker_{{name}}.task"
    with pytest.raises(ModelUnavailableError) as info:
        resolve_model("lite", models_dir=dest_dir, url_template=url, timeout_s=5)
    message = str(info.value)
    assert "could not download" in message
    assert "offline" in message
    assert "pose_landmarker_lite.task" in message
    assert models.ENV_MODELS_DIR in message
    assert list(dest_dir.iterdir()) == []


@pytest.mark.usefixtures("no_env")
@pytest.mark.parametrize(
    ("route", "pins", "expected"),
    [
        ("html", ZIP_PINS, "not a valid .task bundle"),
        ("short", ZIP_PINS, "could not download"),
        ("missing", ZIP_PINS, "404"),
        # A good zip that is not the pinned file: a tampered mirror, or a new "latest".
        ("ok", MODEL_SHA256, "does not match its pinned SHA-256 checksum"),
    ],
)
def test_bad_downloads_leave_no_partial_file(
    tmp_path: Path, server_url: str, route: str, pins: dict[str, str], expected: str
) -> None:
    dest_dir = tmp_path / "models"
    with pytest.raises(ModelUnavailableError, match=expected) as info:
        resolve_model(
            "full",
            models_dir=dest_dir,
            url_template=f"{server_url}/{route}/pose_landmarker_{{name}}.task",
            timeout_s=5,
            pins=pins,
        )
    assert "pose_landmarker_full.task" in str(info.value)
    assert list(dest_dir.iterdir()) == []


@pytest.mark.usefixtures("no_env")
def test_checksum_mismatch_names_both_hashes(tmp_path: Path, server_url: str) -> None:
    pins = {"lite": "ab" * 32}
    with pytest.raises(ModelUnavailableError) as info:
        models.download_model(
            "lite", tmp_path, url_template=server_url + "/ok/{name}", timeout_s=5, pins=pins
        )
    message = str(info.value)
    assert "ab" * 32 in message and ZIP_PINS["lite"] in message and "deleted" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("no_env")
def test_a_model_without_a_pin_is_not_downloaded(tmp_path: Path) -> None:
    """Nothing is fetched (the address is not even valid) and nothing is written."""
    dest_dir = tmp_path / "models"
    with pytest.raises(ModelUnavailableError) as info:
        resolve_model("heavy", models_dir=dest_dir, url_template="http://0.0.0.0:1/x", pins={})
    message = str(info.value)
    assert "no pinned checksum" in message and "pose_landmarker_heavy.task" in message
    assert str(dest_dir) in message and models.ENV_MODELS_DIR in message
    assert not dest_dir.exists()


def test_official_address_is_versioned_and_every_model_is_pinned() -> None:
    url = models.MODEL_URL_TEMPLATE.format(name="lite")
    assert url == (
        "https://storage.googleapis.com/mediapipe-models/pose_landmarker/"
        "pose_landmarker_lite/float16/1/pose_landmarker_lite.task"
    )
    assert set(MODEL_SHA256) == set(MODEL_NAMES)
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in MODEL_SHA256.values())
    assert len(set(MODEL_SHA256.values())) == len(MODEL_NAMES)


# --- damaged model files ------------------------------------------------------------------


def _cut(fraction: float) -> Callable[[bytes], bytes]:
    return lambda good: good[: int(len(good) * fraction)]


def _flip(good: bytes) -> bytes:
    """One byte changed in the middle of the first network (the zip's CRC catches it)."""
    bad = bytearray(good)
    bad[len(good) // 3] ^= 0xFF
    return bytes(bad)


def _without_landmarks_detector(good: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pose_detector.tflite", b"x" * 100)
    return buf.getvalue()


# A cut-off bundle may still look like a zip: a .tflite network carries its own small zip
# of metadata at its end, which is all that a truncated copy then shows.
_CUT = "not a valid .task bundle|cut short or not a pose landmarker bundle"
DAMAGE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "random bytes": (lambda good: os.urandom(100_000), "not a valid .task bundle"),
    "empty": (lambda good: b"", "not a valid .task bundle"),
    "first 1000 bytes": (_cut(0.0002), _CUT),
    "first half": (_cut(0.5), _CUT),
    "all but the end": (lambda good: good[:-100], _CUT),
    "one byte flipped": (_flip, "the part pose_detector.tflite is corrupt"),
    "a network missing": (_without_landmarks_detector, "no pose_landmarks_detector.tflite"),
}


@pytest.fixture(scope="module")
def good_bundle() -> bytes:
    assert SHARED_LITE.is_file(), f"shared model not found at {SHARED_LITE}"
    return SHARED_LITE.read_bytes()


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_model_file_is_named_with_the_fix(
    tmp_path: Path, good_bundle: bytes, damage: str
) -> None:
    make, reason = DAMAGE[damage]
    path = tmp_path / "pose_landmarker_lite.task"
    path.write_bytes(make(good_bundle))
    with pytest.raises(ModelDamagedError) as info:
        check_model_file(path)
    message = str(info.value)
    assert message.startswith(f"the pose model file {path} is damaged ("), message
    assert re.search(reason, message), message
    assert "Delete it and download it again, or copy a good copy of" in message
    assert "\n" not in message
    assert isinstance(info.value, ModelUnavailableError)  # the CLI's one-line exit 2


def test_a_good_model_file_passes_the_check(good_bundle: bytes, tmp_path: Path) -> None:
    check_model_file(SHARED_LITE)
    copy = tmp_path / "copy.task"
    copy.write_bytes(good_bundle)
    check_model_file(copy)
    with pytest.raises(ModelUnavailableError, match="not found"):
        check_model_file(tmp_path / "gone.task")


def test_damaged_error_survives_the_trip_from_a_pose_worker(tmp_path: Path) -> None:
    """The video path runs MediaPipe in worker processes that pickle errors to the parent."""
    error = ModelDamagedError(tmp_path / "m.task", "cut short")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is ModelDamagedError and str(back) == str(error)
    assert back.path == error.path


@pytest.mark.parametrize("damage", ["first half", "valid zip, not a model"])
def test_mediapipe_pose_never_shows_a_traceback_for_a_bad_bundle(
    tmp_path: Path, good_bundle: bytes, damage: str
) -> None:
    from coach.pose import MediaPipePose

    path = tmp_path / "pose_landmarker_lite.task"
    if damage == "first half":
        path.write_bytes(_cut(0.5)(good_bundle))
    else:  # passes the zip check; MediaPipe itself rejects it, and the error names the file
        with zipfile.ZipFile(path, "w") as zf:
            for member in models.MODEL_MEMBERS:
                zf.writestr(member, os.urandom(2000))
    with pytest.raises(ModelDamagedError) as info:
        MediaPipePose(path, mode="video")
    assert str(path) in str(info.value) and "Delete it" in str(info.value)


def test_cli_analyze_with_a_damaged_model_exits_2_with_one_line(
    tmp_path: Path,
    good_bundle: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """`--model lite` is looked up in models/ and then COACH_MODELS_DIR (here: damaged)."""
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    damaged = models_dir / "pose_landmarker_lite.task"
    damaged.write_bytes(good_bundle[:-100])
    monkeypatch.setenv(models.ENV_MODELS_DIR, str(models_dir))
    assert models.find_model("lite") == damaged, "a lite model in models/ would be used first"
    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"mp4v"), 30, (320, 240))
    for _ in range(10):  # short: analysed in this process, not by worker processes
        writer.write(np.zeros((240, 320, 3), np.uint8))
    writer.release()
    code = cli.main(["analyze", str(clip), "--exercise", "range_of_motion", "--model", "lite"])
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"error: the pose model file {damaged}"), err
    assert "Traceback" not in err
