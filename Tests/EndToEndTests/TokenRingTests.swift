import XCTest

/// `token-ring` under mpirun: forward and backward against the float64 reference, the
/// ledger against the traffic formulas of TokenRingAttention.swift, deadlock freedom.
final class TokenRingTests: XCTestCase {
    private let mha = ["--heads", "4", "--kv-heads", "4", "--head-dim", "16"]
    private let gqa = ["--heads", "4", "--kv-heads", "2", "--head-dim", "16"]

    func testNonCausalContiguousAtEveryRankCount() throws {
        for p in rankCounts {
            for heads in [mha, gqa] {
                // N = 8P + 3: uneven for every P > 1, so visiting blocks differ in size.
                try assertVerifies(["--strategy", "token-ring", "--seq-len", "\(8 * p + 3)"] + heads, ranks: p)
            }
        }
    }

    func testCausalZigzagAtEveryRankCount() throws {
        for p in rankCounts {
            for heads in [mha, gqa] {
                try assertVerifies(["--strategy", "token-ring", "--seq-len", "\(8 * p)", "--causal",
                                    "--layout", "zigzag"] + heads, ranks: p)
            }
        }
    }

    /// Without a mask the layout only decides which rows a rank holds: zigzag and striped work too.
    func testNonCausalZigzagAndStriped() throws {
        for layout in ["zigzag", "striped"] {
            try assertVerifies(["--strategy", "token-ring", "--seq-len", "48", "--layout", layout] + gqa, ranks: 4)
        }
    }

    /// Non-causal, uneven N over 3 ranks: Q (backward q, dO, o, lse) only to r+1, one return
    /// (backward dq) to every owner, sized by the owner's token count.
    func testLedgerNonCausalUneven() throws {
        let p = 3, n = 29, h = 4, d = 8
        let json = try assertVerifies(["--strategy", "token-ring", "--seq-len", "\(n)", "--heads", "\(h)",
                                       "--kv-heads", "2", "--head-dim", "\(d)"], ranks: p)
        let counts = contiguousCounts(n, p)  // [10, 10, 9]
        for (phase, block, result) in [("forward", d, d + 1), ("backward", 3 * d + 1, d)] {
            var expected = [[Int]](repeating: [Int](repeating: 0, count: p), count: p)
            for r in 0..<p {
                let next = (r + 1) % p
                for j in 0..<p where j != r { expected[r][j] += counts[j] * h * result * 4 }
                for o in 0..<p where o != next { expected[r][next] += counts[o] * h * block * 4 }
            }
            XCTAssertEqual(matrix(json, phase), expected, phase)
            XCTAssertEqual(traffic(json, phase, "messages_sent"), Array(repeating: 2 * (p - 1), count: p), phase)
            XCTAssertEqual(traffic(json, phase, "bytes_sent_to_next"), (0..<p).map { expected[$0][($0 + 1) % p] },
                           phase)
            XCTAssertEqual(traffic(json, phase, "bytes_sent_to_others"),
                           (0..<p).map { r in expected[r].reduce(0, +) - expected[r][(r + 1) % p] }, phase)
        }
    }

    /// Even N over 4 ranks, the check: (P−1)·n·H·D·4 bytes of Q to r+1 forward, returns
    /// of n·H·(D+1)·4 each (the last one, for owner r+1, also to r+1); backward blocks of
    /// n·H·(3D+1)·4 and dq returns of n·H·D·4.
    func testLedgerNonCausalEven() throws {
        let p = 4, n = 12, h = 2, d = 8
        let json = try assertVerifies(["--strategy", "token-ring", "--seq-len", "\(p * n)", "--heads", "\(h)",
                                       "--kv-heads", "1", "--head-dim", "\(d)"], ranks: p)
        for (phase, block, result) in [("forward", d, d + 1), ("backward", 3 * d + 1, d)] {
            let q = (p - 1) * n * h * block * 4, ret = n * h * result * 4
            XCTAssertEqual(traffic(json, phase, "bytes_sent_to_next"), Array(repeating: q + ret, count: p), phase)
            XCTAssertEqual(traffic(json, phase, "bytes_sent_to_others"), Array(repeating: (p - 2) * ret, count: p),
                           phase)
            XCTAssertEqual(traffic(json, phase, "messages_sent"), Array(repeating: 2 * (p - 1), count: p), phase)
        }
    }

    /// Causal zigzag over 5 ranks (n = 8 tokens each): Q travels to r−1, halved once wrapped;
    /// a return to owner o from rank r is full when o > r and half when o < r.
    func testLedgerCausalZigzag() throws {
        let p = 5, n = 8, h = 2, d = 8
        let json = try assertVerifies(["--strategy", "token-ring", "--seq-len", "\(p * n)", "--heads", "\(h)",
                                       "--kv-heads", "1", "--head-dim", "\(d)", "--causal", "--layout", "zigzag"],
                                      ranks: p)
        for (phase, block, result) in [("forward", d, d + 1), ("backward", 3 * d + 1, d)] {
            var expected = [[Int]](repeating: [Int](repeating: 0, count: p), count: p)
            for r in 0..<p {
                for o in 0..<p where o != r { expected[r][o] += (o > r ? n : n / 2) * h * result * 4 }
                // The header's closed forms for the block stream, to the previous rank.
                let blockTokens = r == 0 ? (p - 1) * n / 2 : (2 * p - r - 1) * n / 2
                expected[r][(r + p - 1) % p] += blockTokens * h * block * 4
                let returnTokens = (0..<p).filter { $0 != r }.map { $0 > r ? n : n / 2 }.reduce(0, +)
                XCTAssertEqual(returnTokens, (2 * p - 2 - r) * n / 2, "header formula for returns, rank \(r)")
            }
            XCTAssertEqual(matrix(json, phase), expected, phase)
            XCTAssertEqual(traffic(json, phase, "messages_sent"), Array(repeating: 2 * (p - 1), count: p), phase)
            // To r+1 goes only the step-1 return (owner r+1): full, except from rank P−1 (owner 0).
            XCTAssertEqual(traffic(json, phase, "bytes_sent_to_next"),
                           (0..<p).map { ($0 < p - 1 ? n : n / 2) * h * result * 4 }, phase)
        }
    }

    /// With P = 2 the owner is the next rank: everything goes to rank+1, nothing to others.
    func testLedgerTwoRanks() throws {
        let json = try assertVerifies(["--strategy", "token-ring", "--seq-len", "32", "--causal",
                                       "--layout", "zigzag"] + mha, ranks: 2)
        let h = 4, d = 16, n = 16
        // Rank 0 sends the second half of its Q and gets back a half return; rank 1 the whole Q, full return.
        XCTAssertEqual(traffic(json, "forward", "bytes_sent_to_next"),
                       [n / 2 * h * d * 4 + n * h * (d + 1) * 4, n * h * d * 4 + n / 2 * h * (d + 1) * 4])
        XCTAssertEqual(traffic(json, "forward", "bytes_sent_to_others"), [0, 0])
        XCTAssertEqual(traffic(json, "backward", "bytes_sent_to_others"), [0, 0])
    }

    /// A tiny eager limit turns every message into a rendezvous: a send/send ordering bug hangs.
    func testNoDeadlockWithTinyEagerLimit() throws {
        let tiny = ["OMPI_MCA_btl_vader_eager_limit": "64"]
        for (p, extra) in [(4, ["--seq-len", "32", "--causal", "--layout", "zigzag"]), (5, ["--seq-len", "43"]),
                           (8, ["--seq-len", "64", "--causal", "--layout", "zigzag"])] {
            let run = try SPSimProcess.run(["run", "--strategy", "token-ring", "--backward", "--verify", "--json",
                                            "--repeat", "2"] + extra + gqa,
                                           ranks: p, timeoutSeconds: 60, environment: tiny)
            XCTAssertEqual(run.status, 0, "P=\(p) \(extra)\n\(run.stderr)")
            XCTAssertEqual(try run.json()["passed"] as? Bool, true, "P=\(p) \(extra)")
        }
    }

    /// Large blocks (n in the thousands, messages of hundreds of KiB): verified causal on 2
    /// ranks, and a 3-rank non-causal run whose ledger must still match, both finishing in time.
    func testLargeBlocks() throws {
        try assertVerifies(["--strategy", "token-ring", "--seq-len", "4096", "--heads", "1", "--head-dim", "64",
                            "--causal", "--layout", "zigzag"], ranks: 2)
        let p = 3, n = 2730, d = 64
        let run = try SPSimProcess.run(["run", "--strategy", "token-ring", "--seq-len", "\(p * n)", "--heads", "1",
                                        "--head-dim", "\(d)", "--backward", "--json"],
                                       ranks: p, timeoutSeconds: 60,
                                       environment: ["OMPI_MCA_btl_vader_eager_limit": "64"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try run.json()
        XCTAssertEqual(traffic(json, "forward", "bytes_sent_to_next"),
                       Array(repeating: (p - 1) * n * d * 4 + n * (d + 1) * 4, count: p))
        XCTAssertEqual(traffic(json, "backward", "bytes_sent_to_next"),
                       Array(repeating: (p - 1) * n * (3 * d + 1) * 4 + n * d * 4, count: p))
        XCTAssertEqual(traffic(json, "forward", "bytes_sent_to_others"),
                       Array(repeating: (p - 2) * n * (d + 1) * 4, count: p))
    }

    /// Causal needs zigzag: one clear error naming it, exit status 2, before any message.
    func testCausalWithoutZigzagIsRejected() throws {
        for layout in ["contiguous", "striped"] {
            try assertBadInput(["run", "--strategy", "token-ring", "--seq-len", "24", "--causal", "--layout", layout],
                               ranks: 3, mentions: ["--layout zigzag"], timeoutSeconds: 20)
        }
    }

    /// `spsim verify` picks token-ring up from the registry and checks causal zigzag.
    func testVerifyMatrixIncludesCausalZigzag() throws {
        let run = try SPSimProcess.run(["verify", "--strategy", "token-ring", "--json"], ranks: 2)
        XCTAssertEqual(run.status, 0, run.stderr)
        let cases = try XCTUnwrap(try run.json()["cases"] as? [[String: Any]])
        let checked = cases.filter { $0["skipped"] == nil || $0["skipped"] is NSNull }
        XCTAssertTrue(checked.contains { $0["layout"] as? String == "zigzag" && $0["causal"] as? Bool == true },
                      "\(cases)")
        XCTAssertTrue(checked.allSatisfy {
            $0["passed"] as? Bool == true && ($0["errors"] as? [String: Double])?.count == 5
        })
        let causalContiguous = cases.filter { $0["layout"] as? String == "contiguous" && $0["causal"] as? Bool == true }
        XCTAssertFalse(causalContiguous.isEmpty)
        XCTAssertTrue(causalContiguous.allSatisfy { ($0["skipped"] as? String)?.contains("zigzag") == true })
    }

    /// `traffic.<phase>.bytes_sent_to` of a run's JSON.
    private func matrix(_ json: [String: Any], _ phase: String) -> [[Int]] {
        ((json["traffic"] as? [String: Any])?[phase] as? [String: Any])?["bytes_sent_to"] as? [[Int]] ?? []
    }
}
