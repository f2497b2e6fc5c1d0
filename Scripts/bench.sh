#!/usr/bin/env bash
# Benchmarks (not tests): the attention kernel beside OpenBLAS sgemm, measured in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh
source Scripts/env.sh
swift build -c release
.build/release/spsim bench --kernels "$@"
