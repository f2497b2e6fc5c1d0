// The matrix products of the attention and GLA kernels, on the engine that is fastest for them.
//
// An attention block multiplies the same B operands (Kᵀ, V, and in the backward K, Vᵀ, Q, dO)
// by every query tile. A general `sgemm` packs its B on every call; on an AVX-512 CPU spsim
// instead packs each B once into column panels and runs its own register-tile micro-kernel
// on them (CVectorMath/panel_gemm.c), reading A in place through its strides (plain,
// transposed or one head of a [tokens, heads, dim] tensor, no copy). Measured on a 2-vCPU
// AVX-512 Xeon, one thread: the products of an attention tile (128 × 256 × 64 and
// 128 × 64 × 256) at 160–178 GFLOP/s on B packed beforehand, against 120–125 for
// `cblas_sgemm` (OpenBLAS 0.3.21, SkylakeX core) on the same products. On CPUs without
// AVX-512 the products stay with OpenBLAS, operands read in place: spsim's AVX2 tile ran at
// 39–56 GFLOP/s against 41–68 for OpenBLAS's Haswell core on the same machine.

import CVectorMath

/// Which code runs the attention kernels' products.
enum ProductEngine: Sendable, Equatable {
    /// spsim's micro-kernel on B packed into panels, for this vector `level`
    /// (`spsim_cpu_vector_level()`: 2 AVX-512, 1 AVX2, 0 baseline).
    case panels(level: Int32)
    /// `cblas_sgemm` on operands read in place.
    case blas

    /// Panels on AVX-512, OpenBLAS elsewhere.
    static let best: ProductEngine = cpuVectorLevel >= 2 ? .panels(level: cpuVectorLevel) : .blas

    /// Columns per packed panel (0 for `.blas`, which packs nothing).
    var panelWidth: Int {
        if case let .panels(level) = self { return spsim_panel_width(level) }
        return 0
    }

    /// Floats `prepare` needs for an op(B) of `k × n` (0 for `.blas`).
    func preparedFloats(k: Int, n: Int) -> Int {
        let width = panelWidth
        return width == 0 ? 0 : k * ((n + width - 1) / width * width)
    }

    /// op(B) `[k × n]`, element (p, j) at `b[p·rowStride + j·colStride]` (one of the strides
    /// 1), ready for `product`: packed into `storage` (`preparedFloats(k:n:)` floats, written)
    /// or, for `.blas`, described in place (`storage` unused).
    func prepare(_ b: UnsafePointer<Float>, rowStride: Int, colStride: Int, k: Int, n: Int,
                 storage: UnsafeMutablePointer<Float>?) -> ProductOperand {
        precondition(rowStride == 1 || colStride == 1, "product operand: one stride must be 1")
        guard case let .panels(level) = self, let storage else {
            return ProductOperand(k: k, n: n, base: b, rowStride: rowStride, colStride: colStride, panelStride: 0)
        }
        let width = panelWidth
        if k > 0 { spsim_pack_panels(level, k, n, b, rowStride, colStride, storage, k * width) }
        return ProductOperand(k: k, n: n, base: UnsafePointer(storage), rowStride: width, colStride: 1,
                              panelStride: k * width)
    }

    /// `C [m × n] = alpha · A [m × k] · B + beta · C` (row stride `ldc`), B prepared by this
    /// engine (`n`, `k` are B's), A element (i, p) at `a[i·rowStride + p·colStride]` (one of
    /// the strides 1). With beta = 0, C is not read.
    func product(m: Int, a: UnsafePointer<Float>, rowStride: Int, colStride: Int, b: ProductOperand,
                 alpha: Float = 1, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(rowStride == 1 || colStride == 1, "product: one stride of A must be 1")
        if case let .panels(level) = self {
            spsim_panel_gemm(level, m, b.n, b.k, alpha, a, rowStride, colStride, b.base, b.panelStride, beta, c, ldc)
            return
        }
        // A stride that steps over a single row or column is never used, but CBLAS wants it
        // at least the row length.
        let aPlain = colStride == 1, bPlain = b.colStride == 1
        let lda = aPlain ? (m == 1 ? max(rowStride, b.k) : rowStride) : (b.k == 1 ? max(colStride, m) : colStride)
        let ldb = bPlain ? (b.k == 1 ? max(b.rowStride, b.n) : b.rowStride)
                         : (b.n == 1 ? max(b.colStride, b.k) : b.colStride)
        Kernels.gemm(aPlain ? .plain : .transposed, bPlain ? .plain : .transposed, m: m, n: b.n, k: b.k,
                     alpha: alpha, a: a, lda: lda, b: b.base, ldb: ldb, beta: beta, c: c, ldc: max(ldc, b.n))
    }
}

/// A B operand `[k × n]` of `ProductEngine.product`: packed panels (`panelStride` > 0, rows
/// `rowStride` = panel width apart) or a matrix in place (element (p, j) at
/// `base[p·rowStride + j·colStride]`).
struct ProductOperand {
    let k: Int, n: Int
    let base: UnsafePointer<Float>
    let rowStride: Int, colStride: Int
    let panelStride: Int
}

extension ProductEngine {
    /// `gemm`'s one product on this engine: `C[m×n] ← alpha · op(A)[m×k] · op(B)[k×n] + beta · C`,
    /// row-major with leading dimensions as `gemm` takes them, B packed into `panels`
    /// (`preparedFloats(k:n:)` floats) for this product alone. For small products (the GLA
    /// chunks' 64 × 64 × 64), where a general sgemm's set-up and packing of both operands cost
    /// as much as the arithmetic.
    func gemm(_ transA: MatrixOperand = .plain, _ transB: MatrixOperand = .plain, m: Int, n: Int, k: Int,
              alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
              beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, panels: UnsafeMutablePointer<Float>) {
        if m == 0 || n == 0 { return }
        let operand = prepare(b, rowStride: transB == .plain ? ldb : 1, colStride: transB == .plain ? 1 : ldb,
                              k: k, n: n, storage: panels)
        product(m: m, a: a, rowStride: transA == .plain ? lda : 1, colStride: transA == .plain ? 1 : lda,
                b: operand, alpha: alpha, beta: beta, c: c, ldc: ldc)
    }
}
