import Foundation
import XCTest

/// Bad input and faults, as a careless or adversarial user meets them (issue: refuse every
/// impossible size up front, never a crash trace, never a mixed output). Every case: exit
/// status 2, exactly one `error:` line naming the option or key, no crash text, nothing on
/// stdout, and no file left behind. Most run `spsim` as one process (no mpirun: the checks
/// are the same on every rank); the cases about ranks use mpirun.
final class ReliabilityTests: XCTestCase {
    /// Text that means a crash rather than an error message.
    private var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("spsim-rel-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `spsim arguments` in the test's directory and asserts a clean refusal: status 2,
    /// one `error:` line containing every needle, no crash text, and the directory holding
    /// exactly `entries` (hidden temporaries included) afterwards.
    @discardableResult
    private func assertRefused(_ arguments: [String], ranks: Int? = nil, mentions needles: [String],
                               leaves entries: Set<String> = [], file: StaticString = #filePath,
                               line: UInt = #line) throws -> String {
        let error = try assertBadInput(arguments, ranks: ranks, mentions: needles, timeoutSeconds: 20, directory: directory,
                                       file: file, line: line)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: directory)), entries,
                       "files left behind by \(arguments)", file: file, line: line)
        return error
    }

    private func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    private func write(_ bytes: [UInt8], _ name: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path(name)))
    }

    /// The toy topology file with `replace` applied to its text.
    private func topology(_ name: String, _ replace: (String) -> String) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("Topologies/toy.json"), encoding: .utf8)
        let changed = replace(text)
        XCTAssertNotEqual(changed, text, "the replacement must change the file")
        try Data(changed.utf8).write(to: URL(fileURLWithPath: path(name)))
    }

    // MARK: sizes that overflow or cannot fit

    func testSizesAboveTheLimitsAreRefusedBeforeAllocation() throws {
        try assertRefused(["run", "--seq-len", "1000000000000"], mentions: ["--seq-len × --heads × --head-dim", "limit"])
        try assertRefused(["run", "--heads", "1099511627776", "--head-dim", "1099511627776"],
                          mentions: ["--heads 1099511627776", "limit of 1048576"])
        try assertRefused(["run", "--attention", "gla", "--heads", "4611686018427387904", "--head-dim", "4"],
                          mentions: ["--heads 4611686018427387904", "limit"])
        try assertRefused(["run", "--attention", "gla", "--heads", "1048576", "--head-dim", "1048576", "--seq-len", "4"],
                          mentions: ["elements of the GLA state", "limit"])
        try assertRefused(["run", "--repeat", "2", "--seq-len", "9223372036854775807"], mentions: ["--seq-len", "limit"])
        try assertRefused(["model", "--heads", "1099511627776"], mentions: ["--heads", "limit"])
        try assertRefused(["model", "--bytes-per-element", "1000"], mentions: ["--bytes-per-element 1000", "limit of 8"])
        try assertRefused(["bench", "--kernels", "--tokens", "1073741824"], mentions: ["score matrix", "limit"])
        try assertRefused(["bench", "--kernels", "--tokens", "1048576", "--heads", "1", "--head-dim", "1"],
                          mentions: ["would need about", "kernel benchmark"])
        try assertRefused(["bench", "--train", "--tokens", "100G"], mentions: ["--tokens 107374182400", "2³¹ − 1"])
        try assertRefused(["bench", "--train", "--tokens", "16M"], mentions: ["would need about", "activations"])
        try assertRefused(["bench", "--train", "--heads", "2"], mentions: ["--heads", "option of --kernels"])
        try assertRefused(["bench", "--kernels", "--train"], mentions: ["separate benchmarks"])
        try assertRefused(["collectives", "--count", "4611686018427387904"], mentions: ["--count", "limit"])
    }

    func testModelRangesPastIntMaxAreRefused() throws {
        try assertRefused(["model", "--seq-len", "1..9223372036854775807"], mentions: ["--seq-len", "limit"])
        try assertRefused(["model", "--ranks", "2..9223372036854775807"], mentions: ["--ranks 2097152", "limit"])
        try assertRefused(["model", "--ranks", "2..9223372036854775807*3"], mentions: ["--ranks", "limit"])
        try assertRefused(["model", "--ranks", "1..9223372036854775807+1"], mentions: ["--ranks", "more than 4096 values"])
        try assertRefused(["model", "--seq-len", "9223372036854775807M"], mentions: ["--seq-len", "positive whole number"])
        try assertRefused(["model", "--topology", "toy", "--seq-len", "1k..4k+1", "--ranks", "1..64+1"],
                          mentions: ["configurations", "limit"])
    }

    func testNPYHeaderDeclaringAnAbsurdShapeIsRefusedBeforeItsPayload() throws {
        for name in ["k", "v"] { try write(NPYBytes.float32(count: 16 * 2 * 8, shape: [16, 2, 8]), "\(name).npy") }
        let files: Set = ["q.npy", "k.npy", "v.npy"]
        try write(NPYBytes.header(descr: "<f4", shape: [1 << 62, 2, 8]), "q.npy")
        try assertRefused(["run", "--inputs", directory], mentions: ["q.npy", "limit"], leaves: files)
        try write(NPYBytes.header(descr: "<f4", shape: [1 << 40, 1 << 40, 8]), "q.npy")
        try assertRefused(["run", "--inputs", directory], mentions: ["q.npy", "limit"], leaves: files)
        // Plausible shape, but far more than the file holds.
        try write(NPYBytes.header(descr: "<f4", shape: [1 << 30, 2, 8]) + [UInt8](repeating: 0, count: 64), "q.npy")
        try assertRefused(["run", "--inputs", directory], mentions: ["q.npy", "truncated or corrupt"], leaves: files)
    }

    func testTopologyWithAbsurdCountsIsRefusedByEveryCommand() throws {
        try topology("huge.json") { $0.replacingOccurrences(of: "\"value\": 1,\n    \"source\": \"toy: one level only\"",
                                                             with: "\"value\": 1e20,\n    \"source\": \"toy: one level only\"") }
        let files: Set = ["huge.json"]
        try assertRefused(["topology", "validate", path("huge.json")], mentions: ["nodes.value", "limit"], leaves: files)
        try assertRefused(["model", "--topology", path("huge.json")], mentions: ["nodes.value", "limit"], leaves: files)
        try assertRefused(["run", "--seq-len", "16", "--topology", path("huge.json")], ranks: 2,
                          mentions: ["nodes.value", "limit"], leaves: files)
    }

    func testDuplicateTopologyKeysAreRefused() throws {
        try topology("twice.json") { $0.replacingOccurrences(of: "\"placement\": \"block\",",
                                                              with: "\"placement\": \"block\",\n  \"placement\": \"round-robin\",") }
        try assertRefused(["topology", "validate", path("twice.json")], mentions: ["placement", "duplicate key"],
                          leaves: ["twice.json"])
    }

    /// The issue's `run --seq-len 1000000000 --heads 1 --head-dim 1` at P = 3 grew every
    /// rank to 5 GB and died; the estimate now refuses it up front. N = 10¹¹ keeps the case
    /// far beyond any host this test may run on.
    func testARunThatCannotFitIsRefusedWithTheEstimate() throws {
        let line = try assertRefused(["run", "--seq-len", "100000000000", "--heads", "1", "--head-dim", "1"], ranks: 3,
                                     mentions: ["would need about", "available per rank", "--force"])
        XCTAssertTrue(line.contains("÷ 3 ranks"), line)
    }

    // MARK: the error line is never lost

    /// Rank 0 starts late (a shell sleeps first) while rank 1 meets the same parse error at
    /// once; the issue saw the line lost in 5 of 10 such runs (rank 0 killed before it
    /// printed) and in 7 of 60 under load. 60 repeats, three mpiruns at a time (the load is
    /// part of the case; it also keeps the test near 30 s here), each must print exactly one
    /// line and exit 2.
    func testTheErrorLineSurvivesADelayedRankZero() throws {
        let delayed = "sleep 0.2; exec \(SPSimProcess.executable) run --no-such-option"
        let arguments = ["mpirun", "--timeout", "20", "-np", "1", "sh", "-c", delayed, ":",
                         "-np", "1", SPSimProcess.executable, "run", "--no-such-option"]
        /// Outcomes collected from three threads.
        final class Outcomes: @unchecked Sendable {
            let lock = NSLock()
            var items = [(lines: Int, status: Int32, crashed: Bool)]()
            func append(_ item: (lines: Int, status: Int32, crashed: Bool)) { lock.lock(); items.append(item); lock.unlock() }
        }
        let collected = Outcomes()
        let directory = self.directory
        DispatchQueue.concurrentPerform(iterations: 3) { _ in
            for _ in 0..<20 {
                let run = try? SPSimProcess.program("/usr/bin/env", arguments, timeoutSeconds: 20, directory: directory)
                let lines = run?.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }.count ?? 0
                let crashed = crashText.contains { run?.stderr.contains($0) ?? false }
                collected.append((lines, run?.status ?? -1, crashed))
            }
        }
        let outcomes = collected.items
        XCTAssertEqual(outcomes.count, 60)
        XCTAssertEqual(outcomes.filter { $0.lines != 1 }.count, 0, "runs without exactly one error line")
        XCTAssertEqual(outcomes.filter { $0.status != 2 }.count, 0, "runs not ending with status 2")
        XCTAssertEqual(outcomes.filter(\.crashed).count, 0, "runs with crash text")
    }

    // MARK: output paths checked up front

    func testOutputPathsAreCheckedBeforeAnyCompute() throws {
        try write(Array("keep".utf8), "a-file")
        let keep: Set = ["a-file"]
        try assertRefused(["run", "--seq-len", "16", "--save", path("a-file/out")], mentions: ["--save", "not a directory"],
                          leaves: keep)
        try assertRefused(["run", "--seq-len", "16", "--save", path("a-file")], mentions: ["--save", "is a file"], leaves: keep)
        try assertRefused(["run", "--seq-len", "16", "--save", ""], mentions: ["--save \"\""], leaves: keep)
        try assertRefused(["run", "--seq-len", "16", "--save", path("missing/out")], mentions: ["does not exist"], leaves: keep)
        // Root ignores permission bits, so an unwritable place is one no process may create in.
        try assertRefused(["run", "--seq-len", "16", "--save", "/proc/spsim-out"], mentions: ["--save", "cannot create files"],
                          leaves: keep)
        try assertRefused(["run", "--seq-len", "16", "--trace", "/proc/spsim-trace.json"],
                          mentions: ["--trace", "cannot create files"], leaves: keep)
        try assertRefused(["run", "--seq-len", "16", "--trace", ""], mentions: ["--trace \"\""], leaves: keep)
        try assertRefused(["model", "--plot", "/proc/spsim.svg"], mentions: ["--plot", "cannot create files"], leaves: keep)
        try assertRefused(["run", "--seq-len", "16", "--trace", directory], mentions: ["--trace", "is a directory"], leaves: keep)
        // 2^44 elements per output: far more than any disk has free (and refused before memory).
        try assertRefused(["run", "--seq-len", "1073741824", "--heads", "128", "--head-dim", "128", "--save", path("big")],
                          mentions: ["--save", "free"], leaves: keep)
        XCTAssertEqual(try String(contentsOfFile: path("a-file"), encoding: .utf8), "keep")
    }

    func testASaveDirectoryHoldingOtherFilesIsNotReplaced() throws {
        try FileManager.default.createDirectory(atPath: path("mine"), withIntermediateDirectories: false)
        try write(Array("notes".utf8), "mine/notes.txt")
        try assertRefused(["run", "--seq-len", "16", "--save", path("mine")], mentions: ["notes.txt", "did not write"],
                          leaves: ["mine"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("mine")), ["notes.txt"])
    }

    // MARK: outputs all-or-nothing

    /// A forward-only save into the directory of a backward run leaves exactly the forward
    /// files (before: o and lse replaced, the old dq, dk, dv kept).
    func testASaveReplacesTheWholeDirectory() throws {
        let out = path("out")
        let backward = try SPSimProcess.run(["run", "--seq-len", "16", "--heads", "2", "--head-dim", "4", "--backward",
                                             "--save", out, "--trace", path("trace.json")], directory: directory)
        XCTAssertEqual(backward.status, 0, backward.stderr)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: out)),
                       ["o.npy", "lse.npy", "dq.npy", "dk.npy", "dv.npy"])
        let forward = try SPSimProcess.run(["run", "--seq-len", "16", "--heads", "2", "--head-dim", "4", "--save", out,
                                            "--trace", path("trace.json")], directory: directory)
        XCTAssertEqual(forward.status, 0, forward.stderr)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: out)), ["o.npy", "lse.npy"])
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: directory)), ["out", "trace.json"],
                       "no temporaries beside the outputs")
        XCTAssertTrue(forward.stderr.contains("memory per rank: estimated"), forward.stderr)
    }

    /// A run killed while saving leaves a hidden temporary; the next run to the same target
    /// removes it (its process is gone) and leaves only its own outputs.
    func testTemporariesOfAKilledRunAreRemovedByTheNextRun() throws {
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, 255)
        let hostName = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        for target in ["out", "trace.json"] {
            let stale = path(".\(target).spsim-partial.\(hostName).\(gone.processIdentifier).12345")
            try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: false)
            try write([UInt8](repeating: 1, count: 4096), "\((stale as NSString).lastPathComponent)/o.npy")
        }
        let run = try SPSimProcess.run(["run", "--seq-len", "16", "--heads", "2", "--head-dim", "4", "--save", path("out"),
                                        "--trace", path("trace.json")], directory: directory)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: directory)), ["out", "trace.json"])
    }

    // MARK: smaller ones

    func testNegativeValuesSaySo() throws {
        try assertRefused(["run", "--seq-len", "-5"], mentions: ["--seq-len takes no negative values, got -5"])
        try assertRefused(["model", "--ranks", "-8"], mentions: ["--ranks takes no negative values, got -8"])
        try assertRefused(["run", "--seq-len=-5"], mentions: ["--seq-len takes no negative values, got -5"])
    }

    func testNonFiniteInputsAreRefusedNamingTheElement() throws {
        var values = [Float](repeating: 0.25, count: 16 * 2 * 4)
        for name in ["q", "k", "v"] { try write(NPYBytes.floats(values, shape: [16, 2, 4]), "\(name).npy") }
        values[1 * 8 + 1 * 4 + 3] = .nan
        try write(NPYBytes.floats(values, shape: [16, 2, 4]), "q.npy")
        let files: Set = ["q.npy", "k.npy", "v.npy"]
        try assertRefused(["run", "--inputs", directory], mentions: ["q.npy holds nan at index [1, 1, 3]"], leaves: files)
        values[1 * 8 + 1 * 4 + 3] = 0
        try write(NPYBytes.floats(values, shape: [16, 2, 4]), "q.npy")
        values[15 * 8 + 7] = -.infinity
        try write(NPYBytes.floats(values, shape: [16, 2, 4]), "v.npy")
        try assertRefused(["run", "--inputs", directory], mentions: ["v.npy holds -inf at index [15, 1, 3]"], leaves: files)
    }
}

extension NPYBytes {
    /// A float32 `.npy` file holding `values`.
    static func floats(_ values: [Float], shape: [Int]) -> [UInt8] {
        var bytes = header(descr: "<f4", shape: shape)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        return bytes
    }
}
