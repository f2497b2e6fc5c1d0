@testable import CostModel
import SPCore
import XCTest

/// Every strategy's model on the uniform toy (α = 1 µs, 1 GB/s, 1 TFLOP/s: m bytes take
/// 1 µs + m ns, F FLOPs take F ps), expected values computed by hand from the schedules.
final class StrategyModelTests: XCTestCase {
    let us = 1e-6, ns = 1e-9

    func predict(_ model: any StrategyModel.Type, _ w: Workload, ranks: Int) throws -> Prediction {
        try CostModel.predict(model, w, ranks: ranks, topology: Toys.uniform).get()
    }

    // MARK: ring

    func testRingNonCausalCommunicationBound() throws {
        // P = 4, N = 800 (n = 200), H = 2, G = 1, D = 4: K/V block 2·200·1·4·4 = 6400 B,
        // hop 7.4 µs; a block 4·H·D·n² = 1.28e6 FLOP = 1.28 µs.
        let w = Workload(seqLen: 800, heads: 2, kvHeads: 1, headDim: 4, isCausal: false)
        let m = try predict(RingModel.self, w, ranks: 4)
        expect("forward bytes 2(N − n_next)GDb", expected: [19200, 19200, 19200, 19200], actual: m.forward.bytesSent)
        expect("forward messages P−1", expected: [3, 3, 3, 3], actual: m.forward.messagesSent)
        expect("backward bytes + 2NGD·4 accumulators", expected: Array(repeating: 19200 + 25600, count: 4),
               actual: m.backward.bytesSent)
        expect("backward messages 2P−1", expected: [7, 7, 7, 7], actual: m.backward.messagesSent)
        expect("forward time 3·max(1.28, 7.4) + 1.28", expected: 23.48 * us, actual: m.forward.maxSeconds)
        expect("forward exposed 3·(7.4 − 1.28)", expected: 18.36 * us, actual: m.forward.exposedCommSeconds[2])
        expect("forward wire 3·7.4", expected: 22.2 * us, actual: m.forward.commSeconds[0])
    }

    func testRingUnevenBytesFollowTheBlockThatArrivesLast() throws {
        // N = 803 on 4 ranks: 201, 201, 201, 200; rank r sends every block but its successor's.
        let w = Workload(seqLen: 803, heads: 2, kvHeads: 1, headDim: 4, isCausal: false)
        let m = try predict(RingModel.self, w, ranks: 4)
        let n = [201, 201, 201, 200]
        expect("forward bytes", expected: (0..<4).map { 2 * (803 - n[($0 + 1) % 4]) * 16 }, actual: m.forward.bytesSent)
    }

    func testRingComputeBoundHidesTheTransfer() throws {
        // N = 2000 (n = 500), H = 8, G = 1, D = 16: hop 1 + 64 = 65 µs; a block 4·8·16·500² = 128 µs.
        let w = Workload(seqLen: 2000, heads: 8, kvHeads: 1, headDim: 16, isCausal: false)
        let m = try predict(RingModel.self, w, ranks: 4)
        expect("forward time 4·128", expected: 512 * us, actual: m.forward.maxSeconds)
        expect("forward exposed", expected: 0, actual: m.forward.maxExposedCommSeconds)
        // Backward: blocks 320 µs ≥ K/V + accumulator 130 µs; the last accumulator hop (65) is exposed.
        expect("backward time 4·320 + 65", expected: 1345 * us, actual: m.backward.maxSeconds)
        expect("backward exposed: the accumulator's hop home", expected: 65 * us, actual: m.backward.maxExposedCommSeconds)
    }

    func testRingCausalContiguousImbalance() throws {
        // As above, causal: diagonal 4·8·16·(500·501/2) = 64.128 µs, full block 128 µs, hop 65 µs.
        let w = Workload(seqLen: 2000, heads: 8, kvHeads: 1, headDim: 16, isCausal: true)
        let m = try predict(RingModel.self, w, ranks: 4)
        // Steps: max(64.128, 65) + 2·max(128, 65) + 128 (the last rank computes a full block at every step ≥ 1).
        expect("forward time", expected: 449 * us, actual: m.forward.maxSeconds, relative: 1e-9)
        expect("rank 0 computes the diagonal only", expected: 64.128 * us, actual: m.forward.computeSeconds[0], relative: 1e-9)
        expect("rank 3 computes 3 blocks + diagonal", expected: 448.128 * us, actual: m.forward.computeSeconds[3], relative: 1e-9)
        // Rank 0 has nothing to hide steps 1 and 2 behind: 0.872 + 65 + 65.
        expect("rank 0 exposed", expected: 130.872 * us, actual: m.forward.exposedCommSeconds[0], relative: 1e-9)
        expect("rank 3 exposed", expected: 0.872 * us, actual: m.forward.exposedCommSeconds[3], relative: 1e-9)
    }

    func testRingZigzagIsBalanced() throws {
        // Zigzag (c = 250): diagonal 2c² + c pairs = 64.128 µs, every other step n²/2 = 64 µs.
        var w = Workload(seqLen: 2000, heads: 8, kvHeads: 1, headDim: 16, isCausal: true)
        w.layout = .zigzag
        let m = try predict(RingModel.self, w, ranks: 4)
        expect("forward time max(64.128, 65) + 2·max(64, 65) + 64", expected: 259 * us, actual: m.forward.maxSeconds,
               relative: 1e-9)
        for r in 0..<4 {
            expect("rank \(r) compute", expected: 256.128 * us, actual: m.forward.computeSeconds[r], relative: 1e-9)
        }
    }

    // MARK: ulysses

    func testUlyssesWithReplicatedKVHeads() throws {
        // P = 4, H = 8, G = 2, D = 16, N = 1000 (n = 250): c_r = 2, each rank needs one KV
        // head (G' = 4, replicated); per peer q k v 250·(2 + 2)·64 B, o lse 250·2·68 B.
        let w = Workload(seqLen: 1000, heads: 8, kvHeads: 2, headDim: 16, isCausal: false)
        let m = try predict(UlyssesModel.self, w, ranks: 4)
        expect("forward bytes 3·64000 + 3·34000", expected: Array(repeating: 294000, count: 4), actual: m.forward.bytesSent)
        expect("forward messages 2(P−1)", expected: [6, 6, 6, 6], actual: m.forward.messagesSent)
        expect("backward bytes 250·(6·196 + 2·64·3) + 750·64·4", expected: Array(repeating: 582000, count: 4),
               actual: m.backward.bytesSent)
        // a2a 3·(1 + 64) = 195 µs; attention 4·2·16·1000² = 128 µs; a2a back 3·(1 + 34) = 105 µs.
        expect("forward time", expected: 428 * us, actual: m.forward.maxSeconds, relative: 1e-9)
        expect("exposed = comm", expected: 300 * us, actual: m.forward.exposedCommSeconds[1], relative: 1e-9)
    }

    func testUlyssesUnevenHeads() throws {
        // 7 heads on 4 ranks: [2, 2, 2, 1]; G = 7 (MHA). n = 4 tokens each, D = 2.
        let w = Workload(seqLen: 16, heads: 7, headDim: 2, isCausal: false)
        let m = try predict(UlyssesModel.self, w, ranks: 4)
        let c = [2, 2, 2, 1]
        // n·D·b·((H − c) + 2(G − c)) + (N − n)·c·(D·b + s), with G' = G = 7, g = c.
        expect("forward bytes", expected: c.map { 4 * 2 * 4 * (3 * (7 - $0)) + 12 * $0 * 12 }, actual: m.forward.bytesSent)
        XCTAssertNotNil(CostModel.unsupportedReason(UlyssesModel.self, w, ranks: 8, topology: Toys.uniform))
    }

    // MARK: usp

    func testUSPTwoByTwo() throws {
        // P = 4, U = 2, R = 2, N = 800 (n = 200, M = 400), H = G = 2, D = 4: c_u = g_u = 1.
        // Forward per rank: q k v 200·3·16 = 9600 B to the partner, K/V 2·400·16 = 12800 B
        // to the ring neighbour, o lse 200·(16 + 4) = 4000 B to the partner.
        let w = Workload(seqLen: 800, heads: 2, kvHeads: 2, headDim: 4, isCausal: false, ulyssesDegree: 2)
        let m = try predict(USPModel.self, w, ranks: 4)
        expect("forward bytes", expected: Array(repeating: 9600 + 12800 + 4000, count: 4), actual: m.forward.bytesSent)
        expect("forward messages 2(U−1) + R−1", expected: [3, 3, 3, 3], actual: m.forward.messagesSent)
        // Backward: q o do lse k v 200·(52 + 32) = 16800, K/V 12800 + accumulators 2·800·16 = 25600,
        // dq dk dv 200·3·16 = 9600.
        expect("backward bytes", expected: Array(repeating: 16800 + 38400 + 9600, count: 4), actual: m.backward.bytesSent)
        expect("backward messages 2(U−1) + 2R−1", expected: [5, 5, 5, 5], actual: m.backward.messagesSent)
        // a2a 1 + 9.6 µs; ring: max(2.56 µs block (4·1·4·400²), 13.8 µs hop) + 2.56; a2a back 1 + 4 µs.
        expect("forward time", expected: 31.96 * us, actual: m.forward.maxSeconds, relative: 1e-9)
    }

    func testUSPDegenerateEndsAreRingAndUlysses() throws {
        for (layout, causal) in [(LayoutKind.contiguous, false), (.zigzag, true)] {
            var w = Workload(seqLen: 960, heads: 8, kvHeads: 2, headDim: 4, isCausal: causal, layout: layout)
            w.ulyssesDegree = 1
            let ring = try predict(RingModel.self, w, ranks: 4), asRing = try predict(USPModel.self, w, ranks: 4)
            XCTAssertEqual(asRing.forward.bytesSent, ring.forward.bytesSent)
            XCTAssertEqual(asRing.backward.bytesSent, ring.backward.bytesSent)
            XCTAssertEqual(asRing.backward.messagesSent, ring.backward.messagesSent)
            w.ulyssesDegree = 4
            let ulysses = try predict(UlyssesModel.self, w, ranks: 4), asUlysses = try predict(USPModel.self, w, ranks: 4)
            XCTAssertEqual(asUlysses.forward.bytesSent, ulysses.forward.bytesSent)
            XCTAssertEqual(asUlysses.backward.bytesSent, ulysses.backward.bytesSent)
            XCTAssertEqual(asUlysses.forward.messagesSent, ulysses.forward.messagesSent)
        }
        // Default degree at P = 8, H = 8: U = 2 (U² ≤ P), so 2(U−1) + (R−1) = 5 messages.
        let m = try predict(USPModel.self, Workload(seqLen: 128, heads: 8, headDim: 4, isCausal: false), ranks: 8)
        expect("default U = 2", expected: Array(repeating: 5, count: 8), actual: m.forward.messagesSent)
        XCTAssertNotNil(CostModel.unsupportedReason(USPModel.self, Workload(seqLen: 128, heads: 2, headDim: 4, isCausal: false,
                                                                            ulyssesDegree: 4), ranks: 4, topology: Toys.uniform))
    }

    // MARK: token-ring

    func testTokenRingNonCausal() throws {
        // P = 4, N = 800 (n = 200), H = 2, D = 4: Q rows 32 B, returns 40 B, backward blocks 104 B, dq 32 B.
        let w = Workload(seqLen: 800, heads: 2, kvHeads: 1, headDim: 4, isCausal: false)
        let m = try predict(TokenRingModel.self, w, ranks: 4)
        expect("forward bytes 600·32 + 600·40", expected: Array(repeating: 43200, count: 4), actual: m.forward.bytesSent)
        expect("backward bytes 600·104 + 600·32", expected: Array(repeating: 81600, count: 4), actual: m.backward.bytesSent)
        expect("messages 2(P−1)", expected: [6, 6, 6, 6], actual: m.backward.messagesSent)
        // Q hop 1 + 6.4 = 7.4 µs, return 1 + 8 = 9 µs, block 1.28 µs; the hop and the return
        // leave through the same port; step 0 returns nothing, so step 1 carries a hop alone:
        // 2·max(1.28, 7.4) + max(1.28, 7.4 + 9) + max(1.28, 9) + the last return 9.
        expect("forward time", expected: 49.2 * us, actual: m.forward.maxSeconds, relative: 1e-9)
    }

    func testTokenRingCausalZigzagSendsHalfBlocksWhenWrapped() throws {
        let w = Workload(seqLen: 800, heads: 2, kvHeads: 1, headDim: 4, isCausal: true, layout: .zigzag)
        let m = try predict(TokenRingModel.self, w, ranks: 4)
        // Q tokens: 3·100, then (2P − r − 1)·100; returns (2P − 2 − r)·100.
        expect("forward bytes", expected: [300 * 32 + 600 * 40, 600 * 32 + 500 * 40, 500 * 32 + 400 * 40, 400 * 32 + 300 * 40],
               actual: m.forward.bytesSent)
        XCTAssertNotNil(CostModel.unsupportedReason(TokenRingModel.self,
                                                    Workload(seqLen: 800, heads: 2, headDim: 4, isCausal: true), ranks: 4,
                                                    topology: Toys.uniform))
    }

    // MARK: GLA

    /// H = 2, Dk = 4, Dv = 8, float32: a state 256 B, a packed element or gradient 288 B;
    /// N = 64 on 4 ranks (16 tokens), chunk 4: 16·2·(2·4·12 + 4·32) = 7168 FLOP = 7.168 ns
    /// per rank, of which the read-out 16·2·2·32 = 2048 FLOP.
    func gla(_ k: Int? = nil) -> Workload {
        Workload(attention: .gla, seqLen: 64, heads: 2, headDim: 4, valueDim: 8, chunkSize: 4, isCausal: true, scanBlocks: k)
    }

    func testLASP1IsASerialChain() throws {
        let m = try predict(LASP1Model.self, gla(), ranks: 4)
        expect("forward bytes", expected: [256, 256, 256, 0], actual: m.forward.bytesSent)
        expect("forward messages", expected: [1, 1, 1, 0], actual: m.forward.messagesSent)
        expect("backward bytes", expected: [0, 288, 288, 288], actual: m.backward.bytesSent)
        // Rank 3 finishes after 4 local passes and 3 hops of 1.256 µs.
        expect("forward time 4·7.168 ns + 3·1.256 µs", expected: 4 * 7.168 * ns + 3 * 1.256 * us, actual: m.forward.maxSeconds,
               relative: 1e-9)
    }

    func testLASP2AllGathersEveryState() throws {
        let m = try predict(LASP2Model.self, gla(), ranks: 4)
        expect("forward bytes (P−1)·288", expected: [864, 864, 864, 864], actual: m.forward.bytesSent)
        expect("backward messages P−1", expected: [3, 3, 3, 3], actual: m.backward.messagesSent)
        // local 5.12 ns, all-gather 3·(1 µs + 288 ns), prefix 3·128 FLOP, read-out 2.048 ns.
        expect("forward time of rank 3", expected: (5.12 + 3864 + 0.384 + 2.048) * ns, actual: m.forward.seconds[3],
               relative: 1e-9)
    }

    func testExscanCountsTheLogicalSchedule() throws {
        let m = try predict(ExscanModel.self, gla(), ranks: 4)
        expect("forward bytes (P−1−p)·288", expected: [864, 576, 288, 0], actual: m.forward.bytesSent)
        expect("backward messages p", expected: [0, 1, 2, 3], actual: m.backward.messagesSent)
        expect("forward time: ⌈log2 4⌉·(1 µs + 288 ns) after the local work",
               expected: (5.12 + 2576 + 2.048) * ns, actual: m.forward.maxSeconds, relative: 1e-9)
    }

    func testZeCOPipelinesKBlocks() throws {
        let m = try predict(ZeCOModel.self, gla(2), ranks: 4)
        XCTAssertEqual(m.scanBlocks, 2)
        expect("forward bytes", expected: [256, 256, 256, 0], actual: m.forward.bytesSent)
        expect("forward messages K", expected: [2, 2, 2, 0], actual: m.forward.messagesSent)
        expect("backward bytes", expected: [0, 288, 288, 288], actual: m.backward.bytesSent)
        expect("backward messages K", expected: [0, 2, 2, 2], actual: m.backward.messagesSent)
        // Blocks of 128 B: hop 1.128 µs. The last rank's last block: (P − 2 + K) hops after
        // the first block is ready (C/K = 2.56 ns), then the read-out 2.048 ns.
        expect("forward time (P−2+K)·(α + m/K·β) + C/K + read-out", expected: (2.56 + 4 * 1128 + 2.048) * ns,
               actual: m.forward.maxSeconds, relative: 1e-9)
        // Rank 0 only sends: its last block leaves at C = 5.12 ns.
        expect("rank 0", expected: (5.12 + 1128 + 2.048) * ns, actual: m.forward.seconds[0], relative: 1e-9)
    }

    func testZeCODefaultsToTheOptimalK() throws {
        // 8 ranks, a 1 MB state on the toy: K* = sqrt(6·1e6 ns / 1 µs) ≈ 77.
        let w = Workload(attention: .gla, seqLen: 1024, heads: 4, headDim: 256, valueDim: 256, isCausal: true, elementBytes: 4)
        let m = try CostModel.predict(ZeCOModel.self, w, ranks: 8, topology: Toys.uniform).get()
        let k = try XCTUnwrap(m.scanBlocks)
        print("K*: expected ≈ sqrt(6·\(w.stateBytes)/1000) = \((6.0 * Double(w.stateBytes) / 1000).squareRoot()), actual \(k)")
        XCTAssertLessThanOrEqual(abs(Double(k) - (6.0 * Double(w.stateBytes) / 1000).squareRoot()), 1)
    }

    func testEveryModelOnOneRankSendsNothing() throws {
        for model in CostModel.strategies {
            let w = model.attention == .gla ? gla() : Workload(seqLen: 64, heads: 4, kvHeads: 2, headDim: 8, isCausal: false)
            let m = try predict(model, w, ranks: 1)
            XCTAssertEqual(m.forward.bytesSent + m.backward.bytesSent, [0, 0], model.name)
            XCTAssertEqual(m.forward.messagesSent + m.backward.messagesSent, [0, 0], model.name)
            XCTAssertGreaterThan(m.maxStepSeconds, 0, model.name)
        }
    }
}
