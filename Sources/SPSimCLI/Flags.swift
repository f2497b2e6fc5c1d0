import CostModel
import SequenceParallel

extension Quantity {
    /// The command-line flag that sets it: how the command line words SPCore's errors.
    var flag: String {
        switch self {
        case .seqLen: "--seq-len"
        case .heads: "--heads"
        case .kvHeads: "--kv-heads"
        case .headDim: "--head-dim"
        case .valueDim: "--value-dim"
        case .scanBlocks: "--scan-blocks"
        }
    }
}

extension InputError.Message {
    /// The sentence for the command line: each quantity named by its flag.
    var commandLine: String { text(naming: \.flag) }
}

extension InputError {
    /// The sentence for the command line: each quantity named by its flag.
    var commandLineMessage: String { words.commandLine }
}

extension CostModelError {
    /// The sentence for the command line: each quantity named by its flag.
    var commandLineMessage: String { words.commandLine }
}
