// Row kernels of the softmax attention blocks (Kernels/FastExp.swift, Kernels/Attention.swift),
// compiled for the widest vector unit the CPU has: the Swift code builds for baseline x86-64
// (SSE2), where a 16-lane float vector is four 4-lane operations; these C functions carry
// per-function target attributes (AVX-512 F, AVX2) and pick one at run time from `level`,
// the value of `spsim_cpu_vector_level()` (2 AVX-512, 1 AVX2 + FMA, 0 baseline).
// The exp is the same Cody–Waite range reduction and degree-6 Cephes polynomial as
// `fastExp(SIMD16<Float>)`, evaluated in the same order without FMA contraction, so every
// level gives the Swift function's results bit for bit.
#ifndef SPSIM_VECTOR_MATH_H
#define SPSIM_VECTOR_MATH_H

/// Replaces each of the `count` values at `values` by e^(value − shift) and returns their
/// sum (accumulated in 16 lanes, then reduced in lane order). `shift` must be finite.
float spsim_exp_shifted_sum(int level, float *values, long count, float shift);

/// Replaces each of the `count` values at `values` by 2^(value − shift) and returns their
/// sum: relative error ≤ 2e-7 (degree-5 polynomial, fused multiply-adds, so not bit-identical
/// across levels); 0 (or, on AVX-512, a subnormal) where value − shift < −126, and 0 for −inf.
/// `shift` must be finite.
float spsim_exp2_shifted_sum(int level, float *values, long count, float shift);

/// The largest of the `count` values at `values` (-inf for none).
float spsim_row_max(int level, const float *values, long count);

/// `gradients[j] = probabilities[j] · (gradients[j] − delta)` for `count` values.
void spsim_softmax_gradient_row(int level, float *gradients, const float *probabilities, long count, float delta);

#endif
