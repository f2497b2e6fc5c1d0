import Foundation
import XCTest

/// `spsim model` and `spsim topology` as a user runs them: no mpirun, no MPI.
final class ModelCommandTests: XCTestCase {
    func testModelJSONHasEveryStrategyWithPerRankArrays() throws {
        let run = try SPSimProcess.run(["model", "--topology", "h100x4-ndr", "--seq-len", "256k", "--ranks", "8..32",
                                        "--causal", "--format", "json"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let json = try run.json()
        XCTAssertEqual(json["topology"] as? String, "h100x4-ndr")
        let predictions = try XCTUnwrap(json["predictions"] as? [[String: Any]])
        let names = Set(predictions.compactMap { $0["strategy"] as? String })
        let registered = try registeredStrategyNames()
        XCTAssertFalse(registered.isEmpty)
        for name in registered {
            XCTAssertTrue(names.contains(name), "\(name) missing from \(names)")
        }
        for p in predictions {
            let ranks = try XCTUnwrap(p["ranks"] as? Int)
            for phase in ["forward", "backward"] {
                let phaseObject = try XCTUnwrap(p[phase] as? [String: Any])
                for field in ["bytes_sent", "messages_sent", "comm_seconds", "compute_seconds", "exposed_comm_seconds", "seconds"] {
                    XCTAssertEqual((phaseObject[field] as? [Any])?.count, ranks, "\(phase).\(field)")
                }
            }
            XCTAssertEqual((p["step_seconds"] as? [Double])?.count, ranks)
            XCTAssertEqual((p["memory_bytes"] as? [Int])?.count, ranks)
        }
    }

    func testPlotShowsExposedCommunicationInStableStylesAndMarksWhereAStrategyCannotRun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spsim-plot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("scaling.svg").path
        let run = try SPSimProcess.run(["model", "--topology", "h100x32-ndr", "--seq-len", "8M", "--ranks", "8..256",
                                        "--heads", "64", "--kv-heads", "8", "--strategy", "ring,ulysses,lasp2,zeco",
                                        "--causal", "--plot", file])
        XCTAssertEqual(run.status, 0, run.stderr)
        let svg = try String(contentsOfFile: file, encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<?xml"))
        XCTAssertTrue(svg.contains("ranks P (GPUs)"), "x axis label with unit")
        for panel in [">Exposed communication<", ">Step time<", ">Step time beyond compute<"] {
            XCTAssertTrue(svg.contains(panel), panel)
        }
        XCTAssertTrue(svg.contains("communication not hidden by compute (s)"), "y axis label with unit")
        XCTAssertTrue(svg.contains("h100x32-ndr") && svg.contains("N = 8M") && svg.contains("H = 64, G = 8, D = 128, causal")
                      && svg.contains("bf16"), "problem and topology in the title")
        for name in ["ring", "lasp2 (GLA)", "zeco (GLA)"] { XCTAssertTrue(svg.contains(">\(name)<"), "legend entry \(name)") }
        XCTAssertTrue(svg.contains(">ulysses — × cannot run at 128, 256 (P = 128 &gt; H = 64)<"), "legend says where ulysses cannot run")
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 12, "four strategies × three panels")
        XCTAssertEqual(svg.components(separatedBy: "class=\"unsupported\"").count - 1, 6, "× at P = 128 and 256 in each panel")
        // The ring's colour is its own in every plot: green lines, four per panel set (three panels + legend).
        XCTAssertEqual(svg.components(separatedBy: "stroke=\"#009E73\"").count - 1, 4)
        XCTAssertTrue(svg.contains(">256<"), "tick at 256 ranks")
    }

    func testCSVAndTable() throws {
        let csv = try SPSimProcess.run(["model", "--strategy", "ring", "--seq-len", "64k", "--ranks", "2,4", "--format", "csv"])
        XCTAssertEqual(csv.status, 0, csv.stderr)
        let lines = csv.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines[0].hasPrefix("strategy,layout,ranks,seq_len,forward_bytes_sent"))
        // Ring forward, P = 2, N = 64k, G = H = 32, D = 128, bf16: 2·(N − n)·G·D·b.
        XCTAssertTrue(lines[1].hasPrefix("ring,contiguous,2,65536,\(2 * 32768 * 32 * 128 * 2),1,"), String(lines[1]))
        let table = try SPSimProcess.run(["model", "--topology", "h100x32-ndr", "--strategy", "ulysses", "--ranks", "16,64"])
        XCTAssertEqual(table.status, 0)
        XCTAssertTrue(table.stdout.contains("n/a"), "P = 64 > H = 32 is marked")
        XCTAssertTrue(table.stdout.contains("needs P ≤ H"), table.stdout)
    }

    func testBadModelInputIsOneErrorLine() throws {
        for (args, needle) in [(["model", "--topology", "nonesuch"], "no topology of that name"),
                               (["model", "--topology", "hgx-h100", "--ranks", "16"], "cannot place 16 ranks"),
                               (["model", "--ranks", "8..4"], "--ranks"),
                               (["model", "--strategy", "nope"], "unknown --strategy nope")] {
            try assertBadInput(args, mentions: [needle])
        }
    }

    func testTopologyValidateRejectsMalformedFilesNamingFileAndKey() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spsim-topo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try SPSimProcess.run(["topology", "show", "toy", "--json"])
        XCTAssertEqual(good.status, 0, good.stderr)
        let bad = dir.appendingPathComponent("bad.json").path
        try good.stdout.replacingOccurrences(of: "\"bw_GBps\": {\"value\": 1,", with: "\"bw_GBps\": {\"value\": -1,")
            .write(toFile: bad, atomically: true, encoding: .utf8)
        let run = try SPSimProcess.run(["topology", "validate", bad])
        XCTAssertEqual(run.status, 2, run.stderr)
        XCTAssertTrue(run.stderr.contains("error: \(bad): levels[0].bw_GBps.value: must be positive"), run.stderr)
        let ok = try SPSimProcess.run(["topology", "validate"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("ok: ") && ok.stdout.contains("h100x32-ndr"), ok.stdout)
        let list = try SPSimProcess.run(["topology", "list"])
        XCTAssertTrue(list.stdout.contains("gb200-nvl72") && list.stdout.contains("72"), list.stdout)
        let show = try SPSimProcess.run(["topology", "show", "h100x32-ndr"])
        XCTAssertTrue(show.stdout.contains("nccl-tests issue #267"), "sources are shown: \(show.stdout)")
    }

    func testRunShowsThePredictionBesideTheMeasurement() throws {
        let run = try SPSimProcess.run(["run", "--strategy", "allgather", "--seq-len", "64", "--heads", "2", "--head-dim", "8",
                                        "--backward", "--topology", "toy"], ranks: 2)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("model on toy"), run.stdout)
        XCTAssertTrue(run.stdout.contains("predicted") && run.stdout.contains("measured"), run.stdout)
        let bad = try SPSimProcess.run(["run", "--seq-len", "16", "--topology", "nonesuch"], ranks: 2)
        XCTAssertEqual(bad.status, 2, bad.stderr)
        XCTAssertEqual(bad.stderr.split(separator: "\n").filter { $0.hasPrefix("error: --topology: nonesuch") }.count, 1,
                       bad.stderr)
    }
}
