// Which OpenBLAS kernel core runs spsim's matrix products, and the right one for this CPU.
//
// OpenBLAS built with DYNAMIC_ARCH (as Debian ships it) picks a kernel core from CPUID when
// the library loads. A release that does not know the CPU model falls back to its generic
// `Prescott` (SSE3) core, ~4× slower than the AVX-512 one on a current Xeon: Debian
// bookworm's OpenBLAS 0.3.21 does so on Sapphire/Emerald Rapids (family 6, model 143/207).
// The core can only be chosen before the library initialises, through `OPENBLAS_CORETYPE`.
// So: the Open MPI executable re-executes itself once with `OPENBLAS_CORETYPE` set, before
// MPI_Init (`reexecutingOnBetterCoreIfNeeded`); hosts that load the library into a shared
// process (smpirun's ranks, the test runner) get the variable from `Scripts/env.sh`.
// Only a generic fallback is ever overridden, and only with a core whose instructions the
// CPU and OS support: a CPU the library recognises keeps the library's choice.
//
// Threads: an MPI job runs one rank per core, so OpenBLAS's default of one thread per core
// in every rank would oversubscribe the machine (2 ranks × 2 threads on 2 cores). Every
// spsim entry point sets one thread per rank unless the user chose a count
// (`OPENBLAS_NUM_THREADS` or `OMP_NUM_THREADS`): `usingOneThreadUnlessChosen`.
import COpenBLAS
import Foundation

/// The BLAS spsim runs on: the library's build configuration, the kernel core it chose, and
/// whether that core is a generic fallback on a CPU that supports a faster one.
public struct BLASCore: Sendable, Encodable, Equatable {
    /// `openblas_get_config()`, e.g. `OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64`.
    public var config: String
    /// `openblas_get_corename()`, the kernel core in use, e.g. `SkylakeX`, `Haswell`, `Prescott`.
    public var core: String
    /// The fastest OpenBLAS core this CPU and OS can run (`SkylakeX` for AVX-512, `Haswell` for
    /// AVX2 + FMA), nil when neither.
    public var cpuCore: String?
    /// `OPENBLAS_CORETYPE` from the environment, if set.
    public var coreType: String?
    /// `openblas_get_num_threads()`: the threads each of this process's products may use.
    public var threads: Int

    /// The generic core OpenBLAS's DYNAMIC_ARCH falls back to on an x86-64 CPU it does not know.
    public static let genericFallback = "Prescott"

    /// The library loaded in this process and this CPU.
    public static var current: BLASCore {
        let level = spsim_cpu_vector_level()
        return BLASCore(config: openblas_get_config().map { String(cString: $0) }?.trimmed ?? "unknown",
                        core: openblas_get_corename().map { String(cString: $0) }?.trimmed ?? "unknown",
                        cpuCore: level >= 2 ? "SkylakeX" : level == 1 ? "Haswell" : nil,
                        coreType: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"],
                        threads: Int(openblas_get_num_threads()))
    }

    /// Whether the library runs its generic fallback although the CPU supports a faster core.
    public var isSlowFallback: Bool {
        core.caseInsensitiveCompare(Self.genericFallback) == .orderedSame && cpuCore != nil
    }

    /// The `OPENBLAS_CORETYPE` to load the library with: `cpuCore` when the library fell back
    /// to its generic core and nobody chose a core, else nil (the library's choice stands).
    public var recommendedCoreType: String? {
        isSlowFallback && coreType == nil ? cpuCore : nil
    }

    /// One line for reports: `OpenBLAS 0.3.21 … core SkylakeX (OPENBLAS_CORETYPE=SkylakeX), 1 thread`,
    /// with a warning when a slow fallback is in use.
    public var summary: String {
        "\(config); core \(core)" + (coreType.map { " (OPENBLAS_CORETYPE=\($0))" } ?? "")
            + ", \(threads) thread\(threads == 1 ? "" : "s")"
            + (isSlowFallback ? "; WARNING: generic fallback on a CPU that runs \(cpuCore!): set OPENBLAS_CORETYPE=\(cpuCore!)" : "")
    }

    /// When the library fell back to its generic core on a CPU that supports better and
    /// `OPENBLAS_CORETYPE` is unset, replaces this process by itself (`execv` of
    /// `/proc/self/exe`, same arguments and pid) with `OPENBLAS_CORETYPE` set, so the library
    /// loads on the right core; otherwise returns. Call first thing in `main`, before MPI_Init,
    /// and only from a process that is the program alone — never under smpirun, whose
    /// ranks share one process. The variable set stops a second re-execution; if `execv`
    /// fails the process simply continues on the fallback core.
    public static func reexecutingOnBetterCoreIfNeeded() {
        guard let core = current.recommendedCoreType else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }

    /// Sets OpenBLAS to one thread per process unless `OPENBLAS_NUM_THREADS` or
    /// `OMP_NUM_THREADS` chose a count: each MPI rank is meant to run on one core (and the
    /// kernel benchmarks' "single-thread" yardsticks must be single-threaded). Idempotent, so
    /// every simulated rank of an SMPI process may call it.
    public static func usingOneThreadUnlessChosen() {
        let environment = ProcessInfo.processInfo.environment
        if environment["OPENBLAS_NUM_THREADS"] == nil && environment["OMP_NUM_THREADS"] == nil {
            openblas_set_num_threads(1)
        }
    }
}

private extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
