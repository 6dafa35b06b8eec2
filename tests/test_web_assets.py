"""The on-device files the app serves itself: published from the npm package, served by
Streamlit's static route with types a browser accepts, and refused when missing."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from coach import web_assets
from coach.web_assets import (
    BUNDLE,
    WASM_FILES,
    WebAssetsMissing,
    installed_version,
    publish_vision,
    web_pose_assets,
)
from tests.test_browser_e2e import StreamlitServer


def fake_package(root: Path, version: str = "9.9.9") -> Path:
    pkg = root / "node_modules" / "@mediapipe" / "tasks-vision"
    (pkg / "wasm").mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"version": version}))
    (pkg / "vision_bundle.mjs").write_text("export const x = 1;\n")
    for name in WASM_FILES:
        (pkg / "wasm" / name).write_bytes(b"\0asm" + name.encode())
    return pkg


def test_publishing_copies_the_browser_files_under_their_names(tmp_path: Path) -> None:
    pkg = fake_package(tmp_path)
    static = tmp_path / "static"
    assert publish_vision(pkg, static) == "9.9.9"
    assert (static / "vision" / BUNDLE).read_text() == "export const x = 1;\n"
    for name in WASM_FILES:
        assert (static / "vision" / "wasm" / name).read_bytes() == b"\0asm" + name.encode()
    assert installed_version(static) == "9.9.9"


def test_a_missing_package_or_file_is_a_plain_reason(tmp_path: Path) -> None:
    with pytest.raises(WebAssetsMissing, match="npm ci"):
        publish_vision(tmp_path / "nothing", tmp_path / "static")
    pkg = fake_package(tmp_path)
    (pkg / "wasm" / WASM_FILES[1]).unlink()
    with pytest.raises(WebAssetsMissing, match=WASM_FILES[1]):
        publish_vision(pkg, tmp_path / "static2")
    with pytest.raises(WebAssetsMissing, match=r"scripts/setup\.sh"):
        installed_version(tmp_path / "empty")


def test_urls_follow_the_apps_base_path_and_the_model_is_published(tmp_path: Path) -> None:
    static = tmp_path / "static"
    publish_vision(fake_package(tmp_path), static)
    assets = web_pose_assets("lite", "/clinic/", static)
    assert assets.bundle_url == f"/clinic/app/static/vision/{BUNDLE}?v=9.9.9"
    assert assets.wasm_url == "/clinic/app/static/vision/wasm"
    assert assets.model_url == "/clinic/app/static/models/pose_landmarker_lite.task"
    published = static / "models" / "pose_landmarker_lite.task"
    assert published.stat().st_size > 1_000_000  # the real bundle, as the server reads it
    assert web_pose_assets("lite", "", static).model_url.startswith("/app/static/")


def test_the_app_serves_them_with_types_the_browser_accepts(tmp_path: Path) -> None:
    """Module scripts need a JavaScript type and WASM `application/wasm` (nosniff is on)."""
    installed_version()  # published by scripts/setup.sh
    web_assets.publish_model("full")
    with StreamlitServer(tmp_path / "server.log") as server:
        expected = {
            f"vision/{BUNDLE}": "javascript",
            "vision/wasm/vision_wasm_internal.wasm": "application/wasm",
            "vision/wasm/vision_wasm_internal.js": "javascript",
            "models/pose_landmarker_full.task": "application/octet-stream",
        }
        for path, kind in expected.items():
            with urllib.request.urlopen(f"{server.url}/app/static/{path}", timeout=30) as r:
                assert r.status == 200
                assert kind in r.headers["Content-Type"], (path, r.headers["Content-Type"])
                assert len(r.read()) > 1000
