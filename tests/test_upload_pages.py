"""Uploads leave nothing behind, the progress bar names each stage, and failures read plainly.

The Review and Gait pages under Streamlit's AppTest with fake pose models (see
tests/test_app_pages.py): no folder or file of an upload stays in the temp folder after an
analysis, the kept result goes when the upload is removed, a killed server's folders are
removed at app start, and no page shows a trace, a setting's name or an internal id.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from coach.camera_view import ViewIssue
from coach.landmarks import Pose
from coach.pose_models import ModelUnavailableError
from coach.progress import Stage
from coach.ui import gait_page, review_page, upload
from coach.ui.common import MODEL_MISSING, md_escape
from coach.ui.gait_page import GAIT_STAGE_TEXT
from coach.ui.state import HOOKS_KEY, AppHooks
from coach.ui.upload import StageBar, progress_text, remove_stale_uploads
from tests.conftest import ankle_trace, side_view_pose
from tests.test_app_pages import (
    APP,
    EXERCISE,
    REVIEW,
    SETTINGS,
    FakePose,
    FakeStreamer,
    feed,
    no_trace,
    synthetic_video,
)
from tests.test_gait_page import GAIT, model_for
from tests.test_gait_page import upload as upload_walk
from tests.test_gait_synthetic import Walk

TMP = Path(tempfile.gettempdir())
CUE_IDS = {issue.value for issue in ViewIssue} | {
    "knee_moving",
    "heel_lifting",
    "not_far_enough",
    "hold_longer",
    "too_fast",
    "stretch_further",
}
"""Ids of view problems and cues (coach/camera_view.py, coach/feedback.py): never on a page."""
SNAKE_ID = re.compile(r"(?<![\\\w])[a-z]+(?:_[a-z]+)+\b")
ENV_NAME = re.compile(r"COACH_[A-Z_]+")


def review_app(factory: Callable[[str], Any] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[HOOKS_KEY] = AppHooks(
        estimator_factory=factory or (lambda model: FakePose()), streamer=FakeStreamer()
    )
    at.run()
    return at.switch_page(REVIEW).run()


def upload_review(at: AppTest, name: str, data: bytes, mime: str = "video/mp4") -> AppTest:
    at.file_uploader(key="coach_review_upload").upload(name, data, mime)
    return at.run()


def gait_app(factory: Callable[[str], Any]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state[HOOKS_KEY] = AppHooks(estimator_factory=factory, streamer=FakeStreamer())
    at.run()
    return at.switch_page(GAIT).run()


def ours() -> set[str]:
    """This process's upload folders and files in the temp folder (AppTest runs in it)."""
    pid = os.getpid()
    return {
        p.name
        for p in TMP.iterdir()
        if p.name.startswith((f"coach-review-{pid}-", f"coach-gait-{pid}-"))
    }


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return synthetic_video(tmp_path_factory.mktemp("clip") / "clip.mp4", 3.0 + 2 * 3.0 + 1.0)


@pytest.fixture(scope="module")
def short_walk(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return synthetic_video(tmp_path_factory.mktemp("walk") / "walk.mp4", 4.0, fps=30.0)


@pytest.fixture
def made_dirs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every temp folder the pages make during a test."""
    made: list[Path] = []
    real = upload.make_tempdir

    def spy(prefix: str) -> Path:
        made.append(real(prefix))
        return made[-1]

    monkeypatch.setattr(upload, "make_tempdir", spy)
    return made


@pytest.fixture
def stage_texts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Stage, str]]:
    """Every label the progress bar was given, in order."""
    seen: list[tuple[Stage, str]] = []
    real = upload.progress_text

    def spy(stage: Stage, done: int, total: int, words: Any = upload.STAGE_TEXT) -> str:
        text = real(stage, done, total, words)
        seen.append((stage, text))
        return text

    monkeypatch.setattr(upload, "progress_text", spy)
    return seen


# -- nothing left on disk -------------------------------------------------------------------


def test_review_keeps_the_result_in_memory_and_no_upload_file_on_disk(
    short_clip: bytes, made_dirs: list[Path]
) -> None:
    before = ours()
    at = upload_review(review_app(), "clip.mp4", short_clip)
    assert_plain(at)
    assert not at.error, [e.value for e in at.error]
    assert len(made_dirs) == 1 and made_dirs[0].name.startswith(f"coach-review-{os.getpid()}-")
    assert not made_dirs[0].exists(), "the upload's folder outlived the analysis"
    assert ours() <= before
    result = at.session_state[review_page.RESULT_KEY]
    assert isinstance(result, review_page.ReviewResult)
    assert result.video and result.video[4:8] == b"ftyp"  # the annotated MP4, in memory
    assert result.csv_text.startswith("t_s,")
    assert at.get("video")
    labels = {d.proto.label for d in at.get("download_button")}
    assert {"Download frames (CSV)", "Download annotated video"} <= labels
    # Removing the upload drops the kept result (and its video) from the session.
    at.file_uploader(key="coach_review_upload").clear()
    at.run()
    no_trace(at)
    assert review_page.RESULT_KEY not in at.session_state
    assert not at.get("video")


def test_gait_keeps_the_result_in_memory_and_no_upload_file_on_disk(
    short_walk: bytes, made_dirs: list[Path]
) -> None:
    before = ours()
    at = gait_app(lambda name: model_for(Walk(duration_s=4.0)))
    upload_walk(at, "walk.mp4", short_walk)
    assert_plain(at)
    assert len(made_dirs) == 1 and made_dirs[0].name.startswith(f"coach-gait-{os.getpid()}-")
    assert not made_dirs[0].exists()
    assert ours() <= before
    result = at.session_state[gait_page.RESULT_KEY]
    assert isinstance(result, gait_page.GaitResult)
    assert result.video and at.get("video")
    at.file_uploader(key="coach_gait_upload").clear()
    at.run()
    no_trace(at)
    assert gait_page.RESULT_KEY not in at.session_state


@pytest.mark.parametrize("page", ["review", "gait"])
def test_a_failed_analysis_leaves_no_folder(page: str, made_dirs: list[Path]) -> None:
    junk = np.random.default_rng(1).bytes(4096)
    if page == "review":
        at = upload_review(review_app(), "clip.mp4", junk)
    else:
        at = upload_walk(gait_app(lambda name: model_for(Walk())), "clip.mp4", junk)
    no_trace(at)
    assert any("could not be read as a video" in e.value for e in at.error)
    assert made_dirs and not any(d.exists() for d in made_dirs)


def test_the_folder_goes_even_when_the_analysis_crashes(
    short_clip: bytes, made_dirs: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail")

    monkeypatch.setattr(review_page, "analyze_video", crash)
    at = upload_review(review_app(), "clip.mp4", short_clip)
    no_trace(at)
    assert any("something went wrong" in e.value for e in at.error)
    assert made_dirs and not made_dirs[0].exists()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def stale_dirs() -> Iterator[dict[str, Path]]:
    """Folders as a killed server (dead pid) and a running one (this pid) leave them."""
    dead = dead_pid()
    dirs = {
        "dead_review": TMP / f"coach-review-{dead}-t3stdead",
        "dead_gait": TMP / f"coach-gait-{dead}-t3stdead",
        "alive": TMP / f"coach-review-{os.getpid()}-t3stlive",
        "other": TMP / "coach-review-notapid-t3st",
    }
    for d in dirs.values():
        d.mkdir(exist_ok=True)
        (d / "upload.mp4").write_bytes(b"patient video")
    yield dirs
    for d in dirs.values():
        if d.exists():
            (d / "upload.mp4").unlink(missing_ok=True)
            d.rmdir()


def test_stale_upload_folders_of_a_dead_server_go_at_app_start(
    stale_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upload, "_cleaned", False)  # as in a freshly started server
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[HOOKS_KEY] = AppHooks(streamer=FakeStreamer())
    at.run()
    no_trace(at)
    assert not stale_dirs["dead_review"].exists() and not stale_dirs["dead_gait"].exists()
    assert stale_dirs["alive"].exists() and stale_dirs["other"].exists()
    # Once per process: a later run (another page, another session) does not scan again.
    stale_dirs["dead_review"].mkdir()
    at.run()
    assert stale_dirs["dead_review"].exists()
    assert remove_stale_uploads() == [stale_dirs["dead_review"]]


# -- progress in stages ---------------------------------------------------------------------


def test_progress_text_names_each_stage() -> None:
    assert progress_text(Stage.READING, 0, 1) == "Reading the video"
    assert progress_text(Stage.POSE, 120, 900) == "Finding your pose: frame 120 of 900"
    assert progress_text(Stage.POSE, 0, 900) == "Finding your pose"
    assert progress_text(Stage.POSE, 120, 0) == "Finding your pose: frame 120"  # no count
    assert progress_text(Stage.COUNTING, 5, 900) == "Counting reps"
    assert progress_text(Stage.DRAWING, 300, 900) == "Drawing the annotated video: frame 300 of 900"
    assert progress_text(Stage.POSE, 50, 40) == "Finding your pose: frame 50 of 50"
    assert progress_text(Stage.COUNTING, 0, 9, GAIT_STAGE_TEXT) == "Measuring the steps"
    assert progress_text(Stage.POSE, 3, 9, GAIT_STAGE_TEXT) == "Finding the walker: frame 3 of 9"
    assert set(upload.STAGE_TEXT) == set(Stage) == set(GAIT_STAGE_TEXT)


class FakeBar:
    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def progress(self, value: float, text: str) -> None:
        self.calls.append((value, text))


def test_stage_bar_gives_each_stage_its_own_fraction_and_never_sticks() -> None:
    now = [0.0]
    bar = FakeBar()
    tick = StageBar(bar, clock=lambda: now[0])
    tick(Stage.READING, 0, 1)
    for i in range(1, 901):  # 30 frames/s of model time: 30 s
        now[0] += 1 / 30
        tick(Stage.POSE, i, 900)
    tick(Stage.COUNTING, 0, 900)  # a new stage is drawn at once
    tick(Stage.COUNTING, 900, 900)  # and its end too
    for i in range(15, 901, 15):
        tick(Stage.DRAWING, i, 900)  # no time passes: only the first and last are drawn
    texts = [t for _, t in bar.calls]
    assert texts[0] == "Reading the video"
    assert texts[1] == "Finding your pose: frame 1 of 900"
    pose = [(v, t) for v, t in bar.calls if t.startswith("Finding")]
    assert 100 <= len(pose) <= 130  # about four a second, not one per frame
    assert pose[-1] == (1.0, "Finding your pose: frame 900 of 900")
    assert ("Counting reps" in texts) and texts.count("Counting reps") == 2
    drawing = [(v, t) for v, t in bar.calls if t.startswith("Drawing")]
    assert drawing[0] == (pytest.approx(15 / 900), "Drawing the annotated video: frame 15 of 900")
    assert drawing[-1] == (1.0, "Drawing the annotated video: frame 900 of 900")
    assert len(drawing) == 2


def test_review_bar_goes_through_every_stage_to_the_drawing(
    short_clip: bytes, stage_texts: list[tuple[Stage, str]]
) -> None:
    at = upload_review(review_app(), "clip.mp4", short_clip)
    no_trace(at)
    stages = [s for s, _ in stage_texts]
    order = [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s]
    assert order == [Stage.READING, Stage.POSE, Stage.COUNTING, Stage.DRAWING]
    assert any(re.fullmatch(r"Finding your pose: frame \d+ of \d+", t) for _, t in stage_texts)
    last = stage_texts[-1][1]
    assert re.fullmatch(r"Drawing the annotated video: frame (\d+) of \1", last), last


def test_gait_bar_names_the_walk_stages(
    short_walk: bytes, stage_texts: list[tuple[Stage, str]]
) -> None:
    at = gait_app(lambda name: model_for(Walk(duration_s=4.0)))
    upload_walk(at, "walk.mp4", short_walk)
    no_trace(at)
    texts = [t for _, t in stage_texts]
    assert texts[0] == "Reading the video"
    assert any(t.startswith("Finding the walker: frame") for t in texts)
    assert "Measuring the steps" in texts
    assert any(t.startswith("Drawing the annotated video: frame") for t in texts)


# -- plain words on every page --------------------------------------------------------------


def patient_texts(at: AppTest) -> list[str]:
    found = []
    for kind in ("markdown", "error", "warning", "info", "success", "caption"):
        found += [str(e.value) for e in at.get(kind)]
    return found


def assert_plain(at: AppTest) -> None:
    """No trace, setting name, internal id or empty reason on what the page shows."""
    no_trace(at)
    for text in patient_texts(at):
        assert "Traceback" not in text and "Error:" not in text, text
        assert not ENV_NAME.search(text), text
        assert not (set(SNAKE_ID.findall(text)) & CUE_IDS), text
        assert not SNAKE_ID.search(text), text
        assert "()" not in text and not text.rstrip().endswith(":"), text


def missing_model(model: str) -> Any:
    raise ModelUnavailableError(
        "pose model 'lite' not found in /srv/models: set COACH_MODELS_DIR or run "
        "scripts/setup.sh (download failed: HTTP 403)"
    )


class NotSideOn(FakePose):
    """Someone facing the camera: seen, but the leg is never measurable."""

    def detect(self, frame_bgr: np.ndarray, t_s: float) -> Pose | None:
        return side_view_pose(ankle_trace(t_s), frontal=0.9)


@pytest.mark.parametrize(
    ("case", "factory", "data"),
    [
        ("unreadable", None, np.random.default_rng(7).bytes(8192)),
        ("model missing", missing_model, None),
        ("nobody", lambda model: FakePose(present=False), None),
        ("not side-on", lambda model: NotSideOn(), None),
    ],
)
def test_review_failures_read_plainly(
    case: str, factory: Any, data: bytes | None, short_clip: bytes
) -> None:
    at = upload_review(review_app(factory), "clip.mp4", data or short_clip)
    assert_plain(at)
    errors = " ".join(e.value for e in at.error)
    if case == "model missing":
        assert errors == MODEL_MISSING
    elif case == "unreadable":
        assert "could not be read as a video" in errors
    elif case == "nobody":
        assert "No person was found" in errors
    else:
        assert at.warning and "measured" in " ".join(w.value for w in at.warning)


@pytest.mark.parametrize("case", ["unreadable", "model missing"])
def test_gait_failures_read_plainly(case: str, short_walk: bytes) -> None:
    if case == "model missing":
        at = upload_walk(gait_app(missing_model), "walk.mp4", short_walk)
        assert [e.value for e in at.error] == [MODEL_MISSING]
    else:
        junk = np.random.default_rng(3).bytes(8192)
        at = upload_walk(gait_app(lambda name: model_for(Walk())), "clip.mp4", junk)
        assert any("could not be read as a video" in e.value for e in at.error)
    assert_plain(at)


def test_live_page_with_the_model_missing_reads_plainly() -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[HOOKS_KEY] = AppHooks(
        estimator_factory=missing_model, streamer=FakeStreamer(True)
    )
    at.run()
    at.switch_page(EXERCISE).run()
    from coach.ui.exercise_page import HOLDER_KEY

    feed(at.session_state[HOLDER_KEY], 0.3)
    at.run()
    assert_plain(at)
    assert MODEL_MISSING in [e.value for e in at.error]


def test_settings_page_names_no_setting_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COACH_ICE_SERVERS", '[{"urls": ["stun:stun.example.org:3478"]}]')
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[HOOKS_KEY] = AppHooks(streamer=FakeStreamer())
    at.run()
    at.switch_page(SETTINGS).run()
    no_trace(at)
    captions = " ".join(c.value for c in at.caption)
    assert "1 server(s), from the server's environment" in captions
    assert not ENV_NAME.search(captions)


def _faststart_cut(data: bytes, tmp_path: Path) -> bytes:
    """A video whose second half never arrived (index first, as web uploads often are)."""
    whole, fast = tmp_path / "whole.mp4", tmp_path / "fast.mp4"
    whole.write_bytes(data)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(whole), "-c", "copy",
         "-movflags", "+faststart", str(fast)],
        check=True,
        timeout=60,
    )  # fmt: skip
    return fast.read_bytes()[: fast.stat().st_size // 2]


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("truncated", "stops part-way through"),
        ("photo", "is a photo, not a video"),
        ("noise", "could not be read as a video"),
    ],
)
def test_an_unreadable_upload_says_why_naming_the_patients_file(
    case: str, words: str, short_clip: bytes, tmp_path: Path
) -> None:
    data = {
        "truncated": lambda: _faststart_cut(short_clip, tmp_path),
        "photo": lambda: b"\xff\xd8\xff\xe0" + bytes(4096),
        "noise": lambda: np.random.default_rng(3).bytes(8192),
    }[case]()
    name = "Mums exercise 2.mp4"
    at = upload_review(review_app(), name, data)
    errors = [str(e.value) for e in at.error]
    assert any(words in e and md_escape(name) in e for e in errors), errors
    assert_plain(at)
