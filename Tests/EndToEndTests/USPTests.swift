import XCTest

/// `usp` under mpirun: against the float64 reference at every rank count with the degenerate
/// ends (U = P: Ulysses, U = 1: ring) and true 2D splits, exactly on one-hot problems, its
/// ledger against the header's formulas, and its refusals.
final class USPTests: XCTestCase {
    /// `spsim verify`'s matrix at P = 4 and 8, where the default degree is U = 2 (R = 2, 4):
    /// every contiguous and zigzag case that fits the layout runs and passes, striped is n/a.
    func testVerifyMatrixWithTheDefaultTwoDimensionalSplit() throws {
        for p in [4, 8] {
            try assertVerifyMatrix(strategy: "usp", ranks: p) { n, _, layout in
                layout != "striped" && layoutFits(layout, n: n, p: p)
            }
            // The default degree: U = 2 where the groups' tokens are ring blocks, else U = 1.
            let run = try SPSimProcess.run(["run", "--strategy", "usp", "--seq-len", "\(16 * p)", "--heads", "8", "--json"], ranks: p)
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertEqual(try run.json()["ulysses_degree"] as? Int, 2)
            let uneven = try SPSimProcess.run(["run", "--strategy", "usp", "--seq-len", "\(16 * p + 3)", "--heads", "8", "--json"],
                                              ranks: p)
            XCTAssertEqual(uneven.status, 0, uneven.stderr)
            XCTAssertEqual(try uneven.json()["ulysses_degree"] as? Int, p == 4 ? 2 : 1)  // groups [34, 33] fit; P = 8's do not
        }
    }

    /// Forward and backward against the reference at P = 1, 2, 3, 4, 5, 8: U = P, U = 1 and
    /// 2D splits U × R = 2 × 2, 2 × 4, 4 × 2; MHA and GQA (replicated KV heads, uneven heads),
    /// causal and not, contiguous (uneven N where exact) and zigzag.
    func testEveryRankCountWithEveryKindOfSplit() throws {
        func usp(_ p: Int, _ u: Int, n: Int, heads: Int, kv: Int, _ extra: [String] = []) throws {
            for causal in [false, true] {
                try assertVerifies(["--strategy", "usp", "--ulysses-degree", "\(u)", "--seq-len", "\(n)", "--heads", "\(heads)",
                                    "--kv-heads", "\(kv)", "--head-dim", "8"] + extra + (causal ? ["--causal"] : []), ranks: p)
            }
        }
        try usp(1, 1, n: 19, heads: 2, kv: 1)
        try usp(2, 2, n: 33, heads: 4, kv: 2)                         // Ulysses, uneven N
        try usp(2, 1, n: 32, heads: 4, kv: 2, ["--layout", "zigzag"]) // ring
        try usp(3, 3, n: 50, heads: 6, kv: 2)                         // Ulysses, member 1 uses both KV heads
        try usp(3, 1, n: 50, heads: 4, kv: 1)                         // ring, uneven N
        try usp(4, 2, n: 67, heads: 4, kv: 4)                         // 2 × 2, uneven N whose groups are ring blocks
        try usp(4, 2, n: 64, heads: 8, kv: 2, ["--layout", "zigzag"]) // 2 × 2 zigzag GQA
        try usp(4, 4, n: 64, heads: 4, kv: 1)                         // Ulysses, one KV head replicated 4×
        try usp(5, 5, n: 83, heads: 7, kv: 7)                         // Ulysses, uneven heads and N
        try usp(5, 1, n: 80, heads: 2, kv: 1, ["--layout", "zigzag"]) // ring
        try usp(8, 2, n: 128, heads: 4, kv: 2, ["--layout", "zigzag"]) // 2 × 4
        try usp(8, 4, n: 128, heads: 4, kv: 2)                        // 4 × 2, KV heads replicated
    }

    /// Every output element lands exactly (one-hot attention on encoded values) with the
    /// default 2 × 2 split, contiguous and zigzag, causal and not.
    func testOneHotOutputsAreExact() throws {
        for layout in ["contiguous", "zigzag"] {
            for causal in [false, true] {
                try assertOneHotExact(strategy: "usp", layout: layout,
                                      problem: OneHotAttention(tokens: 48, heads: 4, kvHeads: 2, causal: causal), ranks: 4)
            }
        }
    }

    /// The ledger equals USPAttention's documented traffic, per destination: P = 4, U = 2,
    /// R = 2, N = 67 (n = [17, 17, 17, 16], groups M = [34, 33]), H = 8, G = 2 (c_u = 4,
    /// g_u = 1, G' = 2), D = 8, causal. Rank r = 2g + u talks to its group partner r ^ 1
    /// (all-to-alls) and to ring neighbour (r + 2) mod 4 (K/V and dK/dV blocks).
    func testLedgerMatchesTheDocumentedFormulas() throws {
        let p = 4, u = 2, rings = 2, n = [17, 17, 17, 16], groups = [34, 33], big = 67, c = 4, g = 1, d = 8, b = 4
        let json = try assertVerifies(["--strategy", "usp", "--ulysses-degree", "\(u)", "--seq-len", "\(big)", "--heads", "8",
                                       "--kv-heads", "2", "--head-dim", "\(d)", "--causal"], ranks: p)
        var forwardTo = [[Int]](repeating: [Int](repeating: 0, count: p), count: p)
        var backwardTo = forwardTo
        for r in 0..<p {
            let group = r / u, partner = r ^ 1, next = (r + u) % p
            forwardTo[r][partner] = n[r] * (c + 2 * g) * d * b + n[partner] * c * (d + 1) * b
            backwardTo[r][partner] = n[r] * (c * (3 * d + 1) + 2 * g * d) * b + n[partner] * (c + 2 * g) * d * b
            let kv = 2 * (big - groups[(group + 1) % rings]) * g * d * b
            forwardTo[r][next] = kv
            backwardTo[r][next] = kv + 2 * big * g * d * b
        }
        XCTAssertEqual(sentToMatrix(json, "forward"), forwardTo)
        XCTAssertEqual(sentToMatrix(json, "backward"), backwardTo)
        XCTAssertEqual(traffic(json, "forward", "bytes_sent"), forwardTo.map { $0.reduce(0, +) })
        XCTAssertEqual(traffic(json, "backward", "bytes_sent"), backwardTo.map { $0.reduce(0, +) })
        XCTAssertEqual(json["ulysses_degree"] as? Int, u)
        XCTAssertEqual(traffic(json, "forward", "messages_sent"), [3, 3, 3, 3])   // 2(U−1) + (R−1)
        XCTAssertEqual(traffic(json, "backward", "messages_sent"), [5, 5, 5, 5])  // 2(U−1) + (2R−1)
    }

    /// U = 1 moves exactly ring attention's bytes, U = P exactly Ulysses' (same problem).
    func testDegenerateEndsMoveWhatRingAndUlyssesMove() throws {
        let shape = ["--seq-len", "64", "--heads", "4", "--kv-heads", "2", "--head-dim", "8", "--causal", "--layout", "zigzag"]
        for (degree, other) in [(1, "ring"), (4, "ulysses")] {
            let usp = try assertVerifies(["--strategy", "usp", "--ulysses-degree", "\(degree)"] + shape, ranks: 4)
            let reference = try assertVerifies(["--strategy", other] + shape, ranks: 4)
            for phase in ["forward", "backward"] {
                XCTAssertEqual(sentToMatrix(usp, phase), sentToMatrix(reference, phase), "U = \(degree) vs \(other) \(phase)")
                XCTAssertEqual(traffic(usp, phase, "messages_sent"), traffic(reference, phase, "messages_sent"))
            }
        }
    }

    func testBadDegreesAndLayoutsAreRefused() throws {
        try assertBadInput(["run", "--strategy", "usp", "--ulysses-degree", "3", "--seq-len", "32"], ranks: 4,
                           mentions: ["U = 3", "P = 4"])
        try assertBadInput(["run", "--strategy", "usp", "--ulysses-degree", "4", "--seq-len", "32", "--heads", "2"], ranks: 4,
                           mentions: ["U = 4", "H = 2", "U ≤ H"])
        try assertBadInput(["run", "--strategy", "usp", "--ulysses-degree", "0", "--seq-len", "32"], ranks: 2,
                           mentions: ["at least 1"])
        try assertBadInput(["run", "--strategy", "usp", "--seq-len", "32", "--layout", "striped"], ranks: 4,
                           mentions: ["striped"])
        try assertBadInput(["run", "--strategy", "usp", "--ulysses-degree", "2", "--seq-len", "66"], ranks: 4,
                           mentions: ["contiguous", "[34, 32]", "[33, 33]"])
        try assertBadInput(["run", "--strategy", "usp", "--ulysses-degree", "2", "--seq-len", "32", "--heads", "12",
                            "--kv-heads", "3"], ranks: 2, mentions: ["U = 2", "KV heads"])
        try assertBadInput(["run", "--strategy", "ring", "--ulysses-degree", "2", "--seq-len", "32"], ranks: 2,
                           mentions: ["--ulysses-degree", "ring"])
    }
}
