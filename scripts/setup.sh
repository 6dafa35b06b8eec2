#!/usr/bin/env bash
# Shared set-up for run-app.sh and run-tests.sh: a virtualenv in .venv with exactly the
# packages of a lock file (every package pinned, with hashes: see scripts/relock.sh).
# pip runs only when the lock changed since the last install into this .venv. (The app's
# lock is the tests' lock less the test tools, at the same versions — relock.sh makes them
# so — so installing one never invalidates the other's stamp.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LOCK=${1:-requirements.lock}
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is needed (found: $("$PY" --version 2>&1)); set PYTHON=python3.x" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=".venv/.installed-$(basename "$LOCK").sha256"
want=$(sha256sum "$LOCK" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing the packages pinned in $LOCK ..." >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    --require-hashes --no-deps -r "$LOCK"
  echo "$want" >"$stamp"
fi

# On-device pose: MediaPipe's web Pose Landmarker at the version locked in
# web/package-lock.json, from the npm registry, published into static/ for the app to
# serve (coach/web_assets.py). Without npm the app still runs, with server-side pose only.
if [ ! -f web/package-lock.json ]; then
  :  # a copy of the scripts without the web folder (the set-up script's own test)
elif command -v npm >/dev/null; then
  wstamp="web/node_modules/.installed-lock.sha256"
  wwant=$(sha256sum web/package-lock.json | cut -d' ' -f1)
  if [ "$(cat "$wstamp" 2>/dev/null)" != "$wwant" ]; then
    echo "installing the web pose landmarker pinned in web/package-lock.json ..." >&2
    (cd web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$wwant" >"$wstamp"
  fi
  .venv/bin/python -m coach.web_assets >/dev/null
else
  echo "npm not found: live coaching will run the pose model on the server only" \
    "(install Node.js and npm for on-device pose)" >&2
fi

# Offline/CI: use a folder of ready model bundles when one sits beside the repo.
if [ -z "${COACH_MODELS_DIR:-}" ] && [ -d ../shared/models ]; then
  COACH_MODELS_DIR="$(cd ../shared/models && pwd)"
  export COACH_MODELS_DIR
fi
