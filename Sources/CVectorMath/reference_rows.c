// Row kernels of the float64 attention reference: see include/reference_rows.h.
#include "dispatch.h"
#include "reference_rows.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

// Fused multiply-adds only where written (__builtin_elementwise_fma): the exp's error
// analysis assumes them exactly there.
#pragma clang fp contract(off)

typedef double d8 __attribute__((vector_size(64), aligned(8)));
typedef int64_t l8 __attribute__((vector_size(64), aligned(8)));
typedef double d4 __attribute__((vector_size(32), aligned(8)));
typedef int64_t l4 __attribute__((vector_size(32), aligned(8)));

#define FMA(a, b, c) __builtin_elementwise_fma((a), (b), (c))

/// e^V for a vector V of type VT (integer lanes LT): see the header for the method.
#define EXP64(VT, LT, V) ({                                                                \
    VT z_ = {0};                                                                           \
    VT x_ = __builtin_elementwise_min(__builtin_elementwise_max((V), z_ - 746.0), z_ + 710.0); \
    /* n = round(x·log2 e) in the low mantissa bits of t (1.5·2^52 shifter). */            \
    VT t_ = FMA(x_, z_ + 1.4426950408889634, z_ + 0x1.8p52);                                \
    VT n_ = t_ - 0x1.8p52;                                                                 \
    LT ni_ = (LT)t_ - (int64_t)0x4338000000000000LL;                                       \
    /* r = x − n·ln2 (ln2 hi has 21 trailing zero bits: n·hi exact; each FMA rounds once). */ \
    VT r_ = FMA(-n_, z_ + 6.93147180369123816490e-01, x_);                                 \
    r_ = FMA(-n_, z_ + 1.90821492927058770002e-10, r_);                                    \
    /* e^r − 1 = r + r²·q(r), q the Taylor series 1/2! … 1/13!. */                          \
    VT q_ = z_ + 1.6059043836821613e-10;                  /* 1/13! */                      \
    q_ = FMA(q_, r_, z_ + 2.0876756987868100e-09);        /* 1/12! */                      \
    q_ = FMA(q_, r_, z_ + 2.5052108385441720e-08);        /* 1/11! */                      \
    q_ = FMA(q_, r_, z_ + 2.7557319223985893e-07);        /* 1/10! */                      \
    q_ = FMA(q_, r_, z_ + 2.7557319223985888e-06);        /* 1/9!  */                      \
    q_ = FMA(q_, r_, z_ + 2.4801587301587302e-05);        /* 1/8!  */                      \
    q_ = FMA(q_, r_, z_ + 1.9841269841269841e-04);        /* 1/7!  */                      \
    q_ = FMA(q_, r_, z_ + 1.3888888888888889e-03);        /* 1/6!  */                      \
    q_ = FMA(q_, r_, z_ + 8.3333333333333333e-03);        /* 1/5!  */                      \
    q_ = FMA(q_, r_, z_ + 4.1666666666666667e-02);        /* 1/4!  */                      \
    q_ = FMA(q_, r_, z_ + 1.6666666666666667e-01);        /* 1/3!  */                      \
    q_ = FMA(q_, r_, z_ + 0.5);                           /* 1/2!  */                      \
    VT e_ = 1.0 + FMA(q_, r_ * r_, r_);                                                    \
    /* 2^n as 2^(n/2)·2^(n − n/2): both halves normal for n in [−1077, 1024]. */            \
    LT n1_ = ni_ >> 1, n2_ = ni_ - n1_;                                                    \
    (e_ * (VT)((n1_ + 1023) << 52)) * (VT)((n2_ + 1023) << 52);                            \
})

/// Sum of the lanes of V (N of them), in lane order.
#define LANESUM(V, N) ({ double s_ = 0; for (int l_ = 0; l_ < (N); l_++) s_ += (V)[l_]; s_; })

#define DEFINE_REFERENCE_ROWS(SUFFIX, TARGET, VT, LT, N)                                   \
TARGET static void reference_exp_##SUFFIX(double *x, long n) {                                      \
    long j = 0;                                                                            \
    for (; j + (N) <= n; j += (N)) {                                                       \
        VT v; memcpy(&v, x + j, sizeof v);                                                 \
        v = EXP64(VT, LT, v); memcpy(x + j, &v, sizeof v);                                 \
    }                                                                                      \
    if (j < n) {                                                                           \
        VT v = (VT){0} - __builtin_inf();                                                  \
        memcpy(&v, x + j, (size_t)(n - j) * sizeof(double));                               \
        v = EXP64(VT, LT, v);                                                              \
        memcpy(x + j, &v, (size_t)(n - j) * sizeof(double));                              \
    }                                                                                      \
}                                                                                          \
TARGET static double reference_softmax_row_##SUFFIX(double *x, long visible, long count) {          \
    VT best = (VT){0} - __builtin_inf();                                                   \
    long j = 0;                                                                            \
    for (; j + (N) <= visible; j += (N)) {                                                 \
        VT v; memcpy(&v, x + j, sizeof v);                                                 \
        best = __builtin_elementwise_max(best, v);                                         \
    }                                                                                      \
    double top = -__builtin_inf();                                                         \
    for (int l = 0; l < (N); l++) top = top > best[l] ? top : best[l];                     \
    for (; j < visible; j++) top = top > x[j] ? top : x[j];                                \
    if (top == -__builtin_inf()) { memset(x, 0, (size_t)count * sizeof(double)); return top; } \
    VT acc = {0};                                                                          \
    for (j = 0; j + (N) <= visible; j += (N)) {                                            \
        VT v; memcpy(&v, x + j, sizeof v);                                                 \
        v = EXP64(VT, LT, v - top); memcpy(x + j, &v, sizeof v);                           \
        acc += v;                                                                          \
    }                                                                                      \
    if (j < visible) {                                                                     \
        VT v = (VT){0} - __builtin_inf();                                                  \
        memcpy(&v, x + j, (size_t)(visible - j) * sizeof(double));                         \
        v = EXP64(VT, LT, v - top);                                                        \
        memcpy(x + j, &v, (size_t)(visible - j) * sizeof(double));                         \
        acc += v;                                                                          \
    }                                                                                      \
    double sum = LANESUM(acc, N), normalizer = 1 / sum;                                    \
    for (j = 0; j + (N) <= visible; j += (N)) {                                            \
        VT v; memcpy(&v, x + j, sizeof v);                                                 \
        v *= normalizer; memcpy(x + j, &v, sizeof v);                                      \
    }                                                                                      \
    for (; j < visible; j++) x[j] *= normalizer;                                           \
    memset(x + visible, 0, (size_t)(count - visible) * sizeof(double));                    \
    return top + log(sum);                                                                 \
}                                                                                          \
TARGET static void reference_softmax_gradient_row_##SUFFIX(double *g, const double *p, long n, double delta) { \
    long j = 0;                                                                            \
    for (; j + (N) <= n; j += (N)) {                                                  \
        VT a, b; memcpy(&a, p + j, sizeof a); memcpy(&b, g + j, sizeof b);                 \
        b = a * (b - delta); memcpy(g + j, &b, sizeof b);                                  \
    }                                                                                      \
    for (; j < n; j++) g[j] = p[j] * (g[j] - delta);                                       \
}

#if defined(__x86_64__)
DEFINE_REFERENCE_ROWS(avx512, __attribute__((target("avx512f"))), d8, l8, 8)
DEFINE_REFERENCE_ROWS(avx2, __attribute__((target("avx2,fma"))), d4, l4, 4)
#endif

// Baseline: the same passes, one value at a time, with libm's exp.
static void reference_exp_base(double *x, long n) { for (long j = 0; j < n; j++) x[j] = exp(x[j]); }

static double reference_softmax_row_base(double *x, long visible, long count) {
    double top = -__builtin_inf();
    for (long j = 0; j < visible; j++) top = top > x[j] ? top : x[j];
    if (top == -__builtin_inf()) { memset(x, 0, (size_t)count * sizeof(double)); return top; }
    double sum = 0;
    for (long j = 0; j < visible; j++) { x[j] = exp(x[j] - top); sum += x[j]; }
    double normalizer = 1 / sum;
    for (long j = 0; j < visible; j++) x[j] *= normalizer;
    memset(x + visible, 0, (size_t)(count - visible) * sizeof(double));
    return top + log(sum);
}

static void reference_softmax_gradient_row_base(double *g, const double *p, long n, double delta) {
    for (long j = 0; j < n; j++) g[j] = p[j] * (g[j] - delta);
}

void spsim_reference_exp(int level, double *values, long count) {
    SPSIM_BY_LEVEL(level, reference_exp, values, count);
}

double spsim_reference_softmax_row(int level, double *row, long visible, long count) {
    return SPSIM_BY_LEVEL(level, reference_softmax_row, row, visible, count);
}

void spsim_reference_softmax_gradient_row(int level, double *gradients, const double *probabilities, long count,
                                          double delta) {
    SPSIM_BY_LEVEL(level, reference_softmax_gradient_row, gradients, probabilities, count, delta);
}
