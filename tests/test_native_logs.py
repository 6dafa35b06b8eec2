"""Quiet by default: native log lines are dropped by their shape, whatever they say.

The filter runs in real processes here, as it does for users: a script that turns it on
and then writes to file descriptor 2 the way native code does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from coach.stderr_filter import is_log_line
from tests.conftest import CLIPS, REPO

LOG_LINES = [
    # mediapipe 1.2.3 / LiteRT
    "INFO: [environment.cc:36] Creating LiteRT environment with options",
    "INFO: [accelerator_registry.cc:54] RegisterAccelerator: ptr=0x7f5fcc0059b0, name=Cpu",
    "WARNING: [model_load.cc:402] Sparsity tensors may not yet be fully supported.",
    "INFO: [compiled_model.cc:1022] Flatbuffer model initialized directly from litert model.",
    # mediapipe 1.2.2 / TFLite and absl
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "WARNING: All log messages before absl::InitializeLog() are written to STDERR",
    "WARNING: Logging before InitGoogle() is written to STDERR",
    "W0000 00:00:1796171361.489631    6744 landmark_projection_calculator.cc:81] Using NORM_RECT",
    "I1202 10:11:12.131415 1234 gl_context.cc:369] GL version: 3.2",
    "E1202 10:11:12.131415 1234 some_new_calculator.cc:1] a wording no release used before",
    "ERROR: [new_module.cc:7] something a future release might say",
    # two pose workers starting at once interleave LiteRT's severity and message writes
    "WARNING: WARNING: [model_load.cc:402] Sparsity tensors may not yet be fully supported.",
    "[model_load.cc:402] Sparsity tensors may not yet be fully supported.",
    # OpenCV and FFmpeg
    "[ WARN:0@0.062] global cap_ffmpeg_impl.hpp:1595 grabFrame packet read max attempts",
    "[ERROR:0@0.101] global cap.cpp:643 open VIDEOIO(FFMPEG): raised OpenCV exception",
    "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c9a3e2c0] moov atom not found",
    "[h264 @ 0x5581e8e0a700] error while decoding MB 12 7",
    "OpenCV: FFMPEG: tag 0x34363248/'H264' is not supported with codec id 27",
    "",
]

KEPT_LINES = [
    "error: not a readable video: clip.mp4 (the file is empty)",
    "warning: The leg was measurable in only 40% of frames.",
    "Traceback (most recent call last):",
    "F1202 10:11:12.131415 1234 calculator_graph.cc:12] Check failed: graph is valid",
    "Fatal Python error: Segmentation fault",
    "terminate called after throwing an instance of 'std::runtime_error'",
    "Ankle range of motion: 10 reps in 38.0 s",
    "[1] a numbered note from a user's own script",
]


@pytest.mark.parametrize("line", LOG_LINES)
def test_log_lines_are_recognised_by_shape(line: str) -> None:
    assert is_log_line(line.encode())


@pytest.mark.parametrize("line", KEPT_LINES)
def test_everything_else_is_kept(line: str) -> None:
    assert not is_log_line(line.encode())


NATIVE_WRITER = textwrap.dedent(
    """
    import os, sys
    from coach.native_logs import quiet_native_logs
    quiet_native_logs()
    lines = sys.argv[1].encode().split(b"|")
    for line in lines:  # as native code does: straight to fd 2, bypassing sys.stderr
        os.write(2, line + b"\\n")
    print("ours: on sys.stderr", file=sys.stderr)
    if len(sys.argv) > 2:
        os.kill(os.getpid(), 9)  # die at once: the filter must still pass the last words on
    """
)


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COACH_DEBUG")}
    environ.pop("PYTEST_CURRENT_TEST", None)
    environ.pop("COACH_STDERR_FILTERED", None)
    environ["PYTHONPATH"] = str(REPO)
    environ.update(env or {})
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )
    return done.stderr


def test_native_log_lines_are_dropped_and_the_rest_kept() -> None:
    mixed = [LOG_LINES[0], "a real problem", LOG_LINES[7], LOG_LINES[12], KEPT_LINES[3]]
    err = _run(NATIVE_WRITER, "|".join(mixed))
    lines = err.splitlines()
    assert sorted(lines) == sorted(["a real problem", KEPT_LINES[3], "ours: on sys.stderr"])


def test_debug_shows_every_line() -> None:
    mixed = [LOG_LINES[0], "a real problem", LOG_LINES[7]]
    err = _run(NATIVE_WRITER, "|".join(mixed), env={"COACH_DEBUG": "1"})
    for line in mixed:
        assert line in err.splitlines()


def test_last_words_of_a_killed_process_are_not_lost() -> None:
    fatal = "F1202 10:11:12.131415 1234 graph.cc:1] Check failed: it broke"
    err = _run(NATIVE_WRITER, "|".join([LOG_LINES[2], fatal]), "die")
    assert fatal in err
    assert LOG_LINES[2] not in err


def test_real_mediapipe_is_silent_in_every_mode(tmp_path: Path) -> None:
    """Whatever this mediapipe release prints at start, first detection and close."""
    models = os.environ["COACH_MODELS_DIR"]
    script = textwrap.dedent(
        f"""
        from coach.native_logs import quiet_native_logs
        quiet_native_logs()
        import time
        from coach.pose import MediaPipePose
        from coach.video import open_video
        frames = []
        with open_video({str(CLIPS / "rendered/xbot_seated_pumps_side.mp4")!r}) as src:
            for t_s, frame in src:
                frames.append((t_s, frame))
                if len(frames) == 10:
                    break
        for mode in ("video", "image", "live"):
            with MediaPipePose({models!r} + "/pose_landmarker_lite.task", mode) as pose:
                for t_s, frame in frames:
                    pose.detect(frame, t_s)
                    if mode == "live":
                        time.sleep(0.05)
        print("done")
        """
    )
    environ = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    environ.pop("COACH_DEBUG", None)
    environ["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environ, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"
    assert done.stderr == ""


SPLIT_WRITERS = textwrap.dedent(
    """
    import multiprocessing as mp, os, sys, time
    from coach.native_logs import quiet_native_logs

    def worker() -> None:
        quiet_native_logs()  # as every pose worker does
        for i in range(400):  # LiteRT's way: the severity and the message in two writes
            os.write(2, b"INFO: ")
            time.sleep(0.001)
            os.write(2, b"[environment.cc:36] Creating LiteRT environment with options\\n")
            os.write(2, b"WARNING: ")
            time.sleep(0.001)
            os.write(2, b"Created TensorFlow Lite XNNPACK delegate for CPU.\\n")

    if __name__ == "__main__":
        quiet_native_logs()
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=worker) for _ in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        print("done", file=sys.stderr)
    """
)


def test_workers_writing_at_once_do_not_mix_their_halves(tmp_path: Path) -> None:
    script = tmp_path / "split.py"
    script.write_text(SPLIT_WRITERS)
    environ = {k: v for k, v in os.environ.items() if k != "COACH_DEBUG"}
    environ["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=environ, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ["done"]
