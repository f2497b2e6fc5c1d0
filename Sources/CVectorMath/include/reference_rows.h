// Row kernels of the float64 attention reference (Kernels/AttentionReference.swift), compiled
// for the widest vector unit the CPU has: per-function target attributes (AVX-512 F; AVX2 +
// FMA) chosen at run time from `level`, the value of `spsim_cpu_vector_level()` (2 AVX-512,
// 1 AVX2 + FMA, 0 baseline: plain loops over libm's `exp`).
// Everything is float64. The exp is accurate to about 1 ulp over double's whole range (it is
// the reference's exp, not a fast approximation): Cody–Waite reduction x = n·ln2 + r with a
// two-part ln2 and fused multiply-adds (r exact to ~2^-60 relative), e^r − 1 as a degree-13
// Taylor polynomial on |r| ≤ 0.35 (truncation < 4e-18 relative), 1 + (e^r − 1) rounded once,
// then 2^n applied in two exact halves so subnormal results round once and underflow to 0.
#ifndef SPSIM_REFERENCE_ROWS_H
#define SPSIM_REFERENCE_ROWS_H

/// Replaces each of the `count` values at `values` by e^value (float64): relative error
/// ≤ about 1 ulp (2.2e-16) for normal results; e^−inf = 0, e^x = 0 below about −745.13
/// (subnormal results in between), +inf above about 709.78. NaN gives an unspecified value.
void spsim_reference_exp(int level, double *values, long count);

/// One row of softmax probabilities in place, over its first `visible` of `count` scores
/// (float64, natural-log units): with m = max of row[0..<visible], row[j] = e^(row[j] − m) / Σ
/// for j < visible and 0 for j ≥ visible (the masked tail). Scores may be −inf (a masked key
/// inside the prefix: probability 0). Returns the row's log-sum-exp m + log Σ, or −inf (and
/// a zero row) when no score in the prefix is finite-or-+inf (visible == 0 or all −inf).
double spsim_reference_softmax_row(int level, double *row, long visible, long count);

/// One row of the softmax gradient in place: g[j] = p[j]·(g[j] − delta) for the `count` values
/// (float64; `g` holds dP = dO·Vᵀ on entry, dS on return; `delta` is the row's Σ_l p_l·dP_l).
void spsim_reference_softmax_gradient_row(int level, double *gradients, const double *probabilities, long count,
                                          double delta);

#endif
