#!/usr/bin/env python3
"""Independent numpy cross-check of spsim's gated linear attention strategies.

Writes q, k, v, g, do with numpy (so the log-gates come from g.npy, not from spsim's seed),
runs `mpirun -np R spsim run --attention gla --strategy S --inputs DIR --save OUT --backward`
for every linear strategy, and compares o, dq, dk, dv, dg with a plain float64 numpy
recurrence and its hand-written backward (nothing shared with spsim's Swift code).

Per head, with q_t, k_t, g_t in R^Dk and v_t in R^Dv:
    S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t,  S_{-1} = 0,   o_t = q_t S_t.

Prints one line per check and `N passed, M failed`; exits 1 on any failure.
Usage: python3 Scripts/numpy_check_gla.py [--spsim PATH] [--ranks 3] [--mpirun mpirun]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

OUTPUT_TOLERANCE = 1e-4
GRADIENT_TOLERANCE = 1e-3


def forward(q, k, v, g):
    """o [N, H, Dv] and every state: states[t + 1] = S_t, [N + 1, H, Dk, Dv]."""
    n, h, dk = q.shape
    dv = v.shape[2]
    states = np.zeros((n + 1, h, dk, dv))
    o = np.zeros((n, h, dv))
    for t in range(n):
        states[t + 1] = np.exp(g[t])[:, :, None] * states[t] + k[t][:, :, None] * v[t][:, None, :]
        o[t] = np.einsum("hc,hce->he", q[t], states[t + 1])
    return o, states


def backward(q, k, v, g, do):
    """dq, dk, dv, dg by reverse-mode through the recurrence, token by token."""
    n = q.shape[0]
    _, states = forward(q, k, v, g)
    dq, dk, dv, dg = (np.zeros_like(q), np.zeros_like(k), np.zeros_like(v), np.zeros_like(g))
    ds = np.zeros_like(states[0])  # dL/dS_t, accumulated from the later tokens
    for t in reversed(range(n)):
        ds = ds + q[t][:, :, None] * do[t][:, None, :]          # o_t = q_t S_t
        dq[t] = np.einsum("he,hce->hc", do[t], states[t + 1])
        dk[t] = np.einsum("hce,he->hc", ds, v[t])                # S_t ∋ k_t^T v_t
        dv[t] = np.einsum("hc,hce->he", k[t], ds)
        decay = np.exp(g[t])
        dg[t] = decay * np.einsum("hce,hce->hc", ds, states[t])  # S_t ∋ exp(g_t) S_{t-1}
        ds = decay[:, :, None] * ds
    return dq, dk, dv, dg


def relative_error(x, reference):
    scale = max(np.max(np.abs(reference)), 1e-30)
    if not np.all(np.isfinite(x)):
        return float("inf")
    return float(np.max(np.abs(x.astype(np.float64) - reference)) / scale)


def cases(rng):
    """(name, q, k, v, g, do) in float32."""
    def tensors(n, h, dk, dv, g):
        q = rng.uniform(-1, 1, (n, h, dk))
        k = rng.uniform(-1, 1, (n, h, dk))
        v = rng.uniform(-1, 1, (n, h, dv))
        do = rng.uniform(-1, 1, (n, h, dv))
        return [x.astype(np.float32) for x in (q, k, v, g, do)]

    n, h, dk, dv = 37, 2, 5, 3
    yield ("moderate gates N=37", *tensors(n, h, dk, dv, -rng.uniform(0.01, 0.6, (n, h, dk))))
    n = 23
    yield ("near-zero gates (-1e-6) N=23", *tensors(n, h, dk, dv, np.full((n, h, dk), -1e-6)))
    n = 29
    yield ("strongly negative gates (-45..-35) N=29", *tensors(n, h, dk, dv, rng.uniform(-45, -35, (n, h, dk))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--spsim", default=os.path.join(root, ".build", "release", "spsim"))
    parser.add_argument("--ranks", type=int, default=3)
    parser.add_argument("--mpirun", default="mpirun")
    args = parser.parse_args()

    # Every GLA strategy the registry lists (`spsim strategies --json`).
    listing = json.loads(subprocess.run([args.spsim, "strategies", "--json"], check=True,
                                        stdout=subprocess.PIPE, text=True).stdout)
    strategies = [s["name"] for s in listing["strategies"] if s["attention"] == "gla"]
    rng = np.random.default_rng(20250701)
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="spsim-numpy-") as tmp:
        for index, (name, q, k, v, g, do) in enumerate(cases(rng)):
            inputs = os.path.join(tmp, f"case{index}")
            os.makedirs(inputs)
            for label, array in (("q", q), ("k", k), ("v", v), ("g", g), ("do", do)):
                np.save(os.path.join(inputs, f"{label}.npy"), array)
            q64, k64, v64, g64, do64 = (x.astype(np.float64) for x in (q, k, v, g, do))
            expected = {"o": forward(q64, k64, v64, g64)[0]}
            expected.update(zip(("dq", "dk", "dv", "dg"), backward(q64, k64, v64, g64, do64)))
            for strategy in strategies:
                out = os.path.join(tmp, f"out{index}-{strategy}")
                command = [args.mpirun, "--timeout", "120", "-np", str(args.ranks), args.spsim, "run",
                           "--attention", "gla", "--strategy", strategy, "--inputs", inputs, "--save", out,
                           "--backward"]
                run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     stdin=subprocess.DEVNULL, timeout=180,
                                     env=dict(os.environ, OMPI_MCA_orte_tmpdir_base=tmp))
                if run.returncode != 0:
                    print(f"FAIL {strategy} {name}: exit {run.returncode}\n{run.stderr}")
                    failed += 1
                    continue
                for label, reference in expected.items():
                    got = np.load(os.path.join(out, f"{label}.npy"))
                    limit = OUTPUT_TOLERANCE if label == "o" else GRADIENT_TOLERANCE
                    error = relative_error(got, reference) if got.shape == reference.shape else float("inf")
                    ok = error <= limit
                    print(f"{'ok  ' if ok else 'FAIL'} {strategy:7} {name:42} {label:2} error {error:.2e} (limit {limit:.0e})")
                    passed += ok
                    failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
