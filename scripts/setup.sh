#!/usr/bin/env bash
# Shared set-up for run-app.sh and run-tests.sh: a virtualenv with the project's
# Python packages, and (for the tests) Chromium + ffmpeg from the system's packages.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r "${1:-requirements.txt}"

# Offline/CI: use a folder of ready model bundles when one sits beside the repo.
if [ -z "${COACH_MODELS_DIR:-}" ] && [ -d ../shared/models ]; then
  export COACH_MODELS_DIR="$(cd ../shared/models && pwd)"
fi
