import Foundation
import XCTest

/// `spsim run --phantom`: no arithmetic and no payload values, but the real run's schedule,
/// so the ledger of a phantom run is exactly a real run's.
final class PhantomTests: XCTestCase {
    static let cases: [[String]] = [
        ["--strategy", "allgather", "--causal", "--seq-len", "64", "--heads", "4", "--head-dim", "8"],
        ["--strategy", "ring", "--layout", "zigzag", "--causal", "--seq-len", "64", "--heads", "4", "--head-dim", "8"],
        ["--strategy", "token-ring", "--layout", "zigzag", "--causal", "--seq-len", "64", "--heads", "4", "--head-dim", "8"],
        ["--strategy", "token-ring", "--seq-len", "60", "--heads", "4", "--head-dim", "8"],
        ["--strategy", "ulysses", "--causal", "--seq-len", "64", "--heads", "4", "--kv-heads", "2", "--head-dim", "8"],
        ["--strategy", "usp", "--layout", "zigzag", "--causal", "--seq-len", "64", "--heads", "4", "--head-dim", "8",
         "--ulysses-degree", "2"],
        ["--attention", "gla", "--strategy", "zeco", "--seq-len", "64", "--heads", "4", "--head-dim", "8",
         "--scan-blocks", "2"],
        ["--attention", "gla", "--strategy", "lasp1", "--seq-len", "64", "--heads", "4", "--head-dim", "8"],
        ["--attention", "gla", "--strategy", "lasp2", "--seq-len", "64", "--heads", "4", "--head-dim", "8"],
        ["--attention", "gla", "--strategy", "exscan", "--seq-len", "64", "--heads", "4", "--head-dim", "8"],
    ]

    /// Forward and backward traffic (every per-rank count and the rank-to-rank matrix) of a
    /// phantom run equals that of the real run, for every strategy at P = 4.
    func testPhantomLedgerEqualsTheRealRunsLedger() throws {
        let strategies = Set(Self.cases.map { $0[$0.firstIndex(of: "--strategy")! + 1] })
        XCTAssertEqual(strategies, Set(try registeredStrategyNames()), "every registered strategy has a phantom case")
        for arguments in Self.cases {
            let name = arguments.joined(separator: " ")
            let real = try SPSimProcess.run(["run"] + arguments + ["--backward", "--json"], ranks: 4)
            let phantom = try SPSimProcess.run(["run"] + arguments + ["--backward", "--json", "--phantom"], ranks: 4)
            XCTAssertEqual(real.status, 0, "\(name)\n\(real.stderr)")
            XCTAssertEqual(phantom.status, 0, "\(name) --phantom\n\(phantom.stderr)")
            guard real.status == 0, phantom.status == 0 else { continue }
            let a = try phantom.json(), b = try real.json()
            XCTAssertEqual(a["phantom"] as? Bool, true, name)
            XCTAssertNil(b["phantom"], name)
            let phantomTraffic = try XCTUnwrap(a["traffic"] as? [String: Any], name)
            let realTraffic = try XCTUnwrap(b["traffic"] as? [String: Any], name)
            XCTAssertNotNil(realTraffic["backward"], name)
            XCTAssertTrue(((realTraffic["bytes_sent"] as? [Int]) ?? []).contains { $0 > 0 }, name)
            XCTAssertEqual(phantomTraffic as NSDictionary, realTraffic as NSDictionary, "ledger differs: \(name)")
        }
    }

    /// A phantom run computes nothing, so what needs values is refused as bad input: one
    /// `error:` line, exit 2.
    func testPhantomRefusesWhatNeedsValues() throws {
        let ring = ["run", "--strategy", "ring", "--seq-len", "64", "--heads", "2", "--head-dim", "4", "--phantom"]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spsim-phantom-\(UUID().uuidString)").path
        for (extra, message) in [(["--verify"], "--verify"), (["--save", dir], "--save"), (["--inputs", dir], "--inputs")] {
            let run = try SPSimProcess.run(ring + extra, ranks: 2)
            XCTAssertEqual(run.status, 2, run.stderr)
            let errors = run.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
            XCTAssertEqual(errors, ["error: --phantom computes no values: it cannot be combined with \(message)"], run.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir))
        }
    }
}
