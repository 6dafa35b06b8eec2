"""Telehealth across two real app servers on one PostgreSQL, over Streamlit's protocol.

`benchmarks/live_load.py` with two signed-in patients and two `streamlit run` servers on
a throwaway PostgreSQL: patient 1 exercises on server 1, patient 2 on server 2, and the
therapist's Live now page is open on server 2 (so patient 1's session crosses servers
through LISTEN/NOTIFY). Each patient replays the full model's landmarks of a rendered
clip with 10 reps as the on-device browser sends them; patient 2's network drops for 7 s
mid-set. Checked:

- both counts are exactly 10, on the patient's screen and in the stored session;
- the therapist's screen shows every count, within 2 s of the patient's own server
  (p95; the board redraws every second), and the final 10 for both;
- the dropped connection shows on the monitor as a gap, and no rep is lost for it;
- a message the therapist sends (from server 2's side of the database) reaches each
  patient's screen, and is stored with who sent it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from benchmarks.live_load import make_clinic, report, run_live_load
from benchmarks.ondevice_load import CLIP_SPECS, CLIPS, Behaviour, app_server, load_stream
from benchmarks.ondevice_load import percentile as pct
from coach.records import SessionStatus
from coach.telehealth.steps import StepKind
from tests.pg_server import fresh_database

SPEC = CLIP_SPECS["xbot"]


def test_two_servers_one_monitor_counts_gaps_and_messages(pg_url: str, tmp_path: Path) -> None:
    if not (CLIPS / SPEC.path).is_file():
        pytest.fail(f"shared clip missing: {CLIPS / SPEC.path}")
    stream = load_stream(SPEC)
    with fresh_database(pg_url) as url:
        clinic = make_clinic(tmp_path / "data", url, 2)
        env = {"COACH_DATABASE_URL": url, "COACH_DATA_DIR": str(tmp_path / "data")}
        try:
            with (
                app_server(tmp_path / "a.log", env=env | {"COACH_SERVER_NAME": "a"}) as a,
                app_server(tmp_path / "b.log", env=env | {"COACH_SERVER_NAME": "b"}) as b,
            ):
                try:
                    result = asyncio.run(
                        run_live_load(
                            [a.url, b.url],
                            [a.proc.pid, b.proc.pid],  # type: ignore[union-attr]
                            clinic,
                            stream,
                            stream.duration_s,
                            stagger_s=1.0,
                            behaviours=[Behaviour(), Behaviour(offline=(22.0, 29.0))],
                            message_at_s=14.0,
                            max_passes=1,
                        )
                    )
                except BaseException:
                    print(a.log(), b.log())
                    raise
                logs = a.log() + b.log()
            report(result, print)
            first, second = result.runs
            assert [p.reps for p in result.passes] == [10, 10], (result.passes, logs[-5000:])
            assert (first.server, second.server) == (0, 1)
            for run in result.runs:
                assert result.watch.seen[run.name][-1][1] == 10, result.watch.seen
            assert pct(result.delays_s, 0.95) < 2.0, sorted(result.delays_s)
            assert second.name in result.watch.gaps and first.name not in result.watch.gaps
            assert result.messages_sent == 2
            for run in result.runs:
                assert run.notes == [f"Ann Smith says: Well done, {run.name}"], run.notes
            assert not result.watch.errors
            store = clinic.services.store
            for pid, _, _ in clinic.patients:
                [record] = store.sessions_of(pid)
                assert len(record.reps) == 10 and record.status is SessionStatus.COMPLETED
                [step] = store.step_ins_of(session_id=record.id)
                assert step.step.kind is StepKind.MESSAGE and step.step.sent_by == "Ann Smith"
        finally:
            clinic.services.monitor.close()
            clinic.services.store.close()
