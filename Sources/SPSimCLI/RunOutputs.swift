import CostModel
import Foundation
import Kernels
import MPI
import Reports
import SequenceParallel

extension RunProblem {
    /// Elements of each whole output: softmax o `[N, H, D]`, lse `[N, H]`, and with the
    /// backward dq `[N, H, D]`, dk and dv `[N, G, D]`; GLA o `[N, H, Dv]`, and with the
    /// backward dq, dk, dg `[N, H, Dk]` and dv `[N, H, Dv]`.
    func outputElements(backward: Bool) -> [Int] {
        switch self {
        case .softmax(let p):
            let query = p.seqLen * p.heads * p.headDim, key = p.seqLen * p.kvHeads * p.headDim
            return [query, p.seqLen * p.heads] + (backward ? [query, key, key] : [])
        case .gla(let p):
            let key = p.seqLen * p.heads * p.keyDim, value = p.seqLen * p.heads * p.valueDim
            return [value] + (backward ? [key, key, value, key] : [])
        }
    }

    /// What rank `rank` holds during the run (`MemoryEstimate.softmaxRun`, `.linearRun`).
    func memoryEstimate(localTokens n: Int, rank: Int, modelBytes: Int?, backward: Bool, verify: Bool,
                        inputFiles: Bool) -> MemoryEstimate {
        switch self {
        case .softmax(let p):
            .softmaxRun(p, localTokens: n, rank: rank, modelBytes: modelBytes, backward: backward, verify: verify,
                        inputFiles: inputFiles)
        case .gla(let p):
            .linearRun(p, localTokens: n, rank: rank, modelBytes: modelBytes, backward: backward, verify: verify,
                       inputFiles: inputFiles)
        }
    }
}

/// Checks `--save DIR` and `--trace FILE` before any compute (on the rank that writes
/// them): writable places with room for the `.npy` files of `outputs` (element counts,
/// float32, 128-byte headers) and for a trace of `ranks` ranks.
/// - Throws: `OutputPathError` naming the option and what is wrong.
func checkRunOutputs(save: String?, trace: String?, outputs: [Int], ranks: Int, backward: Bool) throws(OutputPathError) {
    if let save {
        try AtomicOutput.checkDirectory(save, option: "--save", expectedBytes: outputs.reduce(0) { $0 + 128 + 4 * $1 })
    }
    if let trace {
        try AtomicOutput.checkFile(trace, option: "--trace", expectedBytes: traceBytesEstimate(ranks: ranks, phases: backward ? 2 : 1))
    }
}

/// A rough size of a trace: about 256 bytes per event, 4P + 8 events per rank and phase
/// (a compute and a communication span per step of the longest schedules, and markers).
func traceBytesEstimate(ranks: Int, phases: Int) -> Int { 256 * ranks * (4 * ranks + 8) * phases }

/// Writes each output as `<name>.npy` (global order) into `directory` all-or-nothing:
/// a fresh directory beside it, renamed into place, replacing an earlier run's outputs.
/// - Throws: `OutputPathError` when writing or renaming fails (nothing is left behind).
func saveOutputs(_ outputs: NamedTensors, to directory: String) throws {
    try AtomicOutputDirectory(directory, option: "--save").write { out in
        for (name, t) in outputs {
            let shape = name == "lse" ? [t.tokens, t.heads] : t.shape
            try NPY.write(t.storage, shape: shape, to: out.path("\(name).npy"))
        }
    }
}
