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

    func testTraceIntoADirectoryIsBadInput() throws {
        let run = try SPSimProcess.run(["run", "--seq-len", "16", "--trace", NSTemporaryDirectory()], ranks: 2, timeoutSeconds: 20)
        XCTAssertEqual(run.status, 2)
        XCTAssertTrue(run.stderr.contains("is a directory"), run.stderr)
    }
}
