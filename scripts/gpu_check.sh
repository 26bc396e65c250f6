#!/usr/bin/env bash
# End-to-end check on a machine with an NVIDIA GPU: driver visible, NVML/energy counter reported by `snnbench env`,
# a small suite run on cuda with power measured, and its markdown report.
#
#   scripts/gpu_check.sh                      # results in /tmp/snnbench-gpu-check
#   RESULTS=/path/to/dir scripts/gpu_check.sh
#   SNNBENCH="python -m snnbench.cli" scripts/gpu_check.sh   # if the console script is not on PATH
set -euo pipefail

RESULTS="${RESULTS:-/tmp/snnbench-gpu-check}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUITE="${SUITE:-$REPO_ROOT/suites/gpu_check.yaml}"
read -r -a SNNBENCH_CMD <<<"${SNNBENCH:-snnbench}"

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'gpu_check: error: %s\n' "$*" >&2; exit 1; }

step "1/4 GPUs seen by the driver (nvidia-smi -L)"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi -L || die "nvidia-smi failed: is the NVIDIA driver loaded?"
else
    echo "nvidia-smi not found; continuing (snnbench env reports what NVML sees)"
fi

command -v "${SNNBENCH_CMD[0]}" >/dev/null 2>&1 \
    || die "'${SNNBENCH_CMD[0]}' not found; install the package (pip install -e .) or set SNNBENCH='python -m snnbench.cli'"
[[ -f "$SUITE" ]] || die "suite file not found: $SUITE"

step "2/4 environment (snnbench env)"
"${SNNBENCH_CMD[@]}" env || die "snnbench env failed"

step "3/4 run $SUITE on cuda -> $RESULTS"
"${SNNBENCH_CMD[@]}" run "$SUITE" --device cuda --results "$RESULTS" || die "snnbench run failed (results so far in $RESULTS)"

step "4/4 report"
"${SNNBENCH_CMD[@]}" report "$RESULTS" --format markdown || die "snnbench report failed"

printf '\ngpu_check: OK (results in %s)\n' "$RESULTS"
