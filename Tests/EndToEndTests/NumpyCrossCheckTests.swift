import Foundation
import XCTest

/// Saved outputs of `--inputs` runs, written by numpy, against an independent numpy implementation.
final class NumpyCrossCheckTests: XCTestCase {
    func testSoftmaxStrategiesMatchNumpy() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Scripts/numpy_check.py").path
        let run = try SPSimProcess.program("/usr/bin/env", ["python3", script, "--spsim", SPSimProcess.executable,
                                                            "--ranks", "1", "3", "4"], timeoutSeconds: 900)
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertTrue(run.stdout.contains(" passed, 0 failed"), run.stdout + run.stderr)
    }
}
