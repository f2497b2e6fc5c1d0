import COpenBLAS

/// Whether a matrix operand of `sgemm` is read as stored or transposed.
enum MatrixOperand: Sendable {
    /// Use the matrix as stored (`CblasNoTrans`).
    case plain
    /// Use its transpose (`CblasTrans`).
    case transposed

    /// The CBLAS constant for this operand.
    @inline(__always)
    var cblas: CBLAS_TRANSPOSE { self == .plain ? CblasNoTrans : CblasTrans }
}

/// Single-precision general matrix product on row-major storage, through `cblas_sgemm`:
///
///     C[m×n] ← alpha · op(A)[m×k] · op(B)[k×n] + beta · C
///
/// `op(X)` is `X` or `Xᵀ` as `transA`/`transB` say. Leading dimensions are row strides in
/// elements (row-major): `lda` is the stride of the stored A (`k` columns when plain, `m`
/// when transposed), and likewise `ldb`, `ldc`. Operands are addressed as `base + offset`,
/// so a head of a `[tokens, heads, dim]` tensor is read in place with offset `h * dim`
/// and leading dimension `heads * dim`. An empty product (`m`, `n` or `k` zero) only
/// scales C by beta (or does nothing when `m` or `n` is zero). The only call of
/// `cblas_sgemm` in spsim.
@inline(__always)
func sgemm(
    _ transA: MatrixOperand = .plain, _ transB: MatrixOperand = .plain,
    m: Int, n: Int, k: Int,
    alpha: Float = 1,
    a: UnsafePointer<Float>, aOffset: Int = 0, lda: Int,
    b: UnsafePointer<Float>, bOffset: Int = 0, ldb: Int,
    beta: Float = 0,
    c: UnsafeMutablePointer<Float>, cOffset: Int = 0, ldc: Int
) {
    if m == 0 || n == 0 { return }
    precondition(m > 0 && n > 0 && k >= 0, "sgemm: negative extent")
    precondition(m <= Int(Int32.max) && n <= Int(Int32.max) && k <= Int(Int32.max)
                 && lda <= Int(Int32.max) && ldb <= Int(Int32.max) && ldc <= Int(Int32.max),
                 "sgemm: extent exceeds the BLAS integer range")
    cblas_sgemm(CblasRowMajor, transA.cblas, transB.cblas,
                blasint(m), blasint(n), blasint(k),
                alpha, a + aOffset, blasint(max(lda, 1)),
                b + bOffset, blasint(max(ldb, 1)),
                beta, c + cOffset, blasint(max(ldc, 1)))
}

/// Scalars with a BLAS general matrix product on row-major storage: `Float` (`cblas_sgemm`)
/// and `Double` (`cblas_dgemm`, for float64 checks such as finite differences).
///
///     C[m×n] ← alpha · op(A)[m×k] · op(B)[k×n] + beta · C
///
/// with `op(X) = Xᵀ` when `transposeA`/`transposeB` is set; `lda`, `ldb`, `ldc` are the
/// stored matrices' row strides in elements.
public protocol BLASScalar: BinaryFloatingPoint & Sendable {
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
                     a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

extension Float: BLASScalar {
    @inlinable
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        publicSgemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }
}

extension Double: BLASScalar {
    @inlinable
    public static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                            a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        publicDgemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }
}

/// `sgemm` for other modules (through `Float.gemm`).
@usableFromInline
func publicSgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                 _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                 _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    sgemm(transA ? .transposed : .plain, transB ? .transposed : .plain, m: m, n: n, k: k, alpha: alpha,
          a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

/// Double-precision general matrix product on row-major storage, through `cblas_dgemm`;
/// the same conventions as `sgemm`.
@usableFromInline
func publicDgemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Double,
                 _ a: UnsafePointer<Double>, _ lda: Int, _ b: UnsafePointer<Double>, _ ldb: Int,
                 _ beta: Double, _ c: UnsafeMutablePointer<Double>, _ ldc: Int) {
    dgemm(transA ? .transposed : .plain, transB ? .transposed : .plain, m: m, n: n, k: k, alpha: alpha,
          a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

/// Double-precision general matrix product on row-major storage, through `cblas_dgemm`:
/// `C[m×n] ← alpha · op(A)[m×k] · op(B)[k×n] + beta · C`, with the conventions of `sgemm`
/// (row strides `lda`, `ldb`, `ldc` in elements; `base + offset` addressing). For the float64
/// references: every product is accumulated in float64. The only call of `cblas_dgemm`.
@inline(__always)
func dgemm(
    _ transA: MatrixOperand = .plain, _ transB: MatrixOperand = .plain,
    m: Int, n: Int, k: Int,
    alpha: Double = 1,
    a: UnsafePointer<Double>, aOffset: Int = 0, lda: Int,
    b: UnsafePointer<Double>, bOffset: Int = 0, ldb: Int,
    beta: Double = 0,
    c: UnsafeMutablePointer<Double>, cOffset: Int = 0, ldc: Int
) {
    if m == 0 || n == 0 { return }
    precondition(m > 0 && n > 0 && k >= 0, "dgemm: negative extent")
    precondition(m <= Int(Int32.max) && n <= Int(Int32.max) && k <= Int(Int32.max)
                 && lda <= Int(Int32.max) && ldb <= Int(Int32.max) && ldc <= Int(Int32.max),
                 "dgemm: extent exceeds the BLAS integer range")
    cblas_dgemm(CblasRowMajor, transA.cblas, transB.cblas,
                blasint(m), blasint(n), blasint(k),
                alpha, a + aOffset, blasint(max(lda, 1)),
                b + bOffset, blasint(max(ldb, 1)),
                beta, c + cOffset, blasint(max(ldc, 1)))
}
