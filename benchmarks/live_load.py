"""Telehealth load test: signed-in patients on K app servers, one therapist watching.

    .venv/bin/python benchmarks/live_load.py --clients 50 --seconds 600 --servers 2
    .venv/bin/python benchmarks/live_load.py --clients 4 --seconds 60 --servers 2 --message

Everything runs on 127.0.0.1 and stops by itself:

- a throwaway PostgreSQL server (`tests/pg_server.py`; or `--database-url` for one you
  run), a fresh database with one therapist and `--clients` patients, each with a
  sign-in token (the cookie a browser keeps after signing in);
- K app servers (`streamlit run app.py`) on that database, so the live bus is
  PostgreSQL LISTEN/NOTIFY (`coach.telehealth.postgres`);
- the simulated patients of `benchmarks/ondevice_load.py` (the on-device browser played
  over Streamlit's real protocol: recorded landmarks of a rendered clip whose count is
  known, in real time), signed in, patient i on server i mod K, one pass after another
  while a pass fits in --seconds;
- the therapist's Live now page on the last server (`benchmarks/st_client.py`, signed
  in, its board rerunning every second as the browser asks), read as a person reads it
  (each patient's card and its "Reps" figure), from a process of its own, as the
  therapist's browser on another machine would (`WatchProcess`).

Measured: every pass's count (the server's answer after Stop against the clip's truth);
the monitor delay, from the moment a patient's own server answers with a new count to
the moment the therapist's screen (on another server when K > 1) shows it; each
server's CPU and memory growth. `--message` also sends each patient a message from
the therapist mid-pass (through the monitor service, as the page does) and checks it
reaches the patient's screen.

The last line: `clients N: counts right K/N, monitor delay p95 X ms, server cpu Y%,
memory growth Z MB` (CPU: the servers together, % of all cores; memory: the largest
growth of one server).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("COACH_MODELS_DIR", str(REPO.parent / "shared" / "models"))

from benchmarks.ondevice_load import (  # noqa: E402  (path set up above)
    CLIP_SPECS,
    START_TIMEOUT_S,
    Behaviour,
    Metrics,
    PassResult,
    PatientPass,
    ProcMonitor,
    RecordedStream,
    app_server,
    load_stream,
    percentile,
)
from benchmarks.st_client import StreamlitClient  # noqa: E402

COOKIE = "coach_signin"
PASSWORD = "a long enough password for the load test"
MONITOR_PAGE = "live"
STALE_S = 2.5
"""Page text not drawn again for this long is no longer on the therapist's screen (the
board redraws every second)."""


@dataclass
class Clinic:
    """What the benchmark made in the database: the therapist and the patients."""

    therapist_token: str
    patients: list[tuple[str, str, str]]
    """(id, name, sign-in token) per patient."""
    services: Any


def make_clinic(data_dir: Path, database_url: str, n: int) -> Clinic:
    from coach.accounts import ADMIN, Principal, Role
    from coach.services import build_services
    from coach.services.config import AppConfig

    services = build_services(AppConfig(data_dir=data_dir, database_url=database_url))
    clinic = services.clinic
    clinic.add_therapist(ADMIN, "ann@clinic.example", "Ann Smith", PASSWORD)
    ann = clinic.sign_in_therapist("ann@clinic.example", PASSWORD)
    patients = []
    for i in range(n):
        name = f"Patient {i + 1:03d}"
        row = clinic.add_patient(ann, name, None).patient
        token = clinic.issue_token(Principal(Role.PATIENT, row.id, name))
        patients.append((row.id, name, token))
    return Clinic(clinic.issue_token(ann), patients, services)


@contextlib.contextmanager
def postgres(database_url: str | None) -> Iterator[str]:
    """A fresh database: on the given server, or on a throwaway one started here."""
    from tests.pg_server import fresh_database, postgres_server

    if database_url:
        with fresh_database(database_url) as url:
            yield url
        return
    with postgres_server() as server, fresh_database(server) as url:
        yield url


# -- the therapist's screen -----------------------------------------------------------------


@dataclass
class MonitorWatch:
    """The Live now page as the therapist's browser shows it, read after every message."""

    url: str
    token: str
    seen: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    """Patient name -> (time first shown, reps shown), each new figure once."""
    texts: list[str] = field(default_factory=list)
    gaps: set[str] = field(default_factory=set)
    """Patients whose card said the connection had dropped."""
    errors: list[str] = field(default_factory=list)
    redraws: list[float] = field(default_factory=list)
    """When each run of the board finished (the screen changed)."""

    def read(self, client: StreamlitClient) -> None:
        now = time.monotonic()
        name = None
        for _, (kind, text, received) in sorted(client.texts.items()):
            if now - received > STALE_S:
                continue  # a card no longer drawn (its session left the board)
            if kind == "markdown" and text.startswith("**Patient "):
                name = text[2:].split("**", 1)[0]
                if "no data for" in text:
                    self.gaps.add(name)
            elif kind == "metric" and text.startswith("Reps: ") and name is not None:
                reps = int(text.split()[1])
                shown = self.seen.setdefault(name, [])
                if not shown or shown[-1][1] != reps:
                    shown.append((now, reps))
                name = None

    async def run(self, stop: asyncio.Event) -> None:
        client = StreamlitClient(self.url, page_name=MONITOR_PAGE, cookies={COOKIE: self.token})
        try:
            await client.connect()
            await client.start(START_TIMEOUT_S)
            runs = 0
            while not stop.is_set():
                # The board reruns itself every second (st.fragment run_every): the client
                # asks for those reruns as the browser does; read after each message.
                with contextlib.suppress(TimeoutError):
                    await client.wait_for(lambda: stop.is_set(), 0.05, "a change")
                self.read(client)
                if client.stats.runs_finished != runs:
                    runs = client.stats.runs_finished
                    self.redraws.append(time.monotonic())
            self.errors.extend(client.errors)
            self.texts.append(client.page_text())
        finally:
            await client.close()


def _watch_in_child(url: str, token: str, stop: Any, results: Any) -> None:
    """The therapist's screen in its own process (see `WatchProcess`)."""

    async def main() -> MonitorWatch:
        watch = MonitorWatch(url, token)
        done = asyncio.Event()
        task = asyncio.create_task(watch.run(done))
        while not stop.is_set():
            await asyncio.sleep(0.1)
        done.set()
        await task
        return watch

    w = asyncio.run(main())
    results.send((w.seen, sorted(w.gaps), w.errors, w.redraws, w.texts))


class WatchProcess:
    """The therapist's browser is another machine: its reading of the page must not
    wait on the simulated patients' work (at a burst of Stops they parse 25 summaries
    at once), so the Live now page is read from a process of its own. Times are
    `time.monotonic()`, one clock for every process on the machine."""

    def __init__(self, url: str, token: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._results, child_end = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=_watch_in_child, args=(url, token, self._stop, child_end), daemon=True
        )
        self._proc.start()
        self.url, self.token = url, token

    def result(self, timeout_s: float = 60.0) -> MonitorWatch:
        """Stop watching; what the screen showed."""
        self._stop.set()
        watch = MonitorWatch(self.url, self.token)
        if self._results.poll(timeout_s):
            seen, gaps, errors, redraws, texts = self._results.recv()
            watch.seen, watch.gaps, watch.errors = seen, set(gaps), errors
            watch.redraws, watch.texts = redraws, texts
        else:
            watch.errors.append("the monitor's process gave no result")
        self._proc.join(10.0)
        if self._proc.is_alive():
            self._proc.kill()
        return watch


# -- the patients ---------------------------------------------------------------------------


@dataclass
class PatientRun:
    name: str
    server: int
    passes: list[PassResult] = field(default_factory=list)
    counts: list[tuple[float, int]] = field(default_factory=list)
    """(time, reps) each time the patient's own server answered with a new count."""
    notes: list[str] = field(default_factory=list)
    """The therapist's messages the patient's screen showed."""


class WatchedPass(PatientPass):
    """A patient pass that remembers when each new count arrived (and any message)."""

    def __init__(self, run: PatientRun, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.run_record = run

    def take_answer(self, answer: dict[str, Any], received_s: float) -> None:
        super().take_answer(answer, received_s)
        status = answer.get("status") or {}
        reps = status.get("reps")
        counts = self.run_record.counts
        if isinstance(reps, int) and (not counts or counts[-1][1] != reps):
            counts.append((received_s, reps))
        note = status.get("note")
        if note and note not in self.run_record.notes:
            self.run_record.notes.append(note)


async def patient_loop(
    run: PatientRun,
    url: str,
    token: str,
    stream: RecordedStream,
    metrics: Metrics,
    *,
    start_delay_s: float,
    end_at: float,
    behaviour: Behaviour,
    max_passes: int | None,
) -> None:
    await asyncio.sleep(start_delay_s)
    n = 0
    while max_passes is None or n < max_passes:
        if n > 0 and time.monotonic() + stream.duration_s + 5.0 > end_at:
            break
        n += 1
        result = PassResult(len(metrics.passes), n, stream.true_reps)
        run.passes.append(result)
        run.counts.append((time.monotonic(), 0))  # a new session starts at 0
        await WatchedPass(
            run, url, stream, metrics, result, behaviour, cookies={COOKIE: token}
        ).run()


def screenshot(url: str, token: str, path: Path, viewport: tuple[int, int] = (1300, 1100)) -> None:
    """The therapist's Live now page in headless Chromium (signed in by cookie), as PNG."""
    from playwright.sync_api import sync_playwright

    from tests.test_browser_e2e import CHROMIUM, CHROMIUM_FLAGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            context.add_cookies([{"name": COOKIE, "value": token, "url": url}])
            page = context.new_page()
            page.goto(f"{url}/{MONITOR_PAGE}", wait_until="domcontentloaded")
            page.get_by_text("Reps", exact=True).first.wait_for(timeout=60_000)
            time.sleep(3.0)  # a few redraws of the board
            path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(path), full_page=True)
        finally:
            browser.close()


def monitor_delays(
    counts: dict[str, list[tuple[float, int]]],
    seen: dict[str, list[tuple[float, int]]],
    end: float,
) -> list[float]:
    """For every count a patient's server answered, the time until the therapist's
    screen showed it, or a later count of the same session (a board that redraws once a
    second can skip a count the next rep overtook: the therapist saw it pass). A count
    never shown before the session's next pass counts as the time left until then."""
    delays: list[float] = []
    for name, answered in counts.items():
        shown = seen.get(name, [])
        starts = [t for t, reps in answered if reps == 0] + [end]
        for t, reps in answered:
            if reps == 0:
                continue
            until = min(s for s in starts if s > t)
            later = [ts for ts, r in shown if t - 0.05 <= ts < until and r >= reps]
            delays.append((later[0] if later else until) - t)
    return delays


# -- the benchmark ------------------------------------------------------------------------


@dataclass
class LoadResult:
    runs: list[PatientRun]
    watch: MonitorWatch
    delays_s: list[float]
    cpu_pct: float
    """All servers together, % of all cores."""
    memory_growth_mb: list[float]
    seconds: float
    messages_sent: int = 0

    @property
    def passes(self) -> list[PassResult]:
        return [p for r in self.runs for p in r.passes]

    @property
    def right(self) -> int:
        return sum(p.ok for p in self.passes)

    def line(self) -> str:
        return (
            f"clients {len(self.runs)}: counts right {self.right}/{len(self.passes)}, monitor "
            f"delay p95 {1000 * percentile(self.delays_s, 0.95):.0f} ms, server cpu "
            f"{self.cpu_pct:.0f}%, memory growth {max(self.memory_growth_mb, default=0):.0f} MB"
        )


async def run_live_load(
    urls: Sequence[str],
    pids: Sequence[int],
    clinic: Clinic,
    stream: RecordedStream,
    seconds: float,
    *,
    stagger_s: float = 10.0,
    behaviours: Sequence[Behaviour] = (),
    message_at_s: float | None = None,
    max_passes: int | None = None,
    screenshot_to: Path | None = None,
    log: Callable[[str], None] = print,
) -> LoadResult:
    from coach.accounts import Role

    mons = [ProcMonitor(pid) for pid in pids]
    stop_sampling = asyncio.Event()
    samplers = [asyncio.create_task(m.run(stop_sampling)) for m in mons]
    # Warm up every server (the first page load imports the app).
    for url in urls:
        with contextlib.suppress(Exception):
            async with StreamlitClient(url, f"exercise={stream.exercise}") as c:
                await c.start(START_TIMEOUT_S)
    for m in mons:
        m.mark("start")
    watcher = WatchProcess(urls[-1], clinic.therapist_token)
    t_start = time.monotonic()
    end_at = t_start + seconds
    metrics = Metrics()
    runs = [PatientRun(name, i % len(urls)) for i, (_, name, _) in enumerate(clinic.patients)]
    tasks = [
        asyncio.create_task(
            patient_loop(
                run,
                urls[run.server],
                token,
                stream,
                metrics,
                start_delay_s=stagger_s * i / max(len(runs), 1),
                end_at=end_at,
                behaviour=behaviours[i] if i < len(behaviours) else Behaviour(),
                max_passes=max_passes,
            )
        )
        for i, (run, (_, _, token)) in enumerate(zip(runs, clinic.patients, strict=True))
    ]
    sent = 0
    if screenshot_to is not None:

        async def shot() -> None:
            await asyncio.sleep(stagger_s + 20.0)
            try:
                await asyncio.to_thread(screenshot, urls[-1], clinic.therapist_token, screenshot_to)
                log(f"  screenshot of the Live now page: {screenshot_to}")
            except Exception as exc:  # a picture for the docs: never the benchmark's failure
                log(f"  no screenshot: {exc}")

        tasks.append(asyncio.create_task(shot()))
    if message_at_s is not None:
        await asyncio.sleep(message_at_s)
        ann = clinic.services.clinic.resume(clinic.therapist_token)
        assert ann is not None and ann.role is Role.THERAPIST
        for row in await asyncio.to_thread(clinic.services.monitor.live, ann):
            await asyncio.to_thread(
                clinic.services.monitor.step_in,
                ann,
                row.state.session_id,
                message=f"Well done, {row.patient.name}",
            )
            sent += 1
    hard = max(seconds, stagger_s + stream.duration_s) + 120.0
    _, late = await asyncio.wait(tasks, timeout=hard)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    if late:
        log(f"{len(late)} patients were still running after {hard:.0f} s and were stopped")
    await asyncio.sleep(2.5)  # the monitor's last refresh
    watch = await asyncio.to_thread(watcher.result)
    for m in mons:
        m.mark("end")
    stop_sampling.set()
    await asyncio.gather(*samplers)
    cores = os.cpu_count() or 1
    return LoadResult(
        runs=runs,
        watch=watch,
        delays_s=monitor_delays({r.name: r.counts for r in runs}, watch.seen, time.monotonic()),
        cpu_pct=100.0 * sum(m.cpu_between("start", "end") for m in mons) / cores,
        memory_growth_mb=[(m.rss_at("end") - m.rss_at("start")) / 1e6 for m in mons],
        seconds=time.monotonic() - t_start,
        messages_sent=sent,
    )


def bus_latency(database_url: str, patient_id: str, n: int, rate_per_s: float = 100.0) -> str:
    """The live bus alone: `n` states published by one server at `rate_per_s`, and how
    long each took to reach another server's newest states (two `PostgresLiveBus`es)."""
    from dataclasses import replace

    import sqlalchemy as sa

    from coach.storage.database import open_engine
    from coach.telehealth.postgres import FLUSH_EVERY_S, PostgresLiveBus
    from coach.telehealth.state import LiveState

    engine = open_engine(database_url)
    a, b = PostgresLiveBus(engine), PostgresLiveBus(engine)
    base = LiveState(
        "bench", patient_id, "range_of_motion", "Ankle pumps", "pct_shank", "counting",
        "to_go", 0, 10, 1, 1, 5.0, None, 0.0, 0.0, None, None, True, "side_on", "left",
        ((0.5, 0.4), (0.52, 0.6), (0.5, 0.8), (0.47, 0.83), (0.6, 0.84)), 0.0, 0.0,
    )  # fmt: skip
    delays: list[float] = []
    publish_s: list[float] = []
    try:
        for i in range(n):
            state = replace(base, t_s=float(i), sent_at=time.time(), reps=i % 50)
            t0 = time.perf_counter()
            a.publish(state)
            publish_s.append(time.perf_counter() - t0)
            while True:
                got = b.states([patient_id])
                if got and got[0].t_s >= i:
                    delays.append(time.time() - state.sent_at)
                    break
                if time.time() - state.sent_at > 5.0:
                    delays.append(math.inf)
                    break
                time.sleep(0.0005)
            time.sleep(max(0.0, 1.0 / rate_per_s - (time.time() - state.sent_at)))
    finally:
        a.close()
        b.close()
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM live_states WHERE session_id = 'bench'"))
        engine.dispose()
    return (
        f"bus: {n} states, delivery to another server p50 {1000 * percentile(delays, 0.5):.1f} "
        f"ms, p95 {1000 * percentile(delays, 0.95):.1f} ms (written every "
        f"{1000 * FLUSH_EVERY_S:.0f} ms); publish call {1000 * percentile(publish_s, 0.5):.2f} "
        f"ms"
    )


def report(result: LoadResult, log: Callable[[str], None]) -> None:
    for run in result.runs:
        for p in run.passes:
            if not p.ok:
                log(
                    f"  {run.name} (server {run.server + 1}) pass {p.pass_no}: reps {p.reps}, "
                    f"expected {p.expected}" + (f", error: {p.error}" if p.error else "")
                )
    d = result.delays_s
    log(
        f"  monitor delay (a patient's count on their server -> the therapist's screen): "
        f"p50 {1000 * percentile(d, 0.5):.0f} ms, p95 {1000 * percentile(d, 0.95):.0f} ms, "
        f"max {1000 * max(d, default=math.nan):.0f} ms over {len(d)} counts"
    )
    log(
        f"  servers: cpu {result.cpu_pct:.0f}% of all cores together; memory growth "
        + ", ".join(f"{g:.0f} MB" for g in result.memory_growth_mb)
        + f" over {result.seconds:.0f} s"
    )
    gaps = [b - a for a, b in itertools.pairwise(result.watch.redraws)]
    log(
        f"  the board redrew {len(result.watch.redraws)} times, every "
        f"{percentile(gaps, 0.5):.2f} s (p50), {percentile(gaps, 0.95):.2f} s (p95)"
    )
    if result.messages_sent:
        got = sum(bool(r.notes) for r in result.runs)
        log(f"  messages: {result.messages_sent} sent, {got} patients' screens showed theirs")
    if result.watch.errors:
        log(f"  the monitor page failed: {result.watch.errors[0]}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--servers", type=int, default=2)
    ap.add_argument("--clip", choices=sorted(CLIP_SPECS), default="xbot")
    ap.add_argument("--stagger", type=float, default=10.0, help="seconds over which clients start")
    ap.add_argument("--message", action="store_true", help="send every patient a message")
    ap.add_argument("--database-url", default=None, help="a PostgreSQL server to use")
    ap.add_argument("--keep-logs", type=Path, default=None, help="keep the servers' logs here")
    ap.add_argument("--screenshot", type=Path, default=None, help="a PNG of the monitor page")
    ap.add_argument("--bus", type=int, default=0, help="first time the bus alone: N states")
    ap.add_argument("--dump", type=Path, default=None, help="what each screen showed when, as JSON")
    args = ap.parse_args(argv)
    if not 1 <= args.servers <= 8 or not 1 <= args.clients <= 500:
        ap.error("--servers takes 1 to 8 and --clients 1 to 500")
    spec = CLIP_SPECS[args.clip]
    stream = load_stream(spec)
    print(
        f"{args.clients} patients on {args.servers} app servers for {args.seconds:.0f} s, "
        f"one therapist watching; stream {spec.path}: {stream.duration_s:.0f} s a pass, "
        f"{stream.true_reps} reps"
    )
    with (
        tempfile.TemporaryDirectory(prefix="coach-live-load-") as tmp,
        postgres(args.database_url) as url,
    ):
        work = Path(args.keep_logs or tmp)
        work.mkdir(parents=True, exist_ok=True)
        clinic = make_clinic(Path(tmp) / "data", url, args.clients)
        if args.bus:
            print(bus_latency(url, clinic.patients[0][0], args.bus))
        with contextlib.ExitStack() as stack:
            servers = [
                stack.enter_context(
                    app_server(
                        work / f"server-{k + 1}.log",
                        env={
                            "COACH_DATABASE_URL": url,
                            "COACH_DATA_DIR": str(Path(tmp) / "data"),
                            "COACH_SERVER_NAME": f"server-{k + 1}",
                        },
                    )
                )
                for k in range(args.servers)
            ]
            result = asyncio.run(
                run_live_load(
                    [s.url for s in servers],
                    [s.proc.pid for s in servers],
                    clinic,
                    stream,
                    args.seconds,
                    stagger_s=args.stagger,
                    message_at_s=min(30.0, args.seconds / 2) if args.message else None,
                    screenshot_to=args.screenshot,
                )
            )
        clinic.services.monitor.close()
        clinic.services.store.close()
    report(result, print)
    if args.dump is not None:
        import json

        args.dump.write_text(
            json.dumps(
                {
                    "seen": result.watch.seen,
                    "counts": {r.name: r.counts for r in result.runs},
                    "redraws": result.watch.redraws,
                }
            )
        )
    print(result.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
