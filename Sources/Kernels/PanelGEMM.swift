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
//
// The float64 reference (AttentionReference.swift) runs its products on the same kernel in
// float64 (`ProductEngine.bestFloat64`; tiles of 8 × 16 doubles, half the float32 columns in
// the same registers): 78–99 GFLOP/s on a 128 × 256 × 64 product on B packed beforehand,
// against 62–81 for `cblas_dgemm` (same machine and library, best of 5, a busy neighbour on the
// host), and one rank's reference of the `--verify` benchmark (N = 8192, 2048 query rows, CPU
// time on one core) in 1.00–1.02 s against 1.16–1.22 s on dgemm. Float64 AVX2 panels ran that
// reference in 1.65–1.70 s against 1.58–1.63 s for OpenBLAS's Haswell core: without AVX-512 the
// reference keeps dgemm too.

import CVectorMath

/// Which code runs the attention kernels' products (and, in float64, the reference's).
enum ProductEngine: Sendable, Equatable {
    /// spsim's micro-kernel on B packed into panels, for this vector `level`
    /// (`spsim_cpu_vector_level()`: 2 AVX-512, 1 AVX2, 0 baseline).
    case panels(level: Int32)
    /// `cblas_sgemm` (`cblas_dgemm` in float64) on operands read in place.
    case blas

    /// Panels on AVX-512, OpenBLAS elsewhere.
    static let best: ProductEngine = cpuVectorLevel >= 2 ? .panels(level: cpuVectorLevel) : .blas

    /// The float64 reference's engine (AttentionReference.swift): the same choice, measured
    /// separately above (panels on AVX-512, OpenBLAS elsewhere).
    static let bestFloat64: ProductEngine = best

    /// Floats `prepare` needs for an op(B) of `k × n` (0 for `.blas`).
    func preparedFloats(k: Int, n: Int) -> Int { prepared(Float.self, k: k, n: n) }

    /// Elements of `T` that `prepare` needs for an op(B) of `k × n`: whole panels of
    /// `T.panelWidth(level)` columns (0 for `.blas`, which packs nothing).
    func prepared<T: PanelScalar>(_: T.Type, k: Int, n: Int) -> Int {
        guard case let .panels(level) = self else { return 0 }
        let width = T.panelWidth(level)
        return k * ((n + width - 1) / width * width)
    }

    /// op(B) `[k × n]`, element (p, j) at `b[p·rowStride + j·colStride]` (one of the strides
    /// 1), ready for `product`: packed into `storage` (`prepared(T.self, k:n:)` elements,
    /// written) or, for `.blas`, described in place (`storage` unused).
    func prepare<T: PanelScalar>(_ b: UnsafePointer<T>, rowStride: Int, colStride: Int, k: Int, n: Int,
                                 storage: UnsafeMutablePointer<T>?) -> ProductOperand<T> {
        precondition(rowStride == 1 || colStride == 1, "product operand: one stride must be 1")
        guard case let .panels(level) = self, let storage else {
            return ProductOperand(k: k, n: n, base: b, rowStride: rowStride, colStride: colStride, panelStride: 0)
        }
        let width = T.panelWidth(level)
        if k > 0 { T.packPanels(level, k, n, b, rowStride, colStride, storage, k * width) }
        return ProductOperand(k: k, n: n, base: UnsafePointer(storage), rowStride: width, colStride: 1,
                              panelStride: k * width)
    }

    /// `C [m × n] = alpha · A [m × k] · B + beta · C` (row stride `ldc`), B prepared by this
    /// engine (`n`, `k` are B's), A element (i, p) at `a[i·rowStride + p·colStride]` (one of
    /// the strides 1). With beta = 0, C is not read. `shape` says what the panels may skip:
    /// A's zeros above its diagonal, or C's entries above its diagonal, which the caller then
    /// ignores (`ProductShape`); OpenBLAS computes the whole product either way.
    func product<T: PanelScalar>(m: Int, a: UnsafePointer<T>, rowStride: Int, colStride: Int, b: ProductOperand<T>,
                                 alpha: T = 1, beta: T, c: UnsafeMutablePointer<T>, ldc: Int,
                                 shape: ProductShape = .full) {
        precondition(rowStride == 1 || colStride == 1, "product: one stride of A must be 1")
        if case let .panels(level) = self {
            T.panelGEMM(level, m, b.n, b.k, alpha, a, rowStride, colStride, b.base, b.panelStride, beta, c, ldc,
                        shape.rawValue)
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

/// What a panel product may skip (CVectorMath/panel_gemm.h).
enum ProductShape: Int32 {
    /// The whole product.
    case full = 0
    /// A is lower triangular (row i zero beyond column i): a causal score matrix times V.
    case lowerTriangularA = 1
    /// Only C's lower triangle (with the diagonal) is needed; what lies above it is left
    /// partly computed and partly untouched.
    case lowerTriangleOfC = 2
}

/// A B operand `[k × n]` of `ProductEngine.product`: packed panels (`panelStride` > 0, rows
/// `rowStride` = panel width apart) or a matrix in place (element (p, j) at
/// `base[p·rowStride + j·colStride]`).
struct ProductOperand<T> {
    let k: Int, n: Int
    let base: UnsafePointer<T>
    let rowStride: Int, colStride: Int
    let panelStride: Int
}

extension ProductOperand {
    /// Rows `range` of this operand (a row offset into the panels or the matrix).
    func rows(_ range: Range<Int>) -> ProductOperand {
        ProductOperand(k: range.count, n: n, base: base + range.lowerBound * rowStride, rowStride: rowStride,
                       colStride: colStride, panelStride: panelStride)
    }

    /// Columns `range` of this operand; packed, `range` starts on a panel (a multiple of the
    /// panel width, `rowStride`).
    func columns(_ range: Range<Int>) -> ProductOperand {
        let start = range.lowerBound
        precondition(panelStride == 0 || start % rowStride == 0, "product operand: columns off a panel edge")
        return ProductOperand(k: k, n: range.count,
                              base: base + (panelStride == 0 ? start * colStride : start / rowStride * panelStride),
                              rowStride: rowStride, colStride: colStride, panelStride: panelStride)
    }
}

/// Element types of the panel products: `Float` for the kernels, `Double` for the float64
/// reference, each the C entries of its width (CVectorMath/panel_gemm.h).
protocol PanelScalar: BLASScalar {
    /// Columns per packed panel at `level`.
    static func panelWidth(_ level: Int32) -> Int
    /// `spsim_pack_panels`: level, k, n, b, row stride, column stride, out, panel stride.
    static var packPanels: (Int32, Int, Int, UnsafePointer<Self>, Int, Int, UnsafeMutablePointer<Self>, Int) -> Void { get }
    /// `spsim_panel_gemm`: level, m, n, k, alpha, a, a's strides, b, panel stride, beta, c, ldc, shape.
    static var panelGEMM: (Int32, Int, Int, Int, Self, UnsafePointer<Self>, Int, Int, UnsafePointer<Self>, Int, Self,
                           UnsafeMutablePointer<Self>, Int, Int32) -> Void { get }
}

extension Float: PanelScalar {
    static func panelWidth(_ level: Int32) -> Int { spsim_panel_width(level) }
    static var packPanels: (Int32, Int, Int, UnsafePointer<Float>, Int, Int, UnsafeMutablePointer<Float>, Int) -> Void {
        spsim_pack_panels
    }
    static var panelGEMM: (Int32, Int, Int, Int, Float, UnsafePointer<Float>, Int, Int, UnsafePointer<Float>, Int,
                           Float, UnsafeMutablePointer<Float>, Int, Int32) -> Void { spsim_panel_gemm }
}

extension Double: PanelScalar {
    static func panelWidth(_ level: Int32) -> Int { spsim_panel_width_f64(level) }
    static var packPanels: (Int32, Int, Int, UnsafePointer<Double>, Int, Int, UnsafeMutablePointer<Double>, Int) -> Void {
        spsim_pack_panels_f64
    }
    static var panelGEMM: (Int32, Int, Int, Int, Double, UnsafePointer<Double>, Int, Int, UnsafePointer<Double>, Int,
                           Double, UnsafeMutablePointer<Double>, Int, Int32) -> Void { spsim_panel_gemm_f64 }
}

extension ProductEngine {
    /// `gemm`'s one product on this engine: `C[m×n] ← alpha · op(A)[m×k] · op(B)[k×n] + beta · C`,
    /// row-major with leading dimensions as `gemm` takes them, B packed into `panels`
    /// (`prepared(T.self, k:n:)` elements) for this product alone. For small products (the GLA
    /// chunks' 64 × 64 × 64), where a general sgemm's set-up and packing of both operands cost
    /// as much as the arithmetic.
    func gemm<T: PanelScalar>(_ transA: MatrixOperand = .plain, _ transB: MatrixOperand = .plain, m: Int, n: Int,
                              k: Int, alpha: T = 1, a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                              beta: T = 0, c: UnsafeMutablePointer<T>, ldc: Int, panels: UnsafeMutablePointer<T>,
                              shape: ProductShape = .full) {
        if m == 0 || n == 0 { return }
        let operand = prepare(b, rowStride: transB == .plain ? ldb : 1, colStride: transB == .plain ? 1 : ldb,
                              k: k, n: n, storage: panels)
        product(m: m, a: a, rowStride: transA == .plain ? lda : 1, colStride: transA == .plain ? 1 : lda,
                b: operand, alpha: alpha, beta: beta, c: c, ldc: ldc, shape: shape)
    }
}
