import COpenBLAS

/// Whether a matrix operand of `gemm` is read as stored or transposed.
enum MatrixOperand: Sendable {
    /// Use the matrix as stored (`CblasNoTrans`).
    case plain
    /// Use its transpose (`CblasTrans`).
    case transposed

    /// The CBLAS constant for this operand.
    @inline(__always)
    var cblas: CBLAS_TRANSPOSE { self == .plain ? CblasNoTrans : CblasTrans }
}

/// General matrix product on row-major storage, through `cblas_sgemm` (`Float`) or
/// `cblas_dgemm` (`Double`: the training layers' float64 checks, and the float64
/// attention reference on CPUs without AVX-512, through `ProductEngine.product`):
///
///     C[m×n] ← alpha · op(A)[m×k] · op(B)[k×n] + beta · C
///
/// `op(X)` is `X` or `Xᵀ` as `transA`/`transB` say. Leading dimensions are row strides in
/// elements (row-major): `lda` is the stride of the stored A (`k` columns when plain, `m`
/// when transposed), and likewise `ldb`, `ldc`. Operands are addressed as `base + offset`,
/// so a head of a `[tokens, heads, dim]` tensor is read in place with offset `h * dim`
/// and leading dimension `heads * dim`. An empty product (`m`, `n` or `k` zero) only
/// scales C by beta (or does nothing when `m` or `n` is zero). The only call of the CBLAS
/// products in spsim. Precondition: every extent and stride fits the BLAS integer (Int32).
@inline(__always)
func gemm<T: BLASScalar>(
    _ transA: MatrixOperand = .plain, _ transB: MatrixOperand = .plain,
    m: Int, n: Int, k: Int,
    alpha: T = 1,
    a: UnsafePointer<T>, aOffset: Int = 0, lda: Int,
    b: UnsafePointer<T>, bOffset: Int = 0, ldb: Int,
    beta: T = 0,
    c: UnsafeMutablePointer<T>, cOffset: Int = 0, ldc: Int
) {
    if m == 0 || n == 0 { return }
    precondition(m > 0 && n > 0 && k >= 0, "gemm: negative extent")
    precondition(max(m, n, k, lda, ldb, ldc) <= Int(Int32.max), "gemm: extent exceeds the BLAS integer range")
    let (ta, tb) = (transA.cblas, transB.cblas)
    let (bm, bn, bk) = (blasint(m), blasint(n), blasint(k))
    let (la, lb, lc) = (blasint(max(lda, 1)), blasint(max(ldb, 1)), blasint(max(ldc, 1)))
    if T.self == Float.self {
        cblas_sgemm(CblasRowMajor, ta, tb, bm, bn, bk, Float(alpha),
                    UnsafeRawPointer(a + aOffset).assumingMemoryBound(to: Float.self), la,
                    UnsafeRawPointer(b + bOffset).assumingMemoryBound(to: Float.self), lb, Float(beta),
                    UnsafeMutableRawPointer(c + cOffset).assumingMemoryBound(to: Float.self), lc)
    } else {
        cblas_dgemm(CblasRowMajor, ta, tb, bm, bn, bk, Double(alpha),
                    UnsafeRawPointer(a + aOffset).assumingMemoryBound(to: Double.self), la,
                    UnsafeRawPointer(b + bOffset).assumingMemoryBound(to: Double.self), lb, Double(beta),
                    UnsafeMutableRawPointer(c + cOffset).assumingMemoryBound(to: Double.self), lc)
    }
}

/// Scalars with a BLAS general matrix product (`gemm`): `Float` and `Double`, for modules
/// outside Kernels (the training layers run in both, float64 for finite differences).
///
///     C[m×n] ← alpha · op(A)[m×k] · op(B)[k×n] + beta · C
///
/// with `op(X) = Xᵀ` when `transposeA`/`transposeB` is set; `lda`, `ldb`, `ldc` are the
/// stored matrices' row strides in elements.
public protocol BLASScalar: BinaryFloatingPoint & Sendable {}

extension BLASScalar {
    /// `gemm` for other modules.
    @inlinable
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
                            a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                            beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int) {
        publicGEMM(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }
}

extension Float: BLASScalar {}
extension Double: BLASScalar {}

/// The entry behind `BLASScalar.gemm`.
@usableFromInline
func publicGEMM<T: BLASScalar>(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: T,
                               _ a: UnsafePointer<T>, _ lda: Int, _ b: UnsafePointer<T>, _ ldb: Int,
                               _ beta: T, _ c: UnsafeMutablePointer<T>, _ ldc: Int) {
    gemm(transA ? .transposed : .plain, transB ? .transposed : .plain, m: m, n: n, k: k, alpha: alpha,
         a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}
