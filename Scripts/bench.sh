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
# The planner's search (targets: under 2 s at a fixed N, under 10 s for --max-seq-len), GPUs 8..1024.
.build/release/spsim plan --model llama3-70b --topology h100x128-ndr --gpus 8..1024 --seq-len 1M --time > /dev/null
.build/release/spsim plan --model llama3-70b --topology h100x128-ndr --gpus 8..1024 --max-seq-len --time > /dev/null
