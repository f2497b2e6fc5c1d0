import CMPI

/// Process-wide MPI start and end.
///
/// `MPI_Finalize` is collective: finalize explicitly on success; after a fatal error on
/// one rank call `abort` so every rank ends at once instead of hanging.
public enum MPIEnvironment {
    /// `MPI_Init_thread` with `MPI_THREAD_FUNNELED`; a no-op when already initialized.
    public static func initialize() throws {
        var flag: Int32 = 0
        try check(cmpi_initialized(&flag), "MPI_Initialized")
        if flag == 0 { try check(cmpi_init(), "MPI_Init_thread") }
    }

    /// Whether `MPI_Init` has been called in this process (true also after `MPI_Finalize`).
    public static var isInitialized: Bool {
        var flag: Int32 = 0
        return cmpi_initialized(&flag) == 0 && flag != 0
    }

    /// `MPI_Finalize`.
    public static func finalize() throws {
        try check(cmpi_finalize(), "MPI_Finalize")
    }

    /// `MPI_Abort` on the world: ends every rank with `code`. Does not return.
    public static func abort(code: Int32) -> Never {
        _ = cmpi_abort(nil, code)
        fatalError("MPI_Abort returned")
    }

    /// Seconds on MPI's clock (`MPI_Wtime`); the simulated clock under SMPI.
    public static func wallTime() -> Double { cmpi_wtime() }

    /// Whether this build runs under SimGrid SMPI: simulated ranks on a simulated platform,
    /// `wallTime` the simulated clock.
    public static var isSimulated: Bool { cmpi_is_simulated() != 0 }

    /// A property of the simulated platform (its root zone), or nil: not simulated, or no
    /// such property. `spsim topology export` stores the topology there.
    public static func simulatedPlatformProperty(_ name: String) -> String? {
        cmpi_simulated_property(name).map { String(cString: $0) }
    }

    /// Under SMPI, advances this rank's simulated clock by the time `flops` floating-point
    /// operations take on its host (the topology's device: peak × attention efficiency);
    /// nothing on a real MPI. Kernels charge their FLOPs here, since SMPI does not count the
    /// host CPU's own time (`smpi/simulate-computation: no`).
    public static func executeFLOPs(_ flops: Double) {
        if flops > 0 { cmpi_execute_flops(flops) }
    }
}
