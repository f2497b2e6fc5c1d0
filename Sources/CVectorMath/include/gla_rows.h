// Row work of the chunked GLA kernels (Kernels/GLAChunk.swift): the running products of a
// chunk's gate factors and the scalings of its rows by them, for the widest vector unit the
// CPU has, chosen at run time from `level` (`spsim_cpu_vector_level()`: 2 AVX-512, 1 AVX2,
// 0 baseline). Each result is one float multiplication per element, so every level gives the
// same bits (and the Swift code's).
#ifndef SPSIM_GLA_ROWS_H
#define SPSIM_GLA_ROWS_H

/// The decays of a chunk of `length` ≥ 1 tokens from its gate factors `e` (`[length, width]`,
/// e_t = exp(g_t), each ≤ 1): `prefix[t] = e_0 ⊙ … ⊙ e_t` (exp(Γ_t)), `total = prefix[length − 1]`
/// (exp(Γ_L)), `suffix[t] = e_{t+1} ⊙ … ⊙ e_{length−1}` (exp(Γ_L − Γ_t), 1 for the last
/// token), all `[length, width]` (`total` `[width]`), as running products in token order.
void spsim_gla_decays(int level, const float *e, long length, long width, float *prefix, float *suffix,
                      float *total);

/// `out[t, c] = x[t·row_stride + c] · factor[t·factor_stride + c]` for `length` rows of
/// `width` values (`out` rows `width` apart; `factor_stride` 0: one factor row for every row).
/// `out` may be `x` when `row_stride` = `width`.
void spsim_scale_rows(int level, const float *x, long row_stride, long length, long width, const float *factor,
                      long factor_stride, float *out);

/// `rows[r, c] *= scalars[r]` for `count` rows of `width` values, `row_stride` apart.
void spsim_scale_each_row(int level, float *rows, long row_stride, long count, long width, const float *scalars);

/// Asks the caches (every level, L1 included) for `rows` rows of `width` floats at `x`,
/// `row_stride` floats apart: one software prefetch per cache line.
void spsim_prefetch_rows(const float *x, long row_stride, long rows, long width);

#endif
