#!/usr/bin/env bash
# Installs what is missing, builds spsim, and runs every test (unit tests and the MPI
# tests that launch `mpirun -np P spsim …` for P = 1, 2, 3, 4, 5, 8, and the SMPI tests under smpirun).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh
source Scripts/env.sh
# Release build: the kernels are SIMD code that a debug build runs far too slowly.
swift build -c release -Xswiftc -enable-testing
# The SMPI build of the same code (SMPITests run it under smpirun; nothing builds inside swift test).
SPSIM_SMPI=1 swift build -c release --scratch-path .build-smpi --product SPSimSMPI
export SPSIM_SMPI_LIB="$PWD/.build-smpi/release/libSPSimSMPI.so"
swift test -c release -Xswiftc -enable-testing --disable-swift-testing "$@"
