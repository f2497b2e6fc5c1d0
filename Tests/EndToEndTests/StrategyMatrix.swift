import Foundation
import XCTest

/// Runs `spsim verify --strategy <strategy> --json` on `ranks` ranks and asserts that every
/// case passed and that exactly the cases `applies(N, H, layout)` allows were run (so a
/// strategy cannot pass by declaring itself not applicable). Returns the cases run.
@discardableResult
func assertVerifyMatrix(strategy: String, ranks p: Int, applies: (_ n: Int, _ heads: Int, _ layout: String) -> Bool,
                        file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
    let run = try SPSimProcess.run(["verify", "--strategy", strategy, "--json"], ranks: p, timeoutSeconds: 300)
    XCTAssertEqual(run.status, 0, "P=\(p) \(strategy)\n\(run.stdout)\n\(run.stderr)", file: file, line: line)
    let json = try run.json(file: file, line: line)
    let cases = try XCTUnwrap(json["cases"] as? [[String: Any]], file: file, line: line)
    XCTAssertEqual(json["failures"] as? Int, 0, file: file, line: line)
    var ran = [[String: Any]]()
    for c in cases {
        let shape = c["shape"] as? String ?? "", layout = c["layout"] as? String ?? ""
        let n = shapeValue(shape, "N"), heads = shapeValue(shape, "H")
        let name = "P=\(p) \(strategy) \(shape) \(layout) causal=\(c["causal"] ?? "?")"
        XCTAssertEqual(c["passed"] as? Bool, true, name, file: file, line: line)
        if applies(n, heads, layout) {
            XCTAssertNil(c["skipped"], "\(name) should run", file: file, line: line)
            XCTAssertEqual((c["errors"] as? [String: Double])?.count, 5, name, file: file, line: line)
            ran.append(c)
        } else {
            XCTAssertNotNil(c["skipped"], "\(name) should be n/a", file: file, line: line)
        }
    }
    XCTAssertFalse(ran.isEmpty, "P=\(p) \(strategy): no case ran", file: file, line: line)
    return ran
}

/// Whether a layout can split N tokens over P ranks (docs/design.md, exact semantics).
func layoutFits(_ layout: String, n: Int, p: Int) -> Bool {
    switch layout {
    case "contiguous": n >= p
    case "zigzag": n % (2 * p) == 0
    case "striped": n % p == 0
    default: false
    }
}

/// The integer after "<key>=" in a verify shape name such as "gqa N=48 H=8 G=2 D=16".
func shapeValue(_ shape: String, _ key: String) -> Int {
    for word in shape.split(separator: " ") where word.hasPrefix("\(key)=") {
        return Int(word.dropFirst(key.count + 1)) ?? -1
    }
    return -1
}

/// Runs `spsim run … --backward --verify --json` with extra environment and asserts success.
@discardableResult
func assertVerifies(_ arguments: [String], ranks: Int, environment: [String: String], timeoutSeconds: Int = 120,
                    file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
    let run = try SPSimProcess.run(["run"] + arguments + ["--backward", "--verify", "--json"], ranks: ranks,
                                   timeoutSeconds: timeoutSeconds, environment: environment)
    let context = "P=\(ranks) \(arguments.joined(separator: " ")) \(environment)\n\(run.stderr)"
    XCTAssertEqual(run.status, 0, context, file: file, line: line)
    XCTAssertLessThan(run.seconds, Double(timeoutSeconds), context, file: file, line: line)
    guard run.status == 0 else { return [:] }
    let json = try run.json(file: file, line: line)
    XCTAssertEqual(json["passed"] as? Bool, true, context, file: file, line: line)
    XCTAssertEqual((json["errors"] as? [String: Double])?.count, 5, context, file: file, line: line)
    return json
}

/// Text that only a crash prints (Swift runtime traps, signals, LLVM stack dumps).
let crashText = ["Fatal error", "Stack dump", "Illegal instruction", "backtrace", "Backtrace", "Segmentation fault"]

/// Asserts a bad-input run (under mpirun with `ranks`, else one process): exit 2 on every
/// rank within `timeoutSeconds`, one `error:` line mentioning every needle, no crash text,
/// nothing on stdout. Returns the error line.
@discardableResult
func assertBadInput(_ arguments: [String], ranks: Int? = nil, mentions needles: [String], timeoutSeconds: Int = 30,
                    directory: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let run = try SPSimProcess.run(arguments, ranks: ranks, timeoutSeconds: timeoutSeconds, directory: directory)
    XCTAssertEqual(run.status, 2, "\(arguments) → \(run.stderr)", file: file, line: line)
    XCTAssertLessThan(run.seconds, Double(timeoutSeconds), file: file, line: line)
    let errors = run.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
    XCTAssertEqual(errors.count, 1, "exactly one error line expected for \(arguments):\n\(run.stderr)", file: file, line: line)
    for needle in needles {
        XCTAssertTrue(errors.first?.contains(needle) ?? false, "\(errors) should mention \(needle)", file: file, line: line)
    }
    for crash in crashText {
        XCTAssertFalse(run.stderr.contains(crash), "crash text \(crash) for \(arguments):\n\(run.stderr)", file: file, line: line)
    }
    XCTAssertTrue(run.stdout.isEmpty, "nothing on stdout: \(run.stdout)", file: file, line: line)
    return String(errors.first ?? "")
}

/// The per-rank `bytes_sent_to` matrix of a phase.
func sentToMatrix(_ json: [String: Any], _ phase: String) -> [[Int]] {
    ((json["traffic"] as? [String: Any])?[phase] as? [String: Any])?["bytes_sent_to"] as? [[Int]] ?? []
}

/// The environment that forces Open MPI's shared-memory eager limit down to 64 bytes, so
/// every message takes the rendezvous path and a latent send/send cycle would hang.
let tinyEagerLimit = ["OMPI_MCA_btl_vader_eager_limit": "64"]

/// The strategies `spsim strategies --json` lists (the registry), optionally of one attention
/// kind: the tests' strategy lists, so a new strategy is picked up without editing them.
func registeredStrategies(attention: String? = nil) throws -> [[String: Any]] {
    let run = try SPSimProcess.run(["strategies", "--json"])
    let list = try XCTUnwrap(try run.json()["strategies"] as? [[String: Any]], run.stderr)
    return list.filter { attention == nil || $0["attention"] as? String == attention }
}

/// The names of `registeredStrategies(attention:)`.
func registeredStrategyNames(attention: String? = nil) throws -> [String] {
    try registeredStrategies(attention: attention).compactMap { $0["name"] as? String }
}
