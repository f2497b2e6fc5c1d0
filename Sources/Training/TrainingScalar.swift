import Foundation
import Kernels

/// The scalar a model computes in: `Float` for training, `Double` for the finite-difference
/// checks of every layer's backward. Matrix products go through BLAS (`BLASScalar`).
public protocol TrainingScalar: BLASScalar {
    /// e^x.
    static func exponential(_ x: Self) -> Self
    /// The natural logarithm.
    static func logarithm(_ x: Self) -> Self
    /// e^x for every element, in place: for training (Float) the attention kernels'
    /// vectorized exp (`Kernels.fastExp`, relative error ≤ about 2e-7, arguments clamped to
    /// [−88, 88]); for the finite-difference checks (Double) `exp` element by element.
    static func exponentiate(_ x: UnsafeMutableBufferPointer<Self>)
}

extension Float: TrainingScalar {
    @inlinable public static func exponential(_ x: Float) -> Float { Foundation.exp(x) }
    @inlinable public static func logarithm(_ x: Float) -> Float { Foundation.log(x) }
    public static func exponentiate(_ x: UnsafeMutableBufferPointer<Float>) { fastExp(x) }
}

extension Double: TrainingScalar {
    @inlinable public static func exponential(_ x: Double) -> Double { Foundation.exp(x) }
    @inlinable public static func logarithm(_ x: Double) -> Double { Foundation.log(x) }
    public static func exponentiate(_ x: UnsafeMutableBufferPointer<Double>) {
        for i in x.indices { x[i] = Foundation.exp(x[i]) }
    }
}

/// `C[m×n] (+)= op(A) · op(B)` on row-major matrices stored whole in arrays, B and C from
/// element `bOffset` and `cOffset` (a weight or its gradient inside the flat vectors, used
/// in place); leading dimensions are the column counts.
@inline(__always)
func matmul<T: TrainingScalar>(_ a: [T], _ b: [T], bOffset: Int = 0, into c: inout [T], cOffset: Int = 0,
                               m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false,
                               accumulate: Bool = false) {
    precondition(a.count >= m * k && b.count - bOffset >= k * n && c.count - cOffset >= m * n,
                 "matmul: operand too small")
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                T.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
                       a: pa.baseAddress!, lda: transposeA ? m : k, b: pb.baseAddress! + bOffset,
                       ldb: transposeB ? k : n, beta: accumulate ? 1 : 0, c: pc.baseAddress! + cOffset, ldc: n)
            }
        }
    }
}

/// `A[m×k] · B[k×n]` as a new array, B from element `bOffset` of `b`.
@inline(__always)
func matmul<T: TrainingScalar>(_ a: [T], _ b: [T], bOffset: Int = 0, m: Int, n: Int, k: Int) -> [T] {
    var c = [T](repeating: 0, count: m * n)
    matmul(a, b, bOffset: bOffset, into: &c, m: m, n: n, k: k)
    return c
}

extension Array where Element: TrainingScalar {
    /// Adds `other` element by element.
    @inline(__always)
    mutating func add(_ other: [Element]) {
        precondition(count == other.count, "added arrays differ in length")
        withUnsafeMutableBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                for i in 0..<a.count { a[i] += b[i] }
            }
        }
    }
}
