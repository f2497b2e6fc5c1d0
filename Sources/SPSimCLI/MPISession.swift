import ArgumentParser
import Foundation
import MPI
import SequenceParallel

/// Runs `body` between `MPI_Init` and `MPI_Finalize` with a world communicator that
/// records nothing (the harness's own traffic is not the algorithm's).
///
/// Bad input found on any rank before the algorithm starts (`validate`) is agreed on by
/// one allreduce, so every rank exits with status 2 together and one rank prints the
/// reason: never a hang in a collective that some ranks skipped. Any later failure ends
/// every rank at once through `MPI_Abort`.
func withMPI<Prepared>(validate: (Communicator) throws -> Prepared,
                       body: (Communicator, Prepared) throws -> Int32) throws {
    try MPIEnvironment.initialize()
    let world = try Communicator.world()
    let prepared: Prepared?
    var message: String?
    do {
        prepared = try validate(world)
    } catch let error as InputError {
        prepared = nil
        message = error.commandLineMessage
    } catch let error as CustomStringConvertible where !(error is MPIError) {
        prepared = nil
        message = error.description
    }
    if try agreeOnInputError(message, world: world) {
        try MPIEnvironment.finalize()
        throw ExitCode(2)
    }
    let status: Int32
    do {
        status = try body(world, prepared!)
    } catch {
        printError("rank \(world.rank): \(error)")
        MPIEnvironment.abort(code: 3)
    }
    try world.barrier()
    try MPIEnvironment.finalize()
    if status != 0 { throw ExitCode(status) }
}

/// The one collective step in which every rank learns whether any rank found bad input:
/// an allreduce of the lowest failing rank; that rank prints its `message` (one `error:`
/// line per job) and a barrier holds every rank until it has, so no rank can exit — and
/// have mpirun kill the others — before the line is out. Returns whether any rank failed.
///
/// `withMPI` calls it after `validate`; `reportInputErrorOnce` calls it for errors found
/// before MPI starts, so a rank that failed early and a rank that reached `validate`
/// still meet in the same collectives.
func agreeOnInputError(_ message: String?, world: Communicator) throws -> Bool {
    let failedRank = try world.allreduce([message == nil ? Int32.max : Int32(world.rank)], .min)[0]
    guard failedRank != Int32.max else { return false }
    if let message, failedRank == world.rank { printError(message) }
    try world.barrier()
    return true
}

/// Reports bad input found before MPI started (argument parsing, a command without MPI)
/// and returns exit status 2. Under a launcher (mpirun, srun, smpirun) every rank parses the
/// same arguments and fails the same way; rather than have rank 0 print alone while its
/// peers exit (mpirun then kills rank 0, maybe before it has printed), every rank starts
/// MPI and agrees through `agreeOnInputError`, so rank 0 prints once and all exit together.
/// Alone, or when MPI was already started, the process prints directly (rank 0 only).
func reportInputErrorOnce(_ message: String) -> Int32 {
    let environment = ProcessInfo.processInfo.environment
    let launched = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SMPI_GLOBAL_SIZE"].contains { environment[$0] != nil }
    if launched && !MPIEnvironment.isInitialized {
        do {
            try MPIEnvironment.initialize()
            let world = try Communicator.world()
            _ = try agreeOnInputError(message, world: world)
            try MPIEnvironment.finalize()
            return 2
        } catch {
            // MPI itself failed: fall back to printing on the launcher's rank 0.
        }
    }
    let rank = environment["OMPI_COMM_WORLD_RANK"] ?? environment["PMI_RANK"] ?? environment["PMIX_RANK"] ?? "0"
    if rank == "0" { printError(message) }
    return 2
}
