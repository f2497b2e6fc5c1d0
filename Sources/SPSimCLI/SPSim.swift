import ArgumentParser
import CostModel
import Foundation
import Kernels
import MPI
import SequenceParallel

/// The `spsim` root command.
public struct SPSim: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "spsim",
        abstract: "A distributed sequence-parallel training simulator on MPI.",
        discussion: """
            Run under `mpirun -np P spsim …` to use P ranks; without mpirun it is one rank.

            Exit status: 0 success, 1 a check failed, 2 bad input (on every rank, before any \
            message), 3 a failure during a run (every rank is ended through MPI_Abort); a rank \
            killed by a signal makes mpirun end the others and exit with 128 + the signal.

            Sizes (--seq-len, --max-bytes, …): \(SizeList.rule).

            Defaults differ by purpose: `run` and `verify` check real float32 data on small \
            problems (N 1024, H 8, G = H, D 64, 4 bytes per element); `model` predicts \
            training-sized layers (N 1M, H 32, G = H, D 128, bf16 = 2 bytes per element); `train` \
            and `plan` read a model file (`spsim models`). Each command's help states its own.
            """,
        version: SPSim.version,
        subcommands: [RunCommand.self, VerifyCommand.self, BenchCommand.self, StrategiesCommand.self, CollectivesCommand.self,
                      ModelCommand.self, TopologyCommand.self, CalibrateCommand.self, ReportCommand.self,
                      TrainCommand.self, PlanCommand.self, ModelsCommand.self])

    /// spsim's version, printed by `spsim --version`: the one place it is written.
    public static let version = "0.2.0"

    public init() {}
}

/// The entry point both executables share.
public enum SPSimMain {
    /// Parses `arguments` (without the program name), runs the command, and returns the exit status.
    public static func main(arguments: [String]) -> Int32 {
        BLASCore.usingOneThreadUnlessChosen()
        if let message = unknownSubcommandMessage(arguments, root: SPSim.self) ?? negativeValueMessage(arguments) {
            return reportInputErrorOnce(message)
        }
        do {
            var command = try SPSim.parseAsRoot(arguments)
            try command.run()
            return 0
        } catch let code as ExitCode {
            return code.rawValue
        } catch let error as InputError {
            return reportInputErrorOnce(error.commandLineMessage)
        } catch {
            if SPSim.exitCode(for: error) == .success {
                print(SPSim.fullMessage(for: error))
                return 0
            }
            return reportInputErrorOnce(lowercasingFirstWord(SPSim.message(for: error)))
        }
    }

    /// ArgumentParser's messages ("Unknown option …", "Missing expected argument …") in the
    /// lower case of spsim's own: the first letter lowered when the second is lower case (an
    /// acronym such as "MPI" stays).
    static func lowercasingFirstWord(_ message: String) -> String {
        guard let first = message.first, first.isUppercase,
              let second = message.dropFirst().first, second.isLowercase else { return message }
        return first.lowercased() + message.dropFirst()
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
