import CostModel
import Foundation
import Kernels
import MPI
import Reports
import SequenceParallel

/// Elements of each whole output of a softmax run: o `[N, H, D]`, lse `[N, H]`, and with
/// the backward dq `[N, H, D]`, dk and dv `[N, G, D]`.
func outputElements(_ p: AttentionProblem, backward: Bool) -> [Int] {
    let query = p.seqLen * p.heads * p.headDim, key = p.seqLen * p.kvHeads * p.headDim
    return [query, p.seqLen * p.heads] + (backward ? [query, key, key] : [])
}

/// Elements of each whole output of a GLA run: o `[N, H, Dv]`, and with the backward
/// dq, dk, dg `[N, H, Dk]` and dv `[N, H, Dv]`.
func outputElements(_ p: LinearAttentionProblem, backward: Bool) -> [Int] {
    let key = p.seqLen * p.heads * p.keyDim, value = p.seqLen * p.heads * p.valueDim
    return [value] + (backward ? [key, key, value, key] : [])
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
func saveOutputs(_ outputs: [String: Tensor32], to directory: String) throws {
    try AtomicOutputDirectory(directory, option: "--save").write { out in
        for (name, t) in outputs {
            let shape = name == "lse" ? [t.tokens, t.heads] : t.shape
            try NPY.write(t.storage, shape: shape, to: out.path("\(name).npy"))
        }
    }
}

extension RunCommand {
    /// The checks every run makes once its shape is known and before it allocates: `--save`
    /// and `--trace` on rank 0 (which writes them), then this rank's memory, `estimate` being
    /// given the cost model's bytes for `strategy` on `workload`. Returns the estimate.
    /// - Throws: `OutputPathError` or `InputError` (bad input: exit 2 on every rank).
    func requireRoom(outputs: [Int], strategy: String, workload: Workload, world: Communicator,
                     estimate: (_ modelBytes: Int?) -> MemoryEstimate) throws -> MemoryEstimate {
        if world.rank == 0 {
            try checkRunOutputs(save: save, trace: trace, outputs: outputs, ranks: world.size, backward: backward)
        }
        let memory = estimate(modelMemoryBytes(strategy: strategy, workload: workload, ranks: world.size, rank: world.rank))
        try requireMemory(memory, rank: world.rank, worldSize: world.size, force: force)
        return memory
    }
}
