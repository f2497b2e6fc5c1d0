import Foundation
import XCTest

/// Runs the built `spsim`, alone or under `mpirun`, the way a user does.
///
/// Lessons learned: never from a process that called MPI_Init (this test process
/// does not link MPI); a scrubbed environment so no singleton MPI variables leak in;
/// output to files rather than pipes (a forked orted may hold a pipe open); and a
/// timeout both in mpirun and here, so a hang fails the test instead of the suite.
struct SPSimProcess {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        var seconds: Double

        /// stdout parsed as one JSON object.
        func json(file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
            let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
            return try XCTUnwrap(object as? [String: Any], "stdout is not a JSON object: \(stdout)\n\(stderr)",
                                 file: file, line: line)
        }
    }

    /// The `spsim` executable: `SPSIM_BIN`, else beside the test bundle.
    static var executable: String {
        if let path = ProcessInfo.processInfo.environment["SPSIM_BIN"] { return path }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var dir = bundle
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("spsim").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return Bundle.main.bundleURL.appendingPathComponent("spsim").path
    }

    /// Runs `spsim arguments…`, under `mpirun -np ranks` when `ranks` is given.
    static func run(_ arguments: [String], ranks: Int? = nil, timeoutSeconds: Int = 120,
                    environment extra: [String: String] = [:], directory: String? = nil) throws -> Outcome {
        if let ranks {
            return try program("/usr/bin/env", ["mpirun", "--timeout", "\(timeoutSeconds)", "-np", "\(ranks)", executable]
                                   + arguments, timeoutSeconds: timeoutSeconds, environment: extra, directory: directory)
        }
        return try program(executable, arguments, timeoutSeconds: timeoutSeconds, environment: extra, directory: directory)
    }

    /// Runs any program (a script that itself calls mpirun, say) the same safe way: scrubbed
    /// MPI environment, its own Open MPI session directory, output to files, killed after
    /// `timeoutSeconds` (plus a grace period for mpirun's own timeout to act first); in
    /// `directory` when given.
    static func program(_ path: String, _ arguments: [String], timeoutSeconds: Int,
                        environment extra: [String: String] = [:], directory: String? = nil) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var env = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") && !$0.key.hasPrefix("PMI_")
        }
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
        env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
        env["OPENBLAS_NUM_THREADS"] = "1"
        env["SWIFT_BACKTRACE"] = "enable=no"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spsim-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // A session directory of its own: concurrent mpiruns sharing /tmp/ompi.* race on its cleanup.
        env["OMPI_MCA_orte_tmpdir_base"] = dir.path
        for (k, v) in extra { env[k] = v }
        process.environment = env
        let out = dir.appendingPathComponent("stdout"), err = dir.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: err)
        process.standardOutput = outHandle
        process.standardError = errHandle
        process.standardInput = FileHandle.nullDevice

        let start = Date()
        try process.run()
        let deadline = start.addingTimeInterval(Double(timeoutSeconds + 15))
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                Thread.sleep(forTimeInterval: 1)
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        process.waitUntilExit()
        try outHandle.close()
        try errHandle.close()
        return Outcome(status: process.terminationStatus,
                       stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
                       stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self),
                       seconds: Date().timeIntervalSince(start))
    }
}

/// The rank counts every MPI test covers.
let rankCounts = [1, 2, 3, 4, 5, 8]
