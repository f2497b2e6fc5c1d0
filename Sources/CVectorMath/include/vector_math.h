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

/// `out[r·width + c] = e^(x[r·row_stride + c])` for `rows` rows of `width` values: the exp of
/// `spsim_exp_shifted_sum` (the same bits with shift 0), reading rows in place (a GLA chunk's
/// gates, one head's slice of each token row).
void spsim_exp_rows(int level, const float *x, long row_stride, long rows, long width, float *out);

/// Replaces each of the `count` values at `values` by e^(value − shift), evaluated as
/// 2^((value − shift)·log₂e) with a degree-5 polynomial and fused multiply-adds (fewer than
/// half the instructions of `spsim_exp_shifted_sum`, not bit-identical across levels), and
/// returns their sum: relative error ≤ 4e-7 plus the rounding of (value − shift)·log₂e; exactly
/// 1 where value = shift; 0 for −inf and (or, on AVX-512, a subnormal) below e^−87.
/// `shift` must be finite.
float spsim_softmax_exp_sum(int level, float *values, long count, float shift);

/// The largest of the `count` values at `values` (-inf for none).
float spsim_row_max(int level, const float *values, long count);

/// `gradients[j] = probabilities[j] · (gradients[j] − delta)` for `count` values.
void spsim_softmax_gradient_row(int level, float *gradients, const float *probabilities, long count, float delta);

#endif
