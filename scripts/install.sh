#!/usr/bin/env bash
# Set up nco in ./.venv (idempotent): the CPU torch first, pinned, so that nothing pulls a CUDA build,
# then nco itself (editable) with its test tools, all within constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip_q() { .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; }
pip_q -c constraints.txt torch
pip_q -c constraints.txt -e ".[test]"
echo "nco installed in $(pwd)/.venv"
