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

# Offline/CI: use a folder of ready model bundles when one sits beside the repo.
if [ -z "${COACH_MODELS_DIR:-}" ] && [ -d ../shared/models ]; then
  COACH_MODELS_DIR="$(cd ../shared/models && pwd)"
  export COACH_MODELS_DIR
fi
