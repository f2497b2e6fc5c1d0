import Kernels
import TestSupport
import XCTest

@testable import SequenceParallel

/// The Ulysses all-to-alls, routed by hand (block j of rank s's send buffer is what rank j
/// receives from s, as `MPI_Alltoallv` does) on values that encode (token, head, channel):
/// every element must land exactly where it belongs, for every layout.
final class HeadExchangeTests: XCTestCase {
    /// Encoded values, shifted per tensor so that blocks of two tensors cannot be confused.
    private func encoded(_ positions: [Int], heads: Int, dim: Int, tensor: Int) -> Tensor32 {
        var t = Tensor32.encoded(positions: positions, heads: heads, dim: dim)
        for i in t.storage.indices { t.storage[i] += Float(100_000 * tensor) }
        return t
    }

    /// What each rank receives, given what each rank sends and the per-destination counts.
    private func route(_ sent: [[Float]], sendCounts: [[Int]]) -> [[Float]] {
        let p = sent.count
        var received = [[Float]](repeating: [], count: p)
        for s in 0..<p {
            XCTAssertEqual(sent[s].count, sendCounts[s].reduce(0, +))
            var offset = 0
            for j in 0..<p {
                received[j] += sent[s][offset ..< offset + sendCounts[s][j]]
                offset += sendCounts[s][j]
            }
        }
        return received
    }

    /// The q/k/v-style exchange (three tensors, two with KV heads) and back, for uneven
    /// heads, replicated KV heads, uneven tokens and every layout.
    func testEveryElementLandsExactlyBothWays() {
        let shapes = [(8, 8, 4), (8, 2, 4), (7, 1, 3), (7, 7, 2), (4, 2, 3), (12, 4, 2)]
        withEvery([1, 2, 3, 4, 5, 8], LayoutKind.allCases) { p, kind in
            for n in [16 * p, 16 * p + 3] {
                guard case .success(let layout) = SequenceLayout.make(kind, tokens: n, ranks: p) else { continue }
                for (h, g, d) in shapes where p <= h {
                    check(layout, heads: h, kvHeads: g, dim: d)
                }
            }
        }
    }

    private func check(_ layout: SequenceLayout, heads h: Int, kvHeads g: Int, dim d: Int,
                       file: StaticString = #filePath, line: UInt = #line) {
        let p = layout.ranks, split = HeadPartition(heads: h, kvHeads: g, ranks: p)
        let name = "\(layout.kind) N=\(layout.tokens) P=\(p) H=\(h) G=\(g)"
        let parts = [HeadExchange.Part(heads: h, dim: d, ranges: split.queryHeadRanges),
                     HeadExchange.Part(heads: g, dim: d, ranges: split.kvHeadRanges),
                     HeadExchange.Part(heads: g, dim: d, ranges: split.kvHeadRanges),
                     HeadExchange.Part(heads: h, dim: 1, ranges: split.queryHeadRanges)]
        let exchange = HeadExchange(layout: layout, parts: parts)
        let all = Array(0..<layout.tokens)

        // Sequence → heads.
        let local = (0..<p).map { r in
            parts.enumerated().map { i, part in encoded(layout.positions(rank: r), heads: part.heads, dim: part.dim, tensor: i) }
        }
        let counts = (0..<p).map { exchange.sequenceToHeadsCounts(rank: $0) }
        for s in 0..<p { for j in 0..<p { XCTAssertEqual(counts[s].send[j], counts[j].receive[s], name, file: file, line: line) } }
        let received = route((0..<p).map { exchange.packSequenceToHeads(local[$0], rank: $0) },
                             sendCounts: counts.map(\.send))
        var headLayout = [[Tensor32]]()
        for j in 0..<p {
            let got = exchange.unpackSequenceToHeads(received[j], rank: j)
            for (i, part) in parts.enumerated() {
                let expected = encoded(all, heads: part.heads, dim: part.dim, tensor: i).heads(part.ranges[j])
                XCTAssertEqual(got[i], expected, "\(name): tensor \(i) on rank \(j)", file: file, line: line)
            }
            headLayout.append(got)
        }

        // Heads → sequence: each head comes back once per rank that held it.
        let backCounts = (0..<p).map { exchange.headsToSequenceCounts(rank: $0) }
        for s in 0..<p { for j in 0..<p { XCTAssertEqual(backCounts[s].send[j], backCounts[j].receive[s], name, file: file, line: line) } }
        let returned = route((0..<p).map { exchange.packHeadsToSequence(headLayout[$0], rank: $0) },
                             sendCounts: backCounts.map(\.send))
        for r in 0..<p {
            let got = exchange.unpackHeadsToSequence(returned[r], rank: r)
            for (i, part) in parts.enumerated() {
                var expected = local[r][i]
                for t in 0..<expected.tokens {
                    for head in 0..<part.heads {
                        let holders = Float(part.ranges.filter { $0.contains(head) }.count)
                        for c in 0..<part.dim { expected[t, head, c] *= holders }
                    }
                }
                XCTAssertEqual(got[i], expected, "\(name): tensor \(i) back on rank \(r)", file: file, line: line)
            }
        }
    }

    /// USP's group exchange: explicit rows put a group's tokens in the order of its ring
    /// block (here zigzag N = 64 on P = 8, groups of U = 2 whose tokens are block g of
    /// zigzag over R = 4), both ways, uneven heads and replicated KV heads included.
    func testExplicitRowsPutAGroupInRingBlockOrder() throws {
        let global = try SequenceLayout.make(.zigzag, tokens: 64, ranks: 8).get()
        let ring = try SequenceLayout.make(.zigzag, tokens: 64, ranks: 4).get()
        let u = 2, split = HeadPartition(heads: 3, kvHeads: 1, ranks: u)
        let parts = [HeadExchange.Part(heads: 3, dim: 2, ranges: split.queryHeadRanges),
                     HeadExchange.Part(heads: 1, dim: 2, ranges: split.kvHeadRanges)]
        for g in 0..<4 {
            let order = ring.positions(rank: g)
            let members = (0..<u).map { global.positions(rank: g * u + $0) }
            let exchange = HeadExchange(rows: members.map { $0.map { order.firstIndex(of: $0)! } }, parts: parts)
            XCTAssertEqual(exchange.tokens, order.count)
            let local = members.map { positions in
                parts.enumerated().map { i, part in encoded(positions, heads: part.heads, dim: part.dim, tensor: i) }
            }
            let counts = (0..<u).map { exchange.sequenceToHeadsCounts(rank: $0) }
            let received = route((0..<u).map { exchange.packSequenceToHeads(local[$0], rank: $0) }, sendCounts: counts.map(\.send))
            var headLayout = [[Tensor32]]()
            for m in 0..<u {
                let got = exchange.unpackSequenceToHeads(received[m], rank: m)
                for (i, part) in parts.enumerated() {
                    XCTAssertEqual(got[i], encoded(order, heads: part.heads, dim: part.dim, tensor: i).heads(part.ranges[m]),
                                   "group \(g) tensor \(i) on member \(m)")
                }
                headLayout.append(got)
            }
            let backCounts = (0..<u).map { exchange.headsToSequenceCounts(rank: $0) }
            let returned = route((0..<u).map { exchange.packHeadsToSequence(headLayout[$0], rank: $0) },
                                 sendCounts: backCounts.map(\.send))
            for m in 0..<u {
                let got = exchange.unpackHeadsToSequence(returned[m], rank: m)
                XCTAssertEqual(got[0], local[m][0], "group \(g) queries back on member \(m)")
                var kv = local[m][1]  // the one KV head is held by both members: summed twice
                for i in kv.storage.indices { kv.storage[i] *= 2 }
                XCTAssertEqual(got[1], kv, "group \(g) KV back on member \(m)")
            }
        }
    }

    /// The counts behind the traffic formulas of UlyssesAttention's header.
    func testCountsFollowTheDocumentedFormula() {
        let layout = try! SequenceLayout.make(.contiguous, tokens: 29, ranks: 3).get()
        let split = HeadPartition(heads: 8, kvHeads: 2, ranks: 3)
        let d = 8
        let forward = HeadExchange(layout: layout, parts: [
            .init(heads: 8, dim: d, ranges: split.queryHeadRanges),
            .init(heads: 2, dim: d, ranges: split.kvHeadRanges), .init(heads: 2, dim: d, ranges: split.kvHeadRanges)])
        let n = layout.counts, c = split.queryHeadRanges.map(\.count), g = split.kvHeadRanges.map(\.count)
        for r in 0..<3 {
            XCTAssertEqual(forward.sequenceToHeadsCounts(rank: r).send, (0..<3).map { n[r] * (c[$0] + 2 * g[$0]) * d })
        }
    }
}
