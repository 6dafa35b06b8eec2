"""Reading real and broken files, and writing browser-playable MP4s."""

from __future__ import annotations

import errno
import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from coach import video
from coach.atomic import WriteError, atomic_write_path, check_writable, remove_stale_temp_files
from coach.video import VideoReadError, VideoWriteError, VideoWriter, open_video
from tests.conftest import mount_tmpfs

SHARED = Path(os.environ.get("COACH_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
CLIP = SHARED / "clips" / "rendered" / "seated_pumps_side.mp4"

needs_clip = pytest.mark.skipif(not CLIP.is_file(), reason=f"shared clip not found: {CLIP}")


@needs_clip
def test_reads_metadata_of_a_shared_clip() -> None:
    with open_video(CLIP) as src:
        assert src.fps == pytest.approx(30.0)
        assert (src.width, src.height) == (640, 480)
        assert src.frame_count == 1124
        assert src.duration_s == pytest.approx(1124 / 30, abs=0.01)


@needs_clip
def test_iterates_frames_with_increasing_decoder_timestamps() -> None:
    with open_video(CLIP) as src:
        stamps = []
        for t_s, frame in src:
            assert frame.shape == (480, 640, 3)
            assert frame.dtype == np.uint8
            stamps.append(t_s)
            if len(stamps) == 60:
                break
    assert stamps[0] == pytest.approx(0.0)
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert stamps == pytest.approx([i / 30 for i in range(60)], abs=1e-3)


@needs_clip
def test_iterating_again_restarts_from_the_first_frame() -> None:
    with open_video(CLIP) as src:
        first = next(iter(src))
        second = next(iter(src))
    assert first[0] == second[0] == pytest.approx(0.0)
    assert np.array_equal(first[1], second[1])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VideoReadError, match="not found"):
        open_video(tmp_path / "nope.mp4")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(
        VideoReadError, match=r"not a readable video: empty\.mp4 \(the file is empty"
    ):
        open_video(path)


def test_text_file_renamed_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoReadError, match=r"not a readable video: notes\.mp4"):
        open_video(path)


def test_directory_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(VideoReadError, match="not a file"):
        open_video(tmp_path)


@needs_clip
def test_header_only_file_has_no_decodable_frames(tmp_path: Path) -> None:
    # The clip is "faststart" (moov before mdat): keep the headers, drop all the frame data.
    data = CLIP.read_bytes()
    path = tmp_path / "header_only.mp4"
    path.write_bytes(data[: data.index(b"mdat") + 4])
    with pytest.raises(VideoReadError, match="no frames could be decoded"):
        open_video(path)


@needs_clip
def test_file_cut_inside_the_header(tmp_path: Path) -> None:
    path = tmp_path / "cut_header.mp4"
    path.write_bytes(CLIP.read_bytes()[:5000])
    with pytest.raises(VideoReadError, match=r"not a readable video: cut_header\.mp4"):
        open_video(path)


@needs_clip
def test_truncated_copy_raises_when_decoding_stops_early(tmp_path: Path) -> None:
    path = tmp_path / "truncated.mp4"
    path.write_bytes(CLIP.read_bytes()[:100_000])  # about the first 2 s of frames
    src = open_video(path)
    count = 0
    with pytest.raises(VideoReadError, match="truncated"):
        for _ in src:
            count += 1
    assert 0 < count < 200
    # ...unless the caller accepts partial files explicitly
    partial = sum(1 for _ in open_video(path, allow_truncated=True))
    assert partial == count


def _frames(n: int, height: int, width: int) -> list[np.ndarray]:
    """Flat grey frames with a moving white square, distinct enough to check content."""
    frames = []
    for i in range(n):
        frame = np.full((height, width, 3), 40 + (15 * i) % 200, np.uint8)
        frame[10:30, 4 * i : 4 * i + 20] = 255
        frames.append(frame)
    return frames


def _read_back(path: Path) -> list[np.ndarray]:
    with open_video(path) as src:
        return [frame for _, frame in src]


def test_write_then_read_back(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    frames = _frames(10, 120, 160)
    with VideoWriter(path, 30.0) as writer:
        for frame in frames:
            writer.write(frame)
    assert writer.frames_written == 10
    assert writer.encoding in ("h264", "mp4v")
    back = _read_back(path)
    assert len(back) == 10
    assert all(f.shape == (120, 160, 3) for f in back)
    # lossy, but each frame's brightness must survive
    for written, read in zip(frames, back, strict=True):
        assert abs(float(written.mean()) - float(read.mean())) < 6
    # only the output is left behind, no temporary files
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_output_is_browser_playable_h264_in_process(tmp_path: Path) -> None:
    import av

    path = tmp_path / "out.mp4"
    with VideoWriter(path, 29.97, (64, 48)) as writer:
        for frame in _frames(37, 48, 64):
            writer.write(frame)
    assert (writer.encoding, writer.browser_playable) == ("h264", True)
    cap = cv2.VideoCapture(str(path))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode().lower()
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(29.97, abs=0.01)
    cap.release()
    assert fourcc in ("avc1", "h264")
    assert len(_read_back(path)) == 37  # every frame decodes, none dropped or added
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.format.name) == ("h264", "yuv420p")
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart: plays while downloading


def test_without_h264_falls_back_to_mp4v(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video, "_find_h264_encoder", lambda: None)
    path = tmp_path / "plain.mp4"
    with VideoWriter(path, 30.0) as writer:
        for frame in _frames(4, 48, 64):
            writer.write(frame)
    assert writer.encoding == "mp4v"
    assert not writer.browser_playable
    assert len(_read_back(path)) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["plain.mp4"]


def _previous(path: Path) -> bytes:
    """Put a complete earlier video at `path` and return its bytes."""
    with VideoWriter(path, 30.0) as writer:
        for frame in _frames(3, 48, 64):
            writer.write(frame)
    return path.read_bytes()


def test_frames_go_to_a_temp_file_named_after_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with VideoWriter(path, 30.0, (64, 48)) as writer:
        for frame in _frames(60, 48, 64):  # the encoder holds back its first few frames
            writer.write(frame)
        (tmp,) = tmp_path.iterdir()
        assert re.fullmatch(rf"\.out\.coach-tmp-{os.getpid()}-[0-9a-f]{{8}}\.mp4", tmp.name)
        assert not path.exists()  # nothing at the real name until the file is complete
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_exception_inside_with_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    before = _previous(path)
    with pytest.raises(RuntimeError, match="drawing failed"), VideoWriter(path, 30.0) as writer:
        for i, frame in enumerate(_frames(10, 48, 64)):
            if i == 5:
                raise RuntimeError("drawing failed")
            writer.write(frame)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_encoder_error_mid_way_names_the_file_and_keeps_the_previous_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.mp4"
    before = _previous(path)
    real_encode = VideoWriter._encode

    def encode(self: VideoWriter, frame: np.ndarray | None) -> None:
        if self.frames_written == 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_encode(self, frame)

    monkeypatch.setattr(VideoWriter, "_encode", encode)
    monkeypatch.setattr(video, "_find_h264_encoder", lambda: "libx264")
    writer = VideoWriter(path, 30.0)
    with pytest.raises(VideoWriteError, match=r"^cannot save video out\.mp4: the disk is full$"):
        for frame in _frames(10, 48, 64):
            writer.write(frame)
    writer.close()  # after a failure: nothing more to do, and no error
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


@pytest.mark.parametrize("prefer_h264", [True, False], ids=["h264", "mp4v"])
def test_disk_full_keeps_the_previous_file(tmp_path: Path, prefer_h264: bool) -> None:
    with mount_tmpfs(tmp_path / "small", "600k") as disk:
        path = disk / "out.mp4"
        before = _previous(path)
        noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), np.uint8)
        full = r"^cannot save video out\.mp4: the disk is full$"
        with (
            pytest.raises(VideoWriteError, match=full),
            VideoWriter(path, 30.0, prefer_h264=prefer_h264) as writer,
        ):
            for i in range(300):  # incompressible: far more than 600 kB
                writer.write(np.roll(noise, i, axis=1))
        assert path.read_bytes() == before
        assert [p.name for p in disk.iterdir()] == ["out.mp4"]


def test_read_only_folder_keeps_the_previous_file(tmp_path: Path) -> None:
    with mount_tmpfs(tmp_path / "ro", "1m") as disk:
        path = disk / "out.mp4"
        before = _previous(path)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        with pytest.raises(WriteError, match=r"^cannot save out\.mp4: the folder is read-only$"):
            check_writable(path)
        with (
            pytest.raises(VideoWriteError, match=r"out\.mp4: the folder is read-only$"),
            VideoWriter(path, 30.0) as writer,
        ):
            writer.write(_frames(1, 48, 64)[0])
        assert path.read_bytes() == before


def test_check_writable_names_the_problem(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    with pytest.raises(WriteError, match=r"^cannot save out\.mp4: notes\.txt is a file, not"):
        check_writable(tmp_path / "notes.txt" / "deeper" / "out.mp4")
    with pytest.raises(VideoWriteError, match=r"out\.mp4"):
        VideoWriter(tmp_path / "notes.txt" / "out.mp4", 30.0, (64, 48))
    (tmp_path / "taken.mp4").mkdir()
    with pytest.raises(WriteError, match=r"^cannot save taken\.mp4: it is a folder$"):
        check_writable(tmp_path / "taken.mp4")
    check_writable(tmp_path / "new" / "folder" / "ok.json")  # a missing folder is created
    assert (tmp_path / "new" / "folder").is_dir()
    assert list((tmp_path / "new" / "folder").iterdir()) == []  # the probe is gone


def test_atomic_write_path_replaces_only_on_success(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("old")
    with pytest.raises(ValueError, match="half-way"), atomic_write_path(path) as tmp:
        tmp.write_text("half")
        raise ValueError("half-way")
    assert path.read_text() == "old"
    with atomic_write_path(path) as tmp:
        tmp.write_text("new")
        assert path.read_text() == "old"
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        dead_tmp = tmp_path / f".out.coach-tmp-{gone.pid}-0123abcd.mp4"
        live_tmp = tmp_path / f".out.coach-tmp-{alive.pid}-0123abcd.mp4"
        # our pid, but not written by us: left by an earlier process that had our pid
        reused_tmp = tmp_path / f".report.coach-tmp-{os.getpid()}-89abcdef.json"
        keep = [tmp_path / "out.mp4", tmp_path / ".hidden", tmp_path / ".x.coach-tmp-1-zz.mp4"]
        for p in [dead_tmp, live_tmp, reused_tmp, *keep]:
            p.write_bytes(b"x")
        with atomic_write_path(tmp_path / "now.json") as ours:
            ours.write_text("{}")
            removed = remove_stale_temp_files(tmp_path)
            assert ours.exists()  # this process is writing it right now
        assert sorted(removed) == sorted([dead_tmp, reused_tmp])
        assert live_tmp.exists() and all(p.exists() for p in keep)
    finally:
        alive.kill()
        alive.wait()


def test_audio_only_file_says_there_is_no_picture(tmp_path: Path) -> None:
    path = tmp_path / "voice memo.m4a"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2", str(path)],
        check=True,
        timeout=60,
    )
    with pytest.raises(VideoReadError) as info:
        open_video(path)
    assert str(info.value) == (
        "voice memo.m4a has sound but no video: please upload a video of the exercise"
    )


@pytest.mark.parametrize("name", ["photo.jpg", "photo.png", "photo-renamed.mp4"])
def test_still_photo_is_not_analysed_as_a_one_frame_video(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    image = _frames(1, 48, 64)[0]
    encoded = cv2.imencode(".png" if name.endswith(".png") else ".jpg", image)[1]
    path.write_bytes(encoded.tobytes())
    with pytest.raises(VideoReadError) as info:
        open_video(path)
    assert str(info.value) == (
        f"{name} is a still photo, not a video: please upload a video of the exercise"
    )


@pytest.mark.skipif(not (SHARED / "clips" / "stills").is_dir(), reason="no shared stills")
def test_shared_still_photo_is_rejected() -> None:
    still = SHARED / "clips" / "stills" / "Ankle_Circles_0.jpg"
    with pytest.raises(VideoReadError, match=r"^Ankle_Circles_0\.jpg is a still photo"):
        open_video(still)


def test_writer_rejects_bad_frames(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "x.mp4", 30.0, (64, 48)) as writer:
        with pytest.raises(ValueError, match="differs"):
            writer.write(np.zeros((50, 64, 3), np.uint8))
        with pytest.raises(ValueError, match="BGR uint8"):
            writer.write(np.zeros((48, 64), np.uint8))
        writer.write(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(VideoWriteError, match="closed"):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="fps"):
        VideoWriter(tmp_path / "y.mp4", 0.0)


@needs_clip
def test_closing_mid_iteration_ends_quietly() -> None:
    src = open_video(CLIP)
    seen = 0
    for _ in src:
        seen += 1
        if seen == 3:
            src.close()
    assert seen == 3


@needs_clip
def test_timestamp_falls_back_to_index_over_fps() -> None:
    with open_video(CLIP) as src:
        assert src._timestamp(100.0, 3, 0.05) == pytest.approx(0.1)  # decoder position used
        assert src._timestamp(float("nan"), 3, 0.05) == pytest.approx(0.1)  # 3 / 30 fps
        assert src._timestamp(-1.0, 3, 0.05) == pytest.approx(0.1)
        # never goes backwards, even when neither source increases
        assert src._timestamp(0.0, 5, 0.2) == pytest.approx(0.2 + 1 / 30)
