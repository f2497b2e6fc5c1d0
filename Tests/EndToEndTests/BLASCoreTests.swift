import XCTest

/// The OpenBLAS kernel core spsim runs on, as its reports give it (`blas` in the JSON).
final class BLASCoreTests: XCTestCase {
    /// Without `OPENBLAS_CORETYPE` in the environment, alone and under mpirun, spsim loads
    /// OpenBLAS on a core the CPU runs: never the generic fallback when the CPU supports a
    /// faster core (it re-executes itself with the variable set), the library's own choice
    /// otherwise; and `bench --kernels` and `run --json` say which. Without a thread count in
    /// the environment every rank's OpenBLAS runs one thread; with one, the user's count.
    func testSpsimChoosesTheCoreWithoutTheVariable() throws {
        let unset = ["-u", "OPENBLAS_CORETYPE", "-u", "OPENBLAS_NUM_THREADS", "-u", "OMP_NUM_THREADS"]
        let kernelBench = [SPSimProcess.executable, "bench", "--kernels", "--json", "--tokens", "64", "--heads", "1",
                           "--repeat", "1"]
        let kernels = try SPSimProcess.program("/usr/bin/env", unset + kernelBench, timeoutSeconds: 120)
        XCTAssertEqual(kernels.status, 0, kernels.stderr)
        let twoThreads = try SPSimProcess.program("/usr/bin/env", ["OPENBLAS_NUM_THREADS=2"] + kernelBench,
                                                  timeoutSeconds: 120)
        XCTAssertEqual(twoThreads.status, 0, twoThreads.stderr)
        if twoThreads.status == 0 {
            let blas = try XCTUnwrap(try twoThreads.json()["blas"] as? [String: Any], twoThreads.stdout)
            XCTAssertEqual(blas["threads"] as? Int, 2, "the user's thread count stands: \(blas)")
        }
        let distributed = try SPSimProcess.program(
            "/usr/bin/env", unset + ["mpirun", "--timeout", "120", "-np", "2", SPSimProcess.executable,
                             "run", "--strategy", "allgather", "--seq-len", "32", "--heads", "2", "--head-dim", "8", "--json"],
            timeoutSeconds: 120)
        XCTAssertEqual(distributed.status, 0, distributed.stderr)
        for outcome in [kernels, distributed] where outcome.status == 0 {
            let blas = try XCTUnwrap(try outcome.json()["blas"] as? [String: Any], outcome.stdout)
            let core = try XCTUnwrap(blas["core"] as? String)
            XCTAssertTrue((blas["config"] as? String ?? "").contains("OpenBLAS"), "\(blas)")
            XCTAssertEqual(blas["threads"] as? Int, 1, "one OpenBLAS thread per rank: \(blas)")
            if let best = blas["cpu_core"] as? String {
                XCTAssertNotEqual(core, "Prescott", "generic fallback on a CPU that runs \(best)")
                // Only the fallback is overridden: a core spsim chose is the CPU's best one.
                if let chosen = blas["core_type"] as? String { XCTAssertEqual(chosen, best) }
            } else {
                XCTAssertNil(blas["core_type"], "no override without a faster core: \(blas)")
            }
        }
    }
}
