// Row work of the GLA chunk kernels: see include/gla_rows.h.
#include "dispatch.h"
#include "gla_rows.h"
#include <string.h>

/// `out[0..<n] = x[0..<n] · y[0..<n]` in vectors of VT (LANES floats), then one by one.
#define MULTIPLY(VT, LANES, OUT, X, Y, N) do {                                              \
    long j_ = 0;                                                                           \
    for (; j_ + (LANES) <= (N); j_ += (LANES)) {                                           \
        VT a_, b_; memcpy(&a_, (X) + j_, sizeof a_); memcpy(&b_, (Y) + j_, sizeof b_);     \
        a_ = a_ * b_; memcpy((OUT) + j_, &a_, sizeof a_);                                  \
    }                                                                                      \
    for (; j_ < (N); j_++) (OUT)[j_] = (X)[j_] * (Y)[j_];                                  \
} while (0)

#define DEFINE_GLA_ROWS(SUFFIX, TARGET, VT, LANES)                                           \
TARGET static void gla_decays_##SUFFIX(const float *e, long length, long width, float *prefix, \
                                       float *suffix, float *total) {                      \
    memcpy(prefix, e, (size_t)width * sizeof(float));                                      \
    for (long t = 1; t < length; t++)                                                      \
        MULTIPLY(VT, LANES, prefix + t * width, prefix + (t - 1) * width, e + t * width, width); \
    memcpy(total, prefix + (length - 1) * width, (size_t)width * sizeof(float));           \
    for (long c = 0; c < width; c++) suffix[(length - 1) * width + c] = 1;                 \
    for (long t = length - 2; t >= 0; t--)                                                 \
        MULTIPLY(VT, LANES, suffix + t * width, suffix + (t + 1) * width, e + (t + 1) * width, width); \
}                                                                                          \
TARGET static void scale_rows_##SUFFIX(const float *x, long row_stride, long length, long width, \
                                       const float *factor, long factor_stride, float *out) { \
    for (long t = 0; t < length; t++)                                                      \
        MULTIPLY(VT, LANES, out + t * width, x + t * row_stride, factor + t * factor_stride, width); \
}                                                                                          \
TARGET static void scale_each_row_##SUFFIX(float *rows, long row_stride, long count, long width, \
                                           const float *scalars) {                         \
    for (long r = 0; r < count; r++) {                                                     \
        float *row = rows + r * row_stride;                                                \
        VT s = (VT){0} + scalars[r];                                                       \
        long j = 0;                                                                        \
        for (; j + (LANES) <= width; j += (LANES)) {                                       \
            VT a; memcpy(&a, row + j, sizeof a); a = a * s; memcpy(row + j, &a, sizeof a); \
        }                                                                                  \
        for (; j < width; j++) row[j] *= scalars[r];                                       \
    }                                                                                      \
}

typedef float g16 __attribute__((vector_size(64), aligned(4)));
typedef float g8 __attribute__((vector_size(32), aligned(4)));
typedef float g4 __attribute__((vector_size(16), aligned(4)));

#if defined(__x86_64__)
DEFINE_GLA_ROWS(avx512, __attribute__((target("avx512f"))), g16, 16)
DEFINE_GLA_ROWS(avx2, __attribute__((target("avx2"))), g8, 8)
#endif
DEFINE_GLA_ROWS(base, , g4, 4)

void spsim_prefetch_rows(const float *x, long row_stride, long rows, long width) {
    for (long r = 0; r < rows; r++)
        for (long c = 0; c < width; c += 16) __builtin_prefetch(x + r * row_stride + c, 0, 3);
}

void spsim_gla_decays(int level, const float *e, long length, long width, float *prefix, float *suffix,
                      float *total) {
    if (length < 1 || width < 1) return;
    SPSIM_BY_LEVEL(level, gla_decays, e, length, width, prefix, suffix, total);
}

void spsim_scale_rows(int level, const float *x, long row_stride, long length, long width, const float *factor,
                      long factor_stride, float *out) {
    SPSIM_BY_LEVEL(level, scale_rows, x, row_stride, length, width, factor, factor_stride, out);
}

void spsim_scale_each_row(int level, float *rows, long row_stride, long count, long width, const float *scalars) {
    SPSIM_BY_LEVEL(level, scale_each_row, rows, row_stride, count, width, scalars);
}
