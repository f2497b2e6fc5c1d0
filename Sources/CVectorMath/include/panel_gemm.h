// The matrix products of the attention kernels (Kernels/PanelGEMM.swift), for the widest
// vector unit the CPU has, chosen at run time from `level` (`spsim_cpu_vector_level()`:
// 2 AVX-512, 1 AVX2 + FMA, 0 baseline).
//
// C = alpha·A·B + beta·C, row-major, float32. B is packed once into column panels of
// `spsim_panel_width(level)` columns (NR: 32, 16 or 8): panel j holds columns j·NR ..< (j+1)·NR,
// row p of it at `panel + p·NR`, zero beyond the last column, and panels are
// `panel_stride` floats apart. A is read in place with any strides (element (i, p) at
// `a[i·a_row_stride + p·a_col_stride]`), so a plain, transposed or strided A needs no copy.
// A register tile of MR rows × NR columns accumulates over all of k (the GotoBLAS
// micro-kernel without the packing of A and without cache blocking of k: the attention
// products have k ≤ a few hundred). An attention tile packs its B operands (Kᵀ, V, …) once
// and reuses them for every query tile, which is what a general sgemm cannot do.
//
// The `_f64` entries are the same products in float64 for the attention reference
// (Kernels/AttentionReference.swift): panels of `spsim_panel_width_f64(level)` columns (16, 8
// or 4: the same vector registers at half the lanes), every product and sum in float64.
#ifndef SPSIM_PANEL_GEMM_H
#define SPSIM_PANEL_GEMM_H

/// What a product may skip (`shape` of `spsim_panel_gemm`): nothing; the part of A above its
/// diagonal, which is zero (row i of A has its non-zeros in columns ≤ i, so a tile of rows
/// i0 ..< i0 + MR stops its inner product at i0 + MR: a causal score matrix times V); or the
/// part of C above its diagonal, which the caller does not need (a tile wholly above the
/// diagonal is not computed; one across it is, whole: the caller ignores what lies above).
enum { SPSIM_PRODUCT_FULL = 0, SPSIM_PRODUCT_LOWER_A = 1, SPSIM_PRODUCT_LOWER_C = 2 };

/// Panel width NR (columns per packed panel) at `level`.
long spsim_panel_width(int level);

/// Packs op(B) [k × n] (element (p, j) at `b[p·row_stride + j·col_stride]`) into panels of
/// `spsim_panel_width(level)` columns at `out`, `panel_stride` (≥ k·NR) floats apart, zero
/// beyond column n. `out` holds ⌈n / NR⌉ panels.
void spsim_pack_panels(int level, long k, long n, const float *b, long row_stride, long col_stride,
                       float *out, long panel_stride);

/// C [m × n] (row stride `ldc`) = alpha · A [m × k] · B [k × n] + beta · C, with B packed by
/// `spsim_pack_panels` at the same `level` (`b` = the first row used of panel 0; a row
/// offset p0 into packed panels is `b + p0·NR`). With beta = 0, C is not read. `shape`: one
/// of `SPSIM_PRODUCT_FULL`, `_LOWER_A`, `_LOWER_C`.
void spsim_panel_gemm(int level, long m, long n, long k, float alpha,
                      const float *a, long a_row_stride, long a_col_stride,
                      const float *b, long b_panel_stride, float beta, float *c, long ldc, int shape);

/// `spsim_panel_width` for float64 panels.
long spsim_panel_width_f64(int level);

/// `spsim_pack_panels` in float64 (panels of `spsim_panel_width_f64(level)` columns, `panel_stride`
/// doubles apart).
void spsim_pack_panels_f64(int level, long k, long n, const double *b, long row_stride, long col_stride,
                           double *out, long panel_stride);

/// `spsim_panel_gemm` in float64, B packed by `spsim_pack_panels_f64` at the same `level`.
void spsim_panel_gemm_f64(int level, long m, long n, long k, double alpha,
                          const double *a, long a_row_stride, long a_col_stride,
                          const double *b, long b_panel_stride, double beta, double *c, long ldc, int shape);

#endif
