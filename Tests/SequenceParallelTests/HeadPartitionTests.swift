import Kernels
import TestSupport
import XCTest

@testable import SequenceParallel

/// The head split of Ulysses: uneven heads, replicated KV heads, kernel runs.
final class HeadPartitionTests: XCTestCase {
    func testSevenHeadsOnFourRanksSplitTwoTwoTwoOne() {
        let split = HeadPartition(heads: 7, kvHeads: 7, ranks: 4)
        XCTAssertEqual(split.queryHeadRanges, [0..<2, 2..<4, 4..<6, 6..<7])
        XCTAssertEqual(split.kvHeadRanges, [0..<2, 2..<4, 4..<6, 6..<7])
        XCTAssertEqual(split.replicatedKVHeads, 7)
    }

    /// H = 8, G = 2 on 3 ranks: each rank receives exactly the KV heads its query heads use.
    func testMixedUnevenHeadsAndFewKVHeads() {
        let split = HeadPartition(heads: 8, kvHeads: 2, ranks: 3)
        XCTAssertEqual(split.queryHeadRanges, [0..<3, 3..<6, 6..<8])
        XCTAssertEqual(split.kvHeadRanges, [0..<1, 0..<2, 1..<2])
        XCTAssertEqual(split.replicatedKVHeads, 4)
        // Rank 1's query heads 3 | 4 5 use KV heads 0 | 1: two kernel runs.
        let segments = split.kernelSegments(rank: 1)
        XCTAssertEqual(segments.map(\.queries), [0..<1, 1..<3])
        XCTAssertEqual(segments.map(\.kv), [0..<1, 1..<2])
    }

    /// G < P: one KV head per rank, replicated over the ranks sharing it.
    func testFewerKVHeadsThanRanksReplicates() {
        let split = HeadPartition(heads: 8, kvHeads: 2, ranks: 8)
        XCTAssertEqual(split.kvHeadRanges, [0..<1, 0..<1, 0..<1, 0..<1, 1..<2, 1..<2, 1..<2, 1..<2])
        XCTAssertEqual(split.replicatedKVHeads, 8)
        XCTAssertEqual(split.kernelSegments(rank: 5).count, 1)
    }

    /// Every rank's query heads are covered once, each by its own KV head, run by run,
    /// and the KV range is exactly the set of KV heads used.
    func testKernelSegmentsMapEveryQueryHeadToItsKVHead() {
        for (h, g) in [(1, 1), (4, 4), (4, 2), (4, 1), (6, 3), (7, 1), (7, 7), (8, 2), (8, 4), (12, 4), (16, 2)] {
            for p in 1...h where p <= 8 {
                let split = HeadPartition(heads: h, kvHeads: g, ranks: p)
                XCTAssertEqual(split.queryHeadRanges.map(\.count).reduce(0, +), h)
                XCTAssertEqual(split.queryHeadRanges.first?.lowerBound, 0)
                XCTAssertEqual(split.queryHeadRanges.last?.upperBound, h)
                for r in 0..<p {
                    let q = split.queryHeads(rank: r), kv = split.kvHeads(rank: r)
                    XCTAssertEqual(Set(q.map { $0 / (h / g) }), Set(kv), "H=\(h) G=\(g) P=\(p) r=\(r)")
                    var covered = [Int]()
                    for segment in split.kernelSegments(rank: r) {
                        XCTAssertEqual(segment.queries.count % segment.kv.count, 0)
                        let perKV = segment.queries.count / segment.kv.count
                        for local in segment.queries {
                            let global = q.lowerBound + local
                            let kernelKV = kv.lowerBound + segment.kv.lowerBound + (local - segment.queries.lowerBound) / perKV
                            XCTAssertEqual(kernelKV, global / (h / g), "H=\(h) G=\(g) P=\(p) r=\(r) head \(global)")
                            covered.append(local)
                        }
                    }
                    XCTAssertEqual(covered, Array(0..<q.count))
                    XCTAssertLessThanOrEqual(split.kernelSegments(rank: r).count, 3)
                }
            }
        }
    }

    func testMoreRanksThanHeadsNamesTheWayOut() throws {
        XCTAssertNil(HeadPartition.unsupportedReason(heads: 4, ranks: 4, strategy: "ulysses"))
        let reason = try XCTUnwrap(HeadPartition.unsupportedReason(heads: 4, ranks: 5, strategy: "ulysses"))
        for word in ["P = 5", "H = 4"] { XCTAssertTrue(reason.contains(word), reason) }
        // The strategy's refusal names the way out: the registered strategies that run the problem.
        let problem = AttentionProblem(seqLen: 40, heads: 4, kvHeads: 4, headDim: 8, isCausal: false)
        let refusal = try XCTUnwrap(UlyssesAttention.unsupportedReason(problem, layout: .contiguous, ranks: 5))
        let ways = Strategies.alternatives(to: UlyssesAttention.name, problem, layout: .contiguous, ranks: 5)
        XCTAssertGreaterThanOrEqual(ways.count, 2, refusal)
        for way in ways {
            XCTAssertTrue(refusal.contains(way), refusal)
            XCTAssertNil((Strategies.named(way) as? any AttentionStrategy.Type)?.unsupportedReason(problem, layout: .contiguous, ranks: 5))
        }
    }
}
