import TestSupport
import XCTest

@testable import SequenceParallel

/// Ring attention's per-step work plans, against brute force over real positions, and the
/// per-rank compute balance they imply (work counts, not wall time).
final class BlockWorkTests: XCTestCase {
    private func layouts(_ p: Int) -> [SequenceLayout] {
        var out = [SequenceLayout]()
        for kind in LayoutKind.allCases {
            for n in [4 * p, 12 * p, 12 * p + 5] {
                if case .success(let layout) = SequenceLayout.make(kind, tokens: n, ranks: p) { out.append(layout) }
            }
        }
        return out
    }

    /// No visible pair falls outside a plan; an unmasked plan holds visible pairs only; a
    /// skipped block has no visible pair; `pairs` counts exactly the visible ones.
    func testPlansCoverExactlyTheVisiblePairs() {
        withEvery([1, 2, 3, 4, 5, 8], [false, true]) { p, causal in
            for layout in layouts(p) {
                for q in 0..<p {
                    for k in 0..<p {
                        let qp = layout.positions(rank: q), kp = layout.positions(rank: k)
                        var visible = 0, outside = 0, hiddenInsideUnmasked = 0
                        let work = BlockWork.plan(layout, isCausal: causal, queryRank: q, keyRank: k)
                        for i in qp.indices {
                            for j in kp.indices {
                                let sees = !causal || kp[j] <= qp[i]
                                let inside = work.map { $0.queries.contains(i) && $0.keys.contains(j) } ?? false
                                if sees { visible += 1 }
                                if sees && !inside { outside += 1 }
                                if !sees && inside && work?.isMasked == false { hiddenInsideUnmasked += 1 }
                            }
                        }
                        let name = "\(layout.kind) N=\(layout.tokens) P=\(p) causal=\(causal) q=\(q) k=\(k)"
                        XCTAssertEqual(outside, 0, name)
                        XCTAssertEqual(hiddenInsideUnmasked, 0, name)
                        XCTAssertEqual(work?.pairs(layout, queryRank: q, keyRank: k) ?? 0, visible, name)
                        if work == nil { XCTAssertEqual(visible, 0, name) }
                    }
                }
            }
        }
    }

    /// The documented optimisations are really taken (not just a full masked block).
    func testCausalPlansSkipHalveAndShift() throws {
        let contiguous = try SequenceLayout.make(.contiguous, tokens: 40, ranks: 4).get()
        XCTAssertNil(BlockWork.plan(contiguous, isCausal: true, queryRank: 1, keyRank: 2))
        XCTAssertEqual(BlockWork.plan(contiguous, isCausal: true, queryRank: 2, keyRank: 1),
                       BlockWork(queries: 0..<10, keys: 0..<10, isMasked: false))
        let zigzag = try SequenceLayout.make(.zigzag, tokens: 48, ranks: 4).get()
        XCTAssertEqual(BlockWork.plan(zigzag, isCausal: true, queryRank: 2, keyRank: 1),
                       BlockWork(queries: 0..<12, keys: 0..<6, isMasked: false))
        XCTAssertEqual(BlockWork.plan(zigzag, isCausal: true, queryRank: 1, keyRank: 2),
                       BlockWork(queries: 6..<12, keys: 0..<12, isMasked: false))
        let striped = try SequenceLayout.make(.striped, tokens: 24, ranks: 4).get()
        XCTAssertEqual(BlockWork.plan(striped, isCausal: true, queryRank: 1, keyRank: 3),
                       BlockWork(queries: 1..<6, keys: 0..<5, isMasked: true))
        XCTAssertEqual(BlockWork.plan(striped, isCausal: false, queryRank: 1, keyRank: 3),
                       BlockWork(queries: 0..<6, keys: 0..<6, isMasked: false))
    }

    /// Contiguous causal ring: rank r evaluates n(n+1)/2 + r·n² pairs, growing with r;
    /// zigzag: every rank the same; striped: within m pairs per rank of each other.
    func testComputeBalanceOfTheCausalLayouts() throws {
        for p in [2, 3, 4, 5, 8] {
            let n = 12
            let contiguous = try SequenceLayout.make(.contiguous, tokens: n * p, ranks: p).get()
            let work = (0..<p).map { BlockWork.ringPairs(contiguous, isCausal: true, rank: $0) }
            XCTAssertEqual(work, (0..<p).map { n * (n + 1) / 2 + $0 * n * n }, "contiguous P=\(p)")

            let zigzag = try SequenceLayout.make(.zigzag, tokens: n * p, ranks: p).get()
            let balanced = (0..<p).map { BlockWork.ringPairs(zigzag, isCausal: true, rank: $0) }
            XCTAssertEqual(Set(balanced).count, 1, "zigzag P=\(p): \(balanced)")
            XCTAssertEqual(balanced.reduce(0, +), work.reduce(0, +), "same total work, spread evenly")
            // Every non-diagonal zigzag step is exactly half a block.
            for r in 0..<p {
                for o in 0..<p where o != r {
                    XCTAssertEqual(BlockWork.plan(zigzag, isCausal: true, queryRank: r, keyRank: o)?
                        .pairs(zigzag, queryRank: r, keyRank: o), n * n / 2)
                }
            }

            let striped = try SequenceLayout.make(.striped, tokens: n * p, ranks: p).get()
            let stripes = (0..<p).map { BlockWork.ringPairs(striped, isCausal: true, rank: $0) }
            XCTAssertEqual(stripes, (0..<p).map { ($0 + 1) * n * (n + 1) / 2 + (p - 1 - $0) * n * (n - 1) / 2 })
            XCTAssertEqual(stripes.max()! - stripes.min()!, (p - 1) * n)
        }
    }

    func testNonCausalWorkIsEveryPair() throws {
        let layout = try SequenceLayout.make(.contiguous, tokens: 29, ranks: 3).get()
        XCTAssertEqual((0..<3).map { BlockWork.ringPairs(layout, isCausal: false, rank: $0) }, [10 * 29, 10 * 29, 9 * 29])
    }
}
