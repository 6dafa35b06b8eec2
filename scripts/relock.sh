#!/usr/bin/env bash
# Take upgrades: re-resolve both lock files to the newest releases that requirements.txt
# and requirements-dev.txt allow (with hashes, for every platform, Python 3.11+), then
# install them and run every test. Commit the two lock files only when the tests pass.
# `bash scripts/relock.sh mediapipe` upgrades just that package (and what it needs).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh requirements-dev.lock   # brings the lock tool, uv

upgrade=(--upgrade)
if [ $# -gt 0 ]; then
  upgrade=()
  for pkg in "$@"; do upgrade+=(--upgrade-package "$pkg"); done
fi
compile=(.venv/bin/uv pip compile --quiet --generate-hashes --universal --python-version 3.11)
"${compile[@]}" "${upgrade[@]}" requirements-dev.txt -o requirements-dev.lock
# The app's lock takes the same versions as the tests' lock: what is tested is what runs.
"${compile[@]}" requirements.txt -c requirements-dev.lock -o requirements.lock
git --no-pager diff --stat -- requirements.lock requirements-dev.lock 2>/dev/null || true
exec bash scripts/run-tests.sh
