import XCTest
@testable import Kernels
import TestSupport

final class LSEMergeTests: XCTestCase {
    /// A one-token, one-head output with the given o row and lse.
    private func single(_ o: [Float], _ lse: Float) -> AttentionOutput {
        AttentionOutput(o: Tensor32(tokens: 1, heads: 1, dim: o.count, storage: o),
                        lse: Tensor32(tokens: 1, heads: 1, dim: 1, storage: [lse]))
    }

    func testMinusInfWithMinusInfStaysMinusInfAndKeepsO() {
        var acc = single([0, 0, 0], -.infinity)
        mergeAttention(&acc, single([5, -2, 7], -.infinity))
        XCTAssertEqual(acc.lse.storage, [-.infinity])
        XCTAssertEqual(acc.o.storage, [0, 0, 0])
        XCTAssertFalse(acc.o.storage.contains { $0.isNaN })
    }

    func testMinusInfOnOneSideTakesTheOther() {
        var acc = single([0, 0], -.infinity)
        mergeAttention(&acc, single([1.5, -2], 3.25))
        XCTAssertEqual(acc, single([1.5, -2], 3.25))

        var kept = single([4, 5], -1.5)
        mergeAttention(&kept, single([9, 9], -.infinity))
        XCTAssertEqual(kept, single([4, 5], -1.5))
    }

    func testLargeLSEValuesMergeWithoutOverflow() {
        // (l1, l2): large equal values, a difference of 1e4 (the smaller part vanishes),
        // and a moderate difference at a large magnitude.
        let cases: [(Float, Float)] = [(1e4, 1e4), (1e4, 0), (-5e3, 5e3), (2e4, 2e4 - 3), (-3e4, -3e4 + 0.5)]
        for (l1, l2) in cases {
            var acc = single([1, -1], l1)
            mergeAttention(&acc, single([3, 5], l2))
            let a = Double(l1), b = Double(l2)
            let high = max(a, b)
            let l = high + log(exp(a - high) + exp(b - high))
            let w1 = exp(a - l), w2 = exp(b - l)
            XCTAssertTrue(acc.lse.storage[0].isFinite && acc.o.storage.allSatisfy(\.isFinite), "\(l1), \(l2)")
            XCTAssertEqual(Double(acc.lse.storage[0]), l, accuracy: abs(l) * 1e-6 + 1e-6, "\(l1), \(l2)")
            XCTAssertEqual(Double(acc.o.storage[0]), w1 * 1 + w2 * 3, accuracy: 1e-5, "\(l1), \(l2)")
            XCTAssertEqual(Double(acc.o.storage[1]), w1 * -1 + w2 * 5, accuracy: 1e-5, "\(l1), \(l2)")
        }
        // Equal lse: the average, and lse + log 2.
        var acc = single([2, 4], 1e4)
        mergeAttention(&acc, single([4, 8], 1e4))
        XCTAssertEqual(acc.o.storage, [3, 6])
        XCTAssertEqual(acc.lse.storage[0], 1e4 + Float(log(2.0)), accuracy: 1e-3)
    }

    func testMergeAtAnOffsetTouchesOnlyThoseRows() {
        let heads = 2, dim = 3
        var random = TestRandom(seed: 31)
        var acc = AttentionOutput(o: random.tensor(10, heads, dim).converted(),
                                  lse: random.tensor(10, heads, 1).converted())
        let before = acc
        let part = AttentionOutput(o: random.tensor(4, heads, dim).converted(),
                                   lse: random.tensor(4, heads, 1).converted())
        mergeAttention(&acc, part, atToken: 3)
        for t in 0..<10 {
            for h in 0..<heads {
                let l1 = Double(before.lse[t, h, 0])
                if !(3..<7).contains(t) {
                    XCTAssertEqual(acc.lse[t, h, 0], before.lse[t, h, 0])
                    for d in 0..<dim { XCTAssertEqual(acc.o[t, h, d], before.o[t, h, d]) }
                    continue
                }
                let l2 = Double(part.lse[t - 3, h, 0])
                let l = log(exp(l1) + exp(l2))
                XCTAssertEqual(Double(acc.lse[t, h, 0]), l, accuracy: 1e-6)
                for d in 0..<dim {
                    let expected = exp(l1 - l) * Double(before.o[t, h, d]) + exp(l2 - l) * Double(part.o[t - 3, h, d])
                    XCTAssertEqual(Double(acc.o[t, h, d]), expected, accuracy: 1e-6)
                }
            }
        }
    }

    func testMergingThreePartsIsAssociativeAndEqualsTheWhole() {
        let nq = 40, heads = 4, kvHeads = 2, dim = 16
        var random = TestRandom(seed: 41)
        let q: Tensor32 = random.tensor(nq, heads, dim).converted()
        let k: Tensor32 = random.tensor(90, kvHeads, dim).converted()
        let v: Tensor32 = random.tensor(90, kvHeads, dim).converted()
        // Causal, so some rows see no key of some parts (merges with -inf occur).
        let queryPositions = Array(50..<90)
        let keyPositions = Array(0..<90)
        func part(_ r: Range<Int>) -> AttentionOutput {
            attentionForward(q: q, k: k.tokens(r), v: v.tokens(r),
                             mask: .causal(queryPositions: queryPositions, keyPositions: Array(keyPositions[r])))
        }
        let a = part(0..<30), b = part(30..<70), c = part(70..<90)
        XCTAssertTrue(c.lse.storage.contains(-.infinity), "the test covers rows that see no key of a part")
        var left = a
        mergeAttention(&left, b)
        mergeAttention(&left, c)          // (a ⊕ b) ⊕ c
        var bc = b
        mergeAttention(&bc, c)
        var right = a
        mergeAttention(&right, bc)        // a ⊕ (b ⊕ c)
        var reordered = c
        mergeAttention(&reordered, a)
        mergeAttention(&reordered, b)     // (c ⊕ a) ⊕ b
        let whole = part(0..<90)
        for merged in [left, right, reordered] {
            XCTAssertLessThanOrEqual(merged.o.maxRelativeError(against: whole.o), 1e-5)
            XCTAssertLessThanOrEqual(merged.lse.maxRelativeError(against: whole.lse), 1e-5)
        }
        XCTAssertLessThanOrEqual(left.o.maxRelativeError(against: right.o), 1e-5)
    }

    func testEmptyOutputIsTheIdentity() {
        let empty = emptyAttentionOutput(tokens: 3, heads: 2, dim: 4)
        XCTAssertEqual(empty.o.shape, [3, 2, 4])
        XCTAssertEqual(empty.lse.shape, [3, 2, 1])
        XCTAssertTrue(empty.lse.storage.allSatisfy { $0 == -.infinity })
        var random = TestRandom(seed: 51)
        let part = AttentionOutput(o: random.tensor(3, 2, 4).converted(), lse: random.tensor(3, 2, 1).converted())
        var acc = empty
        mergeAttention(&acc, part)
        XCTAssertEqual(acc, part)
    }
}
