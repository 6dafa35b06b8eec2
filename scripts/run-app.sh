#!/usr/bin/env bash
# Install (when requirements.lock changed) and start the coach at http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh requirements.lock
exec .venv/bin/streamlit run app.py --browser.gatherUsageStats=false "$@"
