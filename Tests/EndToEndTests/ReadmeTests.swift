import Foundation
import XCTest

/// The README's command blocks run as written, after `source Scripts/env.sh`: every ```sh
/// block not marked `<!-- readme-test: skip (why) -->` on the line before it runs in bash,
/// from a scratch directory that links the repository's scripts, data and build, and must
/// exit 0. Long runs are shortened (`smaller`), nothing else is changed.
final class ReadmeTests: XCTestCase {
    /// The repository root (this file is Tests/EndToEndTests/ReadmeTests.swift).
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Size substitutions that keep the examples' meaning at a test's cost.
    let smaller: [(String, String)] = [
        ("--seq-len 8192", "--seq-len 1024"), ("--repeat 3", "--repeat 1"), ("--steps 200", "--steps 3"),
        ("--steps 20", "--steps 3"), ("--np 32", "--np 8"), ("--seq-len 4096", "--seq-len 512"),
        ("spsim calibrate", "spsim calibrate --max-bytes 64k"),
    ]

    /// The runnable ```sh blocks of `markdown`, with the line each starts on.
    static func blocks(_ markdown: String) -> [(line: Int, text: String)] {
        var out = [(line: Int, text: String)](), current: [String]?, start = 0, skip = false
        for (i, line) in markdown.components(separatedBy: "\n").enumerated() {
            if var lines = current {
                if line == "```" {
                    if !skip { out.append((start, lines.joined(separator: "\n"))) }
                    current = nil
                } else {
                    lines.append(line)
                    current = lines
                }
            } else if line == "```sh" {
                current = []
                start = i + 1
                skip = i > 0 && markdown.components(separatedBy: "\n")[i - 1].hasPrefix("<!-- readme-test: skip")
            }
        }
        return out
    }

    func testBlocksAreFoundAndSkipsAreExplained() throws {
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        XCTAssertGreaterThanOrEqual(Self.blocks(readme).count, 6)
        for line in readme.components(separatedBy: "\n") where line.hasPrefix("<!-- readme-test: skip") {
            XCTAssertTrue(line.contains("("), "a skipped block says why: \(line)")
        }
    }

    func testReadmeCommandsRunAsWritten() throws {
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("spsim-readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        for name in ["Scripts", "Topologies", "Models", "Sources", "Package.swift", ".build", ".build-smpi"] {
            let target = root.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: target.path) else { continue }
            try FileManager.default.createSymbolicLink(at: scratch.appendingPathComponent(name), withDestinationURL: target)
        }
        try FileManager.default.copyItem(at: root.appendingPathComponent("docs"), to: scratch.appendingPathComponent("docs"))
        let environment = ["XDG_CONFIG_HOME": scratch.appendingPathComponent("config").path, "MPIEXEC_TIMEOUT": "300"]
        for block in Self.blocks(readme) {
            var text = block.text
            for (long, short) in smaller { text = text.replacingOccurrences(of: long, with: short) }
            let run = try SPSimProcess.program("/bin/bash", ["-c", "set -eo pipefail\nsource Scripts/env.sh\n" + text],
                                               timeoutSeconds: 600, environment: environment, directory: scratch.path)
            XCTAssertEqual(run.status, 0, "README.md line \(block.line):\n\(text)\n--- stderr:\n\(run.stderr.suffix(3000))")
            XCTAssertFalse(run.stderr.contains("Fatal error"), "README.md line \(block.line) crashed")
        }
    }
}
