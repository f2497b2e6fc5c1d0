import Foundation
import XCTest

/// `spsim run --trace`: a Chrome/Perfetto trace with every rank's compute and communication spans.
final class TraceTests: XCTestCase {
    func testTraceHasEveryRanksSpansForBothPhases() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("trace-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try SPSimProcess.run(["run", "--strategy", "allgather", "--seq-len", "96", "--heads", "2", "--head-dim", "8",
                                        "--backward", "--trace", path, "--json"], ranks: 3)
        XCTAssertEqual(run.status, 0, run.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
        let events = try XCTUnwrap((object as? [String: Any])?["traceEvents"] as? [[String: Any]])
        let spans = events.filter { $0["ph"] as? String == "X" }
        for rank in 0..<3 {
            let mine = spans.filter { $0["pid"] as? Int == rank }
            XCTAssertEqual(Set(mine.compactMap { $0["cat"] as? String }), ["phase", "compute", "communication"])
            XCTAssertEqual(Set(mine.filter { $0["cat"] as? String == "phase" }.compactMap { $0["name"] as? String }),
                           ["forward", "backward"])
        }
        XCTAssertTrue(spans.allSatisfy { ($0["ts"] as? Double ?? -1) >= 0 && ($0["dur"] as? Double ?? -1) >= 0 })
    }

    /// Every send has exactly one flow arrow to its receive on another rank, every
    /// communication span carries its bytes, the bytes sent on a rank's spans add up to the
    /// ledger's per phase, and --trace-model adds one predicted row per rank.
    func testTraceHasBytesAndFlowArrowsPairingEverySendWithItsReceive() throws {
        for (strategy, extra) in [("ring", ["--trace-model"]), ("usp", [])] {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("trace-\(UUID().uuidString).json").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            let ranks = 4
            let run = try SPSimProcess.run(["run", "--strategy", strategy, "--seq-len", "64", "--heads", "4", "--kv-heads", "2",
                                            "--head-dim", "8", "--causal", "--layout", "zigzag", "--backward", "--trace", path,
                                            "--json", "--topology", "toy"] + extra, ranks: ranks)
            XCTAssertEqual(run.status, 0, run.stderr)
            let report = try run.json()
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
            let events = try XCTUnwrap((object as? [String: Any])?["traceEvents"] as? [[String: Any]])

            // Flow arrows: one start and one end per id, on different ranks, the end not before the start.
            let starts = events.filter { $0["ph"] as? String == "s" }, ends = events.filter { $0["ph"] as? String == "f" }
            XCTAssertFalse(starts.isEmpty, strategy)
            let startByID = Dictionary(grouping: starts) { $0["id"] as? Int ?? -1 }
            let endByID = Dictionary(grouping: ends) { $0["id"] as? Int ?? -1 }
            XCTAssertEqual(Set(startByID.keys), Set(endByID.keys), "\(strategy): a send without a receive or the reverse")
            for (id, s) in startByID {
                XCTAssertEqual(s.count, 1, "\(strategy): flow \(id) starts \(s.count) times")
                XCTAssertEqual(endByID[id]?.count, 1, "\(strategy): flow \(id) ends \(endByID[id]?.count ?? 0) times")
                guard let e = endByID[id]?.first else { continue }
                XCTAssertNotEqual(s[0]["pid"] as? Int, e["pid"] as? Int, "\(strategy): flow \(id) stays on one rank")
                XCTAssertEqual(e["bp"] as? String, "e")
            }

            // Bytes on every communication span; per rank and phase, the sent bytes equal the ledger's.
            let spans = events.filter { $0["ph"] as? String == "X" }
            let communication = spans.filter { $0["cat"] as? String == "communication" }
            XCTAssertFalse(communication.isEmpty)
            for span in communication {
                let args = try XCTUnwrap(span["args"] as? [String: Any], "\(strategy): \(span)")
                XCTAssertNotNil(args["bytes"] as? Int, "\(strategy): \(span)")
                XCTAssertNotNil(args["operations"] as? [String], "\(strategy): \(span)")
            }
            let traffic = try XCTUnwrap(report["traffic"] as? [String: Any])
            for phase in ["forward", "backward"] {
                let ledger = try XCTUnwrap((traffic[phase] as? [String: Any])?["bytes_sent"] as? [Int])
                for rank in 0..<ranks {
                    let marker = try XCTUnwrap(spans.first { $0["pid"] as? Int == rank && $0["cat"] as? String == "phase"
                                                             && $0["name"] as? String == phase })
                    let from = marker["ts"] as! Double, to = from + (marker["dur"] as! Double)
                    let sent = communication.filter {
                        $0["pid"] as? Int == rank && ($0["ts"] as! Double) >= from && ($0["ts"] as! Double) <= to
                    }.reduce(0) { $0 + ((($1["args"] as? [String: Any])?["bytes_sent"] as? Int) ?? 0) }
                    XCTAssertEqual(sent, ledger[rank], "\(strategy) \(phase) rank \(rank): trace bytes against ledger")
                }
            }

            // The model's rows follow the ranks' when asked for, and only then.
            let modelRows = Set(spans.filter { $0["cat"] as? String == "model" }.compactMap { $0["pid"] as? Int })
            XCTAssertEqual(modelRows, extra.isEmpty ? [] : Set(ranks..<(2 * ranks)), strategy)
        }
    }

    func testTraceIntoADirectoryIsBadInput() throws {
        let run = try SPSimProcess.run(["run", "--seq-len", "16", "--trace", NSTemporaryDirectory()], ranks: 2, timeoutSeconds: 20)
        XCTAssertEqual(run.status, 2)
        XCTAssertTrue(run.stderr.contains("is a directory"), run.stderr)
    }
}
