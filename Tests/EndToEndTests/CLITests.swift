import Foundation
import XCTest

/// The command line as a person meets it: sizes, --version, suggestions, `spsim report`.
final class CLITests: XCTestCase {
    func testVersion() throws {
        let run = try SPSimProcess.run(["--version"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertNotNil(run.stdout.range(of: #"^\d+\.\d+\.\d+\n$"#, options: .regularExpression), run.stdout)
    }

    func testMistypedCommandsGetASuggestion() throws {
        for (args, suggestion) in [(["modle"], "did you mean 'model'?"), (["topology", "shwo"], "did you mean 'show'?"),
                                   (["verfy", "--json"], "did you mean 'verify'?"), (["help", "modle"], "did you mean 'model'?"),
                                   (["help", "topology", "shwo"], "did you mean 'show'?")] {
            try assertBadInput(args, mentions: [suggestion])
        }
        // An option's typo, in ArgumentParser's words, lower-cased as spsim's own messages are.
        let option = try assertBadInput(["train", "--stesp", "3"], mentions: ["Did you mean '--steps'?"])
        XCTAssertTrue(option.hasPrefix("error: unknown option '--stesp'"), option)
        let far = try SPSimProcess.run(["frobnicate"])
        XCTAssertEqual(far.status, 2)
        XCTAssertFalse(far.stderr.contains("did you mean"), far.stderr)
        XCTAssertTrue(far.stderr.contains("run, verify"), "lists the commands: \(far.stderr)")
        for known in [["help"], ["help", "run"], ["help", "topology", "show"]] {
            let help = try SPSimProcess.run(known)
            XCTAssertEqual(help.status, 0, "\(known): \(help.stderr)")
            XCTAssertTrue(help.stdout.contains("USAGE:"), "\(known): \(help.stdout)")
        }
    }

    func testSizesTakeOneRuleEverywhere() throws {
        let run = try SPSimProcess.run(["run", "--seq-len", "1k", "--heads", "2", "--head-dim", "4", "--json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try run.json()["seq_len"] as? Int, 1024)
        let model = try SPSimProcess.run(["model", "--strategy", "ring", "--seq-len", "2Mi", "--ranks", "8", "--format", "csv"])
        XCTAssertEqual(model.status, 0, model.stderr)
        XCTAssertTrue(model.stdout.contains("ring,contiguous,8,2097152,"), model.stdout)
        for args in [["run", "--seq-len", "8x"], ["bench", "--max-bytes", "1MB"], ["run", "--seq-len", "99999999999G"]] {
            let bad = try SPSimProcess.run(args)
            XCTAssertEqual(bad.status, 2, "\(args)")
            XCTAssertTrue(bad.stderr.contains("is not a size: sizes are whole numbers"), "\(args): \(bad.stderr)")
        }
    }

    func testReportComparesRunsWithTheModelAndPlotsThem() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spsim-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var files = [String]()
        for n in ["64", "128"] {
            let run = try SPSimProcess.run(["run", "--strategy", "ring", "--seq-len", n, "--heads", "2", "--head-dim", "4",
                                            "--backward", "--json", "--topology", "toy"])
            XCTAssertEqual(run.status, 0, run.stderr)
            let file = dir.appendingPathComponent("ring-\(n).json").path
            try run.stdout.write(toFile: file, atomically: true, encoding: .utf8)
            files.append(file)
        }
        let plot = dir.appendingPathComponent("measured.svg").path
        let report = try SPSimProcess.run(["report"] + files + ["--plot", plot])
        XCTAssertEqual(report.status, 0, report.stderr)
        let rows = report.stdout.split(separator: "\n").filter { $0.hasPrefix("ring") }
        XCTAssertEqual(rows.count, 2, report.stdout)
        XCTAssertTrue(rows.allSatisfy { $0.contains("toy") }, report.stdout)
        let svg = try String(contentsOfFile: plot, encoding: .utf8)
        XCTAssertTrue(svg.contains(">ring measured<") && svg.contains(">ring predicted<"), "legend")
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 3, "measured, predicted, their ratio")
        XCTAssertTrue(svg.contains("sequence length N (tokens)"), "N varies, P does not")

        let bad = dir.appendingPathComponent("bad.json").path
        try #"{"strategy": "ring"}"#.write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try SPSimProcess.run(["report", bad])
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.stderr.contains("bad.json: not the output of `spsim run --json`"), refused.stderr)
    }
}
