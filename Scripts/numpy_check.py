#!/usr/bin/env python3
"""Cross-checks spsim's softmax attention against an independent numpy implementation.

Writes q, k, v, do with numpy, runs `mpirun -np P spsim run --inputs DIR --save OUT --backward`
for every softmax strategy, layout and causal setting it supports, and compares o, lse, dq, dk,
dv with a float64 numpy implementation of the exact semantics in docs/design.md (written here, independently of the
Swift reference). Prints one line per case and `N passed, M failed`; exits 1 on any failure.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def attention(q, k, v, do, causal):
    """Forward and backward in float64: returns o, lse, dq, dk, dv."""
    n, h, d = q.shape
    g = k.shape[1]
    group = h // g
    kh = np.repeat(k, group, axis=1)  # [n, h, d]: query head j uses KV head j // group
    vh = np.repeat(v, group, axis=1)
    scale = 1.0 / np.sqrt(d)
    s = np.einsum("ihd,jhd->hij", q, kh) * scale
    if causal:
        s = np.where(np.tril(np.ones((n, n), dtype=bool))[None], s, -np.inf)
    m = s.max(axis=2, keepdims=True)
    lse = (m + np.log(np.exp(s - m).sum(axis=2, keepdims=True)))[:, :, 0]  # [h, n]
    p = np.exp(s - lse[:, :, None])
    o = np.einsum("hij,jhd->ihd", p, vh)
    dp = np.einsum("ihd,jhd->hij", do, vh)
    delta = np.einsum("ihd,ihd->hi", do, o)
    ds = p * (dp - delta[:, :, None])
    dq = np.einsum("hij,jhd->ihd", ds, kh) * scale
    dkh = np.einsum("hij,ihd->jhd", ds, q) * scale
    dvh = np.einsum("hij,ihd->jhd", p, do)
    dk = dkh.reshape(n, g, group, d).sum(axis=2)
    dv = dvh.reshape(n, g, group, d).sum(axis=2)
    return {"o": o, "lse": lse.T, "dq": dq, "dk": dk, "dv": dv}


def max_relative_error(got, want):
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spsim", required=True, help="path to the spsim executable")
    parser.add_argument("--ranks", type=int, nargs="+", default=[3])
    args = parser.parse_args()

    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", OMPI_MCA_btl_vader_single_copy_mechanism="none",
               OPENBLAS_NUM_THREADS="1")
    listing = json.loads(subprocess.run([args.spsim, "strategies", "--json"], check=True,
                                        capture_output=True, text=True, env=env).stdout)
    strategies = [s for s in listing["strategies"] if s["attention"] == "softmax"]

    rng = np.random.default_rng(2024)
    passed = failed = 0
    with tempfile.TemporaryDirectory() as work:
        env["OMPI_MCA_orte_tmpdir_base"] = work  # a session directory of its own
        for p in args.ranks:
            n, h, g, d = 24 * p, 4, 2, 16
            inputs = os.path.join(work, f"in{p}")
            os.makedirs(inputs)
            data = {"q": rng.standard_normal((n, h, d)), "k": rng.standard_normal((n, g, d)),
                    "v": rng.standard_normal((n, g, d)), "do": rng.standard_normal((n, h, d))}
            for name, array in data.items():
                np.save(os.path.join(inputs, f"{name}.npy"), array.astype("<f4"))
            as32 = {k: a.astype(np.float32).astype(np.float64) for k, a in data.items()}
            for strategy in strategies:
                for layout in strategy["layouts"]:
                    for causal in (False, True):
                        out = os.path.join(work, f"out-{strategy['name']}-{layout}-{causal}-{p}")
                        cmd = ["mpirun", "--timeout", "120", "-np", str(p), args.spsim, "run",
                               "--strategy", strategy["name"], "--layout", layout, "--inputs", inputs,
                               "--save", out, "--backward", "--json"] + (["--causal"] if causal else [])
                        run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
                        label = f"{strategy['name']:<11} P={p} {layout:<10} {'causal' if causal else 'full':<6}"
                        if run.returncode == 2:
                            print(f"{label} not applicable: {run.stderr.splitlines()[0] if run.stderr else ''}")
                            continue
                        if run.returncode != 0:
                            print(f"{label} FAILED to run: {run.stderr.strip()[:500]}")
                            failed += 1
                            continue
                        want = attention(as32["q"], as32["k"], as32["v"], as32["do"], causal)
                        errors = {name: max_relative_error(np.load(os.path.join(out, f"{name}.npy")), ref)
                                  for name, ref in want.items()}
                        ok = all(errors[x] <= 1e-4 for x in ("o", "lse")) and all(
                            errors[x] <= 1e-3 for x in ("dq", "dk", "dv"))
                        passed += ok
                        failed += not ok
                        print(f"{label} {'ok' if ok else 'FAILED'} " +
                              " ".join(f"{k}={e:.1e}" for k, e in errors.items()))
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
