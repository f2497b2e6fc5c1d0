import ArgumentParser
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
        message = error.message
    } catch let error as CustomStringConvertible where !(error is MPIError) {
        prepared = nil
        message = error.description
    }
    // Lowest failing rank speaks; everyone learns whether anyone failed.
    let failedRank = try world.allreduce([Int32(message == nil ? Int32.max : Int32(world.rank))], .min)[0]
    if failedRank != Int32.max {
        if let message, failedRank == world.rank { printError(message) }
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
