#!/usr/bin/env bash
# One simulation: runs `spsim run` under SimGrid SMPI on a topology exported as a SimGrid
# platform, and prints the simulated forward, backward and step time of every rank beside
# the cost model's closed form for the same topology.
#
#   Scripts/simulate.sh [--topology T] [--np N] [--json] [--rebuild] -- <spsim run arguments>
#
#   --topology T   the simulated cluster, by name (Topologies/T.json) or file (default toy)
#   --np N         simulated ranks (default 8); N must fit the topology
#   --json         print the run's JSON object instead ("simulated": true, "simulation"
#                  with per-rank simulated times and the collectives, "model" for T)
#   --rebuild      rebuild spsim and the SMPI library even if they exist
#
# The SMPI library (.build-smpi/release/libSPSimSMPI.so) and spsim (.build/release/spsim)
# are built when missing or older than a source file. The platform carries the topology,
# so the run's default --topology is T; SMPI's network model, the collective algorithms
# and the device's FLOP rate come from the platform too (see Sources/CostModel/SimGridPlatform.swift).
# Example: Scripts/simulate.sh --topology h100x4-ndr --np 32 -- --strategy ring --seq-len 4096 \
#          --heads 8 --head-dim 64 --causal --layout zigzag --backward
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
topology=toy np=8 json=0 rebuild=0
while [ $# -gt 0 ]; do
    case "$1" in
        --topology) [ $# -ge 2 ] || { echo "error: --topology needs a value" >&2; exit 2; }; topology="$2"; shift 2 ;;
        --np) [ $# -ge 2 ] || { echo "error: --np needs a value" >&2; exit 2; }; np="$2"; shift 2 ;;
        --json) json=1; shift ;;
        --rebuild) rebuild=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        *) echo "error: unknown option $1 (usage: Scripts/simulate.sh [--topology T] [--np N] [--json] [--rebuild] -- <spsim run arguments>)" >&2; exit 2 ;;
    esac
done
case "$np" in ''|*[!0-9]*|0*) echo "error: --np must be a positive integer (got '$np')" >&2; exit 2 ;; esac
if ! command -v smpirun >/dev/null; then
    echo "error: smpirun not found: install SimGrid (Scripts/install-deps.sh installs libsimgrid-dev and simgrid)" >&2
    exit 2
fi
# shellcheck source=env.sh
source "$root/Scripts/env.sh"
export SPSIM_TOPOLOGIES="${SPSIM_TOPOLOGIES:-$root/Topologies}"
lib="$root/.build-smpi/release/libSPSimSMPI.so" spsim="$root/.build/release/spsim"
# Built when missing or older than a source file (so an edit is never simulated stale).
stale() { [ "$rebuild" -eq 1 ] || [ ! -e "$1" ] || [ -n "$(find -H "$root/Sources" "$root/Package.swift" -newer "$1" -print -quit)" ]; }
if stale "$spsim"; then (cd "$root" && swift build "${spsim_build_flags[@]}" --product spsim >&2); fi
if stale "$lib"; then
    (cd "$root" && SPSIM_SMPI=1 swift build -c release --scratch-path .build-smpi --product SPSimSMPI >&2)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The export's own errors name its --ranks; this script's option is --np.
if ! "$spsim" topology export "$topology" --platform "$work/platform.xml" --hostfile "$work/hostfile" --ranks "$np" \
        >/dev/null 2>"$work/export.err"; then
    sed 's/--ranks /--np /' "$work/export.err" >&2
    exit 2
fi
# spsim reads --json itself; the table below needs it, so it is always passed.
args=()
for a in "$@"; do [ "$a" = "--json" ] || args+=("$a"); done
status=0
# -no-privatize: the ranks share one copy of the library (spsim keeps no mutable global
# state), instead of one private copy per rank — seconds instead of minutes at 256 ranks.
smpirun -no-privatize -platform "$work/platform.xml" -hostfile "$work/hostfile" -np "$np" \
    --cfg=smpi/display-timing:no --log=root.thres:critical "$lib" run "${args[@]}" --json >"$work/run.json" || status=$?
if [ "$status" -ne 0 ]; then
    # spsim said why on stderr; smpirun echoes its command line and exit code on stdout.
    grep -v -e '^Execution failed with code' -e "^$lib " "$work/run.json" >&2 || true
    exit "$status"
fi
if [ "$json" -eq 1 ]; then
    cat "$work/run.json"
    exit 0
fi
python3 - "$work/run.json" <<'EOF'
import json, sys
run = json.load(open(sys.argv[1]))
sim, model = run["simulation"], run.get("model")
def fmt(s):
    if s is None: return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(s) >= scale or unit == "µs": return f"{s / scale:.4g} {unit}"
fwd, bwd = sim["forward_seconds"], sim.get("backward_seconds")
print(f"{run['strategy']} on {run['ranks']} simulated ranks of {sim.get('topology')}: N={run['seq_len']} "
      f"H={run['heads']} D={run['head_dim']} {run['layout']}" + (" causal" if run.get("causal") else ""))
rows = [("rank", "sim fwd", "model fwd", "sim bwd", "model bwd", "sim step", "model step")]
for r in range(run["ranks"]):
    mf = model["forward"]["seconds"][r] if model else None
    mb = model["backward"]["seconds"][r] if model and bwd else None
    sb = bwd[r] if bwd else None
    rows.append((str(r), fmt(fwd[r]), fmt(mf), fmt(sb), fmt(mb), fmt(fwd[r] + (sb or 0)),
                 fmt(mf + (mb or 0)) if mf is not None else "-"))
sf, sb = max(fwd), (max(bwd) if bwd else 0)
mf = max(model["forward"]["seconds"]) if model else None
mb = max(model["backward"]["seconds"]) if model and bwd else None
rows.append(("slowest", fmt(sf), fmt(mf), fmt(sb if bwd else None), fmt(mb), fmt(sf + sb),
             fmt(mf + (mb or 0)) if mf is not None else "-"))
widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
for i, row in enumerate(rows):
    print("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(row, widths))))
    if i == 0: print("  ".join("-" * w for w in widths))
if mf:
    print(f"simulated / model: forward {sf / mf:.3f}" + (f", backward {sb / mb:.3f}" if mb else "")
          + f", step {(sf + sb) / (mf + (mb or 0)):.3f}")
print("collectives: " + ", ".join(f"{k} {v}" for k, v in sorted(sim["collectives"].items())))
if run.get("errors") is not None:
    print("verify: " + ("passed" if run.get("passed") else "FAILED") + " (" +
          ", ".join(f"{k} {v:.2e}" for k, v in sorted(run["errors"].items())) + ")")
EOF
exit "$status"
