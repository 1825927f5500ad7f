#!/usr/bin/env bash
# Set up nco in ./.venv (idempotent): the CPU build of torch first, pinned, so that nothing pulls a CUDA build,
# then nco itself (editable) with its test tools, all within constraints.txt,
# then the OSRM routing engine's official binaries and profiles in .venv/osrm/ (nco osrm build/serve).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip_q() { .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; }

# torch: the CPU build, pinned. A plain `pip install torch` on Linux resolves the CUDA build (several GB), so
# the CPU build is asked for by name: a local wheel where pip is configured with one (find-links), else the
# PyTorch project's CPU wheel index, else (with a clear note) the default index.
TORCH=$(sed -n 's/^torch==//p' constraints.txt)
CPU_INDEX=${NCO_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
torch_is() { .venv/bin/python -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$1')" 2>/dev/null; }
if [ -z "$TORCH" ]; then
  echo "note: constraints.txt pins no torch: keeping the torch you installed" >&2
elif torch_is "$TORCH"; then
  :
else
  wheels=$(mktemp -d)
  if .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --no-index --only-binary=:all: \
      "torch==$TORCH" -d "$wheels" >/dev/null 2>&1; then
    pip_q -c constraints.txt "$wheels"/torch-*.whl
  elif pip_q --index-url "$CPU_INDEX" --timeout 20 --retries 1 "torch==$TORCH"; then
    :
  else
    echo "note: the PyTorch CPU wheel index ($CPU_INDEX) could not be reached; installing torch $TORCH from the" \
      "default index, which on Linux x86_64 is the CUDA build (several GB; it runs on CPUs too)" >&2
    pip_q -c constraints.txt "torch==$TORCH"
  fi
  rm -rf "$wheels"
fi
.venv/bin/python -W ignore -c "import torch; print(f'torch {torch.__version__}:', f'CUDA {torch.version.cuda} build' if torch.version.cuda else 'CPU build')"
pip_q -c constraints.txt -e ".[test,frame]"

# OSRM: the osrm-bindings wheel on PyPI carries the official, statically linked osrm-* binaries.
# Only its bin/ and Lua profiles are kept (the Python bindings are not used); the wheel's Python tag
# does not matter for the binaries, hence --python-version 3.12.
OSRM_VERSION=26.10.0
if .venv/osrm/bin/osrm-routed --version 2>/dev/null | grep -qx "v$OSRM_VERSION"; then
  :
elif [ "$(uname -sm)" != "Linux x86_64" ]; then
  echo "note: OSRM binaries are shipped for Linux x86_64 only; put osrm-routed etc. on PATH (or set NCO_OSRM_BIN) to use nco osrm" >&2
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version 3.12 --platform manylinux_2_28_x86_64 "osrm-bindings==$OSRM_VERSION" -d "$tmp" 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
  .venv/bin/python - "$tmp"/osrm_bindings-"$OSRM_VERSION"-*.whl "$tmp/osrm" <<'PYEOF'
import sys, zipfile
from pathlib import Path

wheel, dest = sys.argv[1], Path(sys.argv[2])
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if info.is_dir() or not name.startswith(("osrm/bin/", "osrm/share/profiles/")):
            continue
        target = dest / name.removeprefix("osrm/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(z.read(info))
        if name.startswith("osrm/bin/"):
            target.chmod(0o755)
PYEOF
  rm -rf .venv/osrm
  mv "$tmp/osrm" .venv/osrm
  .venv/osrm/bin/osrm-routed --version | grep -qx "v$OSRM_VERSION"
fi
echo "nco installed in $(pwd)/.venv (OSRM $(.venv/osrm/bin/osrm-routed --version 2>/dev/null || echo 'not installed'))"
