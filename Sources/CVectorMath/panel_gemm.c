#include "dispatch.h"
#include "panel_gemm.h"
#include <string.h>

// Products of the attention kernels (float32) and of their float64 reference: a register-tile
// micro-kernel over a B packed into column panels (see panel_gemm.h), one set of macros for
// both element types. Multiply-adds may fuse (FMA): the products need no bit identity with
// anything, only their type's accuracy (dgemm fuses them too).
#pragma clang fp contract(fast)

#define MIN(a, b) ((a) < (b) ? (a) : (b))

/// Packs op(B) [k × n] into panels of NR columns (zero beyond column n). A whole panel row
/// is copied as NR elements in the loop's vector width (no call per row: the GLA chunks pack
/// 64 × 64 operands, where a memcpy per row cost a tenth of the kernel).
#define DEFINE_PACK(SUFFIX, TARGET, T, V4, NR)                                               \
TARGET static void pack_##SUFFIX(long k, long n, const T *b, long row_stride,                \
                                 long col_stride, T *out, long panel_stride) {               \
    for (long j0 = 0; j0 < n; j0 += NR) {                                                    \
        T *panel = out + (j0 / NR) * panel_stride;                                           \
        long width = MIN(NR, n - j0);                                                        \
        if (col_stride == 1 && width == NR) {                                                \
            for (long p = 0; p < k; p++) {                                                   \
                const T *row = b + p * row_stride + j0;                                      \
                _Pragma("clang loop unroll(full)")                                           \
                for (int c = 0; c < NR; c += 4) *(V4 *)(panel + p * NR + c) = *(const V4 *)(row + c); \
            }                                                                                \
        } else if (col_stride == 1) {                                                        \
            for (long p = 0; p < k; p++) {                                                   \
                const T *row = b + p * row_stride + j0;                                      \
                for (long c = 0; c < NR; c++) panel[p * NR + c] = c < width ? row[c] : 0;    \
            }                                                                                \
        } else if (row_stride == 1) {                                                        \
            /* A transposed B (columns contiguous): 4 × 4 blocks transposed in registers. */ \
            for (long c0 = 0; c0 < NR; c0 += 4)                                              \
                for (long p0 = 0; p0 < k; p0 += 4) {                                         \
                    if (c0 + 4 <= width && p0 + 4 <= k) {                                    \
                        const T *column = b + (j0 + c0) * col_stride + p0;                   \
                        V4 x0 = *(const V4 *)column, x1 = *(const V4 *)(column + col_stride); \
                        V4 x2 = *(const V4 *)(column + 2 * col_stride);                      \
                        V4 x3 = *(const V4 *)(column + 3 * col_stride);                      \
                        V4 t0 = __builtin_shufflevector(x0, x1, 0, 4, 1, 5);                 \
                        V4 t1 = __builtin_shufflevector(x2, x3, 0, 4, 1, 5);                 \
                        V4 t2 = __builtin_shufflevector(x0, x1, 2, 6, 3, 7);                 \
                        V4 t3 = __builtin_shufflevector(x2, x3, 2, 6, 3, 7);                 \
                        T *row = panel + p0 * NR + c0;                                       \
                        *(V4 *)row = __builtin_shufflevector(t0, t1, 0, 1, 4, 5);            \
                        *(V4 *)(row + NR) = __builtin_shufflevector(t0, t1, 2, 3, 6, 7);     \
                        *(V4 *)(row + 2 * NR) = __builtin_shufflevector(t2, t3, 0, 1, 4, 5); \
                        *(V4 *)(row + 3 * NR) = __builtin_shufflevector(t2, t3, 2, 3, 6, 7); \
                    } else {                                                                 \
                        for (long c = c0; c < c0 + 4; c++)                                   \
                            for (long p = p0; p < MIN(p0 + 4, k); p++)                       \
                                panel[p * NR + c] = c < width ? b[(j0 + c) * col_stride + p] : 0; \
                    }                                                                        \
                }                                                                            \
        } else {                                                                             \
            for (long c = 0; c < NR; c++)                                                    \
                for (long p = 0; p < k; p++)                                                 \
                    panel[p * NR + c] = c < width ? b[p * row_stride + (j0 + c) * col_stride] : 0; \
        }                                                                                    \
    }                                                                                        \
}

/// One MR × (LANES·NV) tile of C = alpha·A·B + beta·C: MR·NV vector accumulators over k, A
/// read in place (element (i, p) at a[i·rs + p·cs]), B the first LANES·NV columns of one
/// packed panel (row p at b[p·PANEL]). Rows past `rows` read row 0 (in bounds) and are not
/// stored; columns past `columns` are the panel's zero padding and are not stored either.
#define DEFINE_TILE(SUFFIX, TARGET, T, VT, LANES, NV, MR, PANEL)                             \
TARGET static void tile_##SUFFIX(long k, const T *a, long rs, long cs, const T *b,           \
                                 T alpha, T beta, T *c, long ldc,                            \
                                 long rows, long columns) {                                  \
    enum { NR = LANES * NV };                                                                \
    VT acc[MR][NV];                                                                          \
    const T *row[MR];                                                                        \
    _Pragma("clang loop unroll(full)")                                                       \
    for (int r = 0; r < MR; r++) {                                                           \
        row[r] = a + (r < rows ? r : 0) * rs;                                                \
        _Pragma("clang loop unroll(full)")                                                   \
        for (int v = 0; v < NV; v++) acc[r][v] = (VT){0};                                    \
    }                                                                                        \
    for (long p = 0; p < k; p++) {                                                           \
        VT bv[NV];                                                                           \
        _Pragma("clang loop unroll(full)")                                                   \
        for (int v = 0; v < NV; v++) bv[v] = *(const VT *)(b + p * PANEL + v * LANES);       \
        _Pragma("clang loop unroll(full)")                                                   \
        for (int r = 0; r < MR; r++) {                                                       \
            T x = row[r][p * cs];                                                            \
            _Pragma("clang loop unroll(full)")                                               \
            for (int v = 0; v < NV; v++) acc[r][v] += x * bv[v];                             \
        }                                                                                    \
    }                                                                                        \
    if (rows == MR && columns == NR) {                                                       \
        _Pragma("clang loop unroll(full)")                                                   \
        for (int r = 0; r < MR; r++) {                                                       \
            _Pragma("clang loop unroll(full)")                                               \
            for (int v = 0; v < NV; v++) {                                                   \
                VT *out = (VT *)(c + r * ldc + v * LANES);                                   \
                *out = beta == 0 ? alpha * acc[r][v] : alpha * acc[r][v] + beta * *out;      \
            }                                                                                \
        }                                                                                    \
        return;                                                                              \
    }                                                                                        \
    T spill[MR * NR];                                                                        \
    for (int r = 0; r < MR; r++)                                                             \
        for (int v = 0; v < NV; v++) memcpy(spill + r * NR + v * LANES, &acc[r][v], sizeof(VT)); \
    for (long r = 0; r < rows; r++)                                                          \
        for (long j = 0; j < columns; j++) {                                                 \
            T *out = c + r * ldc + j;                                                        \
            *out = beta == 0 ? alpha * spill[r * NR + j] : alpha * spill[r * NR + j] + beta * *out; \
        }                                                                                    \
}

/// The inner length of a tile of rows i0 ..< i0 + MR, and whether the tile at column j0 is
/// computed at all, for the product's `shape` (panel_gemm.h).
#define TILE_K(SHAPE, K, I0, MR) ((SHAPE) == SPSIM_PRODUCT_LOWER_A ? MIN((K), (I0) + (MR)) : (K))
#define TILE_NEEDED(SHAPE, I0, J0, MR) ((SHAPE) != SPSIM_PRODUCT_LOWER_C || (J0) < (I0) + (MR))

/// The panels of C = alpha·A·B + beta·C, each in tiles of MR rows: `wide` tiles cover a whole
/// panel, `narrow` ones (half its width) a panel's last ≤ NR/2 columns.
#define DEFINE_GEMM(SUFFIX, TARGET, T, PANEL, WIDE, WIDE_MR, NARROW, NARROW_MR)              \
TARGET static void gemm_##SUFFIX(long m, long n, long k, T alpha, const T *a, long rs,       \
                                 long cs, const T *b, long panel_stride, T beta,             \
                                 T *c, long ldc, int shape) {                                \
    for (long j0 = 0; j0 < n; j0 += PANEL) {                                                 \
        const T *panel = b + (j0 / PANEL) * panel_stride;                                    \
        long width = MIN(PANEL, n - j0);                                                     \
        if (width <= PANEL / 2) {                                                            \
            for (long i0 = 0; i0 < m; i0 += NARROW_MR)                                       \
                if (TILE_NEEDED(shape, i0, j0, NARROW_MR))                                   \
                    tile_##NARROW(TILE_K(shape, k, i0, NARROW_MR), a + i0 * rs, rs, cs, panel, alpha, beta, \
                                  c + i0 * ldc + j0, ldc, MIN(NARROW_MR, m - i0), width);    \
        } else {                                                                             \
            for (long i0 = 0; i0 < m; i0 += WIDE_MR)                                         \
                if (TILE_NEEDED(shape, i0, j0, WIDE_MR))                                     \
                    tile_##WIDE(TILE_K(shape, k, i0, WIDE_MR), a + i0 * rs, rs, cs, panel, alpha, beta, \
                                c + i0 * ldc + j0, ldc, MIN(WIDE_MR, m - i0), width);        \
        }                                                                                    \
    }                                                                                        \
}

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));
typedef float v4 __attribute__((vector_size(16), aligned(4)));
typedef double d8 __attribute__((vector_size(64), aligned(8)));
typedef double d4 __attribute__((vector_size(32), aligned(8)));
typedef double d2 __attribute__((vector_size(16), aligned(8)));

// Tile shapes, float32: AVX-512 8 × 32 (16 zmm accumulators) and 8 × 16 for narrow panels (a
// head dimension of 16), AVX2 6 × 16 and 8 × 8, baseline 4 × 8 and 8 × 4 (four-lane
// registers); float64 the same registers at half the columns (AVX-512 8 × 16 and 8 × 8, AVX2
// 6 × 8 and 8 × 4, baseline 4 × 4 and 8 × 2). Each leaves vector registers for the B row and
// the broadcast, and at most 8 rows keep the row pointers of A in general registers (16 rows
// spilled them: 0.6 of the 8-row speed).
#define NR_AVX512 32
#define NR_AVX2 16
#define NR_BASE 8
#define NR_F64_AVX512 16
#define NR_F64_AVX2 8
#define NR_F64_BASE 4
#define AVX512 __attribute__((target("avx512f,fma")))
#define AVX2 __attribute__((target("avx2,fma")))
#if defined(__x86_64__)
DEFINE_TILE(avx512, AVX512, float, v16, 16, 2, 8, NR_AVX512)
DEFINE_TILE(avx512_narrow, AVX512, float, v16, 16, 1, 8, NR_AVX512)
DEFINE_GEMM(avx512, AVX512, float, NR_AVX512, avx512, 8, avx512_narrow, 8)
DEFINE_TILE(avx2, AVX2, float, v8, 8, 2, 6, NR_AVX2)
DEFINE_TILE(avx2_narrow, AVX2, float, v8, 8, 1, 8, NR_AVX2)
DEFINE_GEMM(avx2, AVX2, float, NR_AVX2, avx2, 6, avx2_narrow, 8)
DEFINE_TILE(f64_avx512, AVX512, double, d8, 8, 2, 8, NR_F64_AVX512)
DEFINE_TILE(f64_avx512_narrow, AVX512, double, d8, 8, 1, 8, NR_F64_AVX512)
DEFINE_GEMM(f64_avx512, AVX512, double, NR_F64_AVX512, f64_avx512, 8, f64_avx512_narrow, 8)
DEFINE_TILE(f64_avx2, AVX2, double, d4, 4, 2, 6, NR_F64_AVX2)
DEFINE_TILE(f64_avx2_narrow, AVX2, double, d4, 4, 1, 8, NR_F64_AVX2)
DEFINE_GEMM(f64_avx2, AVX2, double, NR_F64_AVX2, f64_avx2, 6, f64_avx2_narrow, 8)
#endif
DEFINE_TILE(base, , float, v4, 4, 2, 4, NR_BASE)
DEFINE_TILE(base_narrow, , float, v4, 4, 1, 8, NR_BASE)
DEFINE_GEMM(base, , float, NR_BASE, base, 4, base_narrow, 8)
DEFINE_TILE(f64_base, , double, d2, 2, 2, 4, NR_F64_BASE)
DEFINE_TILE(f64_base_narrow, , double, d2, 2, 1, 8, NR_F64_BASE)
DEFINE_GEMM(f64_base, , double, NR_F64_BASE, f64_base, 4, f64_base_narrow, 8)
#if defined(__x86_64__)
DEFINE_PACK(avx512, AVX512, float, v4, NR_AVX512)
DEFINE_PACK(avx2, AVX2, float, v4, NR_AVX2)
DEFINE_PACK(f64_avx512, AVX512, double, d4, NR_F64_AVX512)
DEFINE_PACK(f64_avx2, AVX2, double, d4, NR_F64_AVX2)
#endif
DEFINE_PACK(base, , float, v4, NR_BASE)
DEFINE_PACK(f64_base, , double, d4, NR_F64_BASE)

/// The entry points of one element type T (`SUFFIX` empty for float, `_f64` for double), by level.
#if defined(__x86_64__)
#define PANEL_WIDTH(LEVEL, NR512, NR2, NRB) ((LEVEL) >= 2 ? (NR512) : (LEVEL) == 1 ? (NR2) : (NRB))
#else
#define PANEL_WIDTH(LEVEL, NR512, NR2, NRB) (NRB)
#endif
#define DEFINE_ENTRIES(SUFFIX, T, NR512, NR2, NRB)                                             \
long spsim_panel_width##SUFFIX(int level) { return PANEL_WIDTH(level, NR512, NR2, NRB); }   \
                                                                                             \
void spsim_pack_panels##SUFFIX(int level, long k, long n, const T *b, long row_stride,       \
                               long col_stride, T *out, long panel_stride) {                 \
    SPSIM_BY_LEVEL(level, pack##SUFFIX, k, n, b, row_stride, col_stride, out, panel_stride); \
}                                                                                            \
                                                                                             \
void spsim_panel_gemm##SUFFIX(int level, long m, long n, long k, T alpha, const T *a,        \
                              long a_row_stride, long a_col_stride, const T *b,              \
                              long b_panel_stride, T beta, T *c, long ldc, int shape) {      \
    if (m <= 0 || n <= 0) return;                                                            \
    SPSIM_BY_LEVEL(level, gemm##SUFFIX, m, n, k, alpha, a, a_row_stride, a_col_stride, b,    \
                   b_panel_stride, beta, c, ldc, shape);                                     \
}

DEFINE_ENTRIES(, float, NR_AVX512, NR_AVX2, NR_BASE)
DEFINE_ENTRIES(_f64, double, NR_F64_AVX512, NR_F64_AVX2, NR_F64_BASE)
