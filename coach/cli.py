"""Command line: `analyze VIDEO --exercise ID`, `exercises`, `gait VIDEO`, and the admin
commands (`db`, `therapist`, `patient`, `plan`, `session`, `report`: `coach.admin_cli`).

Errors a user can cause (unreadable video, unknown exercise, model not available, an
output that cannot be written) exit 2 with one line on stderr, never a traceback, and
harm no file: outputs are checked before the analysis starts, may not name an input or
each other, and are written to a temporary file that replaces the old one only when
complete. Native libraries' log lines stay off stderr unless `--verbose` (or
``COACH_DEBUG=1``) asks for them.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from coach.admin_cli import AdminError, add_admin_commands
from coach.atomic import atomic_write_path, check_writable, remove_stale_temp_files
from coach.exercise import Exercise, ExerciseError, load_library
from coach.native_logs import debug_requested, quiet_native_logs
from coach.pose_models import DEFAULT_MODEL, RECORDED_MODEL
from coach.progress import Progress, Stage

MODELS = ("lite", "full", "heavy")

STAGE_LABELS: dict[Stage, str] = {
    Stage.READING: "reading the video",
    Stage.POSE: "finding the pose",
    Stage.COUNTING: "measuring",
    Stage.DRAWING: "drawing the video",
}


@contextmanager
def _progress_bar() -> Iterator[Progress]:
    """A tqdm bar on stderr (only on a terminal), started afresh for each stage."""
    bar = tqdm(unit="frame", file=sys.stderr, dynamic_ncols=True, leave=False, disable=None)
    current: list[Stage] = []

    def update(stage: Stage, done: int, total: int) -> None:
        if current != [stage]:
            current[:] = [stage]
            bar.reset(total=total or None)
            bar.set_description(STAGE_LABELS[stage], refresh=False)
        elif total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()


class _UserError(Exception):
    """A problem with what the user asked for; printed as one line."""


def _plan_outputs(inputs: Sequence[Path], outputs: dict[str, str | None]) -> dict[str, Path]:
    """The outputs asked for, checked before any work: never an input, never each other,
    each in a folder that can be written. Leftovers of a killed run are removed here."""
    planned: dict[str, Path] = {}
    for flag, value in outputs.items():
        if not value:
            continue
        path = Path(value).expanduser()
        for source in inputs:
            if _same_file(path, source):
                raise _UserError(
                    f"{flag} {value} would overwrite the video being analysed; "
                    "choose another file name"
                )
        for other_flag, other in planned.items():
            if _same_file(path, other):
                raise _UserError(f"{other_flag} and {flag} name the same file ({value})")
        check_writable(path)
        planned[flag] = path
    for folder in {p.resolve().parent for p in planned.values()}:
        remove_stale_temp_files(folder)
    return planned


def _same_file(a: Path, b: Path) -> bool:
    """Same path after resolving links, or (both existing) the same file on disk."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def _write_json(path: Path, data: object) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    with atomic_write_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _usable_exercises() -> dict[str, Exercise]:
    """The good definitions; each bad file is one warning line and never hides the rest."""
    library = load_library()
    for problem in library.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return library.usable()


def _cmd_exercises(_: argparse.Namespace) -> int:
    for ex in _usable_exercises().values():
        d = ex.dose
        hold = f", hold {d.hold_s:.0f} s" if d.hold_s else ""
        print(f"{ex.id:22} {ex.name} ({d.sets} x {d.reps}{hold})")
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from coach.analysis import analyze_video

    exercises = _usable_exercises()
    if args.exercise not in exercises:
        raise _UserError(
            f"unknown exercise '{args.exercise}'; choose one of: {', '.join(exercises)}"
        )
    video = Path(args.video)
    out = _plan_outputs(
        [video], {"--json": args.json, "--csv": args.csv, "--annotated": args.annotated}
    )
    with _progress_bar() as progress:
        report = analyze_video(
            video,
            exercises[args.exercise],
            model=args.model,
            side=args.side,
            annotated=out.get("--annotated"),
            analysis_fps=args.fps,
            progress=progress,
        )
    if "--json" in out:
        _write_json(out["--json"], report.to_dict())
    if "--csv" in out:
        with atomic_write_path(out["--csv"]) as tmp:
            report.write_csv(tmp)
    data = report.to_dict()
    view = data["view"]
    seen = {"side_on": "side-on", "oblique": "oblique", "facing": "front or back"}
    print(
        f"{report.exercise.name}: {report.rep_count} reps in {report.duration_s:.1f} s "
        f"({report.fps_processed:.0f} frames/s processed; view "
        f"{seen.get(view['camera'], 'unknown')}, angle shown in "
        f"{100 * view['angle_frames']:.0f}% of frames)"
    )
    unit = "°" if data["unit"] == "deg" else "% shank"
    for r in data["reps_detail"]:
        angle = (
            f"  ankle {r['peak_deg']:+6.1f}° range {r['rom_deg']:5.1f}°"
            if r["peak_deg"] is not None
            else ""
        )
        print(
            f"  rep {r['rep']:2}: {r['start_s']:6.2f}-{r['end_s']:6.2f} s"
            f"  peak {r['peak']:+6.1f}  range {r['range']:5.1f} {unit}{angle}"
            f"  hold {r['hold_s']:4.1f} s"
        )
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def _cmd_gait(args: argparse.Namespace) -> int:
    from coach.gait.analyze import analyze_gait_video

    video = Path(args.video)
    out = _plan_outputs([video], {"--json": args.json, "--annotated": args.annotated})
    with _progress_bar() as progress:
        report = analyze_gait_video(
            video, model=args.model, annotated=out.get("--annotated"), progress=progress
        )
    if "--json" in out:
        _write_json(out["--json"], report)
    summary = report.get("summary", {})
    print(f"{len(report.get('contacts', []))} contacts, {len(report.get('steps', []))} steps")
    for key, value in summary.items():
        if not isinstance(value, (dict, list)):
            print(f"  {key}: {value}")
    for flag in report.get("flags", []):
        print(f"flag: {flag.get('message', flag)}")
    for w in report.get("warnings", []):
        print(f"warning: {w}", file=sys.stderr)
    return 0


MODEL_HELP = "lite, full or heavy (looked up in models/, then COACH_MODELS_DIR), or a .task file"


def _fps_arg(value: str) -> float:
    try:
        fps = float(value)
    except ValueError:
        fps = math.nan
    if not 1 <= fps <= 240:
        raise argparse.ArgumentTypeError(
            f"use a number of frames a second from 1 to 240, not {value!r}"
        )
    return fps


def _model_arg(value: str) -> str:
    if value in MODELS or value.endswith(".task"):
        return value
    raise argparse.ArgumentTypeError(f"use lite, full, heavy or a .task file, not {value!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m coach", description="Foot-drop exercise coach")
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose",
        action="store_true",
        help="show the pose and video libraries' own log lines (also: COACH_DEBUG=1)",
    )

    a = sub.add_parser(
        "analyze", parents=[common], help="count reps and measure the ankle in a recorded video"
    )
    a.add_argument("video")
    a.add_argument("--exercise", required=True, help="exercise id (see `exercises`)")
    a.add_argument(
        "--side",
        choices=("auto", "left", "right"),
        default="auto",
        help="the person's own leg to measure (auto: the leg that moves)",
    )
    a.add_argument("--model", type=_model_arg, default=RECORDED_MODEL, help=MODEL_HELP)
    a.add_argument(
        "--fps",
        type=_fps_arg,
        metavar="N",
        help="analyse at most N frames a second (a slow computer; counts hold down to 5)",
    )
    a.add_argument("--json", metavar="OUT.json")
    a.add_argument("--csv", metavar="OUT.csv")
    a.add_argument("--annotated", metavar="OUT.mp4")
    a.set_defaults(func=_cmd_analyze)

    e = sub.add_parser(
        "exercises", parents=[common], help="list the exercises and their default doses"
    )
    e.set_defaults(func=_cmd_exercises)

    g = sub.add_parser("gait", parents=[common], help="measure walking from a side-view video")
    g.add_argument("video")
    g.add_argument("--model", type=_model_arg, default=DEFAULT_MODEL, help=MODEL_HELP)
    g.add_argument("--json", metavar="OUT.json")
    g.add_argument("--annotated", metavar="OUT.mp4")
    g.set_defaults(func=_cmd_gait)
    add_admin_commands(sub, common, _model_arg, _fps_arg)
    return p


def _stop_on_signal(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    verbose = bool(args.verbose) or debug_requested()
    quiet_native_logs(verbose=verbose)  # before mediapipe or cv2 is imported
    # A polite kill unwinds like Ctrl-C: workers stop and half-written files are removed.
    signal.signal(signal.SIGTERM, _stop_on_signal)

    from coach.atomic import WriteError
    from coach.pose_models import ModelUnavailableError
    from coach.prescription import DoseError
    from coach.services.access import AccessDenied, NotFound
    from coach.services.clinic import InputProblem
    from coach.services.config import ConfigError
    from coach.storage.database import StorageError
    from coach.video import VideoReadError, VideoWriteError

    try:
        code: int = args.func(args)
        return code
    except (
        VideoReadError,
        VideoWriteError,
        WriteError,
        ModelUnavailableError,
        ExerciseError,
        _UserError,
        AdminError,
        StorageError,
        InputProblem,
        AccessDenied,
        NotFound,
        ConfigError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DoseError as exc:
        flag = {"per_week": "--per-week", "hold_s": "--hold-s", "rest_s": "--rest-s"}
        print(f"error: {flag.get(exc.field, '--' + exc.field)} {exc.problem}", file=sys.stderr)
        return 2
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except Exception as exc:
        if verbose:
            raise
        print(
            f"error: something went wrong that the coach did not expect ({type(exc).__name__}); "
            "run again with --verbose for the details",
            file=sys.stderr,
        )
        return 1
