import XCTest

/// `ring` under mpirun: against the float64 reference in every layout, exactly on encoded
/// one-hot problems, its ledger against the header's formulas, and deadlock freedom.
final class RingTests: XCTestCase {
    /// `spsim verify`'s matrix (MHA and GQA, N = 16P; uneven N = 16P + 3; contiguous, zigzag,
    /// striped; causal and not; forward and backward) at every rank count.
    func testVerifyMatrixAtEveryRankCount() throws {
        for p in rankCounts {
            let ran = try assertVerifyMatrix(strategy: "ring", ranks: p) { n, _, layout in layoutFits(layout, n: n, p: p) }
            XCTAssertEqual(Set(ran.compactMap { $0["layout"] as? String }), ["contiguous", "zigzag", "striped"], "P=\(p)")
        }
    }

    /// Uneven contiguous N on 3 ranks (blocks of 334, 334, 333 tokens circulate), GQA and MHA.
    func testUnevenTokensOnThreeRanks() throws {
        for causal in [false, true] {
            let flag = causal ? ["--causal"] : []
            try assertVerifies(["--strategy", "ring", "--seq-len", "1001", "--heads", "4", "--kv-heads", "2",
                                "--head-dim", "16"] + flag, ranks: 3)
            try assertVerifies(["--strategy", "ring", "--seq-len", "37", "--heads", "3", "--head-dim", "8"] + flag, ranks: 5)
        }
    }

    /// Every output element lands exactly (one-hot attention on integer-encoded values): the
    /// right block reaches every rank, merges pick it exactly, dV accumulators come home.
    func testOneHotOutputsAreExactInEveryLayout() throws {
        for layout in ["contiguous", "zigzag", "striped"] {
            for causal in [false, true] {
                try assertOneHotExact(strategy: "ring", layout: layout,
                                      problem: OneHotAttention(tokens: 48, heads: 4, kvHeads: 2, causal: causal), ranks: 4)
            }
        }
        try assertOneHotExact(strategy: "ring", layout: "contiguous",
                              problem: OneHotAttention(tokens: 50, heads: 2, kvHeads: 2, causal: true), ranks: 3)
        try assertOneHotExact(strategy: "ring", layout: "contiguous",
                              problem: OneHotAttention(tokens: 50, heads: 2, kvHeads: 1, causal: false), ranks: 3)
    }

    /// The ledger equals RingAttention's documented traffic: forward 2·(N − n_{r+1})·G·D·4
    /// bytes in P−1 messages to rank r+1 only (skipped causal steps still forward K/V);
    /// backward adds the accumulators, 2·N·G·D·4 bytes in P more messages.
    func testLedgerMatchesTheDocumentedFormulasWithUnevenBlocks() throws {
        let p = 3, n = [10, 10, 9], total = 29, g = 2, d = 8, b = 4
        let json = try assertVerifies(["--strategy", "ring", "--seq-len", "\(total)", "--heads", "4", "--kv-heads", "\(g)",
                                       "--head-dim", "\(d)", "--causal"], ranks: p)
        let forward = (0..<p).map { 2 * (total - n[($0 + 1) % p]) * g * d * b }
        XCTAssertEqual(traffic(json, "forward", "bytes_sent"), forward)
        XCTAssertEqual(traffic(json, "forward", "messages_sent"), [p - 1, p - 1, p - 1])
        XCTAssertEqual(traffic(json, "backward", "bytes_sent"), forward.map { $0 + 2 * total * g * d * b })
        XCTAssertEqual(traffic(json, "backward", "messages_sent"), [2 * p - 1, 2 * p - 1, 2 * p - 1])
        XCTAssertEqual(sentToMatrix(json, "forward"), (0..<p).map { r in (0..<p).map { $0 == (r + 1) % p ? forward[r] : 0 } })
        XCTAssertEqual((json["compute_seconds"] as? [Double])?.count, p)
    }

    /// Even blocks: exactly (P−1)·2·n·G·D·4 forward and (2P−1)·2·n·G·D·4 backward, every layout.
    func testLedgerWithEvenBlocksInEveryLayout() throws {
        let p = 4, n = 8, g = 1, d = 8, block = 2 * n * g * d * 4
        for layout in ["contiguous", "zigzag", "striped"] {
            let json = try assertVerifies(["--strategy", "ring", "--seq-len", "\(p * n)", "--heads", "2", "--kv-heads", "\(g)",
                                           "--head-dim", "\(d)", "--causal", "--layout", layout], ranks: p)
            XCTAssertEqual(traffic(json, "forward", "bytes_sent"), Array(repeating: (p - 1) * block, count: p), layout)
            XCTAssertEqual(traffic(json, "backward", "bytes_sent"), Array(repeating: (2 * p - 1) * block, count: p), layout)
            XCTAssertEqual(traffic(json, "forward", "bytes_received"), Array(repeating: (p - 1) * block, count: p), layout)
        }
        let alone = try assertVerifies(["--strategy", "ring", "--seq-len", "16", "--heads", "2", "--head-dim", "8",
                                        "--causal"], ranks: 1)
        XCTAssertEqual(traffic(alone, "forward", "messages_sent") + traffic(alone, "backward", "messages_sent"), [0, 0])
    }

    /// With every message forced onto the rendezvous path (a send completes only once its
    /// receive is posted), the double-buffered ring still completes, forward and backward;
    /// likewise with 2 MiB blocks.
    func testNoDeadlockWithATinyEagerLimitOrLargeBlocks() throws {
        for (p, layout, n) in [(2, "contiguous", 33), (3, "contiguous", 61), (4, "zigzag", 64), (5, "striped", 40)] {
            try assertVerifies(["--strategy", "ring", "--seq-len", "\(n)", "--heads", "4", "--kv-heads", "2", "--head-dim", "16",
                                "--causal", "--layout", layout], ranks: p, environment: tinyEagerLimit)
        }
        let run = try SPSimProcess.run(["run", "--strategy", "ring", "--seq-len", "8192", "--heads", "1", "--head-dim", "64",
                                        "--causal", "--layout", "zigzag", "--backward", "--json"], ranks: 2, timeoutSeconds: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try run.json()
        let block = 2 * 4096 * 1 * 64 * 4
        XCTAssertEqual(traffic(json, "forward", "bytes_sent"), [block, block])
        XCTAssertEqual(traffic(json, "backward", "bytes_sent"), [3 * block, 3 * block])
    }
}
