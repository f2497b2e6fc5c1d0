@testable import CostModel
import SPCore
import XCTest

/// `allgather` on the uniform toy: every number by hand.
final class AllGatherModelTests: XCTestCase {
    let us = 1e-6

    func testNonCausalEvenByHand() throws {
        // N = 1000, P = 4, H = 4, G = 2, D = 8, float32: n = 250; m = 2·250·2·8·4 = 32000 B.
        let w = Workload(seqLen: 1000, heads: 4, kvHeads: 2, headDim: 8, isCausal: false)
        let m = try CostModel.predict(AllGatherModel.self, w, ranks: 4, topology: Toys.uniform).get()
        expect("forward bytes (P−1)·m", expected: [96000, 96000, 96000, 96000], actual: m.forward.bytesSent)
        expect("forward messages P−1", expected: [3, 3, 3, 3], actual: m.forward.messagesSent)
        expect("backward bytes (P−1)·m + 2(N−n)GDb", expected: Array(repeating: 96000 + 96000, count: 4),
               actual: m.backward.bytesSent)
        expect("backward messages 2(P−1)", expected: [6, 6, 6, 6], actual: m.backward.messagesSent)
        // All-gather: 3·(1 µs + 32000 ns) = 99 µs; compute 4·H·D·n·N = 32e6 FLOP = 32 µs.
        expect("forward comm", expected: 99 * us, actual: m.forward.commSeconds[0])
        expect("forward compute", expected: 32 * us, actual: m.forward.computeSeconds[0])
        expect("forward exposed = comm (no overlap)", expected: 99 * us, actual: m.forward.exposedCommSeconds[0])
        expect("forward time", expected: 131 * us, actual: m.forward.maxSeconds)
        // Backward: all-gather 99 + 2.5·32 = 80 + reduce-scatter 3·(1 + 32) = 99.
        expect("backward time", expected: 278 * us, actual: m.backward.maxSeconds)
        expect("step", expected: 409 * us, actual: m.maxStepSeconds)
        // Memory: q, o, do, dq 4·32000; k, v, dk, dv 4·16000; lse 4000; gathered K, V and dK, dV 2·128000.
        expect("memory", expected: [452000, 452000, 452000, 452000], actual: m.memoryBytes)
    }

    func testCausalContiguousUnevenByHand() throws {
        // N = 1001 on 4 ranks: counts 251, 250, 250, 250; starts 0, 251, 501, 751.
        let w = Workload(seqLen: 1001, heads: 4, kvHeads: 2, headDim: 8, isCausal: true)
        let m = try CostModel.predict(AllGatherModel.self, w, ranks: 4, topology: Toys.uniform).get()
        let kv = [251, 250, 250, 250].map { 2 * $0 * 2 * 8 * 4 }
        expect("forward bytes", expected: kv.map { 3 * $0 }, actual: m.forward.bytesSent)
        expect("backward bytes", expected: kv.map { 3 * $0 + (2 * 1001 * 2 * 8 * 4 - $0) }, actual: m.backward.bytesSent)
        // Causal pairs of rank r: c·s + c(c+1)/2; FLOPs 4·H·D = 128 per pair; 1 FLOP = 1 ps.
        let first: Double = 251 * 252 / 2, rest: Double = 250 * 251 / 2
        let pairs: [Double] = [first, 250 * 251 + rest, 250 * 501 + rest, 250 * 751 + rest]
        for r in 0..<4 {
            expect("rank \(r) forward compute", expected: 128 * pairs[r] * 1e-12, actual: m.forward.computeSeconds[r])
        }
        let gather = 3 * (1 * us + Double(kv[0]) * 1e-9)
        expect("forward time of the slowest rank", expected: gather + 128 * pairs[3] * 1e-12, actual: m.forward.maxSeconds)
    }

    func testOneRankSendsNothing() throws {
        let w = Workload(seqLen: 64, heads: 2, headDim: 8, isCausal: false)
        let m = try CostModel.predict(AllGatherModel.self, w, ranks: 1, topology: Toys.uniform).get()
        XCTAssertEqual(m.forward.bytesSent, [0])
        XCTAssertEqual(m.backward.messagesSent, [0])
        XCTAssertEqual(m.commSeconds, [0])
    }

    func testEveryLayoutCountsTheSameCausalWork() throws {
        // Whatever the layout, the total causal pairs are N(N+1)/2.
        for layout in [LayoutKind.contiguous, .zigzag, .striped] {
            let w = Workload(seqLen: 96, heads: 1, headDim: 1, isCausal: true, layout: layout)
            let total = (0..<4).map { RankShape.visiblePairs(w, rank: $0, ranks: 4) }.reduce(0, +)
            expect("\(layout) causal pairs", expected: 96 * 97 / 2, actual: total)
        }
    }
}
