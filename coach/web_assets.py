"""The files on-device pose needs in the browser, served by the app itself (no CDN).

MediaPipe's web Pose Landmarker (npm `@mediapipe/tasks-vision`, locked in
`web/package-lock.json`) is installed by the project's own set-up step (`npm ci` in
`web/`), and this module publishes what the browser loads into Streamlit's static folder
(`static/`, served at `/app/static/`): the JS module, its WASM files under their original
names (MediaPipe's loader asks for them by name), and the pose model bundle, the same
`.task` file the Python API reads. So the app works offline and on a clinic LAN.

Run `python -m coach.web_assets` after `npm ci` (scripts/setup.sh does). The model is
published when a page first needs it (it may be downloaded first, like the server's).
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from coach.atomic import atomic_write_path
from coach.pose_models import REPO_ROOT, model_filename, resolve_model

PACKAGE = "@mediapipe/tasks-vision"
PACKAGE_DIR = REPO_ROOT / "web" / "node_modules" / "@mediapipe" / "tasks-vision"
STATIC_DIR = REPO_ROOT / "static"
"""Streamlit serves the folder named `static` beside `app.py` (server.enableStaticServing)."""

BUNDLE = "vision_bundle.js"
"""Published as .js (the package's `vision_bundle.mjs`): every server maps .js to a
JavaScript type, which a module script needs, while .mjs is unknown to some."""
WASM_FILES = (
    "vision_wasm_internal.js",
    "vision_wasm_internal.wasm",
    "vision_wasm_nosimd_internal.js",
    "vision_wasm_nosimd_internal.wasm",
)
VERSION_FILE = "version.json"


class WebAssetsMissing(RuntimeError):
    """On-device pose cannot be offered: the reason, for the person running the server."""


@dataclass(frozen=True, slots=True)
class WebPoseAssets:
    """Where the browser finds the landmarker, its WASM folder and the model (URLs)."""

    bundle_url: str
    wasm_url: str
    model_url: str
    version: str


def publish_vision(package_dir: Path = PACKAGE_DIR, static_dir: Path = STATIC_DIR) -> str:
    """Copy the installed npm package's browser files into `static_dir`/vision; returns
    the package version. Raises `WebAssetsMissing` when `npm ci` has not been run."""
    manifest = package_dir / "package.json"
    if not manifest.is_file():
        raise WebAssetsMissing(
            f"{PACKAGE} is not installed (run `npm ci` in {package_dir.parents[2]}, "
            "or scripts/setup.sh)"
        )
    version = str(json.loads(manifest.read_text(encoding="utf-8")).get("version", "?"))
    out = static_dir / "vision"
    (out / "wasm").mkdir(parents=True, exist_ok=True)
    pairs = [(package_dir / "vision_bundle.mjs", out / BUNDLE)]
    pairs += [(package_dir / "wasm" / name, out / "wasm" / name) for name in WASM_FILES]
    for src, dst in pairs:
        if not src.is_file():
            raise WebAssetsMissing(f"{PACKAGE} {version} has no {src.name}: reinstall it")
        _copy_if_changed(src, dst)
    (out / VERSION_FILE).write_text(json.dumps({"package": PACKAGE, "version": version}) + "\n")
    return version


def publish_model(model: str, static_dir: Path = STATIC_DIR) -> Path:
    """The named model bundle, copied into `static_dir`/models for the browser (the copy
    is refreshed when the source changes). May download it, as the server path does."""
    src = resolve_model(model)
    dst = static_dir / "models" / model_filename(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    _copy_if_changed(src, dst)
    return dst


def _copy_if_changed(src: Path, dst: Path) -> None:
    s = src.stat()
    if dst.is_file():
        d = dst.stat()
        if d.st_size == s.st_size and d.st_mtime_ns >= s.st_mtime_ns:
            return
    with atomic_write_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def installed_version(static_dir: Path = STATIC_DIR) -> str:
    """The published landmarker's version, or `WebAssetsMissing` if it was never published."""
    out = static_dir / "vision"
    missing = [n for n in (BUNDLE, *(f"wasm/{w}" for w in WASM_FILES)) if not (out / n).is_file()]
    if missing:
        raise WebAssetsMissing(
            f"the web pose landmarker is not published in {out} (missing {missing[0]}): "
            "run scripts/setup.sh, or `npm ci` in web/ and then `python -m coach.web_assets`"
        )
    try:
        return str(json.loads((out / VERSION_FILE).read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return "?"


def web_pose_assets(
    model: str, base_path: str = "", static_dir: Path = STATIC_DIR
) -> WebPoseAssets:
    """URLs for the browser (under the app's base path), publishing the model if needed.

    Raises `WebAssetsMissing` (landmarker not published) or the model errors of
    `coach.pose_models` (model neither on disk nor downloadable)."""
    version = installed_version(static_dir)
    publish_model(model, static_dir)
    root = "/" + "/".join(p for p in (base_path.strip("/"), "app/static") if p)
    return WebPoseAssets(
        bundle_url=f"{root}/vision/{BUNDLE}?v={version}",
        wasm_url=f"{root}/vision/wasm",
        model_url=f"{root}/models/{model_filename(model)}",
        version=version,
    )


def main() -> int:
    try:
        version = publish_vision()
    except WebAssetsMissing as exc:
        print(f"on-device pose will not be offered: {exc}", file=sys.stderr)
        return 1
    print(f"published {PACKAGE} {version} into {STATIC_DIR / 'vision'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
