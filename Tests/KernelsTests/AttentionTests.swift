import XCTest
@testable import Kernels
import TestSupport

/// Tolerances (docs/design.md, tolerances): float32 kernels against the float64 reference.
private let outputTolerance = Tolerance.output
private let gradientTolerance = Tolerance.gradient

/// How the global positions of a block's queries or keys are laid out.
private enum PositionLayout: CustomStringConvertible {
    /// `start, start+1, …`
    case contiguous(start: Int)
    /// Two equal chunks of a longer sequence (zigzag-like): `[first, first+n/2) ∪ [second, …)`.
    case twoChunks(first: Int, second: Int)
    /// `offset, offset+stride, offset+2·stride, …`
    case striped(offset: Int, stride: Int)
    /// A random permutation of `0..<range` cut to the block's length (any order).
    case shuffled(range: Int, seed: UInt64)

    func positions(_ count: Int) -> [Int] {
        switch self {
        case let .contiguous(start):
            return Array(start ..< start + count)
        case let .twoChunks(first, second):
            let half = count / 2
            return Array(first ..< first + half) + Array(second ..< second + count - half)
        case let .striped(offset, stride):
            return (0..<count).map { offset + $0 * stride }
        case let .shuffled(range, seed):
            precondition(range >= count)
            var random = TestRandom(seed: seed)
            var all = Array(0..<range)
            for i in stride(from: all.count - 1, to: 0, by: -1) {
                all.swapAt(i, Int(random.next() % UInt64(i + 1)))
            }
            return Array(all.prefix(count))
        }
    }

    var description: String {
        switch self {
        case let .contiguous(start): return "contiguous(\(start))"
        case let .twoChunks(first, second): return "twoChunks(\(first),\(second))"
        case let .striped(offset, stride): return "striped(\(offset),\(stride))"
        case let .shuffled(range, _): return "shuffled(\(range))"
        }
    }
}

/// Inputs of one attention block: float32 tensors and the same values in float64.
private struct Problem {
    var q: Tensor32, k: Tensor32, v: Tensor32, dO: Tensor32

    init(queries: Int, keys: Int, heads: Int, kvHeads: Int, dim: Int, seed: UInt64) {
        var random = TestRandom(seed: seed)
        q = random.tensor(queries, heads, dim, in: -2...2).converted()
        k = random.tensor(keys, kvHeads, dim, in: -2...2).converted()
        v = random.tensor(keys, kvHeads, dim).converted()
        dO = random.tensor(queries, heads, dim).converted()
    }

    var q64: Tensor64 { q.converted() }
    var k64: Tensor64 { k.converted() }
    var v64: Tensor64 { v.converted() }
    var dO64: Tensor64 { dO.converted() }
}

private func hasNaN(_ t: Tensor32) -> Bool { t.storage.contains { $0.isNaN } }

final class AttentionTests: XCTestCase {
    /// Forward (o, lse) and backward (dq, dk, dv) of one block against the float64 reference.
    private func checkAgainstReference(
        queries: Int, keys: Int, heads: Int, kvHeads: Int, dim: Int = 32,
        mask: AttentionMask, tiles: (Int, Int)? = nil, seed: UInt64 = 1,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let p = Problem(queries: queries, keys: keys, heads: heads, kvHeads: kvHeads, dim: dim, seed: seed)
        let ref = attentionReference(q: p.q64, k: p.k64, v: p.v64, mask: mask)
        let refGrads = attentionReferenceBackward(q: p.q64, k: p.k64, v: p.v64, dO: p.dO64, mask: mask)
        for engine in testedProductEngines {
            let label = "nq=\(queries) nk=\(keys) H=\(heads) G=\(kvHeads) D=\(dim) tiles=\(String(describing: tiles)) mask=\(mask == .none ? "none" : "causal") engine=\(engine)"
            let (tq, tk) = tiles ?? (defaultAttentionQueryTile, defaultAttentionKeyTile)
            let out = attentionForward(q: p.q, k: p.k, v: p.v, mask: mask, queryTile: tq, keyTile: tk, engine: engine)
            let grads = attentionBackward(q: p.q, k: p.k, v: p.v, o: out.o, lse: out.lse, dO: p.dO, mask: mask,
                                          queryTile: tq, keyTile: tk, engine: engine)
            XCTAssertEqual(out.o.shape, [queries, heads, dim], label, file: file, line: line)
            XCTAssertEqual(out.lse.shape, [queries, heads, 1], label, file: file, line: line)
            XCTAssertLessThanOrEqual(out.o.maxRelativeError(against: ref.o), outputTolerance, "o " + label, file: file, line: line)
            XCTAssertLessThanOrEqual(out.lse.maxRelativeError(against: ref.lse), outputTolerance, "lse " + label, file: file, line: line)
            XCTAssertLessThanOrEqual(grads.dq.maxRelativeError(against: refGrads.dq), gradientTolerance, "dq " + label, file: file, line: line)
            XCTAssertLessThanOrEqual(grads.dk.maxRelativeError(against: refGrads.dk), gradientTolerance, "dk " + label, file: file, line: line)
            XCTAssertLessThanOrEqual(grads.dv.maxRelativeError(against: refGrads.dv), gradientTolerance, "dv " + label, file: file, line: line)
        }
    }

    func testNonCausalMatchesReferenceForMHAAndGQA() {
        withEvery([(4, 4), (4, 2), (4, 1)], [(37, 300), (300, 37), (300, 300), (1, 5)]) { heads, sizes in
            checkAgainstReference(queries: sizes.0, keys: sizes.1, heads: heads.0, kvHeads: heads.1, mask: .none)
        }
    }

    func testNonCausalWithSmallTilesAndOddDim() {
        withEvery([(4, 4), (4, 2), (4, 1)], [(16, 32), (7, 5)]) { heads, tiles in
            checkAgainstReference(queries: 37, keys: 100, heads: heads.0, kvHeads: heads.1, dim: 19,
                                  mask: .none, tiles: tiles)
        }
    }

    func testCausalMatchesReferenceForEveryLayout() {
        // (queries layout, keys layout) pairs: a rank's own diagonal block, earlier and later
        // key blocks, zigzag-like chunk pairs, striped, and positions in any order.
        let layouts: [(PositionLayout, PositionLayout, Int, Int)] = [
            (.contiguous(start: 0), .contiguous(start: 0), 300, 300),           // diagonal, > one tile
            (.contiguous(start: 263), .contiguous(start: 0), 37, 300),          // last chunk sees all
            (.contiguous(start: 100), .contiguous(start: 0), 37, 300),          // partly future keys
            (.contiguous(start: 0), .contiguous(start: 20), 300, 37),
            (.twoChunks(first: 0, second: 450), .twoChunks(first: 150, second: 300), 300, 300),
            (.twoChunks(first: 150, second: 300), .twoChunks(first: 150, second: 300), 300, 300),
            (.striped(offset: 1, stride: 4), .striped(offset: 0, stride: 4), 300, 300),
            (.striped(offset: 0, stride: 4), .striped(offset: 3, stride: 4), 37, 300),  // strictly lower
            (.shuffled(range: 600, seed: 7), .shuffled(range: 600, seed: 8), 37, 300),
            (.shuffled(range: 400, seed: 9), .shuffled(range: 400, seed: 9), 300, 300),
        ]
        for (queryLayout, keyLayout, nq, nk) in layouts {
            let mask = AttentionMask.causal(queryPositions: queryLayout.positions(nq), keyPositions: keyLayout.positions(nk))
            withEvery([(4, 4), (4, 2), (4, 1)]) { heads in
                checkAgainstReference(queries: nq, keys: nk, heads: heads.0, kvHeads: heads.1, mask: mask)
            }
            // Small tiles: many tiles of each kind (skipped, fully visible, partial).
            checkAgainstReference(queries: nq, keys: nk, heads: 4, kvHeads: 2, dim: 8, mask: mask, tiles: (16, 32))
        }
    }

    func testLargerCausalProblemWithDefaultTiles() {
        let n = 700
        let mask = AttentionMask.causal(queryPositions: Array(0..<n), keyPositions: Array(0..<n))
        checkAgainstReference(queries: n, keys: n, heads: 2, kvHeads: 1, dim: 64, mask: mask, seed: 3)
    }

    func testFullyMaskedRowsGiveZeroOutputMinusInfLSEAndZeroGradients() {
        // Query positions 0 and 2 precede every key (3…); query 40 sees some keys.
        let queryPositions = [0, 40, 2]
        let keyPositions = Array(3..<50)
        let mask = AttentionMask.causal(queryPositions: queryPositions, keyPositions: keyPositions)
        withEvery([nil, (2, 16)] as [(Int, Int)?]) { tiles in
            let p = Problem(queries: 3, keys: keyPositions.count, heads: 4, kvHeads: 2, dim: 16, seed: 5)
            let (tq, tk) = tiles ?? (defaultAttentionQueryTile, defaultAttentionKeyTile)
            let out = attentionForward(q: p.q, k: p.k, v: p.v, mask: mask, queryTile: tq, keyTile: tk)
            let grads = attentionBackward(q: p.q, k: p.k, v: p.v, o: out.o, lse: out.lse, dO: p.dO,
                                          mask: mask, queryTile: tq, keyTile: tk)
            for h in 0..<4 {
                for t in [0, 2] {
                    XCTAssertEqual(out.lse[t, h, 0], -.infinity)
                    for d in 0..<16 {
                        XCTAssertEqual(out.o[t, h, d], 0)
                        XCTAssertEqual(grads.dq[t, h, d], 0)
                    }
                }
                XCTAssertTrue(out.lse[1, h, 0].isFinite)
            }
            XCTAssertFalse(hasNaN(out.o) || hasNaN(out.lse) || hasNaN(grads.dq) || hasNaN(grads.dk) || hasNaN(grads.dv))
            // Keys after position 40 are seen by nobody: zero dk, dv.
            for (j, position) in keyPositions.enumerated() where position > 40 {
                for g in 0..<2 { for d in 0..<16 { XCTAssertEqual(grads.dk[j, g, d], 0); XCTAssertEqual(grads.dv[j, g, d], 0) } }
            }
            let ref = attentionReference(q: p.q64, k: p.k64, v: p.v64, mask: mask)
            XCTAssertLessThanOrEqual(out.o.maxRelativeError(against: ref.o), outputTolerance)
            XCTAssertLessThanOrEqual(out.lse.maxRelativeError(against: ref.lse), outputTolerance)
        }
    }

    func testEveryRowMaskedAndEmptyKeyBlock() {
        let p = Problem(queries: 5, keys: 9, heads: 2, kvHeads: 1, dim: 8, seed: 6)
        let mask = AttentionMask.causal(queryPositions: Array(0..<5), keyPositions: Array(100..<109))
        let out = attentionForward(q: p.q, k: p.k, v: p.v, mask: mask)
        XCTAssertEqual(out, emptyAttentionOutput(tokens: 5, heads: 2, dim: 8))
        let grads = attentionBackward(q: p.q, k: p.k, v: p.v, o: out.o, lse: out.lse, dO: p.dO, mask: mask)
        XCTAssertTrue(grads.dq.storage.allSatisfy { $0 == 0 } && grads.dk.storage.allSatisfy { $0 == 0 }
                      && grads.dv.storage.allSatisfy { $0 == 0 })

        let none = Problem(queries: 5, keys: 0, heads: 2, kvHeads: 1, dim: 8, seed: 6)
        XCTAssertEqual(attentionForward(q: none.q, k: none.k, v: none.v, mask: .none),
                       emptyAttentionOutput(tokens: 5, heads: 2, dim: 8))
    }

    func testSplittingKeysIntoTwoBlocksAndMergingEqualsTheWhole() {
        withEvery([true, false], [(4, 2), (4, 1)]) { causal, heads in
            let nq = 150, nk = 333, split = 130
            let p = Problem(queries: nq, keys: nk, heads: heads.0, kvHeads: heads.1, dim: 32, seed: 11)
            let queryPositions = PositionLayout.twoChunks(first: 100, second: 500).positions(nq)
            let keyPositions = PositionLayout.shuffled(range: 700, seed: 12).positions(nk)
            func mask(_ keys: Range<Int>) -> AttentionMask {
                causal ? .causal(queryPositions: queryPositions, keyPositions: Array(keyPositions[keys])) : .none
            }
            let whole = 0..<nk, first = 0..<split, second = split..<nk
            let full = attentionForward(q: p.q, k: p.k, v: p.v, mask: mask(whole))
            var merged = emptyAttentionOutput(tokens: nq, heads: heads.0, dim: 32)
            mergeAttention(&merged, attentionForward(q: p.q, k: p.k.tokens(second), v: p.v.tokens(second), mask: mask(second)))
            mergeAttention(&merged, attentionForward(q: p.q, k: p.k.tokens(first), v: p.v.tokens(first), mask: mask(first)))
            XCTAssertLessThanOrEqual(merged.o.maxRelativeError(against: full.o), 1e-5, "causal=\(causal)")
            XCTAssertLessThanOrEqual(merged.lse.maxRelativeError(against: full.lse), 1e-5, "causal=\(causal)")

            // Backward per block with the final o and lse, summed, equals the whole.
            let fullGrads = attentionBackward(q: p.q, k: p.k, v: p.v, o: full.o, lse: full.lse, dO: p.dO, mask: mask(whole))
            let g1 = attentionBackward(q: p.q, k: p.k.tokens(first), v: p.v.tokens(first),
                                       o: merged.o, lse: merged.lse, dO: p.dO, mask: mask(first))
            let g2 = attentionBackward(q: p.q, k: p.k.tokens(second), v: p.v.tokens(second),
                                       o: merged.o, lse: merged.lse, dO: p.dO, mask: mask(second))
            var dq = g1.dq
            dq += g2.dq
            let dk = Tensor32.concatenatingTokens([g1.dk, g2.dk], heads: heads.1, dim: 32)
            let dv = Tensor32.concatenatingTokens([g1.dv, g2.dv], heads: heads.1, dim: 32)
            let ref = attentionReferenceBackward(q: p.q64, k: p.k64, v: p.v64, dO: p.dO64, mask: mask(whole))
            XCTAssertLessThanOrEqual(dq.maxRelativeError(against: fullGrads.dq), 1e-4)
            XCTAssertLessThanOrEqual(dk.maxRelativeError(against: fullGrads.dk), 1e-4)
            XCTAssertLessThanOrEqual(dv.maxRelativeError(against: fullGrads.dv), 1e-4)
            XCTAssertLessThanOrEqual(dq.maxRelativeError(against: ref.dq), gradientTolerance)
            XCTAssertLessThanOrEqual(dk.maxRelativeError(against: ref.dk), gradientTolerance)
            XCTAssertLessThanOrEqual(dv.maxRelativeError(against: ref.dv), gradientTolerance)
        }
    }

    func testReferenceBackwardMatchesFiniteDifferences() {
        // Loss L = Σ dO ∘ o; its gradients are what the backward returns.
        let queries = 3, keys = 5, heads = 4, kvHeads = 2, dim = 3
        var random = TestRandom(seed: 21)
        let q = random.tensor(queries, heads, dim, in: -1.5...1.5)
        let k = random.tensor(keys, kvHeads, dim, in: -1.5...1.5)
        let v = random.tensor(keys, kvHeads, dim)
        let dO = random.tensor(queries, heads, dim)
        let masks: [AttentionMask] = [.none, .causal(queryPositions: [4, 1, 6], keyPositions: [0, 5, 1, 3, 6])]
        for mask in masks {
            func loss(_ q: Tensor64, _ k: Tensor64, _ v: Tensor64) -> Double {
                zip(attentionReference(q: q, k: k, v: v, mask: mask).o.storage, dO.storage).reduce(0) { $0 + $1.0 * $1.1 }
            }
            let grads = attentionReferenceBackward(q: q, k: k, v: v, dO: dO, mask: mask)
            let eps = 1e-5
            func numeric(_ which: Int, _ index: Int) -> Double {
                var plus = [q, k, v], minus = [q, k, v]
                plus[which].storage[index] += eps
                minus[which].storage[index] -= eps
                return (loss(plus[0], plus[1], plus[2]) - loss(minus[0], minus[1], minus[2])) / (2 * eps)
            }
            var worst = 0.0, largest = 0.0
            for (which, analytic) in [grads.dq, grads.dk, grads.dv].enumerated() {
                for index in analytic.storage.indices {
                    worst = max(worst, abs(numeric(which, index) - analytic.storage[index]))
                    largest = max(largest, abs(analytic.storage[index]))
                }
            }
            XCTAssertGreaterThan(largest, 0.01, "the gradient is not trivially zero")
            XCTAssertLessThanOrEqual(worst, 1e-8, "mask=\(mask)")
        }
    }

    func testReferenceOverSeveralTilesMatchesTheDefinition() {
        // More queries than one reference tile (128), keys in any order, GQA: the tiled dgemm
        // reference against the definition row by row, and its backward against central
        // differences on a few entries of every input.
        let queries = 300, keys = 200, heads = 2, kvHeads = 1, dim = 5
        var random = TestRandom(seed: 31)
        let q = random.tensor(queries, heads, dim, in: -1.5...1.5)
        let k = random.tensor(keys, kvHeads, dim, in: -1.5...1.5)
        let v = random.tensor(keys, kvHeads, dim)
        let dO = random.tensor(queries, heads, dim)
        let mask = AttentionMask.causal(queryPositions: PositionLayout.shuffled(range: 400, seed: 5).positions(queries),
                                        keyPositions: PositionLayout.shuffled(range: 400, seed: 6).positions(keys))
        guard case let .causal(qp, kp) = mask else { return }
        let (o, lse) = attentionReference(q: q, k: k, v: v, mask: mask)
        var worst = 0.0, hidden = 0
        for h in 0..<heads {
            for i in 0..<queries {
                let visible = (0..<keys).filter { kp[$0] <= qp[i] }
                if visible.isEmpty { hidden += 1; XCTAssertEqual(lse[i, h, 0], -.infinity); continue }
                let s = visible.map { j in (0..<dim).reduce(0.0) { $0 + q[i, h, $1] * k[j, 0, $1] } / Double(dim).squareRoot() }
                let rowLSE = log(s.reduce(0.0) { $0 + exp($1) })
                worst = max(worst, abs(rowLSE - lse[i, h, 0]))
                for d in 0..<dim {
                    let expected = zip(visible, s).reduce(0.0) { $0 + exp($1.1 - rowLSE) * v[$1.0, 0, d] }
                    worst = max(worst, abs(expected - o[i, h, d]))
                }
            }
        }
        XCTAssertGreaterThan(hidden, 0, "some query sees no key")
        XCTAssertLessThanOrEqual(worst, 1e-12)

        let grads = attentionReferenceBackward(q: q, k: k, v: v, dO: dO, mask: mask)
        func loss(_ t: [Tensor64]) -> Double {
            zip(attentionReference(q: t[0], k: t[1], v: t[2], mask: mask).o.storage, dO.storage).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let eps = 1e-5
        for (which, analytic) in [grads.dq, grads.dk, grads.dv].enumerated() {
            for index in [1, 7, analytic.storage.count / 2, analytic.storage.count - 3] {
                var plus = [q, k, v], minus = [q, k, v]
                plus[which].storage[index] += eps
                minus[which].storage[index] -= eps
                let numeric = (loss(plus) - loss(minus)) / (2 * eps)
                XCTAssertEqual(analytic.storage[index], numeric, accuracy: 1e-7, "input \(which) index \(index)")
            }
        }
    }

    func testForwardFLOPsCountVisiblePairs() {
        XCTAssertEqual(attentionForwardFLOPs(queries: 3, keys: 5, heads: 2, dim: 4, mask: .none), 4 * 15 * 2 * 4)
        let diagonal = AttentionMask.causal(queryPositions: Array(0..<10), keyPositions: Array(0..<10))
        XCTAssertEqual(attentionForwardFLOPs(queries: 10, keys: 10, heads: 1, dim: 1, mask: diagonal), 4 * 55)
        let shuffled = AttentionMask.causal(queryPositions: [7, 0, 3], keyPositions: [5, 1, 8, 0])
        // query 7 sees 5,1,0; query 0 sees 0; query 3 sees 1,0 → 6 pairs
        XCTAssertEqual(attentionForwardFLOPs(queries: 3, keys: 4, heads: 2, dim: 8, mask: shuffled), 4 * 6 * 2 * 8)
    }

    func testTilePlanClassifiesTiles() {
        let n = 64
        let plan = AttentionTilePlan(mask: .causal(queryPositions: Array(0..<n), keyPositions: Array(0..<n)),
                                     queries: n, keys: n, queryTile: 16, keyTile: 16)
        XCTAssertEqual(plan.queryTiles, 4)
        XCTAssertEqual(plan.visibility(queryTile: 0, keyTile: 1), .none)
        XCTAssertEqual(plan.visibility(queryTile: 2, keyTile: 2), .partial)
        XCTAssertEqual(plan.visibility(queryTile: 3, keyTile: 1), .all)
    }
}

/// The rule for overriding OpenBLAS's kernel core (Kernels/BLASCore.swift).
final class BLASCoreRuleTests: XCTestCase {
    func testOnlyTheGenericFallbackOnACapableCPUIsOverridden() {
        func core(_ name: String, cpu: String?, set: String? = nil) -> BLASCore {
            BLASCore(config: "OpenBLAS", core: name, cpuCore: cpu, coreType: set, threads: 1)
        }
        XCTAssertEqual(core("Prescott", cpu: "SkylakeX").recommendedCoreType, "SkylakeX")
        XCTAssertEqual(core("Prescott", cpu: "Haswell").recommendedCoreType, "Haswell")
        XCTAssertNil(core("Prescott", cpu: nil).recommendedCoreType, "never a core the CPU lacks")
        XCTAssertNil(core("Haswell", cpu: "SkylakeX").recommendedCoreType, "a recognised CPU keeps the library's choice")
        XCTAssertNil(core("Cooperlake", cpu: "SkylakeX").recommendedCoreType)
        XCTAssertNil(core("Prescott", cpu: "SkylakeX", set: "Prescott").recommendedCoreType, "the user's choice stands")
        XCTAssertTrue(core("Prescott", cpu: "SkylakeX", set: "Prescott").summary.contains("WARNING"))
        XCTAssertFalse(core("SkylakeX", cpu: "SkylakeX").summary.contains("WARNING"))
        // This process: a known library and core.
        let here = BLASCore.current
        XCTAssertTrue(here.config.contains("OpenBLAS"), here.config)
        XCTAssertFalse(here.core.isEmpty)
    }
}
