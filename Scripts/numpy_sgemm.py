#!/usr/bin/env python3
"""numpy's single-thread sgemm on the products `spsim bench --kernels` times for cblas_sgemm.

One head's attention products without tiling, float32: S = A Bᵀ ([N×D]·[D×N]) then O = S B
([N×N]·[N×D]), 4·N²·D FLOPs, median of --repeat timed runs after one warm-up. Prints the
GFLOP/s on stdout (for `spsim bench --kernels --reference-sgemm-gflops`) and, on stderr, numpy's
version and the OpenBLAS kernel core it runs. Run it without OPENBLAS_CORETYPE so numpy's own
OpenBLAS picks its core (Scripts/bench.sh does).
"""
import argparse
import ctypes
import glob
import os
import sys
import time

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before numpy loads its OpenBLAS
import numpy as np  # noqa: E402


def numpy_blas_core():
    """The kernel core of numpy's bundled OpenBLAS (scipy-openblas), or 'unknown'."""
    base = os.path.dirname(np.__file__)
    for lib in glob.glob(os.path.join(base + ".libs", "*openblas*.so*")) + glob.glob(os.path.join(base, "..", "scipy_openblas*", "lib", "*.so*")):
        try:
            handle = ctypes.CDLL(lib)
        except OSError:
            continue
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"):
            if hasattr(handle, name):
                fn = getattr(handle, name)
                fn.restype = ctypes.c_char_p
                return fn().decode()
    return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n, d = args.tokens, args.head_dim
    rng = np.random.default_rng(0x5EED)
    a = rng.uniform(-1, 1, (n, d)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, d)).astype(np.float32)

    def once():
        return np.matmul(np.matmul(a, b.T), b)

    once()
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    times.sort()
    median = times[len(times) // 2] if len(times) % 2 else (times[len(times) // 2 - 1] + times[len(times) // 2]) / 2
    gflops = 4 * n * n * d / median / 1e9
    print(f"numpy {np.__version__}, OpenBLAS core {numpy_blas_core()}, one thread: sgemm {gflops:.1f} GFLOP/s "
          f"(N={n}, D={d}, median of {args.repeat})", file=sys.stderr)
    print(f"{gflops:.3f}")


if __name__ == "__main__":
    main()
