#!/usr/bin/env bash
# Benchmarks (not tests), each beside its yardstick measured in the same run:
#   1. the BLAS spsim runs (library and kernel core), then the attention and GLA kernels beside
#      cblas_sgemm and beside numpy's single-thread sgemm on the same products;
#   2. the scan collectives under mpirun at 2 and at RANKS (4) ranks, each beside the
#      transport's own ping-pong of the same bytes ("wire" = fraction of it reached).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh
source Scripts/env.sh
swift build -c release
# numpy's sgemm on its own OpenBLAS and its own choice of core (no spsim override).
numpy=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 Scripts/numpy_sgemm.py)
.build/release/spsim bench --kernels --reference-sgemm-gflops "$numpy" "$@"
# The scan collectives of linear attention side by side (All-Scan at several K, MPI_Exscan,
# all-gather + prefix, the serial chain), 1 to 64 MiB states: at P = 2 (All-Scan against the
# ping-pong of the same bytes plus one memcpy) and at P = RANKS (All-Scan against MPI_Exscan).
mpirun --quiet -np 2 .build/release/spsim bench --min-bytes 1048576 --blocks 1,4,16
mpirun --quiet -np "${RANKS:-4}" .build/release/spsim bench --min-bytes 1048576
