"""Reading real and broken files, and writing browser-playable MP4s."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from coach import video
from coach.video import VideoReadError, VideoWriteError, VideoWriter, open_video

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
        frame = np.full((height, width, 3), 40 + 15 * i, np.uint8)
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
    assert writer.encoding in ("avc1", "mp4v+ffmpeg", "mp4v")
    back = _read_back(path)
    assert len(back) == 10
    assert all(f.shape == (120, 160, 3) for f in back)
    # lossy, but each frame's brightness must survive
    for written, read in zip(frames, back, strict=True):
        assert abs(float(written.mean()) - float(read.mean())) < 6
    # only the output is left behind, no temporary files
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH")
def test_output_is_h264_when_ffmpeg_is_available(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with VideoWriter(path, 25.0, (64, 48)) as writer:
        for frame in _frames(5, 48, 64):
            writer.write(frame)
    assert writer.browser_playable
    assert writer.encoding in ("avc1", "mp4v+ffmpeg")
    cap = cv2.VideoCapture(str(path))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode().lower()
    cap.release()
    assert fourcc in ("avc1", "h264")


def test_odd_frame_size_is_padded_to_even(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, 30.0) as writer:
        for frame in _frames(3, 47, 63):
            writer.write(frame)
    back = _read_back(path)
    assert len(back) == 3
    assert back[0].shape == (48, 64, 3)


def test_without_h264_falls_back_to_mp4v(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video, "_avc1_supported", False)
    monkeypatch.setattr("shutil.which", lambda _name: None)
    path = tmp_path / "plain.mp4"
    with VideoWriter(path, 30.0) as writer:
        for frame in _frames(4, 48, 64):
            writer.write(frame)
    assert writer.encoding == "mp4v"
    assert not writer.browser_playable
    assert len(_read_back(path)) == 4


def test_failed_transcode_keeps_the_mp4v_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(video, "_avc1_supported", False)
    monkeypatch.setattr("shutil.which", lambda _name: "/bin/false")
    path = tmp_path / "kept.mp4"
    with caplog.at_level(logging.WARNING, logger="coach.video"), VideoWriter(path, 30.0) as writer:
        chosen = writer.encoding
        for frame in _frames(4, 48, 64):
            writer.write(frame)
    assert (chosen, writer.encoding) == ("mp4v+ffmpeg", "mp4v")
    assert "could not transcode" in caplog.text
    assert len(_read_back(path)) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["kept.mp4"]


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
