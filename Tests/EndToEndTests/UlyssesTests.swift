import XCTest

/// `ulysses` under mpirun: against the float64 reference, exactly on encoded one-hot
/// problems, its ledger against the header's formulas, and its refusals.
final class UlyssesTests: XCTestCase {
    /// `spsim verify`'s matrix (MHA and GQA with 8 heads, N = 16P; 7 heads sharing one KV
    /// head with N = 16P + 3; every layout; causal and not; forward and backward) at every
    /// rank count: every case with P ≤ H and a fitting layout runs and passes.
    func testVerifyMatrixAtEveryRankCount() throws {
        for p in rankCounts {
            try assertVerifyMatrix(strategy: "ulysses", ranks: p) { n, heads, layout in
                p <= heads && layoutFits(layout, n: n, p: p)
            }
        }
    }

    /// The named cases: 7 heads on 4 ranks, H = 8 with G = 2 on 3 ranks, N = 1001 on 3 ranks.
    func testUnevenHeadsReplicatedKVHeadsAndUnevenTokens() throws {
        for causal in [false, true] {
            let flag = causal ? ["--causal"] : []
            try assertVerifies(["--strategy", "ulysses", "--seq-len", "60", "--heads", "7", "--head-dim", "8"] + flag, ranks: 4)
            try assertVerifies(["--strategy", "ulysses", "--seq-len", "61", "--heads", "7", "--kv-heads", "1",
                                "--head-dim", "8"] + flag, ranks: 4)
            try assertVerifies(["--strategy", "ulysses", "--seq-len", "50", "--heads", "8", "--kv-heads", "2",
                                "--head-dim", "16"] + flag, ranks: 3)
            try assertVerifies(["--strategy", "ulysses", "--seq-len", "1001", "--heads", "3", "--kv-heads", "1",
                                "--head-dim", "16"] + flag, ranks: 3)
        }
    }

    /// Every output element lands exactly (one-hot attention on integer-encoded values), for
    /// uneven heads with a KV head shared across ranks, every layout, causal and not.
    func testOneHotOutputsAreExactInEveryLayout() throws {
        for layout in ["contiguous", "zigzag", "striped"] {
            for causal in [false, true] {
                try assertOneHotExact(strategy: "ulysses", layout: layout,
                                      problem: OneHotAttention(tokens: 48, heads: 4, kvHeads: 2, causal: causal), ranks: 3)
            }
        }
        try assertOneHotExact(strategy: "ulysses", layout: "contiguous",
                              problem: OneHotAttention(tokens: 50, heads: 8, kvHeads: 2, causal: true), ranks: 3)
        try assertOneHotExact(strategy: "ulysses", layout: "contiguous",
                              problem: OneHotAttention(tokens: 23, heads: 7, kvHeads: 7, causal: false), ranks: 4)
    }

    /// The ledger equals UlyssesAttention's documented traffic, uneven in N, H and KV replicas:
    /// N = 29, H = 8, G = 2, D = 8 on 3 ranks: n = [10, 10, 9], query heads [3, 3, 2],
    /// KV heads received [1, 2, 1] (rank 1's heads 3 | 4 5 straddle the two groups).
    func testLedgerMatchesTheDocumentedFormulas() throws {
        let p = 3, n = [10, 10, 9], c = [3, 3, 2], g = [1, 2, 1], d = 8, b = 4
        let json = try assertVerifies(["--strategy", "ulysses", "--seq-len", "29", "--heads", "8", "--kv-heads", "2",
                                       "--head-dim", "\(d)", "--causal"], ranks: p)
        var forwardTo = [[Int]](repeating: [Int](repeating: 0, count: p), count: p)
        var backwardTo = forwardTo
        for r in 0..<p {
            for j in 0..<p where j != r {
                forwardTo[r][j] = n[r] * (c[j] + 2 * g[j]) * d * b + n[j] * c[r] * (d + 1) * b
                backwardTo[r][j] = n[r] * (c[j] * (3 * d + 1) + 2 * g[j] * d) * b + n[j] * (c[r] + 2 * g[r]) * d * b
            }
        }
        XCTAssertEqual(sentToMatrix(json, "forward"), forwardTo)
        XCTAssertEqual(sentToMatrix(json, "backward"), backwardTo)
        XCTAssertEqual(traffic(json, "forward", "bytes_sent"), forwardTo.map { $0.reduce(0, +) })
        XCTAssertEqual(traffic(json, "forward", "messages_sent"), [4, 4, 4])
        XCTAssertEqual(traffic(json, "backward", "messages_sent"), [4, 4, 4])
        XCTAssertEqual(traffic(json, "forward", "bytes_received"), (0..<p).map { r in (0..<p).reduce(0) { $0 + forwardTo[$1][r] } })
        XCTAssertEqual((json["compute_seconds"] as? [Double])?.count, p)
    }

    /// One rank: nothing to exchange, nothing in the ledger.
    func testOneRankSendsNothing() throws {
        let json = try assertVerifies(["--strategy", "ulysses", "--seq-len", "20", "--heads", "2", "--head-dim", "8"], ranks: 1)
        XCTAssertEqual(traffic(json, "forward", "bytes_sent"), [0])
        XCTAssertEqual(traffic(json, "backward", "messages_sent"), [0])
    }

    /// With every message forced onto the rendezvous path, and with large messages, the
    /// all-to-alls still complete.
    func testNoDeadlockWithATinyEagerLimitOrLargeMessages() throws {
        try assertVerifies(["--strategy", "ulysses", "--seq-len", "61", "--heads", "8", "--kv-heads", "2", "--head-dim", "16",
                            "--causal"], ranks: 3, environment: tinyEagerLimit)
        try assertVerifies(["--strategy", "ulysses", "--seq-len", "64", "--heads", "8", "--head-dim", "16", "--layout", "zigzag",
                            "--causal"], ranks: 4, environment: tinyEagerLimit)
        let run = try SPSimProcess.run(["run", "--strategy", "ulysses", "--seq-len", "8192", "--heads", "2", "--head-dim", "64",
                                        "--causal", "--backward", "--json"], ranks: 2, timeoutSeconds: 120)
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try run.json()
        // q, k, v: 4096 tokens × (1 + 2) heads × 64 × 4 B to the other rank; o and lse: 4096 × 1 × 65 × 4 B.
        XCTAssertEqual(traffic(json, "forward", "bytes_sent"), [3_145_728 + 1_064_960, 3_145_728 + 1_064_960])
    }

    func testMoreRanksThanHeadsIsRefusedWithTheWayOut() throws {
        try assertBadInput(["run", "--strategy", "ulysses", "--seq-len", "40", "--heads", "4"], ranks: 5,
                           mentions: ["P = 5", "H = 4", "ring", "token-ring"])
    }
}
