#!/usr/bin/env bash
# New user, fresh machine: install, then run the demo profile end to end (offline) and
# build the HTML report. Outputs: results/demo/{tables,figures}/ and results/demo/report.html
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" HF_HUB_OFFLINE=1
snakemake --cores all --config profile=demo
snakemake --cores all --config profile=demo --report results/demo/report.html
echo
cat results/demo/tables/table_3_1.md results/demo/tables/table_4_8.md results/demo/tables/table_B_2.md results/demo/tables/table_4_3.md
echo "Report: results/demo/report.html   Figures: results/demo/figures/"
