"""`scripts/setup.sh`, as run-app.sh and run-tests.sh use it: installs exactly a lock file,
checks its hashes, and skips pip when the lock has not changed since the last install.

Runs the real script on a real (small) lock in a scratch copy of the scripts folder, with a
real virtualenv and pip against the package registry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

SIX_LOCK = """six==1.16.0 \\
    --hash=sha256:1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926 \\
    --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254
"""


def _setup(project: Path, lock: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(
        ["bash", "scripts/setup.sh", lock],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_installs_the_lock_then_skips_pip_until_it_changes(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    lock = tmp_path / "small.lock"
    lock.write_text(SIX_LOCK)

    first = _setup(tmp_path, "small.lock")
    assert first.returncode == 0, first.stderr
    assert "installing the packages pinned in small.lock" in first.stderr
    python = tmp_path / ".venv" / "bin" / "python"
    check = subprocess.run(
        [str(python), "-c", "import six; print(six.__version__)"], capture_output=True, text=True
    )
    assert check.stdout.strip() == "1.16.0"

    again = _setup(tmp_path, "small.lock")
    assert again.returncode == 0, again.stderr
    assert "installing" not in again.stderr  # the lock did not change: no pip at all

    lock.write_text(SIX_LOCK + "# a comment changes the lock's digest\n")
    changed = _setup(tmp_path, "small.lock")
    assert changed.returncode == 0, changed.stderr
    assert "installing the packages pinned in small.lock" in changed.stderr


def test_a_wrong_hash_is_refused(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    bad = SIX_LOCK.replace("1e61c374", "0e61c374").replace("8abb2f1d", "0abb2f1d")
    (tmp_path / "bad.lock").write_text(bad)
    done = _setup(tmp_path, "bad.lock")
    assert done.returncode != 0
    assert "HASH" in done.stderr.upper()
    assert not (tmp_path / ".venv" / ".installed-bad.lock.sha256").exists()
