#!/usr/bin/env bash
# The main job on a small default problem: build, run and verify the strategies under
# mpirun on 4 ranks, forward and backward (softmax, then gated linear attention), the scan
# collectives benchmark, then the verification matrix.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/install-deps.sh
source Scripts/env.sh
swift build "${spsim_build_flags[@]}"
spsim=".build/release/spsim"
ranks=${RANKS:-4}
strategies() { "$spsim" strategies | awk -v kind="$1" 'NR > 2 && $2 == kind { print $1 }'; }
for strategy in $(strategies softmax); do
    echo "== $strategy, $ranks ranks, N=2048 H=8 G=2 D=64 causal zigzag, forward + backward, verified"
    mpirun --quiet -np "$ranks" "$spsim" run --strategy "$strategy" --seq-len 2048 --heads 8 --kv-heads 2 \
        --head-dim 64 --causal --layout zigzag --backward --verify
done
for strategy in $(strategies gla); do
    echo "== GLA $strategy, $ranks ranks, N=2048 H=4 Dk=Dv=64, forward + backward, verified"
    mpirun --quiet -np "$ranks" "$spsim" run --attention gla --strategy "$strategy" --seq-len 2048 --heads 4 \
        --head-dim 64 --backward --verify
done
echo "== the scan collectives of linear attention side by side, $ranks ranks"
mpirun --quiet -np "$ranks" "$spsim" bench --max-bytes 4194304
echo "== every strategy over the built-in verification matrix on 3 ranks"
mpirun --quiet -np 3 "$spsim" verify | tail -n 1
echo "== the cost model: every strategy on 8M tokens, 8 to 256 H100 GPUs (no MPI; the README section "How communication scales" explains it)"
"$spsim" model --topology h100x32-ndr --seq-len 8M --ranks 8..256 --heads 64 --kv-heads 8 --head-dim 128 --causal
echo "== spsim plan: Llama-3-8B on one 8-GPU H100 node: which scheme, how long a sequence fits, how fast"
"$spsim" plan --model llama3-8b --topology hgx-h100 --gpus 8 --seq-len 1M --top 5
"$spsim" plan --model llama3-8b --topology hgx-h100 --gpus 1..8 --max-seq-len
echo "== spsim train: the tiny model, 200 steps on 2 ranks, softmax under ring (zigzag) and GLA under ZeCO"
mkdir -p out
mpirun --quiet -np 2 "$spsim" train --strategy ring --layout zigzag --steps 200 --json > out/train-ring.json
mpirun --quiet -np 2 "$spsim" train --attention gla --strategy zeco --steps 200 --json \
    --plot out/train-loss.svg --plot-also out/train-ring.json > out/train-zeco.json
python3 - out/train-ring.json out/train-zeco.json <<'PY'
import json, sys
for path in sys.argv[1:]:
    r = json.load(open(path))
    print(f"{r['strategy']:>5} ({r['attention']}): loss {r['losses'][0]:.3f} at step 1 -> {r['losses'][-1]:.3f} "
          f"at step {r['steps']}; unigram entropy of the text {r['unigram_entropy']:.3f} nats")
PY
echo "loss curves: out/train-loss.svg"
