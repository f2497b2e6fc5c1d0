import XCTest
@testable import Kernels
import TestSupport
import COpenBLAS

/// Every product engine this CPU can run: OpenBLAS in place, and spsim's panel micro-kernel at
/// each vector level up to the CPU's (baseline, AVX2, AVX-512). The attention tests run all.
let testedProductEngines: [ProductEngine] =
    [.blas] + (0...spsim_cpu_vector_level()).map { ProductEngine.panels(level: $0) }

final class PanelGEMMTests: XCTestCase {
    /// `C = alpha·A·B + beta·C` against a float64 product for plain and transposed A and B,
    /// sizes around the tile edges (1, a partial tile, whole tiles, a narrow last panel), B
    /// read from a row offset (`rows`), and beta = 0 with C full of NaN (which must not be read).
    func testProductsMatchFloat64OnEveryEngine() {
        var random = TestRandom(seed: 7)
        let shapes = [(1, 1, 1), (1, 33, 5), (7, 17, 3), (8, 32, 64), (16, 16, 16), (17, 48, 9), (37, 70, 19),
                      (128, 64, 256), (9, 0, 4), (5, 3, 0)]
        for engine in testedProductEngines {
            for (m, n, k) in shapes {
                for (aTransposed, bTransposed) in [(false, false), (true, false), (false, true), (true, true)] {
                    for beta: Float in [0, 1] {
                        let skip = 3  // B's operand starts `skip` rows into a taller matrix
                        let a = (0..<(m * k)).map { _ in Float(random.uniform()) }
                        let b = (0..<((k + skip) * n)).map { _ in Float(random.uniform()) }
                        let ldc = n + 2
                        var c = (0..<(m * ldc)).map { _ in beta == 0 ? Float.nan : Float(random.uniform()) }
                        var expected = [Double](repeating: 0, count: m * ldc)
                        // A element (i, p) and op(B) element (p, j) of the stored arrays.
                        func aAt(_ i: Int, _ p: Int) -> Float { aTransposed ? a[p * m + i] : a[i * k + p] }
                        func bAt(_ p: Int, _ j: Int) -> Float { bTransposed ? b[j * (k + skip) + p] : b[p * n + j] }
                        for i in 0..<m {
                            for j in 0..<n {
                                var sum = 0.0
                                for p in 0..<k { sum += Double(aAt(i, p)) * Double(bAt(p + skip, j)) }
                                expected[i * ldc + j] = 0.5 * sum + (beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j]))
                            }
                        }
                        let label = "\(engine) m=\(m) n=\(n) k=\(k) Aᵀ=\(aTransposed) Bᵀ=\(bTransposed) beta=\(beta)"
                        var storage = [Float](repeating: .nan, count: max(1, engine.preparedFloats(k: k + skip, n: n)))
                        a.withUnsafeBufferPointer { ap in
                        b.withUnsafeBufferPointer { bp in
                        storage.withUnsafeMutableBufferPointer { sp in
                        c.withUnsafeMutableBufferPointer { cp in
                            let operand = engine.prepare(bp.baseAddress! + skip * (bTransposed ? 1 : n),
                                                         rowStride: bTransposed ? 1 : n,
                                                         colStride: bTransposed ? k + skip : 1, k: k, n: n,
                                                         storage: sp.baseAddress!)
                            engine.product(m: m, a: ap.baseAddress!, rowStride: aTransposed ? 1 : k,
                                           colStride: aTransposed ? m : 1, b: operand,
                                           alpha: 0.5, beta: beta, c: cp.baseAddress!, ldc: ldc)
                        }}}}
                        for i in 0..<m {
                            for j in 0..<n {
                                XCTAssertEqual(Double(c[i * ldc + j]), expected[i * ldc + j],
                                               accuracy: 1e-5 * Double(max(k, 1)), "\(label) at (\(i), \(j))")
                            }
                            // Columns past n are not C's: untouched.
                            for j in n..<ldc where beta == 0 {
                                XCTAssertTrue(c[i * ldc + j].isNaN, "\(label) wrote column \(j)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// The triangular shapes: with A lower triangular, `.lowerTriangularA` gives the whole
    /// product; `.lowerTriangleOfC` gives C's lower triangle (with the diagonal) as the whole
    /// product does, for sizes around the tiles' edges, on every engine.
    func testTriangularShapesGiveTheLowerProduct() {
        var random = TestRandom(seed: 11)
        for engine in testedProductEngines {
            for (n, width) in [(1, 3), (5, 7), (17, 33), (64, 64), (70, 40)] {
                var a = (0..<(n * n)).map { _ in Float(random.uniform()) }
                let b = (0..<(n * width)).map { _ in Float(random.uniform()) }
                let square = (0..<(n * n)).map { _ in Float(random.uniform()) }
                func product(_ a: [Float], _ b: [Float], columns: Int, shape: ProductShape) -> [Float] {
                    var c = [Float](repeating: .nan, count: n * columns)
                    var storage = [Float](repeating: .nan, count: max(1, engine.preparedFloats(k: n, n: columns)))
                    a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                    storage.withUnsafeMutableBufferPointer { sp in
                    c.withUnsafeMutableBufferPointer { cp in
                        engine.gemm(m: n, n: columns, k: n, a: ap.baseAddress!, lda: n, b: bp.baseAddress!, ldb: columns,
                                    c: cp.baseAddress!, ldc: columns, panels: sp.baseAddress!, shape: shape)
                    }}}}
                    return c
                }
                for i in 0..<n { for p in (i + 1)..<max(n, i + 1) { a[i * n + p] = 0 } }
                let full = product(a, b, columns: width, shape: .full)
                let lowerA = product(a, b, columns: width, shape: .lowerTriangularA)
                for (x, y) in zip(lowerA, full) { XCTAssertEqual(x, y, accuracy: 1e-5 * Float(n), "\(engine) n=\(n) lower A") }
                let whole = product(a, square, columns: n, shape: .full)
                let lowerC = product(a, square, columns: n, shape: .lowerTriangleOfC)
                for i in 0..<n {
                    for j in 0...i {
                        XCTAssertEqual(lowerC[i * n + j], whole[i * n + j], accuracy: 1e-5 * Float(n),
                                       "\(engine) n=\(n) lower C at (\(i), \(j))")
                    }
                }
            }
        }
    }

    /// The float64 panels (`spsim_panel_gemm_f64`, the reference's products) at every vector
    /// level against a float64 triple loop: odd shapes around the tiles' edges (8 × 16, 6 × 8,
    /// 4 × 4 and their narrow halves), plain and transposed A and B, B from a row offset, alpha ≠ 1,
    /// beta 0 (C full of NaN, not read) and 1. Both sum the same products in float64, in
    /// different orders and with or without fused multiply-adds: they agree to a few ulps of
    /// the sum of the terms' magnitudes.
    func testFloat64ProductsMatchATripleLoopOnEveryEngine() {
        var random = TestRandom(seed: 11)
        let shapes = [(1, 1, 1), (1, 17, 5), (7, 9, 3), (8, 16, 64), (9, 8, 8), (13, 23, 31), (17, 40, 9),
                      (37, 70, 19), (128, 64, 256), (9, 0, 4), (5, 3, 0)]
        for engine in testedProductEngines {
            for (m, n, k) in shapes {
                for (aTransposed, bTransposed) in [(false, false), (true, false), (false, true), (true, true)] {
                    for beta: Double in [0, 1] {
                        let skip = 3  // B's operand starts `skip` rows into a taller matrix
                        let a = (0..<(m * k)).map { _ in random.uniform() }
                        let b = (0..<((k + skip) * n)).map { _ in random.uniform() }
                        let ldc = n + 2, alpha = 0.375
                        var c = (0..<(m * ldc)).map { _ in beta == 0 ? Double.nan : random.uniform() }
                        var expected = [Double](repeating: 0, count: m * ldc), magnitude = expected
                        func aAt(_ i: Int, _ p: Int) -> Double { aTransposed ? a[p * m + i] : a[i * k + p] }
                        func bAt(_ p: Int, _ j: Int) -> Double { bTransposed ? b[j * (k + skip) + p] : b[p * n + j] }
                        for i in 0..<m {
                            for j in 0..<n {
                                var sum = 0.0, size = 0.0
                                for p in 0..<k {
                                    sum += aAt(i, p) * bAt(p + skip, j)
                                    size += abs(aAt(i, p) * bAt(p + skip, j))
                                }
                                let old = beta == 0 ? 0 : beta * c[i * ldc + j]
                                expected[i * ldc + j] = alpha * sum + old
                                magnitude[i * ldc + j] = alpha * size + abs(old)
                            }
                        }
                        let label = "\(engine) m=\(m) n=\(n) k=\(k) Aᵀ=\(aTransposed) Bᵀ=\(bTransposed) beta=\(beta)"
                        var storage = [Double](repeating: .nan,
                                               count: max(1, engine.prepared(Double.self, k: k + skip, n: n)))
                        a.withUnsafeBufferPointer { ap in
                        b.withUnsafeBufferPointer { bp in
                        storage.withUnsafeMutableBufferPointer { sp in
                        c.withUnsafeMutableBufferPointer { cp in
                            let operand = engine.prepare(bp.baseAddress!, rowStride: bTransposed ? 1 : n,
                                                         colStride: bTransposed ? k + skip : 1, k: k + skip, n: n,
                                                         storage: sp.baseAddress!)
                            engine.product(m: m, a: ap.baseAddress!, rowStride: aTransposed ? 1 : k,
                                           colStride: aTransposed ? m : 1, b: operand.rows(skip ..< k + skip),
                                           alpha: alpha, beta: beta, c: cp.baseAddress!, ldc: ldc)
                        }}}}
                        for i in 0..<m {
                            for j in 0..<n {
                                XCTAssertEqual(c[i * ldc + j], expected[i * ldc + j],
                                               accuracy: 1e-13 * max(magnitude[i * ldc + j], .leastNormalMagnitude),
                                               "\(label) at (\(i), \(j))")
                            }
                            for j in n..<ldc where beta == 0 {
                                XCTAssertTrue(c[i * ldc + j].isNaN, "\(label) wrote column \(j)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// The float64 reference (o, lse and the gradients) on every engine against OpenBLAS's:
    /// GQA, a head dimension and key count off the panel widths, under no mask, a causal mask
    /// over zigzag-like positions (key prefixes) and over shuffled key positions (the mask
    /// key by key), with key blocks and query tiles cut short.
    func testReferenceIsTheSameOnEveryEngine() {
        var random = TestRandom(seed: 5)
        let (nq, nk, heads, kvHeads, dim, valueDim) = (150, 301, 4, 2, 19, 13)
        let q = random.tensor(nq, heads, dim, in: -2...2), k = random.tensor(nk, kvHeads, dim, in: -2...2)
        let v = random.tensor(nk, kvHeads, valueDim), dO = random.tensor(nq, heads, valueDim)
        var shuffled = Array(0..<nk)
        for i in stride(from: nk - 1, to: 0, by: -1) { shuffled.swapAt(i, Int(random.next() % UInt64(i + 1))) }
        let masks: [AttentionMask] = [
            .none,
            .causal(queryPositions: Array(40..<115) + Array(200..<275), keyPositions: Array(0..<nk)),
            .causal(queryPositions: (0..<nq).map { 2 * $0 }, keyPositions: shuffled),
        ]
        for mask in masks {
            let want = attentionReferenceWithGradients(q: q, k: k, v: v, dO: dO, mask: mask, engine: .blas)
            for engine in testedProductEngines where engine != .blas {
                let got = attentionReferenceWithGradients(q: q, k: k, v: v, dO: dO, mask: mask, engine: engine)
                let forward = attentionReference(q: q, k: k, v: v, mask: mask, engine: engine)
                for (name, x, r) in [("o", got.o, want.o), ("lse", got.lse, want.lse), ("dq", got.dq, want.dq),
                                     ("dk", got.dk, want.dk), ("dv", got.dv, want.dv),
                                     ("forward o", forward.o, want.o), ("forward lse", forward.lse, want.lse)] {
                    XCTAssertLessThanOrEqual(x.maxRelativeError(against: r), 1e-12, "\(engine) \(mask) \(name)")
                }
            }
        }
    }
}

