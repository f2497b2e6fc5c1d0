#!/usr/bin/env bash
# Benchmarks (not tests): the attention kernel beside OpenBLAS sgemm, measured in one run, then
# the scan collectives under mpirun.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh
source Scripts/env.sh
swift build -c release
.build/release/spsim bench --kernels "$@"
# The scan collectives of linear attention side by side (All-Scan at several K, MPI_Exscan,
# all-gather + prefix, the serial chain), 4 KiB to 64 MiB states, under mpirun.
mpirun --quiet -np "${RANKS:-4}" .build/release/spsim bench
