#!/usr/bin/env bash
# Install everything the tests need, from scratch if necessary, then run them all:
# lint, types, unit, integration (real model on real clips) and the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
[ -x /usr/bin/chromium ] || need+=(chromium)
# On-device pose: npm installs the web Pose Landmarker (web/package-lock.json).
command -v npm >/dev/null || need+=(nodejs npm)
# The storage tests start their own throwaway PostgreSQL server (tests/pg_server.py).
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
# The PDF report's Unicode font.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    # Debian starts a default PostgreSQL cluster on install: the tests do not use it.
    if command -v pg_lsclusters >/dev/null; then
      pg_lsclusters --no-header 2>/dev/null | while read -r ver name _; do
        pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true
      done
    fi
  else
    echo "please install: ${need[*]} (e.g. sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
fi

source scripts/setup.sh requirements-dev.lock
.venv/bin/python -m pip check
.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/mypy coach app.py
exec .venv/bin/python -m pytest "$@"
