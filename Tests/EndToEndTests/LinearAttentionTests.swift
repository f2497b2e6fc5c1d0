import Foundation
import XCTest
import TestSupport

/// Gated linear attention under mpirun: every linear strategy forward and backward against
/// the float64 recurrence, extreme gates read from g.npy, ZeCO's All-Scan at every block
/// count with its exact ledger, the baselines' ledgers, `spsim bench`, the independent numpy
/// cross-check, and bad input.
final class LinearAttentionTests: XCTestCase {
    /// Every GLA strategy of the registry.
    static let strategies = (try? registeredStrategyNames(attention: "gla")) ?? []
    static let outputs = ["o", "dq", "dk", "dv", "dg"]

    @discardableResult
    private func assertGLAVerifies(_ arguments: [String], ranks: Int, file: StaticString = #filePath,
                                   line: UInt = #line) throws -> [String: Any] {
        let json = try assertVerifies(["--attention", "gla"] + arguments, ranks: ranks, outputs: Self.outputs,
                                      file: file, line: line)
        XCTAssertEqual(json["attention"] as? String, "gla", file: file, line: line)
        return json
    }

    func testEveryStrategyForwardAndBackwardAtEveryRankCount() throws {
        XCTAssertFalse(Self.strategies.isEmpty, "spsim strategies lists no GLA strategy")
        for p in rankCounts {
            for strategy in Self.strategies {
                // N = 8P + 3 is uneven for every P > 1; Dk ≠ Dv.
                let json = try assertGLAVerifies(["--strategy", strategy, "--seq-len", "\(8 * p + 3)", "--heads", "2",
                                                  "--head-dim", "8", "--value-dim", "6"], ranks: p)
                XCTAssertEqual(json["strategy"] as? String, strategy)
                XCTAssertEqual(json["value_dim"] as? Int, 6)
                XCTAssertEqual(json["seq_len"] as? Int, 8 * p + 3)
            }
        }
    }

    /// Gates from g.npy: −1e-6 (no decay: the state only grows) and −45…−35 (every product of
    /// gates underflows to 0 in float32). Nothing may become NaN; the errors must stay in tolerance.
    func testGatesNearZeroAndStronglyNegativeFromFiles() throws {
        let (n, h, dk, dv) = (29, 2, 4, 3)
        var rng = TestRandom(seed: 11)
        for (label, gate, ranks) in [("near zero", { (_: inout TestRandom) in Float(-1e-6) }, 4),
                                     ("strongly negative", { (r: inout TestRandom) in Float(r.uniform(-45 ... -35)) }, 5)] {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try writeNPY(dir, "q", (0..<n * h * dk).map { _ in Float(rng.uniform()) }, [n, h, dk])
            try writeNPY(dir, "k", (0..<n * h * dk).map { _ in Float(rng.uniform()) }, [n, h, dk])
            try writeNPY(dir, "v", (0..<n * h * dv).map { _ in Float(rng.uniform()) }, [n, h, dv])
            try writeNPY(dir, "do", (0..<n * h * dv).map { _ in Float(rng.uniform()) }, [n, h, dv])
            try writeNPY(dir, "g", (0..<n * h * dk).map { _ in gate(&rng) }, [n, h, dk])
            for strategy in Self.strategies {
                let json = try assertGLAVerifies(["--strategy", strategy, "--inputs", dir], ranks: ranks)
                XCTAssertEqual(json["seq_len"] as? Int, n, label)
                XCTAssertEqual(json["head_dim"] as? Int, dk, label)
                XCTAssertEqual(json["value_dim"] as? Int, dv, label)
                let errors = json["errors"] as? [String: Double] ?? [:]
                XCTAssertTrue(errors.values.allSatisfy { $0.isFinite }, "\(label) \(strategy): \(errors)")
            }
        }
    }

    /// All-Scan at every K from 1 to Dk, and at K = H·Dk: correct, and the ledger shows exactly
    /// one state per rank but the last, in K messages, to the next rank; backward one state
    /// gradient plus one carry per row, per rank but the first, in K messages, to the previous rank.
    func testAllScanAtEveryBlockCountWithItsLedger() throws {
        let (p, n, h, dk, dv) = (4, 37, 2, 8, 5)
        let state = h * dk * dv * 4, gradient = h * dk * (dv + 1) * 4
        for k in Array(1...dk) + [h * dk] {
            let json = try assertGLAVerifies(["--strategy", "zeco", "--seq-len", "\(n)", "--heads", "\(h)",
                                              "--head-dim", "\(dk)", "--value-dim", "\(dv)", "--scan-blocks", "\(k)"],
                                             ranks: p)
            XCTAssertEqual(json["scan_blocks"] as? Int, k)
            XCTAssertEqual(json["state_bytes"] as? Int, state)
            XCTAssertEqual(traffic(json, "forward", "bytes_sent"), [state, state, state, 0], "K=\(k)")
            XCTAssertEqual(traffic(json, "forward", "messages_sent"), [k, k, k, 0], "K=\(k)")
            XCTAssertEqual(traffic(json, "forward", "bytes_received"), [0, state, state, state], "K=\(k)")
            XCTAssertEqual(traffic(json, "backward", "bytes_sent"), [0, gradient, gradient, gradient], "K=\(k)")
            XCTAssertEqual(traffic(json, "backward", "messages_sent"), [0, k, k, k], "K=\(k)")
            XCTAssertEqual(sentTo(json, "forward"), [[0, state, 0, 0], [0, 0, state, 0], [0, 0, 0, state], [0, 0, 0, 0]])
            XCTAssertEqual(sentTo(json, "backward"),
                           [[0, 0, 0, 0], [gradient, 0, 0, 0], [0, gradient, 0, 0], [0, 0, gradient, 0]])
        }
    }

    /// Without --scan-blocks, zeco uses K* = sqrt((P−2)·m·β/α): P = 5, m = 4·64·64·4 = 64 KiB
    /// gives sqrt(3 · 65536 B / 2e9 B/s / 2e-6 s) = 7.01 → 7 blocks.
    func testDefaultBlockCountFollowsTheRule() throws {
        let json = try assertGLAVerifies(["--strategy", "zeco", "--seq-len", "20", "--heads", "4", "--head-dim", "64"],
                                         ranks: 5)
        XCTAssertEqual(json["scan_blocks"] as? Int, 7)
        XCTAssertEqual(traffic(json, "forward", "messages_sent"), [7, 7, 7, 7, 0])
        XCTAssertEqual(traffic(json, "backward", "messages_sent"), [0, 7, 7, 7, 7])
        XCTAssertEqual(traffic(json, "forward", "bytes_sent"), [65_536, 65_536, 65_536, 65_536, 0])
    }

    /// The baselines' ledgers, formula by formula (P = 5, H = 2, Dk = 4, Dv = 3, b = 4).
    func testBaselineLedgers() throws {
        let (p, h, dk, dv) = (5, 2, 4, 3)
        let state = h * dk * dv * 4, packed = h * dk * (dv + 1) * 4
        func run(_ strategy: String) throws -> [String: Any] {
            try assertGLAVerifies(["--strategy", strategy, "--seq-len", "23", "--heads", "\(h)", "--head-dim", "\(dk)",
                                   "--value-dim", "\(dv)"], ranks: p)
        }
        let lasp1 = try run("lasp1")
        XCTAssertNil(lasp1["scan_blocks"] as? Int)
        XCTAssertEqual(traffic(lasp1, "forward", "bytes_sent"), [state, state, state, state, 0])
        XCTAssertEqual(traffic(lasp1, "forward", "messages_sent"), [1, 1, 1, 1, 0])
        XCTAssertEqual(traffic(lasp1, "backward", "bytes_sent"), [0, packed, packed, packed, packed])
        XCTAssertEqual(traffic(lasp1, "backward", "messages_sent"), [0, 1, 1, 1, 1])

        let lasp2 = try run("lasp2")
        XCTAssertEqual(traffic(lasp2, "forward", "bytes_sent"), Array(repeating: (p - 1) * packed, count: p))
        XCTAssertEqual(traffic(lasp2, "forward", "messages_sent"), Array(repeating: p - 1, count: p))
        XCTAssertEqual(traffic(lasp2, "backward", "bytes_sent"), Array(repeating: (p - 1) * packed, count: p))
        XCTAssertEqual(traffic(lasp2, "backward", "messages_sent"), Array(repeating: p - 1, count: p))

        let exscan = try run("exscan")
        XCTAssertEqual(traffic(exscan, "forward", "bytes_sent"), (0..<p).map { (p - 1 - $0) * packed })
        XCTAssertEqual(traffic(exscan, "forward", "messages_sent"), (0..<p).map { p - 1 - $0 })
        XCTAssertEqual(traffic(exscan, "backward", "bytes_sent"), (0..<p).map { $0 * packed })
        XCTAssertEqual(traffic(exscan, "backward", "messages_sent"), Array(0..<p))
        // Backward runs in reverse rank order: rank 2 sends to ranks 1 and 0 only.
        XCTAssertEqual(sentTo(exscan, "backward")[2], [packed, packed, 0, 0, 0])
    }

    /// `spsim bench --json` on 4 ranks reports every variant at every size, each result exact.
    func testBenchReportsEveryScanVariant() throws {
        let run = try SPSimProcess.run(["bench", "--json", "--max-bytes", "16384", "--repeat", "2"], ranks: 4)
        XCTAssertEqual(run.status, 0, run.stderr)
        guard run.status == 0 else { return }
        let json = try run.json()
        let variants = ["allscan K=1", "allscan K=4", "allscan K=16", "allscan K=64", "exscan", "allgather", "chain"]
        XCTAssertEqual(json["variants"] as? [String], variants)
        XCTAssertEqual(json["state_bytes"] as? [Int], [4096, 16384])
        XCTAssertEqual(json["ranks"] as? Int, 4)
        XCTAssertEqual(json["wrong_elements"] as? Int, 0)
        let results = try XCTUnwrap(json["results"] as? [[String: Any]])
        XCTAssertEqual(results.count, variants.count * 2)
        let wire = try XCTUnwrap(json["wire"] as? [[String: Any]])
        XCTAssertEqual(wire.count, 2)
        for size in [4096, 16384] {
            for variant in variants {
                let row = results.first { $0["variant"] as? String == variant && $0["state_bytes"] as? Int == size }
                let seconds = try XCTUnwrap(row?["seconds"] as? Double, "\(variant) at \(size) B missing")
                let rate = try XCTUnwrap(row?["gb_per_second"] as? Double)
                XCTAssertGreaterThan(seconds, 0)
                XCTAssertEqual(rate, Double(size) / seconds / 1e9, accuracy: rate * 1e-9)
                XCTAssertEqual(row?["wrong_elements"] as? Int, 0, variant)
                // Spread and the transport's own time for the same bytes beside each variant.
                let low = try XCTUnwrap(row?["min_seconds"] as? Double), high = try XCTUnwrap(row?["max_seconds"] as? Double)
                XCTAssertLessThanOrEqual(low, seconds)
                XCTAssertGreaterThanOrEqual(high, seconds)
                let link = try XCTUnwrap(wire.first { $0["state_bytes"] as? Int == size })
                let pingPong = try XCTUnwrap(link["ping_pong_seconds"] as? Double)
                let copy = try XCTUnwrap(link["memcpy_seconds"] as? Double)
                XCTAssertGreaterThan(pingPong, 0)
                XCTAssertEqual(try XCTUnwrap(row?["wire_fraction"] as? Double), (pingPong + copy) / seconds, accuracy: 1e-9)
            }
        }
        XCTAssertEqual(results.compactMap { $0["blocks"] as? Int }.sorted(), [1, 1, 4, 4, 16, 16, 64, 64])
    }

    /// Scripts/numpy_check_gla.py: g.npy-driven runs of every strategy on 3 ranks against an
    /// independent numpy recurrence and its own backward.
    func testIndependentNumpyCheck() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let script = root.appendingPathComponent("Scripts/numpy_check_gla.py").path
        let run = try SPSimProcess.program("/usr/bin/env", ["python3", script, "--spsim", SPSimProcess.executable,
                                                            "--ranks", "3"], timeoutSeconds: 600)
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertTrue(run.stdout.contains("60 passed, 0 failed"), run.stdout + run.stderr)
    }

    // MARK: Bad input

    func testBadInput() throws {
        try assertRejected(["run", "--attention", "gla", "--layout", "zigzag", "--seq-len", "12"],
                           mentions: "needs --layout contiguous")
        try assertRejected(["run", "--attention", "gla", "--heads", "2", "--head-dim", "4", "--scan-blocks", "9"],
                           mentions: "--scan-blocks 9 must be between 1 and the state's H·Dk")
        try assertRejected(["run", "--attention", "gla", "--strategy", "lasp2", "--scan-blocks", "2"],
                           mentions: "--strategy lasp2 has none")
        try assertRejected(["run", "--attention", "gla", "--kv-heads", "2"], mentions: "--kv-heads")
        try assertRejected(["run", "--value-dim", "8"], mentions: "--value-dim applies to --attention gla")
        try assertRejected(["run", "--strategy", "zeco"], mentions: "add --attention gla")
        try assertRejected(["run", "--attention", "gla", "--strategy", "ring-of-states"], mentions: "unknown GLA --strategy")
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shape = [6, 1, 2]
        for name in ["q", "k", "v"] { try writeNPY(dir, name, [Float](repeating: 0.5, count: 12), shape) }
        try writeNPY(dir, "g", [-0.1, -0.2, -0.3, 0.25, -0.1, -0.1, -0.1, -0.1, -0.1, -0.1, -0.1, -0.1], shape)
        try assertRejected(["run", "--attention", "gla", "--inputs", dir],
                           mentions: "found 0.25 at token 1, head 0, channel 1")
        try writeNPY(dir, "g", [Float](repeating: -0.1, count: 10), [5, 1, 2])
        try assertRejected(["run", "--attention", "gla", "--inputs", dir], mentions: "g.npy has shape [5, 1, 2]")
    }

    // MARK: Helpers

    private func assertRejected(_ arguments: [String], ranks: Int = 3, mentions needle: String,
                                file: StaticString = #filePath, line: UInt = #line) throws {
        try assertBadInput(arguments, ranks: ranks, mentions: [needle], timeoutSeconds: 20, file: file, line: line)
    }

    /// `traffic.<phase>.bytes_sent_to`: row r holds the bytes rank r sent to each rank.
    private func sentTo(_ json: [String: Any], _ phase: String) -> [[Int]] {
        ((json["traffic"] as? [String: Any])?[phase] as? [String: Any])?["bytes_sent_to"] as? [[Int]] ?? []
    }

    private func writeNPY(_ dir: String, _ name: String, _ values: [Float], _ shape: [Int]) throws {
        var bytes = NPYBytes.header(descr: "<f4", shape: shape)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        try Data(bytes).write(to: URL(fileURLWithPath: "\(dir)/\(name).npy"))
    }

    private func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spsim-gla-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}
