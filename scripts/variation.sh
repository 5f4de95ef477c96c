#!/usr/bin/env bash
# How much a table moves by chance: runs the table again with other seeds and, on this machine made to behave as an
# AVX2-only CPU (oneDNN and MKL capped at AVX2), with the profile's own seed; then `snakemake variation` sets each
# beside the profile's own run (sketch3d.report.variation; the pages are in the report).
#   bash scripts/variation.sh [--profile demo] [--seeds "1 2"] [--no-cpu] TABLE [TABLE ...]
# e.g. bash scripts/variation.sh 3.1 4.8
# The runs write results/<profile>-seed<N>/ and results/<profile>-cpu_avx2emu/ (variants, sketch3d.config.results_dir);
# their tables' JSON are small and kept in git (.gitignore lets them through), so that the pages can be rebuilt
# anywhere. Each run builds what the table needs from scratch: the demo's Table 3.1 ~5 min on 2 cores, 4.8 ~18.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
profile=demo seeds="1 2" cpu=1 tables=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --no-cpu) cpu=0; shift ;;
    -*) echo "variation.sh: unknown option $1" >&2; exit 2 ;;
    *) tables+=("$1"); shift ;;
  esac
done
[ ${#tables[@]} -gt 0 ] || { echo "variation.sh: name the tables, e.g. 3.1 4.8" >&2; exit 2; }
seed=$(python -c "import sys; from sketch3d.config import load_params; print(load_params(overrides={'profile': sys.argv[1]})['seed'])" "$profile")
run() {  # run VARIANT SEED: the tables in results/<profile>-<variant>/
  local variant="$1" s="$2" targets=()
  for t in "${tables[@]}"; do targets+=("results/$profile-$variant/tables/table_${t//./_}.json"); done
  snakemake --cores all --config profile="$profile" seed="$s" variant="$variant" -- "${targets[@]}"
}
for s in $seeds; do
  [ "$s" != "$seed" ] || { echo "variation.sh: seed $s is the profile's own" >&2; exit 2; }
  run "seed$s" "$s"
done
if [ "$cpu" = 1 ]; then
  # the same seed with oneDNN's and MKL's kernels at the AVX2 level (PyTorch's own are pinned there already:
  # sketch3d.numerics): on an AVX-512 machine, what an AVX2-only CPU computes
  ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 run cpu_avx2emu "$seed"
fi
snakemake --cores all --config profile="$profile" -- variation
