#!/usr/bin/env bash
# Installs what is missing, builds spsim, and runs every test (unit tests and the MPI
# tests that launch `mpirun -np P spsim …` for P = 1, 2, 3, 4, 5, 8, and the SMPI tests under smpirun).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh
source Scripts/env.sh
# One release build of everything, tests included (the kernels are SIMD code that a debug
# build runs far too slowly); `swift test --skip-build` then runs exactly what was built, so
# nothing is compiled twice. The end-to-end tests launch the same .build/release/spsim.
flags=("${spsim_build_flags[@]}")
swift build "${flags[@]}" --build-tests
# The SMPI build of the same code (SMPITests run it under smpirun; nothing builds inside swift test).
SPSIM_SMPI=1 swift build -c release --scratch-path .build-smpi --product SPSimSMPI
export SPSIM_SMPI_LIB="$PWD/.build-smpi/release/libSPSimSMPI.so"
# Test cases run in parallel worker processes, one per core and at least two: most of an
# end-to-end test's time is mpirun and orted starting up, not compute, so two at a time on
# two cores take about 0.6 of the serial time. A failing case's output is printed whole.
workers=$(( $(nproc) > 2 ? $(nproc) : 2 ))
start=$(date +%s)
swift test "${flags[@]}" --skip-build --disable-swift-testing --parallel --num-workers "$workers" "$@"
echo "test suite: $(( $(date +%s) - start )) s (after the build)"
