import XCTest
@testable import Kernels
import TestSupport

/// Gated linear attention: the chunked float32 kernels against the float64 recurrent
/// reference, the block-splitting identities the distributed strategies rely on, and the
/// reference itself against finite differences.
final class GLATests: XCTestCase {
    /// How the log-gates are drawn.
    enum Gates: String, CaseIterable {
        /// Uniform in [−0.5, 0].
        case moderate
        /// −1e-6 everywhere: almost no decay, the state grows with every token.
        case nearZero
        /// Uniform in [−60, −30]: exp(g) and every product of gates underflows in float32.
        case strong
    }

    static let heads = 2, keyDim = 8, valueDim = 6

    /// A float64 problem: q, k, g `[n, H, Dk]`, v and dO `[n, H, Dv]`.
    struct Problem {
        var q, k, v, g, dO: Tensor64
        var q32: Tensor32 { q.converted() }
        var k32: Tensor32 { k.converted() }
        var v32: Tensor32 { v.converted() }
        var g32: Tensor32 { g.converted() }
        var dO32: Tensor32 { dO.converted() }

        /// Tokens `range` of every tensor.
        func tokens(_ range: Range<Int>) -> Problem {
            Problem(q: q.tokens(range), k: k.tokens(range), v: v.tokens(range), g: g.tokens(range),
                    dO: dO.tokens(range))
        }
    }

    static func problem(tokens n: Int, gates: Gates, seed: UInt64,
                        heads: Int = heads, keyDim: Int = keyDim, valueDim: Int = valueDim) -> Problem {
        var rng = TestRandom(seed: seed)
        let q = rng.tensor(n, heads, keyDim)
        let k = rng.tensor(n, heads, keyDim)
        let v = rng.tensor(n, heads, valueDim)
        let dO = rng.tensor(n, heads, valueDim)
        let g: Tensor64
        switch gates {
        case .moderate: g = rng.tensor(n, heads, keyDim, in: -0.5...0)
        case .nearZero: g = Tensor64(tokens: n, heads: heads, dim: keyDim, repeating: -1e-6)
        case .strong: g = rng.tensor(n, heads, keyDim, in: -60 ... -30)
        }
        return Problem(q: q, k: k, v: v, g: g, dO: dO)
    }

    static func randomState(seed: UInt64, heads: Int = heads, keyDim: Int = keyDim,
                            valueDim: Int = valueDim) -> [Double] {
        var rng = TestRandom(seed: seed)
        return (0..<(heads * keyDim * valueDim)).map { _ in rng.uniform(-2...2) }
    }

    static func state(_ values: [Double]) -> GLAState {
        GLAState(heads: heads, keyDim: keyDim, valueDim: valueDim, storage: values.map { Float($0) })
    }

    /// Max relative error of flat float values against flat float64 values (tensor scale).
    static func error(_ x: [Float], _ reference: [Double]) -> Double {
        Tensor32(tokens: 1, heads: 1, dim: x.count, storage: x)
            .maxRelativeError(against: Tensor64(tokens: 1, heads: 1, dim: reference.count, storage: reference))
    }

    static func error(_ x: [Float], _ reference: [Float]) -> Double {
        error(x, reference.map { Double($0) })
    }

    static func allFinite(_ t: Tensor32) -> Bool { t.storage.allSatisfy { $0.isFinite } }

    static func concat(_ a: Tensor32, _ b: Tensor32) -> Tensor32 {
        Tensor32.concatenatingTokens([a, b], heads: a.heads, dim: a.dim)
    }

    /// Σ over tokens of `t`, per (head, channel): `[heads * dim]`.
    static func tokenSum(_ t: Tensor32) -> [Float] {
        var sums = [Double](repeating: 0, count: t.tokenStride)
        for i in t.storage.indices { sums[i % t.tokenStride] += Double(t.storage[i]) }
        return sums.map { Float($0) }
    }

    // MARK: - Against the reference

    func testForwardMatchesReference() {
        withEvery([37, 130], [16, 64], Gates.allCases) { n, chunk, gates in
            let p = Self.problem(tokens: n, gates: gates, seed: UInt64(n * 1000 + chunk))
            let reference = glaReference(q: p.q, k: p.k, v: p.v, g: p.g)
            let (o, final) = glaForward(q: p.q32, k: p.k32, v: p.v32, g: p.g32, chunkSize: chunk)
            let label = "n=\(n) chunk=\(chunk) gates=\(gates)"
            XCTAssertTrue(Self.allFinite(o), label)
            XCTAssertTrue(final.storage.allSatisfy { $0.isFinite }, label)
            XCTAssertLessThanOrEqual(o.maxRelativeError(against: reference.o), Tolerance.output, label)
            XCTAssertLessThanOrEqual(Self.error(final.storage, reference.finalState), Tolerance.output, label)
            XCTAssertGreaterThan(reference.o.storage.map { abs($0) }.max()!, 0.1, label)
        }
    }

    func testForwardWithInitialStateMatchesReference() {
        withEvery([1, 37, 130], [1, 16, 64], Gates.allCases) { n, chunk, gates in
            let p = Self.problem(tokens: n, gates: gates, seed: UInt64(7 + n + chunk))
            let s0 = Self.randomState(seed: 99)
            let reference = glaReference(q: p.q, k: p.k, v: p.v, g: p.g, initialState: s0)
            let (o, final) = glaForward(q: p.q32, k: p.k32, v: p.v32, g: p.g32,
                                        initialState: Self.state(s0), chunkSize: chunk)
            let label = "n=\(n) chunk=\(chunk) gates=\(gates)"
            XCTAssertLessThanOrEqual(o.maxRelativeError(against: reference.o), Tolerance.output, label)
            XCTAssertLessThanOrEqual(Self.error(final.storage, reference.finalState), Tolerance.output, label)
        }
    }

    func testBackwardMatchesReference() {
        withEvery([5, 37, 130], [1, 16, 64], Gates.allCases) { n, chunk, gates in
            let p = Self.problem(tokens: n, gates: gates, seed: UInt64(n * 31 + chunk))
            let reference = glaReferenceBackward(q: p.q, k: p.k, v: p.v, g: p.g, dO: p.dO)
            let grads = glaBackward(q: p.q32, k: p.k32, v: p.v32, g: p.g32, dO: p.dO32, chunkSize: chunk)
            let dg = glaGateGradient(dG: grads.dG)
            let label = "n=\(n) chunk=\(chunk) gates=\(gates)"
            for t in [grads.dq, grads.dk, grads.dv, grads.dG, dg] { XCTAssertTrue(Self.allFinite(t), label) }
            XCTAssertLessThanOrEqual(grads.dq.maxRelativeError(against: reference.dq), Tolerance.gradient, "dq " + label)
            XCTAssertLessThanOrEqual(grads.dk.maxRelativeError(against: reference.dk), Tolerance.gradient, "dk " + label)
            XCTAssertLessThanOrEqual(grads.dv.maxRelativeError(against: reference.dv), Tolerance.gradient, "dv " + label)
            XCTAssertLessThanOrEqual(dg.maxRelativeError(against: reference.dg), Tolerance.gradient, "dg " + label)
            XCTAssertGreaterThan(reference.dg.storage.map { abs($0) }.max()!, 0, label)
        }
    }

    /// The gradient of the incoming state, `dS_in = Σ_t Diag(exp(G_t)) q_tᵀ do_t` (no final-state
    /// gradient), against a float64 evaluation of that formula.
    func testInitialStateGradientMatchesFormula() {
        withEvery([37, 130], Gates.allCases) { n, gates in
            let p = Self.problem(tokens: n, gates: gates, seed: UInt64(n + 5))
            let grads = glaBackward(q: p.q32, k: p.k32, v: p.v32, g: p.g32, dO: p.dO32, chunkSize: 16)
            let (H, Dk, Dv) = (Self.heads, Self.keyDim, Self.valueDim)
            var expected = [Double](repeating: 0, count: H * Dk * Dv)
            for h in 0..<H {
                for c in 0..<Dk {
                    var cumulative = 0.0
                    for t in 0..<n {
                        cumulative += p.g[t, h, c]
                        for e in 0..<Dv { expected[(h * Dk + c) * Dv + e] += exp(cumulative) * p.q[t, h, c] * p.dO[t, h, e] }
                    }
                }
            }
            XCTAssertLessThanOrEqual(Self.error(grads.initialState.storage, expected), 1e-4, "n=\(n) gates=\(gates)")
        }
    }

    // MARK: - Splitting a sequence into blocks

    func testForwardSplitEqualsWhole() {
        withEvery([37, 65, 100], Gates.allCases) { cut, gates in
            let n = 130
            let p = Self.problem(tokens: n, gates: gates, seed: 11)
            let reference = glaReference(q: p.q, k: p.k, v: p.v, g: p.g)
            let a = p.tokens(0..<cut), b = p.tokens(cut..<n)
            let first = glaForward(q: a.q32, k: a.k32, v: a.v32, g: a.g32, chunkSize: 16)
            let second = glaForward(q: b.q32, k: b.k32, v: b.v32, g: b.g32,
                                    initialState: first.finalState, chunkSize: 16)
            let label = "cut=\(cut) gates=\(gates)"
            XCTAssertLessThanOrEqual(Self.concat(first.o, second.o).maxRelativeError(against: reference.o), 1e-4, label)
            XCTAssertLessThanOrEqual(Self.error(second.finalState.storage, reference.finalState), 1e-4, label)
        }
    }

    func testAddIncomingStateEqualsForwardWithInitialState() {
        withEvery([37, 130], Gates.allCases) { n, gates in
            let p = Self.problem(tokens: n, gates: gates, seed: 21)
            let s0 = Self.state(Self.randomState(seed: 5))
            var (o, local) = glaForward(q: p.q32, k: p.k32, v: p.v32, g: p.g32, chunkSize: 16)
            let before = o
            glaAddIncomingState(&o, q: p.q32, g: p.g32, state: s0)
            let direct = glaForward(q: p.q32, k: p.k32, v: p.v32, g: p.g32, initialState: s0, chunkSize: 64)
            let label = "n=\(n) gates=\(gates)"
            XCTAssertLessThanOrEqual(o.maxRelativeError(against: direct.o), 1e-5, label)
            XCTAssertTrue(Self.allFinite(o), label)
            if gates != .strong {
                // The incoming state must actually change o (else the comparison proves nothing).
                XCTAssertGreaterThan(before.maxRelativeError(against: direct.o), 1e-3, label)
            }
            // And the final state is the scan combination Diag(a) S_in + B.
            let a = glaTotalLogDecay(g: p.g32).map { Float(exp(Double($0))) }
            var combined = s0
            combined.scale(by: a, adding: local)
            local = combined
            XCTAssertLessThanOrEqual(Self.error(local.storage, direct.finalState.storage), 1e-5, label)
        }
    }

    func testBackwardSplitEqualsWhole() {
        withEvery([37, 64, 100], Gates.allCases) { cut, gates in
            let n = 130
            let p = Self.problem(tokens: n, gates: gates, seed: 41)
            let reference = glaReferenceBackward(q: p.q, k: p.k, v: p.v, g: p.g, dO: p.dO)
            let a = p.tokens(0..<cut), b = p.tokens(cut..<n)
            let middle = glaForward(q: a.q32, k: a.k32, v: a.v32, g: a.g32, chunkSize: 16).finalState
            let second = glaBackward(q: b.q32, k: b.k32, v: b.v32, g: b.g32, dO: b.dO32,
                                     initialState: middle, chunkSize: 16)
            let first = glaBackward(q: a.q32, k: a.k32, v: a.v32, g: a.g32, dO: a.dO32,
                                    finalStateGradient: second.initialState, chunkSize: 16)
            let carry = Self.tokenSum(second.dG)
            let dg = Self.concat(glaGateGradient(dG: first.dG, carry: carry), glaGateGradient(dG: second.dG))
            let label = "cut=\(cut) gates=\(gates)"
            XCTAssertLessThanOrEqual(Self.concat(first.dq, second.dq).maxRelativeError(against: reference.dq), 1e-3, "dq " + label)
            XCTAssertLessThanOrEqual(Self.concat(first.dk, second.dk).maxRelativeError(against: reference.dk), 1e-3, "dk " + label)
            XCTAssertLessThanOrEqual(Self.concat(first.dv, second.dv).maxRelativeError(against: reference.dv), 1e-3, "dv " + label)
            XCTAssertLessThanOrEqual(dg.maxRelativeError(against: reference.dg), 1e-3, "dg " + label)
            // The carry of the last block is rowDot(dS_in, S_in): the derivative of its loss
            // with respect to a shift of all its cumulative log-gates.
            let predicted = second.initialState.rowDot(middle)
            XCTAssertLessThanOrEqual(Self.error(carry, predicted), 1e-3, "carry " + label)
        }
    }

    func testFinalStateGradientCanArriveLater() {
        withEvery([37, 130], [16, 64], Gates.allCases) { n, chunk, gates in
            let p = Self.problem(tokens: n, gates: gates, seed: 61)
            let s0 = Self.state(Self.randomState(seed: 1))
            let dsOut = Self.state(Self.randomState(seed: 2))
            let together = glaBackward(q: p.q32, k: p.k32, v: p.v32, g: p.g32, dO: p.dO32,
                                       initialState: s0, finalStateGradient: dsOut, chunkSize: chunk)
            var later = glaBackward(q: p.q32, k: p.k32, v: p.v32, g: p.g32, dO: p.dO32,
                                    initialState: s0, chunkSize: chunk)
            let without = later
            glaAddFinalStateGradient(&later, k: p.k32, v: p.v32, g: p.g32, finalStateGradient: dsOut)
            let label = "n=\(n) chunk=\(chunk) gates=\(gates)"
            XCTAssertEqual(later.dq, together.dq, label)
            XCTAssertLessThanOrEqual(later.dk.maxRelativeError(against: together.dk), 1e-5, "dk " + label)
            XCTAssertLessThanOrEqual(later.dv.maxRelativeError(against: together.dv), 1e-5, "dv " + label)
            XCTAssertLessThanOrEqual(later.dG.maxRelativeError(against: together.dG), 1e-5, "dG " + label)
            XCTAssertLessThanOrEqual(Self.error(later.initialState.storage, together.initialState.storage), 1e-5,
                                     "dS_in " + label)
            // dS_out must matter: it changes dv at the last token at least.
            XCTAssertGreaterThan(without.dv.maxRelativeError(against: together.dv), 1e-3, label)
        }
    }

    // MARK: - Small pieces

    func testTotalLogDecayDecaysTheState() {
        let p = Self.problem(tokens: 50, gates: .moderate, seed: 3)
        let zeroK = Tensor32(tokens: 50, heads: Self.heads, dim: Self.keyDim)
        let s0 = Self.state(Self.randomState(seed: 4))
        let total = glaTotalLogDecay(g: p.g32)
        XCTAssertEqual(total.count, Self.heads * Self.keyDim)
        XCTAssertEqual(Double(total[3]), (0..<50).reduce(0.0) { $0 + Double(Float(p.g[$1, 0, 3])) }, accuracy: 1e-4)
        let final = glaForward(q: p.q32, k: zeroK, v: p.v32, g: p.g32, initialState: s0, chunkSize: 16).finalState
        var expected = [Double](repeating: 0, count: s0.storage.count)
        for r in 0..<total.count {
            for e in 0..<Self.valueDim {
                expected[r * Self.valueDim + e] = exp(Double(total[r])) * Double(s0.storage[r * Self.valueDim + e])
            }
        }
        XCTAssertLessThanOrEqual(Self.error(final.storage, expected), 1e-5)
    }

    func testStateScaleOnRowsAndRowDot() {
        var s = GLAState(heads: 2, keyDim: 3, valueDim: 2, storage: (0..<12).map { Float($0) })
        let add = GLAState(heads: 2, keyDim: 3, valueDim: 2, storage: [Float](repeating: 1, count: 12))
        let decay: [Float] = [10, 20, 30, 40, 50, 60]
        s.scale(rows: 2..<4, by: decay, adding: add)
        XCTAssertEqual(s.storage, [0, 1, 2, 3, 121, 151, 241, 281, 8, 9, 10, 11])
        XCTAssertEqual(s[1, 0, 1], 281)
        XCTAssertEqual(s.rowDot(add), [1, 5, 272, 522, 17, 21])
        var all = GLAState(heads: 1, keyDim: 2, valueDim: 1, storage: [1, 2])
        all.scale(by: [0.5, 0.25], adding: GLAState(heads: 1, keyDim: 2, valueDim: 1, storage: [1, 1]))
        XCTAssertEqual(all.storage, [1.5, 1.5])
        XCTAssertEqual(GLAState(heads: 1, keyDim: 2, valueDim: 3).storage, [Float](repeating: 0, count: 6))
    }

    func testGateGradientIsReverseCumulativeSumPlusCarry() {
        let dG = Tensor32(tokens: 3, heads: 1, dim: 2, storage: [1, 10, 2, 20, 3, 30])
        XCTAssertEqual(glaGateGradient(dG: dG).storage, [6, 60, 5, 50, 3, 30])
        XCTAssertEqual(glaGateGradient(dG: dG, carry: [100, 1000]).storage, [106, 1060, 105, 1050, 103, 1030])
    }

    func testStronglyNegativeGatesKeepOnlyTheCurrentToken() {
        // With g = −50 every step, exp(g) ≈ 2e-22: o_t ≈ (q_t · k_t) v_t, and nothing is NaN or inf.
        let n = 70
        var p = Self.problem(tokens: n, gates: .moderate, seed: 8)
        p.g = Tensor64(tokens: n, heads: Self.heads, dim: Self.keyDim, repeating: -50)
        let (o, _) = glaForward(q: p.q32, k: p.k32, v: p.v32, g: p.g32, chunkSize: 64)
        var expected = Tensor64(tokens: n, heads: Self.heads, dim: Self.valueDim)
        for t in 0..<n {
            for h in 0..<Self.heads {
                var d = 0.0
                for c in 0..<Self.keyDim { d += p.q[t, h, c] * p.k[t, h, c] }
                for e in 0..<Self.valueDim { expected[t, h, e] = d * p.v[t, h, e] }
            }
        }
        XCTAssertLessThanOrEqual(o.maxRelativeError(against: expected), 1e-5)
        let grads = glaBackward(q: p.q32, k: p.k32, v: p.v32, g: p.g32, dO: p.dO32, chunkSize: 64)
        XCTAssertTrue([grads.dq, grads.dk, grads.dv, grads.dG].allSatisfy(Self.allFinite))
        // dg ≈ exp(−50)·O(1): far below float32 noise on the O(1) gradients.
        XCTAssertLessThan(glaGateGradient(dG: grads.dG).storage.map { abs($0) }.max()!, 1e-15)
    }

    // MARK: - The reference itself

    func testReferenceBackwardMatchesFiniteDifferences() {
        let (n, H, Dk, Dv) = (5, 2, 3, 2)
        var rng = TestRandom(seed: 77)
        var p = Problem(q: rng.tensor(n, H, Dk), k: rng.tensor(n, H, Dk), v: rng.tensor(n, H, Dv),
                        g: rng.tensor(n, H, Dk, in: -1 ... -0.05), dO: rng.tensor(n, H, Dv))
        let s = glaReferenceBackward(q: p.q, k: p.k, v: p.v, g: p.g, dO: p.dO)
        func loss(_ p: Problem) -> Double {
            let o = glaReference(q: p.q, k: p.k, v: p.v, g: p.g).o
            return zip(o.storage, p.dO.storage).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let step = 1e-6
        let fields: [(WritableKeyPath<Problem, Tensor64>, Tensor64, String)] =
            [(\.q, s.dq, "dq"), (\.k, s.dk, "dk"), (\.v, s.dv, "dv"), (\.g, s.dg, "dg")]
        for (path, analytic, name) in fields {
            for i in analytic.storage.indices {
                let x = p[keyPath: path].storage[i]
                p[keyPath: path].storage[i] = x + step
                let up = loss(p)
                p[keyPath: path].storage[i] = x - step
                let down = loss(p)
                p[keyPath: path].storage[i] = x
                let numeric = (up - down) / (2 * step)
                XCTAssertEqual(analytic.storage[i], numeric, accuracy: 1e-7 * max(1, abs(numeric)), "\(name)[\(i)]")
            }
        }
        // The identity the chunked kernels use, checked on the reference's own gradients.
        for h in 0..<H {
            for c in 0..<Dk {
                var suffix = 0.0
                for t in stride(from: n - 1, through: 0, by: -1) {
                    suffix += p.q[t, h, c] * s.dq[t, h, c] - p.k[t, h, c] * s.dk[t, h, c]
                    XCTAssertEqual(s.dg[t, h, c], suffix, accuracy: 1e-12)
                }
            }
        }
    }
}
