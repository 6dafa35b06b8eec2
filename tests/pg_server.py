"""A throwaway PostgreSQL server for the storage tests (the Debian `postgresql` package).

`initdb` into a temporary folder, start on a free local port with fsync off, yield
its URL, stop it (immediately) and delete the folder, also when a test fails.
PostgreSQL refuses to run as root, so as root everything runs as the `postgres` user
through `runuser`. `COACH_TEST_POSTGRES_URL` points the tests at an existing server
instead (it must allow CREATE DATABASE).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

NOT_INSTALLED = "PostgreSQL is not installed: apt-get install postgresql"
USER = "coach"
TEST_DB = "coach_test"


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    digits = bin_dir.parent.name.split(".")
    return tuple(int(d) for d in digits if d.isdigit())


def find_pg_bin() -> Path | None:
    """The newest `/usr/lib/postgresql/<version>/bin` holding initdb and pg_ctl."""
    found = [
        p
        for p in Path("/usr/lib/postgresql").glob("*/bin")
        if (p / "initdb").is_file() and (p / "pg_ctl").is_file()
    ]
    return max(found, key=_version_key) if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def as_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class PgError(RuntimeError):
    """The throwaway server could not be made or started (the message says why)."""


class _Runner:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.as_root = os.geteuid() == 0
        if self.as_root and shutil.which("runuser") is None:
            raise PgError("running as root needs runuser (util-linux) to start PostgreSQL")

    def run(self, tool: str, *args: str, timeout: float = 120) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd="/",
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
        )
        if done.returncode != 0:
            raise PgError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}")


def _create_database(url: str, name: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """Start a throwaway server; yield the URL of its empty `coach_test` database."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise PgError(NOT_INSTALLED)
    runner = _Runner(bin_dir)
    base = Path(tempfile.mkdtemp(prefix="coach-pg-"))
    data = base / "data"
    log = base / "server.log"
    started = False
    try:
        if runner.as_root:
            shutil.chown(base, user="postgres", group="postgres")
        runner.run(
            "initdb",
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            USER,
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        port = 0
        last = PgError("pg_ctl did not start the server")
        for _attempt in range(3):
            port = free_port()
            options = f"-k {base} -h 127.0.0.1 -p {port} -c fsync=off"
            try:
                # -l: the server must not inherit our pipes, or waiting for pg_ctl hangs.
                runner.run("pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
            except PgError as error:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                last = PgError(f"{error}\n{tail}")
                continue
            started = True
            break
        if not started:
            raise last
        admin = f"postgresql+psycopg://{USER}@127.0.0.1:{port}/postgres"
        _create_database(admin, TEST_DB)
        yield f"postgresql+psycopg://{USER}@127.0.0.1:{port}/{TEST_DB}"
    finally:
        if started:
            with contextlib.suppress(PgError, subprocess.TimeoutExpired):
                runner.run("pg_ctl", "-D", str(data), "stop", "-m", "immediate", timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """The configured test server (COACH_TEST_POSTGRES_URL), else a throwaway one."""
    configured = os.environ.get("COACH_TEST_POSTGRES_URL", "").strip()
    if configured:
        yield as_url(configured)
        return
    with running_postgres() as url:
        yield url


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server for one test; dropped afterwards.

    Dispose every engine on it before leaving (DROP ... WITH (FORCE) ends stragglers).
    """
    url = sa.make_url(server_url)
    name = f"coach_t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
