#!/usr/bin/env bash
# First thing on a GPU machine, before a real paper run: the paper rehearsal (scripts/rehearse.sh: every paper rule
# on fixtures at tiny sizes) from a clean results/rehearsal/, with its GPU rules on CUDA, then one line per GPU job:
# rule, job, device, seconds, peak CUDA memory (each GPU job logs them when it gives its device back).
# It fails if no CUDA device is visible or if a GPU job ran on the CPU.
# Usage: bash scripts/gpu_check.sh [targets, default every chapter]   (GPUS=<n> limits concurrent GPU jobs, default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
.venv/bin/python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else
  "gpu_check: torch sees no CUDA device (torch " + torch.__version__ + "); run it on a GPU machine, in the GPU install of the README")'
# every job again, the fixtures kept
find results/rehearsal -mindepth 1 -maxdepth 1 ! -name inputs -exec rm -rf {} + 2>/dev/null || true
bash scripts/rehearse.sh "$@" -- --resources gpu="${GPUS:-1}"
.venv/bin/python scripts/gpu_report.py results/rehearsal/logs
