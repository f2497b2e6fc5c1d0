import Foundation
import XCTest

/// Saved outputs of `--inputs` runs, written by numpy, against an independent numpy implementation.
final class NumpyCrossCheckTests: XCTestCase {
    func testSoftmaxStrategiesMatchNumpy() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Scripts/numpy_check.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--spsim", SPSimProcess.executable, "--ranks", "1", "3", "4"]
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("numpy-check-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") }
        try process.run()
        process.waitUntilExit()
        try handle.close()
        let output = try String(contentsOf: log, encoding: .utf8)
        XCTAssertEqual(process.terminationStatus, 0, output)
        XCTAssertTrue(output.contains(" passed, 0 failed"), output)
    }
}
