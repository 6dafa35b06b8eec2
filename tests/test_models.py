"""Model lookup order and the download path, against a real local HTTP server."""

from __future__ import annotations

import http.server
import io
import itertools
import os
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from coach import models
from coach.models import ModelUnavailableError, resolve_model


def _zip_bytes(size: int = 200_000) -> bytes:
    """A small zip archive (what a .task bundle is), big enough for several chunks."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("pose_detector.tflite", os.urandom(size))
    return buf.getvalue()


ZIP_BODY = _zip_bytes()


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
    ("route", "expected"),
    [("html", "not a valid .task bundle"), ("short", "could not download"), ("missing", "404")],
)
def test_bad_downloads_leave_no_partial_file(
    tmp_path: Path, server_url: str, route: str, expected: str
) -> None:
    dest_dir = tmp_path / "models"
    with pytest.raises(ModelUnavailableError, match=expected):
        resolve_model(
            "full",
            models_dir=dest_dir,
            url_template=f"{server_url}/{route}/pose_landmarker_{{name}}.task",
            timeout_s=5,
        )
    assert list(dest_dir.iterdir()) == []
