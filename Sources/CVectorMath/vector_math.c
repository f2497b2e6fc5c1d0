#include "dispatch.h"
#include "vector_math.h"
#include <stdint.h>
#include <string.h>

// Same rounding as the Swift code: no a·b + c fused into one FMA.
#pragma clang fp contract(off)

typedef float f16 __attribute__((vector_size(64), aligned(4)));
typedef int32_t i16 __attribute__((vector_size(64), aligned(4)));

#define SPLAT(x) ((f16){0} + (x))

/// e^v in 16 lanes: fastExp(SIMD16<Float>) of FastExp.swift, operation for operation.
#define EXP16(V) ({                                                                       \
    f16 v_ = __builtin_elementwise_min(__builtin_elementwise_max((V), SPLAT(-88.0f)), SPLAT(88.0f)); \
    f16 t_ = v_ * 1.4426950408889634f + 12582912.0f;                                      \
    f16 n_ = t_ - 12582912.0f;                                                             \
    i16 ni_ = (i16)t_ - 0x4B400000;                                                        \
    f16 r_ = (v_ - n_ * 0.693359375f) - n_ * -2.1219444005469058e-4f;                      \
    f16 p_ = SPLAT(1.9875691500e-4f);                                                      \
    p_ = p_ * r_ + 1.3981999507e-3f;                                                       \
    p_ = p_ * r_ + 8.3334519073e-3f;                                                       \
    p_ = p_ * r_ + 4.1665795894e-2f;                                                       \
    p_ = p_ * r_ + 1.6666665459e-1f;                                                       \
    p_ = p_ * r_ + 5.0000001201e-1f;                                                       \
    f16 er_ = (p_ * (r_ * r_) + r_) + 1.0f;                                                \
    er_ * (f16)((ni_ + 127) << 23);                                                        \
})

/// The sum of the 16 lanes, in lane order (a macro: a 64-byte vector argument would change the ABI).
#define SUM16(V) ({ f16 s_ = (V); float t_ = 0; for (int l_ = 0; l_ < 16; l_++) t_ += s_[l_]; t_; })

#define DEFINE_KERNELS(SUFFIX, TARGET)                                                     \
TARGET static float exp_shifted_sum_##SUFFIX(float *x, long n, float shift) {             \
    f16 acc = SPLAT(0.0f);                                                                 \
    long j = 0;                                                                            \
    for (; j + 16 <= n; j += 16) {                                                         \
        f16 e = EXP16(*(f16 *)(x + j) - shift);                                            \
        *(f16 *)(x + j) = e;                                                               \
        acc += e;                                                                          \
    }                                                                                      \
    if (j < n) {                                                                           \
        f16 tail = SPLAT(-__builtin_inff());                                               \
        memcpy(&tail, x + j, (size_t)(n - j) * sizeof(float));                             \
        f16 e = EXP16(tail - shift);                                                       \
        memcpy(x + j, &e, (size_t)(n - j) * sizeof(float));                                \
        acc += e;                                                                          \
    }                                                                                      \
    return SUM16(acc);                                                                     \
}                                                                                          \
TARGET static float row_max_##SUFFIX(const float *x, long n) {                            \
    f16 best = SPLAT(-__builtin_inff());                                                   \
    long j = 0;                                                                            \
    for (; j + 16 <= n; j += 16) best = __builtin_elementwise_max(best, *(const f16 *)(x + j)); \
    float result = -__builtin_inff();                                                      \
    for (int l = 0; l < 16; l++) result = result > best[l] ? result : best[l];             \
    for (; j < n; j++) result = result > x[j] ? result : x[j];                             \
    return result;                                                                         \
}                                                                                          \
TARGET static void exp_rows_##SUFFIX(const float *x, long row_stride, long rows, long width, float *out) { \
    for (long r = 0; r < rows; r++) {                                                      \
        const float *src = x + r * row_stride;                                             \
        float *dst = out + r * width;                                                      \
        long j = 0;                                                                        \
        for (; j + 16 <= width; j += 16) {                                                 \
            f16 v; memcpy(&v, src + j, sizeof v);                                          \
            v = EXP16(v); memcpy(dst + j, &v, sizeof v);                                   \
        }                                                                                  \
        if (j < width) {                                                                   \
            f16 tail = SPLAT(0.0f);                                                        \
            memcpy(&tail, src + j, (size_t)(width - j) * sizeof(float));                   \
            f16 e = EXP16(tail);                                                           \
            memcpy(dst + j, &e, (size_t)(width - j) * sizeof(float));                      \
        }                                                                                  \
    }                                                                                      \
}                                                                                          \
TARGET static void softmax_gradient_row_##SUFFIX(float *g, const float *p, long n, float delta) { \
    long j = 0;                                                                            \
    for (; j + 16 <= n; j += 16) *(f16 *)(g + j) = *(const f16 *)(p + j) * (*(f16 *)(g + j) - delta); \
    for (; j < n; j++) g[j] = p[j] * (g[j] - delta);                                       \
}

#if defined(__x86_64__)
DEFINE_KERNELS(avx512, __attribute__((target("avx512f"))))
DEFINE_KERNELS(avx2, __attribute__((target("avx2"))))
#endif
DEFINE_KERNELS(base, )

float spsim_exp_shifted_sum(int level, float *values, long count, float shift) {
    return SPSIM_BY_LEVEL(level, exp_shifted_sum, values, count, shift);
}

void spsim_exp_rows(int level, const float *x, long row_stride, long rows, long width, float *out) {
    SPSIM_BY_LEVEL(level, exp_rows, x, row_stride, rows, width, out);
}

float spsim_row_max(int level, const float *values, long count) {
    return SPSIM_BY_LEVEL(level, row_max, values, count);
}

void spsim_softmax_gradient_row(int level, float *gradients, const float *probabilities, long count, float delta) {
    SPSIM_BY_LEVEL(level, softmax_gradient_row, gradients, probabilities, count, delta);
}

// MARK: e^(x − shift) as 2^((x − shift)·log₂e), for the attention kernels
//
// v = (x − shift)·log₂e is clamped below (−inf and NaN give 0) and rounded to k; 2^r for
// r = v − k in [−1/2, 1/2] is a degree-5 polynomial fitted for relative error (1.9e-7 exact,
// 4e-7 with float32 rounding); 2^k scales it: AVX-512's scalef (exact, flushing to 0 below
// float's range), elsewhere the exponent bits with values below 2^−126 set to 0. x = shift
// gives exactly 1. Multiply-adds fuse: these results need no bit identity with anything.
#define EXP2_C1 0.6931470036506653f
#define EXP2_C2 0.24022242426872253f
#define EXP2_C3 0.05550733581185341f
#define EXP2_C4 0.009671513922512531f
#define EXP2_C5 0.0013264723820611835f
#define LOG2E 1.4426950408889634f

/// 2^v in 16 lanes for v ≥ −127 (clamped by the caller), generic vector code.
#define EXP2_16(V) ({                                                                      \
    _Pragma("clang fp contract(fast)")                                                     \
    f16 v_ = (V);                                                                          \
    f16 t_ = v_ + 12582912.0f;                                                             \
    f16 k_ = t_ - 12582912.0f;                                                             \
    i16 ki_ = (i16)t_ - 0x4B400000;                                                        \
    f16 r_ = v_ - k_;                                                                      \
    f16 p_ = SPLAT(EXP2_C5);                                                               \
    p_ = p_ * r_ + EXP2_C4;                                                                \
    p_ = p_ * r_ + EXP2_C3;                                                                \
    p_ = p_ * r_ + EXP2_C2;                                                                \
    p_ = p_ * r_ + EXP2_C1;                                                                \
    p_ = p_ * r_ + 1.0f;                                                                   \
    f16 e_ = p_ * (f16)((ki_ + 127) << 23);                                                \
    (f16)((i16)e_ & (v_ >= -126.0f));                                                      \
})

#define DEFINE_EXP2(SUFFIX, TARGET)                                                        \
TARGET static float softmax_exp_sum_##SUFFIX(float *x, long n, float shift) {            \
    f16 acc = SPLAT(0.0f);                                                                 \
    long j = 0;                                                                            \
    for (; j + 16 <= n; j += 16) {                                                         \
        f16 e = EXP2_16(__builtin_elementwise_max((*(f16 *)(x + j) - shift) * LOG2E, SPLAT(-127.0f))); \
        *(f16 *)(x + j) = e;                                                               \
        acc += e;                                                                          \
    }                                                                                      \
    if (j < n) {                                                                           \
        f16 tail = SPLAT(-__builtin_inff());                                               \
        memcpy(&tail, x + j, (size_t)(n - j) * sizeof(float));                             \
        f16 e = EXP2_16(__builtin_elementwise_max((tail - shift) * LOG2E, SPLAT(-127.0f))); \
        memcpy(x + j, &e, (size_t)(n - j) * sizeof(float));                                \
        acc += e;                                                                          \
    }                                                                                      \
    return SUM16(acc);                                                                     \
}

#if defined(__x86_64__)
#include <immintrin.h>
DEFINE_EXP2(avx2, __attribute__((target("avx2,fma"))))

/// The AVX-512 version: round and scale by 2^k in one instruction each, tails masked.
__attribute__((target("avx512f,fma")))
static float softmax_exp_sum_avx512(float *x, long n, float shift) {
    const __m512 s = _mm512_set1_ps(shift), log2e = _mm512_set1_ps(LOG2E), floor = _mm512_set1_ps(-150.0f);
    __m512 acc = _mm512_setzero_ps();
    for (long j = 0; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        __m512 v = _mm512_max_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), s), log2e), floor);
        __m512 k = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 r = _mm512_sub_ps(v, k);
        __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(EXP2_C5), r, _mm512_set1_ps(EXP2_C4));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP2_C3));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP2_C2));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(EXP2_C1));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
        __m512 e = _mm512_scalef_ps(p, k);
        _mm512_mask_storeu_ps(x + j, m, e);
        acc = _mm512_mask_add_ps(acc, m, acc, e);
    }
    return _mm512_reduce_add_ps(acc);
}
#endif
DEFINE_EXP2(base, )

float spsim_softmax_exp_sum(int level, float *values, long count, float shift) {
    return SPSIM_BY_LEVEL(level, softmax_exp_sum, values, count, shift);
}
