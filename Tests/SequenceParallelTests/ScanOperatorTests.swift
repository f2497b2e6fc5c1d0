import XCTest
import Kernels
@testable import SequenceParallel
import TestSupport

/// The GLA scan operator `(a1, B1) ⊕ (a2, B2) = (a1 ⊙ a2, Diag(a2) B1 + B2)`: its algebra,
/// its packed-row form (the MPI user op), the fold LASP-2 uses, and All-Scan's block split
/// and default block count.
final class ScanOperatorTests: XCTestCase {
    static let (heads, keyDim, valueDim) = (2, 3, 4)

    /// An element with dyadic values (decays in {0, 1/4, 1/2, 1}, entries in {−4, …, 4}/2):
    /// every product and sum below is exact in float32, so the algebra is checked with `==`.
    static func dyadic(_ rng: inout TestRandom) -> GLAScanElement {
        let rows = heads * keyDim
        let decay = (0..<rows).map { _ in [Float(0), 0.25, 0.5, 1][Int(rng.next() % 4)] }
        let storage = (0..<rows * valueDim).map { _ in Float(Int(rng.next() % 9) - 4) / 2 }
        return GLAScanElement(decay: decay, state: GLAState(heads: heads, keyDim: keyDim, valueDim: valueDim, storage: storage))
    }

    /// `(a1 ⊙ a2, Diag(a2) B1 + B2)` written out element by element, independently of the operator's code.
    static func byHand(_ x: GLAScanElement, _ y: GLAScanElement) -> GLAScanElement {
        var state = y.state
        for r in 0..<x.decay.count {
            for e in 0..<valueDim {
                state.storage[r * valueDim + e] = y.decay[r] * x.state.storage[r * valueDim + e] + y.state.storage[r * valueDim + e]
            }
        }
        return GLAScanElement(decay: zip(x.decay, y.decay).map(*), state: state)
    }

    func testOperatorIsTheFormula() {
        var rng = TestRandom(seed: 1)
        for _ in 0..<20 {
            let x = Self.dyadic(&rng), y = Self.dyadic(&rng)
            XCTAssertEqual(x ⊕ y, Self.byHand(x, y))
        }
    }

    func testOperatorIsAssociative() {
        var rng = TestRandom(seed: 2)
        for _ in 0..<50 {
            let x = Self.dyadic(&rng), y = Self.dyadic(&rng), z = Self.dyadic(&rng)
            XCTAssertEqual((x ⊕ y) ⊕ z, x ⊕ (y ⊕ z))
        }
        // With arbitrary floats associativity holds up to rounding.
        for _ in 0..<20 {
            let rows = Self.heads * Self.keyDim
            func element() -> GLAScanElement {
                GLAScanElement(decay: (0..<rows).map { _ in Float(rng.uniform(0...1)) },
                               state: GLAState(heads: Self.heads, keyDim: Self.keyDim, valueDim: Self.valueDim,
                                               storage: (0..<rows * Self.valueDim).map { _ in Float(rng.uniform()) }))
            }
            let x = element(), y = element(), z = element()
            let left = (x ⊕ y) ⊕ z, right = x ⊕ (y ⊕ z)
            for (l, r) in zip(left.state.storage + left.decay, right.state.storage + right.decay) {
                XCTAssertEqual(l, r, accuracy: 1e-6)
            }
        }
    }

    func testOperatorIsNotCommutative() {
        // One row, one entry: (1/2, 1) ⊕ (1/4, 2) = (1/8, 1/4·1 + 2) but (1/4, 2) ⊕ (1/2, 1) = (1/8, 1/2·2 + 1).
        func one(_ a: Float, _ b: Float) -> GLAScanElement {
            GLAScanElement(decay: [a], state: GLAState(heads: 1, keyDim: 1, valueDim: 1, storage: [b]))
        }
        let x = one(0.5, 1), y = one(0.25, 2)
        XCTAssertEqual((x ⊕ y).state.storage, [2.25])
        XCTAssertEqual((y ⊕ x).state.storage, [2])
        XCTAssertEqual((x ⊕ y).decay, (y ⊕ x).decay)
        var rng = TestRandom(seed: 3)
        var differing = 0
        for _ in 0..<20 {
            let a = Self.dyadic(&rng), b = Self.dyadic(&rng)
            if a ⊕ b != b ⊕ a { differing += 1 }
        }
        XCTAssertGreaterThan(differing, 15)
    }

    func testIdentityOnBothSides() {
        var rng = TestRandom(seed: 4)
        let id = GLAScanElement.identity(heads: Self.heads, keyDim: Self.keyDim, valueDim: Self.valueDim)
        XCTAssertEqual(id.decay, [Float](repeating: 1, count: Self.heads * Self.keyDim))
        XCTAssertEqual(id.state.storage, [Float](repeating: 0, count: Self.heads * Self.keyDim * Self.valueDim))
        for _ in 0..<10 {
            let x = Self.dyadic(&rng)
            XCTAssertEqual(id ⊕ x, x)
            XCTAssertEqual(x ⊕ id, x)
        }
    }

    func testPackedRowsRoundTripAndLayout() {
        var rng = TestRandom(seed: 5)
        let x = Self.dyadic(&rng)
        let packed = x.packed
        XCTAssertEqual(packed.count, Self.heads * Self.keyDim * (1 + Self.valueDim))
        // Row r = [a_r, B_r…]: row 4 is (h 1, c 1).
        XCTAssertEqual(packed[4 * 5], x.decay[4])
        XCTAssertEqual(Array(packed[4 * 5 + 1 ..< 5 * 5]), (0..<4).map { x.state[1, 1, $0] })
        XCTAssertEqual(GLAScanElement(packed: packed, heads: Self.heads, keyDim: Self.keyDim, valueDim: Self.valueDim), x)
        let (scalars, state) = unpackRows(packRows(x.decay, x.state), heads: Self.heads, keyDim: Self.keyDim,
                                          valueDim: Self.valueDim)
        XCTAssertEqual(scalars, x.decay)
        XCTAssertEqual(state, x.state)
    }

    /// The MPI user op works element by element (one packed row at a time), as MPI calls it.
    func testPackedCombineRowByRowEqualsOperator() {
        var rng = TestRandom(seed: 6)
        let x = Self.dyadic(&rng), y = Self.dyadic(&rng)
        var later = y.packed
        let earlier = x.packed, width = 1 + Self.valueDim
        for r in 0..<(Self.heads * Self.keyDim) {
            earlier.withUnsafeBufferPointer { e in
                later.withUnsafeMutableBufferPointer { l in
                    GLAScanOperator.combine(earlier: UnsafeBufferPointer(rebasing: e[r * width ..< (r + 1) * width]),
                                            into: UnsafeMutableBufferPointer(rebasing: l[r * width ..< (r + 1) * width]),
                                            valueDim: Self.valueDim)
                }
            }
        }
        XCTAssertEqual(later, Self.byHand(x, y).packed)
    }

    func testFoldedStateIsTheOrderedFold() {
        var rng = TestRandom(seed: 7)
        let elements = (0..<5).map { _ in Self.dyadic(&rng) }
        let all = elements.flatMap(\.packed)
        let fold = { (order: [Int]) in
            GLAScanElement.foldedState(all, order: order, heads: Self.heads, keyDim: Self.keyDim, valueDim: Self.valueDim)
        }
        XCTAssertEqual(fold([]), GLAState(heads: Self.heads, keyDim: Self.keyDim, valueDim: Self.valueDim))
        XCTAssertEqual(fold([2]), elements[2].state)
        XCTAssertEqual(fold([0, 1, 2, 3]), (elements[0] ⊕ elements[1] ⊕ elements[2] ⊕ elements[3]).state)
        XCTAssertEqual(fold([4, 3, 1]), Self.byHand(Self.byHand(elements[4], elements[3]), elements[1]).state)
        XCTAssertNotEqual(fold([0, 1]), fold([1, 0]))
    }

    func testForwardBlockStoresIncomingAndSendsTheStep() {
        var rng = TestRandom(seed: 8)
        let own = Self.dyadic(&rng), before = Self.dyadic(&rng).state
        var incoming = GLAState(heads: Self.heads, keyDim: Self.keyDim, valueDim: Self.valueDim)
        let rows = 2..<5, dv = Self.valueDim
        let received = Array(before.storage[rows.lowerBound * dv ..< rows.upperBound * dv])
        var outgoing = [Float](repeating: -99, count: rows.count * dv)
        received.withUnsafeBufferPointer { r in
            outgoing.withUnsafeMutableBufferPointer { o in
                GLAScanOperator.forwardBlock(rows, received: r, outgoing: o, decay: own.decay, local: own.state,
                                             incoming: &incoming)
            }
        }
        let expected = Self.byHand(GLAScanElement(decay: own.decay, state: before), own).state
        XCTAssertEqual(outgoing, Array(expected.storage[rows.lowerBound * dv ..< rows.upperBound * dv]))
        XCTAssertEqual(Array(incoming.storage[rows.lowerBound * dv ..< rows.upperBound * dv]), received)
        XCTAssertEqual(incoming.storage[0 ..< rows.lowerBound * dv].allSatisfy { $0 == 0 }, true)
        // The first rank: nothing received, S_in stays zero and the message is B itself.
        var first = GLAState(heads: Self.heads, keyDim: Self.keyDim, valueDim: Self.valueDim)
        outgoing.withUnsafeMutableBufferPointer { o in
            GLAScanOperator.forwardBlock(rows, received: nil, outgoing: o, decay: own.decay, local: own.state, incoming: &first)
        }
        XCTAssertEqual(outgoing, Array(own.state.storage[rows.lowerBound * dv ..< rows.upperBound * dv]))
        XCTAssertEqual(first, GLAState(heads: Self.heads, keyDim: Self.keyDim, valueDim: Self.valueDim))
    }

    func testRowDecayUnderflowsWithoutNaN() {
        let fast = Tensor32(tokens: 50, heads: 1, dim: 2, repeating: -40)
        XCTAssertEqual(glaRowDecay(fast), [0, 0])
        let none = Tensor32(tokens: 50, heads: 1, dim: 2, repeating: 0)
        XCTAssertEqual(glaRowDecay(none), [1, 1])
        let tiny = Tensor32(tokens: 100, heads: 1, dim: 1, repeating: -1e-6)
        XCTAssertEqual(Double(glaRowDecay(tiny)[0]), exp(-1e-4), accuracy: 1e-7)
    }

    // MARK: All-Scan blocks

    func testBlocksPartitionTheRows() {
        for rows in 1...20 {
            for blocks in 1...rows {
                let ranges = (0..<blocks).map { AllScan.rows(ofBlock: $0, rows: rows, blocks: blocks) }
                XCTAssertEqual(ranges.first?.lowerBound, 0)
                XCTAssertEqual(ranges.last?.upperBound, rows)
                for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
                let sizes = ranges.map(\.count)
                XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "rows \(rows) blocks \(blocks)")
                XCTAssertGreaterThan(sizes.min()!, 0)
            }
        }
        XCTAssertEqual(AllScan.rows(ofBlock: 1, rows: 10, blocks: 4), 3..<6)
    }

    func testDefaultBlocksFollowTheCostModel() {
        // K* = sqrt((P−2)·m·β/α) with α = 2 µs, 1/β = 2 GB/s.
        XCTAssertEqual(ScanBlocks.defaultLatencySeconds, 2e-6)
        XCTAssertEqual(ScanBlocks.defaultBandwidthBytesPerSecond, 2e9)
        // P = 8, m = 128 KiB: sqrt(6 · 131072 / 2e9 / 2e-6) = sqrt(196.6) = 14.02 → 14.
        XCTAssertEqual(ScanBlocks.defaultBlocks(ranks: 8, rows: 512, stateBytes: 131_072), 14)
        // P = 5, m = 64 KiB: sqrt(3 · 65536 / 4e3) = sqrt(49.15) = 7.01 → 7.
        XCTAssertEqual(ScanBlocks.defaultBlocks(ranks: 5, rows: 256, stateBytes: 65_536), 7)
        // Fewer rows than K*: P = 8, m = 128 KiB over 10 rows gives 10.
        XCTAssertEqual(ScanBlocks.defaultBlocks(ranks: 8, rows: 10, stateBytes: 131_072), 10)
        // Nothing to pipeline on one or two ranks.
        XCTAssertEqual(ScanBlocks.defaultBlocks(ranks: 2, rows: 512, stateBytes: 1 << 26), 1)
        XCTAssertEqual(ScanBlocks.defaultBlocks(ranks: 1, rows: 512, stateBytes: 1 << 26), 1)
        // Clamped to the rows: P = 64, m = 64 MiB gives K* ≈ 1020, but a state of 16 rows has 16.
        XCTAssertEqual(ScanBlocks.defaultBlocks(ranks: 64, rows: 16, stateBytes: 1 << 26), 16)
        // Small states: K* < 1 rounds up to 1.
        XCTAssertEqual(ScanBlocks.defaultBlocks(ranks: 3, rows: 16, stateBytes: 384), 1)
        XCTAssertEqual(LinearAttentionProblem(seqLen: 64, heads: 4, keyDim: 64, valueDim: 64).resolvedScanBlocks(ranks: 5), 7)
        XCTAssertEqual(LinearAttentionProblem(seqLen: 64, heads: 4, keyDim: 64, valueDim: 64, scanBlocks: 7)
            .resolvedScanBlocks(ranks: 5), 7)
    }

    func testProblemValidation() {
        let good = LinearAttentionProblem(seqLen: 10, heads: 2, keyDim: 4, valueDim: 3, scanBlocks: 8)
        XCTAssertNoThrow(try good.validate())
        XCTAssertEqual(good.stateRows, 8)
        XCTAssertEqual(good.stateBytes, 2 * 4 * 3 * 4)
        var bad = good
        bad.scanBlocks = 9
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("K 9 must be between 1")) }
        bad.scanBlocks = 0
        XCTAssertThrowsError(try bad.validate())
        bad = good
        bad.valueDim = 0
        XCTAssertThrowsError(try bad.validate()) { XCTAssertEqual(($0 as? InputError)?.words.parts.first, .quantity(.valueDim)) }
    }
}
