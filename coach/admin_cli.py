"""The clinic's admin commands: the database, therapists, patients, plans, imports, reports.

`python -m coach db upgrade | therapist add | patient add | plan set | session import |
report | patient export | patient erase`. They call the same services as the pages, as
the command-line administrator (every action is in the audit log as such). Errors are
one plain line and exit status 2 (handled in `coach.cli.main`).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from coach.accounts import ADMIN
from coach.prescription import Prescription

if TYPE_CHECKING:
    from coach.services import Services

ENV_PASSWORD = "COACH_PASSWORD"


class AdminError(Exception):
    """A problem with what the admin asked for; printed as one line."""


def _services(*, upgrade: bool = False) -> Services:
    from coach.services import build_services

    return build_services(upgrade_schema=upgrade)


def _cmd_db_upgrade(_: argparse.Namespace) -> int:
    from coach.storage.database import current_revision, describe

    services = _services(upgrade=True)
    engine = services.store.engine
    print(f"the database at {describe(engine)} is at schema {current_revision(engine)}")
    return 0


def _password(prompt: str) -> str:
    value = os.environ.get(ENV_PASSWORD)
    if value:
        return value
    if not sys.stdin.isatty():
        raise AdminError(f"give the password in {ENV_PASSWORD} or run this in a terminal")
    first = getpass.getpass(prompt)
    if getpass.getpass("again: ") != first:
        raise AdminError("the two passwords differ")
    return first


def _cmd_therapist_add(args: argparse.Namespace) -> int:
    services = _services()
    row = services.clinic.add_therapist(ADMIN, args.email, args.name, _password("password: "))
    print(f"added therapist {row.email} ({row.name})")
    return 0


def _cmd_patient_add(args: argparse.Namespace) -> int:
    services = _services()
    new = services.clinic.add_patient(ADMIN, args.name, args.side, therapist_email=args.therapist)
    print(new.patient.id)
    expires = new.patient.invite_expires_at
    until = f" (valid until {expires.astimezone():%Y-%m-%d})" if expires else ""
    print(f"invitation code: {new.invite_code}{until}")
    return 0


def _cmd_plan_set(args: argparse.Namespace) -> int:
    services = _services()
    prescription = Prescription(
        exercise_id=args.exercise,
        sets=args.sets,
        reps=args.reps,
        hold_s=args.hold_s,
        rest_s=args.rest_s,
        per_week=args.per_week,
        side=args.side,
        notes=args.notes or "",
    )
    saved = services.clinic.set_prescription(ADMIN, args.patient, prescription)
    hold = f", hold {saved.hold_s:g} s" if saved.hold_s else ""
    print(f"plan: {saved.exercise_id} {saved.sets} x {saved.reps}{hold}, {saved.per_week}/week")
    return 0


def _cmd_session_import(args: argparse.Namespace) -> int:
    services = _services()
    video = Path(args.video).expanduser()
    record = services.sessions.import_video(
        ADMIN,
        args.patient,
        video,
        args.exercise,
        model=args.model,
        analysis_fps=args.fps,
        source_name=video.name,
    )
    print(f"imported session {record.id}: {len(record.reps)} reps of {record.exercise_name}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from coach.atomic import atomic_write_path, check_writable
    from coach.reports.pdf import build_pdf
    from coach.reports.table import build_csv

    outputs = [Path(p).expanduser() for p in (args.pdf, args.csv) if p]
    if len(outputs) == 2 and outputs[0].resolve() == outputs[1].resolve():
        raise AdminError("--pdf and --csv name the same file")
    for out in outputs:
        check_writable(out)
    services = _services()
    data = services.reports.data(ADMIN, args.patient, since=args.since)
    pdf = build_pdf(data)
    with atomic_write_path(Path(args.pdf).expanduser()) as tmp:
        tmp.write_bytes(pdf)
    if args.csv:
        with atomic_write_path(Path(args.csv).expanduser()) as tmp:
            tmp.write_text(build_csv(data), encoding="utf-8")
    print(f"report for {data.patient_name}: {len(data.sessions)} sessions, written to {args.pdf}")
    return 0


def _cmd_patient_export(args: argparse.Namespace) -> int:
    from coach.atomic import atomic_write_path, check_writable

    out = Path(args.json).expanduser()
    check_writable(out)
    doc = _services().clinic.export_patient(ADMIN, args.patient)
    text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    with atomic_write_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    print(f"exported patient {args.patient} to {out}")
    return 0


def _cmd_patient_erase(args: argparse.Namespace) -> int:
    services = _services()
    patient = services.clinic.patient(ADMIN, args.patient)
    if not args.yes:
        if not sys.stdin.isatty():
            raise AdminError("erasing cannot be undone: add --yes to confirm")
        answer = input(f"erase {patient.name} and all their records? type yes: ")
        if answer.strip().lower() != "yes":
            print("nothing erased")
            return 1
    counts = services.clinic.erase_patient(ADMIN, args.patient)
    print(f"erased patient {args.patient} ({sum(counts.values())} records)")
    return 0


def _date_arg(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"use a date like 2026-11-01, not {value!r}") from None


def add_admin_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    model_arg: object,
    fps_arg: object,
) -> None:
    db = sub.add_parser("db", parents=[common], help="the database (schema upgrades)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser(
        "upgrade", parents=[common], help="create the database or bring it to this version"
    )
    up.set_defaults(func=_cmd_db_upgrade)

    th = sub.add_parser("therapist", parents=[common], help="therapist accounts")
    th_sub = th.add_subparsers(dest="therapist_command", required=True)
    ta = th_sub.add_parser(
        "add",
        parents=[common],
        help=f"add a therapist (password from {ENV_PASSWORD} or a prompt)",
    )
    ta.add_argument("email")
    ta.add_argument("--name", required=True)
    ta.set_defaults(func=_cmd_therapist_add)

    pa = sub.add_parser("patient", parents=[common], help="patients: add, export, erase")
    pa_sub = pa.add_subparsers(dest="patient_command", required=True)
    padd = pa_sub.add_parser(
        "add", parents=[common], help="add a patient; prints their id, then an invitation code"
    )
    padd.add_argument("--therapist", required=True, metavar="EMAIL")
    padd.add_argument("--name", required=True)
    padd.add_argument("--side", choices=("left", "right"), help="the affected leg")
    padd.set_defaults(func=_cmd_patient_add)
    pexp = pa_sub.add_parser("export", parents=[common], help="everything kept about a patient")
    pexp.add_argument("patient")
    pexp.add_argument("--json", required=True, metavar="OUT")
    pexp.set_defaults(func=_cmd_patient_export)
    per = pa_sub.add_parser("erase", parents=[common], help="erase a patient and their records")
    per.add_argument("patient")
    per.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    per.set_defaults(func=_cmd_patient_erase)

    pl = sub.add_parser("plan", parents=[common], help="a patient's prescribed exercises")
    pl_sub = pl.add_subparsers(dest="plan_command", required=True)
    ps = pl_sub.add_parser("set", parents=[common], help="prescribe an exercise (or change it)")
    ps.add_argument("patient")
    ps.add_argument("--exercise", required=True, help="exercise id (see `exercises`)")
    ps.add_argument("--sets", type=int, required=True)
    ps.add_argument("--reps", type=int, required=True)
    ps.add_argument("--hold-s", type=float, dest="hold_s")
    ps.add_argument("--rest-s", type=float, dest="rest_s")
    ps.add_argument("--per-week", type=int, dest="per_week", default=7)
    ps.add_argument("--side", choices=("left", "right"))
    ps.add_argument("--notes")
    ps.set_defaults(func=_cmd_plan_set)

    se = sub.add_parser("session", parents=[common], help="sessions in a patient's history")
    se_sub = se.add_subparsers(dest="session_command", required=True)
    si = se_sub.add_parser(
        "import", parents=[common], help="analyse a recorded video into the history"
    )
    si.add_argument("patient")
    si.add_argument("video")
    si.add_argument("--exercise", required=True)
    si.add_argument("--model", type=model_arg, default="heavy")  # type: ignore[arg-type]
    si.add_argument("--fps", type=fps_arg, metavar="N")  # type: ignore[arg-type]
    si.set_defaults(func=_cmd_session_import)

    rp = sub.add_parser("report", parents=[common], help="a patient's report as PDF (and CSV)")
    rp.add_argument("patient")
    rp.add_argument("--pdf", required=True, metavar="OUT.pdf")
    rp.add_argument("--csv", metavar="OUT.csv")
    rp.add_argument("--since", type=_date_arg, metavar="DATE")
    rp.set_defaults(func=_cmd_report)
