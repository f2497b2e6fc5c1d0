import XCTest

@testable import SequenceParallel

/// The TokenRing schedule's arithmetic, without MPI: who holds which queries, which rows
/// travel, and that the causal visits cover every visible query-key pair exactly once.
final class TokenRingScheduleTests: XCTestCase {
    /// Every owner's queries visit every rank exactly once, passed on hop by hop.
    func testEveryQueryVisitsEveryRankOnce() {
        for p in [1, 2, 3, 4, 5, 8] {
            for isCausal in [false, true] {
                let schedule = TokenRingSchedule(counts: Array(repeating: 6, count: p), isCausal: isCausal)
                for x in 0..<p {
                    XCTAssertEqual(schedule.predecessor(of: schedule.successor(of: x)), x)
                    XCTAssertEqual(schedule.owner(at: x, step: 0), x, "step 0 is the rank's own queries")
                    XCTAssertEqual(Set((0..<p).map { schedule.owner(at: x, step: $0) }), Set(0..<p),
                                   "P=\(p) causal=\(isCausal): rank \(x) sees every owner once")
                    for s in 0..<p {
                        let o = schedule.owner(at: x, step: s)
                        XCTAssertEqual(schedule.holder(of: o, step: s), x)
                        if s + 1 < p {
                            // What x holds now, its successor holds next step: a subset of the rows.
                            let next = schedule.successor(of: x)
                            XCTAssertEqual(schedule.owner(at: next, step: s + 1), o)
                            let now = schedule.visit(at: x, step: s).rows
                            let then = schedule.visit(at: next, step: s + 1).rows
                            XCTAssertTrue(now.lowerBound <= then.lowerBound && then.upperBound <= now.upperBound,
                                          "P=\(p) rank \(x) step \(s): \(then) not within \(now)")
                        }
                    }
                }
                // Non-causal queries travel to r+1, causal ones to r−1 (the mirrored ring).
                XCTAssertEqual(schedule.successor(of: 0), isCausal ? (p - 1) % p : 1 % p)
            }
        }
    }

    /// Causal over the zigzag layout: the visits' (query rows × key rows) blocks cover every
    /// pair with key position ≤ query position exactly once, and every non-diagonal visit is
    /// n²/2 pairs (balanced work).
    func testCausalVisitsCoverEveryVisiblePairOnce() {
        for p in [1, 2, 3, 4, 5, 8] {
            let c = 3, n = 2 * c, total = 2 * p * c
            guard case .success(let layout) = SequenceLayout.make(.zigzag, tokens: total, ranks: p) else {
                return XCTFail("zigzag layout for P=\(p)")
            }
            let schedule = TokenRingSchedule(counts: layout.counts, isCausal: true)
            var covered = [Int](repeating: 0, count: total * total)
            for x in 0..<p {
                let keys = layout.positions(rank: x)
                for s in 0..<p {
                    let visit = schedule.visit(at: x, step: s)
                    let queries = layout.positions(rank: visit.owner)
                    if s > 0 {
                        XCTAssertEqual(visit.rows.count * visit.keyRows.count, n * n / 2, "P=\(p) rank \(x) step \(s)")
                        XCTAssertEqual(schedule.isWrapped(at: x, step: s), visit.owner < x)
                    }
                    for i in visit.rows {
                        for j in visit.keyRows where keys[j] <= queries[i] {
                            covered[queries[i] * total + keys[j]] += 1
                        }
                    }
                }
            }
            for i in 0..<total {
                for j in 0...i where covered[i * total + j] != 1 {
                    XCTFail("P=\(p): pair (query \(i), key \(j)) covered \(covered[i * total + j]) times")
                }
            }
            XCTAssertEqual(covered.reduce(0, +), total * (total + 1) / 2)
        }
    }

    /// Non-causal visits use every row of every block, even with uneven counts.
    func testNonCausalVisitsAreWhole() {
        let counts = [5, 5, 4]
        let schedule = TokenRingSchedule(counts: counts, isCausal: false)
        for x in 0..<3 {
            for s in 0..<3 {
                let visit = schedule.visit(at: x, step: s)
                XCTAssertEqual(visit.owner, (x + 3 - s) % 3)
                XCTAssertEqual(visit.rows, 0 ..< counts[visit.owner])
                XCTAssertEqual(visit.keyRows, 0 ..< counts[x])
            }
        }
    }
}
