#!/usr/bin/env bash
# Benchmarks (not tests), each beside its yardstick measured in the same run:
#   1. the BLAS spsim runs (library and kernel core), then the attention and GLA kernels beside
#      cblas_sgemm and beside numpy's single-thread sgemm on the same products;
#   2. the scan collectives under mpirun at 2 and at RANKS (4) ranks, each beside the
#      transport's own ping-pong of the same bytes ("wire" = fraction of it reached);
#   3. --verify's float64 reference beside the distributed run it checks;
#   4. a training step of the tiny model beside sgemm, parallel efficiency, the planner's speed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh
source Scripts/env.sh
swift build "${spsim_build_flags[@]}"
# numpy's sgemm on its own OpenBLAS and its own choice of core (no spsim override), just before
# the kernels and again after them: on a machine whose speed drifts, the two show how far the
# ratios to numpy can be trusted (the ratios to cblas_sgemm come from the same rounds).
numpy_sgemm() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 Scripts/numpy_sgemm.py; }
numpy=$(numpy_sgemm)
.build/release/spsim bench --kernels --reference-sgemm-gflops "$numpy" "$@"
echo "numpy's sgemm: $numpy GFLOP/s before the kernels, $(numpy_sgemm 2>/dev/null) after"
# The scan collectives of linear attention side by side (All-Scan at several K, MPI_Exscan,
# all-gather + prefix, the serial chain), 1 to 64 MiB states: at P = 2 (All-Scan against the
# ping-pong of the same bytes plus one memcpy) and at P = RANKS (All-Scan against MPI_Exscan).
mpirun --quiet -np 2 .build/release/spsim bench --min-bytes 1048576 --blocks 1,4,16
mpirun --quiet -np "${RANKS:-4}" .build/release/spsim bench --min-bytes 1048576
# --verify beside the run it checks: the README's first example as written (N = 8192, H = 8, G = 2,
# D = 64, P = 4, causal zigzag, backward, --repeat 3), run with and without it. Prints what --verify
# adds to the command's wall time, and the float64 reference's own time beside one forward + backward.
python3 - mpirun --quiet -np 4 .build/release/spsim run --strategy allgather --seq-len 8192 --heads 8 \
    --kv-heads 2 --head-dim 64 --causal --layout zigzag --backward --repeat 3 --json <<'EOF'
import json, subprocess, sys, time
def run(extra):
    start = time.monotonic()
    out = subprocess.run(sys.argv[1:] + extra, capture_output=True, text=True, check=True).stdout
    return time.monotonic() - start, json.loads(out)
plain, _ = run([])
checked, r = run(["--verify"])
kernels = r["forward_seconds"] + r["backward_seconds"]
print(f"--verify: adds {checked - plain:.2f} s to the run's {plain:.2f} s wall time ({(checked - plain) / plain:.2f}x); "
      f"its float64 reference {r['verify_seconds']:.2f} s, {r['verify_seconds'] / kernels:.2f}x the run's forward + backward ({kernels:.2f} s)")
EOF
# One training step of the tiny model at N = 4096 on one rank beside the best single-thread
# sgemm of the same run; then the parallel efficiency T(1) / (2·T(2)) of ring and ulysses at P = 2
# (median step time of 5 steps after the first).
.build/release/spsim bench --train --repeat 3
step_seconds() { python3 -c 'import json,sys; r=json.load(sys.stdin); import statistics as s; print(s.median([4096/t for t in r["tokens_per_second"][1:]]))'; }
one=$(.build/release/spsim train --seq-len 4096 --steps 6 --json 2>/dev/null | step_seconds)
for strategy in ring ulysses; do
    two=$(mpirun --quiet -np 2 .build/release/spsim train --strategy "$strategy" --layout zigzag --seq-len 4096 --steps 6 --json 2>/dev/null | step_seconds)
    python3 -c "print(f'$strategy: one rank {$one:.3f} s/step, two ranks {$two:.3f} s/step, parallel efficiency {$one / (2 * $two):.2f}')"
done
# The planner's search (targets: under 2 s at a fixed N, under 10 s for --max-seq-len), GPUs 8..1024.
.build/release/spsim plan --model llama3-70b --topology h100x128-ndr --gpus 8..1024 --seq-len 1M --time > /dev/null
.build/release/spsim plan --model llama3-70b --topology h100x128-ndr --gpus 8..1024 --max-seq-len --time > /dev/null
