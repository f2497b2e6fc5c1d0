import Foundation
import Kernels

/// The scalar a model computes in: `Float` for training, `Double` for the finite-difference
/// checks of every layer's backward. Matrix products go through BLAS (`BLASScalar`).
public protocol TrainingScalar: BLASScalar {
    /// e^x.
    static func exponential(_ x: Self) -> Self
    /// The natural logarithm.
    static func logarithm(_ x: Self) -> Self
}

extension Float: TrainingScalar {
    @inlinable public static func exponential(_ x: Float) -> Float { Foundation.exp(x) }
    @inlinable public static func logarithm(_ x: Float) -> Float { Foundation.log(x) }
}

extension Double: TrainingScalar {
    @inlinable public static func exponential(_ x: Double) -> Double { Foundation.exp(x) }
    @inlinable public static func logarithm(_ x: Double) -> Double { Foundation.log(x) }
}

/// `C[m×n] (+)= op(A) · op(B)` on whole row-major arrays (leading dimensions = column counts).
@inline(__always)
func matmul<T: TrainingScalar>(_ a: [T], _ b: [T], into c: inout [T], m: Int, n: Int, k: Int,
                               transposeA: Bool = false, transposeB: Bool = false, accumulate: Bool = false) {
    precondition(a.count >= m * k && b.count >= k * n && c.count >= m * n, "matmul: operand too small")
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                T.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
                       a: pa.baseAddress!, lda: transposeA ? m : k, b: pb.baseAddress!, ldb: transposeB ? k : n,
                       beta: accumulate ? 1 : 0, c: pc.baseAddress!, ldc: n)
            }
        }
    }
}

/// `A[m×k] · B[k×n]` as a new array.
@inline(__always)
func matmul<T: TrainingScalar>(_ a: [T], _ b: [T], m: Int, n: Int, k: Int, transposeB: Bool = false) -> [T] {
    var c = [T](repeating: 0, count: m * n)
    matmul(a, b, into: &c, m: m, n: n, k: k, transposeB: transposeB)
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
