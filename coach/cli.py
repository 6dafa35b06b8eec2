"""Command line: `python -m coach analyze VIDEO --exercise ID`, `exercises`, `gait VIDEO`.

Errors a user can cause (unreadable video, unknown exercise, model not
available) exit non-zero with one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

from coach.exercise import ExerciseError, load_exercises

MODELS = ("lite", "full", "heavy")


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar on stderr fed by (done, total) callbacks."""
    bar = tqdm(
        desc=label, unit="frame", file=sys.stderr, dynamic_ncols=True, leave=False, disable=None
    )

    def update(done: int, total: int) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh() if done % 15 == 0 or done == total else None

    try:
        yield update
    finally:
        bar.close()


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _cmd_exercises(_: argparse.Namespace) -> int:
    for ex in load_exercises().values():
        d = ex.dose
        hold = f", hold {d.hold_s:.0f} s" if d.hold_s else ""
        print(f"{ex.id:22} {ex.name} ({d.sets} x {d.reps}{hold})")
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from coach.analysis import analyze_video

    exercises = load_exercises()
    if args.exercise not in exercises:
        raise _UserError(
            f"unknown exercise '{args.exercise}'; choose one of: {', '.join(exercises)}"
        )
    with _progress_bar("analysing") as progress:
        report = analyze_video(
            Path(args.video),
            exercises[args.exercise],
            model=args.model,
            side=args.side,
            annotated=Path(args.annotated) if args.annotated else None,
            progress=progress,
        )
    if args.json:
        _write_json(Path(args.json), report.to_dict())
    if args.csv:
        report.write_csv(Path(args.csv))
    print(
        f"{report.exercise.name}: {report.rep_count} reps in {report.duration_s:.1f} s "
        f"({report.fps_processed:.0f} frames/s processed)"
    )
    for r in report.to_dict()["reps_detail"]:
        print(
            f"  rep {r['rep']:2}: {r['start_s']:6.2f}-{r['end_s']:6.2f} s"
            f"  peak {r['peak_deg']:+6.1f}  range {r['rom_deg']:5.1f}  hold {r['hold_s']:4.1f} s"
        )
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def _cmd_gait(args: argparse.Namespace) -> int:
    from coach.gait.analyze import analyze_gait_video

    with _progress_bar("analysing gait") as progress:
        report = analyze_gait_video(
            Path(args.video),
            model=args.model,
            annotated=Path(args.annotated) if args.annotated else None,
            progress=progress,
        )
    if args.json:
        _write_json(Path(args.json), report)
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


class _UserError(Exception):
    """A problem with what the user asked for; printed as one line."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m coach", description="Foot-drop exercise coach")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="count reps and measure the ankle in a recorded video")
    a.add_argument("video")
    a.add_argument("--exercise", required=True, help="exercise id (see `exercises`)")
    a.add_argument("--side", choices=("auto", "left", "right"), default="auto")
    a.add_argument("--model", choices=MODELS, default="lite")
    a.add_argument("--json", metavar="OUT.json")
    a.add_argument("--csv", metavar="OUT.csv")
    a.add_argument("--annotated", metavar="OUT.mp4")
    a.set_defaults(func=_cmd_analyze)

    e = sub.add_parser("exercises", help="list the exercises and their default doses")
    e.set_defaults(func=_cmd_exercises)

    g = sub.add_parser("gait", help="measure walking from a side-view video")
    g.add_argument("video")
    g.add_argument("--model", choices=MODELS, default="full")
    g.add_argument("--json", metavar="OUT.json")
    g.add_argument("--annotated", metavar="OUT.mp4")
    g.set_defaults(func=_cmd_gait)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from coach.models import ModelUnavailableError
    from coach.video import VideoReadError

    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except (VideoReadError, ModelUnavailableError, ExerciseError, _UserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
