"""Bad input and failing outputs through the real CLI: one plain line, exit 2, no harm.

The corpus is made here (ffmpeg, truncation, random bytes, a tiny tmpfs for a full disk).
Every case checks the exit code, the message, that stderr has no traceback or library log
line, and that no file was harmed: the input is unchanged, an earlier output is unchanged,
and no temporary file is left behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from coach.stderr_filter import is_log_line
from tests.conftest import CLIPS, mount_tmpfs, run_cli

CLIP = CLIPS / "rendered" / "xbot_seated_pumps_side.mp4"
FAST = ("--model", "lite")
"""These tests are about files and processes, not accuracy: the quickest model."""
STILL = next(iter(sorted((CLIPS / "stills").glob("*.jpg"))), None)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2, exactly one `error:` line and nothing else, in plain words."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not any(is_log_line(ln.encode()) for ln in lines), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if ".coach-tmp-" in p.name]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Broken and wrong files, made from a real clip with ffmpeg."""
    d = tmp_path_factory.mktemp("corpus")
    data = CLIP.read_bytes()
    files: dict[str, Path] = {}
    files["empty"] = d / "empty.mp4"
    files["empty"].write_bytes(b"")
    files["text"] = d / "notes.mp4"
    files["text"].write_text("this is not a video\n")
    files["random"] = d / "random.mov"
    files["random"].write_bytes(np.random.default_rng(20261202).bytes(200_000))
    files["one_frame"] = d / "one_frame.mp4"
    ffmpeg("-i", str(CLIP), "-frames:v", "1", str(files["one_frame"]))
    # moov atom at the end (as phones and OpenCV write it): cut off, nothing decodes
    files["truncated_tail_index"] = d / "cut_index.mp4"
    files["truncated_tail_index"].write_bytes(data[: len(data) // 3])
    # index first (+faststart, as web uploads often are): decoding stops part-way
    fast = d / "fast.mp4"
    ffmpeg("-i", str(CLIP), "-c", "copy", "-movflags", "+faststart", str(fast))
    files["truncated_faststart"] = d / "cut_fast.mp4"
    files["truncated_faststart"].write_bytes(fast.read_bytes()[: fast.stat().st_size // 2])
    files["audio_only"] = d / "voice_note.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2", str(files["audio_only"]))
    assert STILL is not None, "no still photo in the shared clips"
    files["still"] = d / "photo.jpg"
    shutil.copy(STILL, files["still"])
    files["folder"] = d / "a_folder.mp4"
    files["folder"].mkdir()
    return files


BAD_INPUTS = [
    ("empty", ["empty.mp4", "empty"]),
    ("text", ["notes.mp4"]),
    ("random", ["random.mov"]),
    ("truncated_tail_index", ["cut_index.mp4"]),
    ("truncated_faststart", ["cut_fast.mp4", "truncated"]),
    ("audio_only", ["voice_note.m4a", "sound"]),
    ("still", ["photo.jpg", "photo"]),
    ("one_frame", ["one_frame.mp4", "single picture"]),
    ("folder", ["a_folder.mp4"]),
]


@pytest.mark.parametrize(("case", "words"), BAD_INPUTS, ids=[c for c, _ in BAD_INPUTS])
def test_bad_input_is_one_plain_line_and_harms_nothing(
    corpus: dict[str, Path], tmp_path: Path, case: str, words: list[str]
) -> None:
    src = corpus[case]
    before = None if src.is_dir() else digest(src)
    previous = tmp_path / "report.json"
    previous.write_text('{"earlier": "report"}\n')
    proc = run_cli(
        "analyze", str(src), "--exercise", "range_of_motion", *FAST,
        "--json", str(previous), "--csv", str(tmp_path / "frames.csv"),
        "--annotated", str(tmp_path / "annotated.mp4"),
    )  # fmt: skip
    assert_one_line_error(proc, *words)
    assert before is None or digest(src) == before
    assert previous.read_text() == '{"earlier": "report"}\n'
    assert not (tmp_path / "frames.csv").exists()
    assert not (tmp_path / "annotated.mp4").exists()
    assert no_temp_files(tmp_path)


def test_missing_video(tmp_path: Path) -> None:
    proc = run_cli("analyze", str(tmp_path / "none.mp4"), "--exercise", "range_of_motion", *FAST)
    assert_one_line_error(proc, "none.mp4", "not found")


@pytest.mark.parametrize("flag", ["--json", "--csv", "--annotated"])
def test_an_output_may_not_be_the_input(tmp_path: Path, flag: str) -> None:
    video = tmp_path / "clip.mp4"
    shutil.copy(CLIP, video)
    before = digest(video)
    proc = run_cli("analyze", str(video), "--exercise", "range_of_motion", *FAST, flag, str(video))
    assert_one_line_error(proc, flag, "overwrite")
    assert digest(video) == before


def test_an_output_may_not_be_the_input_through_a_link(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    shutil.copy(CLIP, video)
    (tmp_path / "link.json").symlink_to(video)
    before = digest(video)
    proc = run_cli(
        "analyze",
        str(video),
        "--exercise",
        "range_of_motion",
        "--json",
        str(tmp_path / "link.json"),
    )
    assert_one_line_error(proc, "overwrite")
    assert digest(video) == before


def test_two_outputs_may_not_be_one_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli(
        "analyze",
        str(CLIP),
        "--exercise",
        "range_of_motion",
        *FAST,
        "--json",
        str(out),
        "--csv",
        str(out),
    )
    assert_one_line_error(proc, "--json", "--csv", "same file")
    assert not out.exists()


def test_unwritable_output_is_found_before_the_analysis(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    proc = run_cli(
        "analyze", str(CLIP), "--exercise", "range_of_motion", *FAST,
        "--annotated", str(tmp_path / "a.mp4"), "--json", str(a_file / "r.json"),
    )  # fmt: skip
    assert_one_line_error(proc, "r.json", "notes.txt is a file")
    # found before any work: the video asked for first was never started
    assert not (tmp_path / "a.mp4").exists()
    assert no_temp_files(tmp_path)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 32 KiB tmpfs: room for a small earlier report, not for a new one or a video."""
    with mount_tmpfs(tmp_path / "disk", "32k") as disk:
        yield disk


@pytest.mark.parametrize(("flag", "name"), [("--json", "r.json"), ("--csv", "r.csv")])
def test_a_full_disk_keeps_the_previous_report(tiny_disk: Path, flag: str, name: str) -> None:
    previous = tiny_disk / name
    previous.write_text("earlier report\n")
    proc = run_cli(
        "analyze", str(CLIP), "--exercise", "range_of_motion", *FAST, flag, str(previous)
    )
    assert_one_line_error(proc, name, "disk is full")
    assert previous.read_text() == "earlier report\n"
    assert no_temp_files(tiny_disk)


def test_a_full_disk_keeps_the_previous_video(tiny_disk: Path) -> None:
    previous = tiny_disk / "a.mp4"
    previous.write_bytes(b"an earlier annotated video")
    proc = run_cli(
        "analyze", str(CLIP), "--exercise", "range_of_motion", *FAST, "--annotated", str(previous)
    )
    assert_one_line_error(proc, "a.mp4")
    assert previous.read_bytes() == b"an earlier annotated video"
    assert no_temp_files(tiny_disk)


@pytest.mark.parametrize("damage", ["random", "truncated", "empty"])
def test_a_damaged_model_names_the_file(tmp_path: Path, damage: str) -> None:
    good = Path(os.environ["COACH_MODELS_DIR"]) / "pose_landmarker_lite.task"
    model = tmp_path / "pose_landmarker_lite.task"
    data = good.read_bytes()
    model.write_bytes(
        {"random": os.urandom(len(data)), "truncated": data[: len(data) // 2], "empty": b""}[damage]
    )
    by_path = run_cli(
        "analyze", str(CLIP), "--exercise", "range_of_motion", *FAST, "--model", str(model)
    )
    assert "download" in assert_one_line_error(by_path, "pose_landmarker_lite.task")
    by_name = run_cli(
        "analyze", str(CLIP), "--exercise", "range_of_motion", *FAST, "--model", "lite",
        env={"COACH_MODELS_DIR": str(tmp_path)},
    )  # fmt: skip
    assert "download" in assert_one_line_error(by_name, "pose_landmarker_lite.task")


def test_a_good_clip_prints_nothing_on_stderr(tmp_path: Path) -> None:
    """No library log line at all, whatever the installed mediapipe release prints."""
    proc = run_cli(
        "analyze",
        str(CLIP),
        "--exercise",
        "range_of_motion",
        *FAST,
        "--json",
        str(tmp_path / "r.json"),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "10 reps" in proc.stdout


def test_verbose_shows_the_library_lines(tmp_path: Path) -> None:
    proc = run_cli("analyze", str(CLIP), "--exercise", "range_of_motion", *FAST, "--verbose")
    assert proc.returncode == 0, proc.stderr
    assert any(is_log_line(ln.encode()) for ln in proc.stderr.splitlines() if ln.strip())
