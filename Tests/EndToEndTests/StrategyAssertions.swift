import Foundation
import XCTest

/// Runs `spsim run … --backward --verify --json` on `ranks` ranks and asserts that it
/// exited 0, compared every expected output, and stayed within tolerance. Returns the JSON.
@discardableResult
func assertVerifies(_ arguments: [String], ranks: Int, outputs: [String] = ["o", "lse", "dq", "dk", "dv"],
                    file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
    let run = try SPSimProcess.run(["run"] + arguments + ["--backward", "--verify", "--json"], ranks: ranks)
    return try assertVerified(run, ranks: ranks, context: "P=\(ranks) \(arguments.joined(separator: " "))",
                              outputs: outputs, file: file, line: line)
}

/// Asserts that a `run … --verify --json` outcome exited 0 on `ranks` ranks and passed, with
/// errors for exactly `outputs` (any non-empty set when nil), each within tolerance (1e-4 for
/// o and lse, 1e-3 for gradients). Returns the JSON (empty when the run failed).
@discardableResult
func assertVerified(_ run: SPSimProcess.Outcome, ranks: Int, context label: String, outputs: [String]?,
                    file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
    let context = "\(label)\n\(run.stderr)"
    XCTAssertEqual(run.status, 0, context, file: file, line: line)
    guard run.status == 0 else { return [:] }
    let json = try run.json(file: file, line: line)
    XCTAssertEqual(json["ranks"] as? Int, ranks, context, file: file, line: line)
    XCTAssertEqual(json["passed"] as? Bool, true, context, file: file, line: line)
    XCTAssertGreaterThanOrEqual(json["verify_seconds"] as? Double ?? -1, 0, "the reference's time: \(context)",
                                file: file, line: line)
    let errors = try XCTUnwrap(json["errors"] as? [String: Double], context, file: file, line: line)
    if let outputs {
        XCTAssertEqual(Set(errors.keys), Set(outputs), context, file: file, line: line)
    } else {
        XCTAssertFalse(errors.isEmpty, context, file: file, line: line)
    }
    for (name, error) in errors {
        let limit = ["o", "lse"].contains(name) ? 1e-4 : 1e-3
        XCTAssertLessThanOrEqual(error, limit, "\(name) \(context)", file: file, line: line)
    }
    return json
}

/// The per-rank `traffic.<phase>.<field>` array of a run's JSON.
func traffic(_ json: [String: Any], _ phase: String, _ field: String) -> [Int] {
    ((json["traffic"] as? [String: Any])?[phase] as? [String: Any])?[field] as? [Int] ?? []
}

/// Token counts of the contiguous layout (the first N mod P ranks hold one more).
func contiguousCounts(_ n: Int, _ p: Int) -> [Int] {
    (0..<p).map { n / p + ($0 < n % p ? 1 : 0) }
}
