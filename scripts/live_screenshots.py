"""Screenshots of the on-device live page for the docs (docs/screenshots/ondevice-*.png).

    .venv/bin/python scripts/live_screenshots.py

Runs the app on 127.0.0.1 and headless Chromium with the fake camera playing the
default clip (the harness of tests/test_browser_e2e.py): a desktop window mid-set, and
a phone-sized window in large print, as a patient 2-3 m from a phone on a shelf sees it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("COACH_MODELS_DIR", str(REPO.parent / "shared" / "models"))

from tests.test_browser_e2e import (  # noqa: E402  (path set up above)
    PAD_START_S,
    StreamlitServer,
    chromium_page,
    e2e_params,
    make_fake_camera,
)

SHOTS = REPO / "docs" / "screenshots"


def shoot(name: str, viewport: tuple[int, int], large: bool, work: Path, camera: Path) -> None:
    params = e2e_params()
    with (
        StreamlitServer(work / f"server-{name}.log") as server,
        chromium_page(camera, work / f"profile-{name}", viewport) as page,
    ):
        page.goto(f"{server.url}/?exercise={params.exercise}", wait_until="domcontentloaded")
        start = page.locator(".coach-pose button.start")
        start.wait_for(timeout=60_000)
        if large:
            page.get_by_text("Large print").click()
            page.wait_for_timeout(1500)
            start = page.locator(".coach-pose button.start")
        start.click()
        time.sleep(PAD_START_S + 14.0)  # a few reps into the set
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"ondevice-{name}.png"), full_page=True)
        print(f"wrote {SHOTS / f'ondevice-{name}.png'}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="coach-shots-") as tmp:
        work = Path(tmp)
        camera = make_fake_camera(e2e_params().clip, work)
        shoot("desktop", (1280, 1000), False, work, camera.path)
        shoot("phone-large-print", (390, 1100), True, work, camera.path)


if __name__ == "__main__":
    main()
