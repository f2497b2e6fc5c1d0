import XCTest

/// `allgather` under mpirun at every rank count, against the float64 reference.
final class AllGatherTests: XCTestCase {
    func testMatchesReferenceAtEveryRankCountCausalAndNot() throws {
        for p in rankCounts {
            for causal in [false, true] {
                // N = 8P + 3 is uneven for every P > 1; GQA with 2 KV heads.
                try assertVerifies(["--strategy", "allgather", "--seq-len", "\(8 * p + 3)", "--heads", "4",
                                    "--kv-heads", "2", "--head-dim", "16"] + (causal ? ["--causal"] : []), ranks: p)
            }
        }
    }

    func testEveryLayoutOnFourRanks() throws {
        for layout in ["contiguous", "zigzag", "striped"] {
            try assertVerifies(["--strategy", "allgather", "--seq-len", "64", "--heads", "2", "--head-dim", "8",
                                "--causal", "--layout", layout], ranks: 4)
        }
    }

    /// The ledger counts what the schedule sends: K and V to every other rank forward;
    /// again backward, plus each rank's dK, dV block to its owner.
    func testLedgerCountsTheLogicalSchedule() throws {
        let p = 3, n = 29, g = 2, d = 8
        let json = try assertVerifies(["--strategy", "allgather", "--seq-len", "\(n)", "--heads", "4", "--kv-heads", "\(g)",
                                       "--head-dim", "\(d)"], ranks: p)
        let counts = contiguousCounts(n, p)
        let kv = counts.map { 2 * $0 * g * d * 4 }
        XCTAssertEqual(traffic(json, "forward", "bytes_sent"), kv.map { (p - 1) * $0 })
        XCTAssertEqual(traffic(json, "forward", "messages_sent"), Array(repeating: p - 1, count: p))
        let total = kv.reduce(0, +)
        XCTAssertEqual(traffic(json, "backward", "bytes_sent"), kv.map { (p - 1) * $0 + (total - $0) })
        XCTAssertEqual(traffic(json, "backward", "messages_sent"), Array(repeating: 2 * (p - 1), count: p))
    }
}
