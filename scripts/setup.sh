#!/usr/bin/env bash
# Create .venv with the pinned stack (requirements/pins.txt, CPU torch on this project's machines) and the sketch3d package (idempotent, offline-safe
# once the wheels are in pip's cache). Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
  echo "sketch3d needs Python 3.11 (bpy 5.0.1 is built for it); found $("$PY" --version)" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.sketch3d-requirements.sha256
want=$(cat requirements/pins.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements/pins.txt
  .venv/bin/python -m pip install --quiet --no-deps -e .
  echo "$want" > "$stamp"
fi
# The package's bytecode, written here once: where PYTHONDONTWRITEBYTECODE is set (this machine's environment sets
# it) no job writes it, and each of a run's hundreds of short jobs compiled the modules it imports again
# (~0.2 s a job, measured). A stale file is never used: Python checks each against its source's time and size.
.venv/bin/python -m compileall -q src >/dev/null
echo "environment ready: $(.venv/bin/python -c 'import torch, sketch3d; print("torch", torch.__version__, "sketch3d", sketch3d.__version__)')"
