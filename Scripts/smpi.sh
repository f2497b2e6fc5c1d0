#!/usr/bin/env bash
# Simulates a larger cluster than this machine: builds spsim for SimGrid SMPI (the same Swift
# code, CMPI compiled against smpi/mpi.h), exports a topology as a SimGrid platform, and runs
# a strategy on it with smpirun.
#
#   Scripts/smpi.sh [--topology NAME] [--np N] [--no-build] [-- spsim run arguments…]
#
# Defaults: topology toy, 16 ranks, ring attention, verified forward and backward.
# The simulated times come from the platform; the data, outputs and ledger are real.
set -euo pipefail
cd "$(dirname "$0")/.."
topology=toy np=16 build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --topology) topology="$2"; shift 2 ;;
        --np) np="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        --) shift; break ;;
        *) echo "error: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
if [ $# -eq 0 ]; then
    set -- --strategy ring --seq-len 256 --heads 4 --head-dim 16 --causal --layout zigzag --backward --verify --json
fi
# The model's prediction beside the simulated run uses the same topology, unless one is given.
case " $* " in *" --topology "*) ;; *) set -- "$@" --topology "$topology" ;; esac
if ! command -v smpirun >/dev/null || ! dpkg-query -W -f='${Status}' libsimgrid-dev 2>/dev/null | grep -q "install ok installed"; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends libsimgrid-dev simgrid
fi
source Scripts/env.sh
lib=.build-smpi/release/libSPSimSMPI.so
if [ "$build" -eq 1 ]; then
    SPSIM_SMPI=1 swift build -c release --scratch-path .build-smpi --product SPSimSMPI >&2
    swift build "${spsim_build_flags[@]}" >&2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.build/release/spsim topology export "$topology" --platform "$work/platform.xml" --hostfile "$work/hostfile" --ranks "$np"
# Quiet SimGrid's banner; everything spsim prints goes through unchanged.
smpirun -no-privatize -platform "$work/platform.xml" -hostfile "$work/hostfile" -np "$np" \
    --cfg=smpi/display-timing:no --log=root.thres:critical "$lib" run "$@"
