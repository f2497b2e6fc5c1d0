import ArgumentParser
import Foundation
import MPI
import SequenceParallel

/// The `spsim` root command.
public struct SPSim: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "spsim",
        abstract: "A distributed sequence-parallel attention simulator on MPI.",
        discussion: """
            Run under `mpirun -np P spsim …` to use P ranks; without mpirun it is one rank.
            Exit status: 0 success, 1 a check failed, 2 bad input (on every rank, before any message),
            3 an MPI failure during a run (every rank is ended through MPI_Abort).
            """,
        subcommands: [RunCommand.self, VerifyCommand.self, BenchCommand.self, StrategiesCommand.self, CollectivesCommand.self,
                      ModelCommand.self, TopologyCommand.self, CalibrateCommand.self,
                      PlanCommand.self, ModelsCommand.self])

    public init() {}
}

/// The entry point both executables share.
public enum SPSimMain {
    /// Parses `arguments` (without the program name), runs the command, and returns the exit status.
    public static func main(arguments: [String]) -> Int32 {
        do {
            var command = try SPSim.parseAsRoot(arguments)
            try command.run()
            return 0
        } catch let code as ExitCode {
            return code.rawValue
        } catch let error as InputError {
            printErrorOnce(error.message)
            return 2
        } catch {
            if SPSim.exitCode(for: error) == .success {
                print(SPSim.fullMessage(for: error))
                return 0
            }
            printErrorOnce(SPSim.message(for: error))
            return 2
        }
    }

    /// Prints `message` on standard error once per job: before MPI starts, every rank
    /// parses the same arguments, so only the launcher's rank 0 (or a lone process) speaks.
    static func printErrorOnce(_ message: String) {
        let environment = ProcessInfo.processInfo.environment
        let rank = environment["OMPI_COMM_WORLD_RANK"] ?? environment["PMI_RANK"] ?? environment["PMIX_RANK"] ?? "0"
        if rank == "0" { printError(message) }
    }
}

/// Writes `error: message` to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
}

/// Writes a line to standard error (for people, beside machine-readable stdout).
func printNote(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
