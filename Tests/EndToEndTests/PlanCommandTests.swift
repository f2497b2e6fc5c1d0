import Foundation
import XCTest

/// `spsim plan` and `spsim models` as a user runs them: no mpirun, no MPI.
final class PlanCommandTests: XCTestCase {
    func testPlanJSONNeverMarksAConfigurationThatExceedsHBMFeasible() throws {
        let run = try SPSimProcess.run(["plan", "--model", "llama3-70b", "--topology", "h100x32-ndr", "--gpus", "64",
                                        "--seq-len", "1M", "--format", "json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try run.json()
        let device = try XCTUnwrap(json["device_memory_bytes"] as? Double)
        XCTAssertEqual(device, 80 * 1_073_741_824)
        let configurations = try XCTUnwrap(json["configurations"] as? [[String: Any]])
        XCTAssertFalse(configurations.isEmpty)
        var feasible = 0
        for c in configurations {
            for key in ["strategy", "gpus", "feasible", "memory_bytes", "step_seconds", "tokens_per_second", "mfu"] {
                XCTAssertNotNil(c[key], "\(key) missing in \(c)")
            }
            XCTAssertEqual(c["gpus"] as? Int, 64)
            if c["feasible"] as? Bool == true {
                feasible += 1
                XCTAssertLessThanOrEqual(try XCTUnwrap(c["memory_bytes"] as? Double), device, "\(c)")
                let mfu = try XCTUnwrap(c["mfu"] as? Double)
                XCTAssertTrue(mfu > 0 && mfu < 1, "MFU \(mfu)")
            }
        }
        XCTAssertGreaterThan(feasible, 0)
        // The table names every memory term of the best configuration.
        let table = try SPSimProcess.run(["plan", "--model", "llama3-70b", "--topology", "h100x32-ndr", "--gpus", "64",
                                          "--seq-len", "1M"])
        XCTAssertEqual(table.status, 0, table.stderr)
        for term in ["best:", "parameters", "gradients", "optimizer states", "stored activations", "logits and loss",
                     "attention buffers", "recompute", "MFU"] {
            XCTAssertTrue(table.stdout.contains(term), "\(term) missing from \(table.stdout)")
        }
    }

    func testMaxSeqLenMatchesALSTOnOneNodeAndPlots() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spsim-plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let longest = dir.appendingPathComponent("longest.svg").path
        let run = try SPSimProcess.run(["plan", "--model", "llama3-8b", "--topology", "hgx-h100", "--gpus", "1,8",
                                        "--max-seq-len", "--format", "json", "--plot", longest])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try run.json()
        XCTAssertNotNil(json["device_memory_bytes"])
        XCTAssertNotNil(json["configurations"] as? [[String: Any]])
        let entries = try XCTUnwrap(json["max_seq_len"] as? [[String: Any]])
        let ulysses = try XCTUnwrap(entries.first { $0["strategy"] as? String == "ulysses" && $0["gpus"] as? Int == 8 })
        let tokens = Double(try XCTUnwrap(ulysses["tokens"] as? Int))
        print("ulysses on 8 H100: \(tokens) tokens (ALST: 3.7M)")
        XCTAssertTrue(tokens / 3.7e6 < 1.5 && tokens / 3.7e6 > 1 / 1.5, "\(tokens)")
        let svg = try String(contentsOfFile: longest, encoding: .utf8)
        XCTAssertTrue(svg.contains("longest sequence (tokens") && svg.contains(">ulysses<"), "axis and legend")

        let steps = dir.appendingPathComponent("steps.svg").path
        let bars = try SPSimProcess.run(["plan", "--model", "llama3-8b", "--topology", "hgx-h100", "--gpus", "8",
                                         "--seq-len", "256k", "--plot", steps, "--format", "csv"])
        XCTAssertEqual(bars.status, 0, bars.stderr)
        XCTAssertTrue(bars.stdout.hasPrefix("strategy,gpus,sequence_parallel"), bars.stdout)
        let chart = try String(contentsOfFile: steps, encoding: .utf8)
        for part in ["matmuls", "attention compute", "recomputation", "step time (s)"] {
            XCTAssertTrue(chart.contains(part), "\(part) missing from the stacked chart")
        }
    }

    func testModelsListShowValidate() throws {
        let list = try SPSimProcess.run(["models", "list"])
        XCTAssertEqual(list.status, 0, list.stderr)
        for name in ["llama3-8b", "llama3-70b", "gla-1.3b", "tiny"] { XCTAssertTrue(list.stdout.contains(name), list.stdout) }
        let show = try SPSimProcess.run(["models", "show", "llama3-8b"])
        XCTAssertTrue(show.stdout.contains("parameters: 8030261248") && show.stdout.contains("arXiv 2407.21783"), show.stdout)
        let ok = try SPSimProcess.run(["models", "validate"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }

    func testBadPlanInputIsOneErrorLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spsim-models-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let tiny = try String(contentsOfFile: repositoryRootPath + "/Models/tiny.json", encoding: .utf8)
        func file(_ name: String, _ edit: (String) -> String) throws -> String {
            let path = dir.appendingPathComponent(name).path
            let edited = edit(tiny)
            XCTAssertNotEqual(edited, tiny, "the edit of \(name) applies")
            try edited.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let unknownKey = try file("unknown.json") { $0.replacingOccurrences(of: "\"attention\":", with: "\"dropout\": 0.1,\n  \"attention\":") }
        let noSource = try file("nosource.json") { $0.replacingOccurrences(of: "\"layers\": {\n    \"value\": 2,\n    \"source\": \"spsim's own test model, Training module\"\n  }", with: "\"layers\": {\"value\": 2}") }
        let negative = try file("negative.json") { $0.replacingOccurrences(of: "\"value\": 128,", with: "\"value\": -128,") }
        let heads = try file("heads.json") { $0.replacingOccurrences(of: "\"value\": 128,", with: "\"value\": 130,") }
        for (args, needle) in [(["plan", "--model", "nonesuch"], "no model of that name"),
                               (["plan", "--topology", "nonesuch"], "no topology of that name"),
                               (["plan", "--model", unknownKey], "dropout: unknown key"),
                               (["plan", "--model", noSource], "layers.source: is missing"),
                               (["plan", "--model", negative], "must be positive"),
                               (["plan", "--model", heads], "must divide hidden_size 130"),
                               (["models", "validate", heads], "must divide hidden_size 130"),
                               (["plan", "--gpus", "16"], "cannot place 16 ranks"),
                               (["plan", "--gpus", "1", "--seq-len", "64M"], "the smallest configuration needs"),
                               (["plan", "--seq-len", "-5"], "--seq-len"),
                               (["plan", "--strategy", "zeco"], "runs gla attention"),
                               (["plan", "--headroom", "1.5"], "--headroom")] {
            try assertBadInput(args, mentions: [needle])
        }
    }
}

/// The repository root, for Models/.
private let repositoryRootPath: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()
