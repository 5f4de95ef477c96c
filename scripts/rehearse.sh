#!/usr/bin/env bash
# The paper rehearsal: build the fixtures (tests/rehearsal/, seeded, offline), then run the paper profile's DAG on
# them at the tiny sizes of workflow/rehearsal.yaml. Outputs: results/rehearsal/ (never the thesis's numbers).
# Usage: bash scripts/rehearse.sh [--variant NAME] [snakemake targets, default: every chapter] [-- extra snakemake options]
#   --variant NAME: a variant of the paper profile (workflow/variants/NAME.yaml, merged after the rehearsal's sizes),
#   e.g. sketchydepth_256 (appendix A.1.6); outputs under results/rehearsal-NAME/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
export PATH="$PWD/.venv/bin:$PATH"
inputs=results/rehearsal/inputs
# the weights caches a user has, pointed at the fixtures: Hugging Face's (open_clip's CLIP files) and torch hub's
export HF_HUB_OFFLINE=1 HF_HOME="$PWD/$inputs/huggingface" TORCH_HOME="$PWD/$inputs/torch"
# each machine's own fastest CPU kernels (sketch3d.numerics): the rehearsal's numbers mean nothing, so the
# cross-CPU pins (oneDNN off in training, ~1.6x slower) buy it nothing; a user's setting is kept
export SKETCH3D_NATIVE_KERNELS="${SKETCH3D_NATIVE_KERNELS:-1}"
targets=() extra=() configs=(workflow/rehearsal.yaml)
if [ "${1:-}" = "--variant" ]; then
  [ -f "workflow/variants/${2:-}.yaml" ] || { echo "rehearse.sh: no variant ${2:-} (workflow/variants/*.yaml)" >&2; exit 2; }
  configs+=("workflow/variants/$2.yaml"); shift 2
fi
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
  targets+=("$1"); shift
done
[ ${#targets[@]} -gt 0 ] || targets=(retrieval sketchydepth reconstruction netspace)
start=$(date +%s)
python tests/rehearsal/build.py --out "$inputs"
mkdir -p results/rehearsal
cat > results/rehearsal/REHEARSAL.md <<'NOTE'
# A rehearsal, not a result

Everything under results/rehearsal/ comes from `bash scripts/rehearse.sh`: the paper profile's rules run on
fixtures laid out like the real inputs (tests/rehearsal/), at tiny sizes, with random weights. It shows that the
paper path runs; its numbers mean nothing.
NOTE
# targets first: --configfile takes every word after it, targets included
snakemake "${targets[@]}" --cores "${REHEARSAL_CORES:-all}" --configfile "${configs[@]}" "${extra[@]}"
echo "rehearsal of ${targets[*]}: $(( $(date +%s) - start )) s"
