import ArgumentParser
import CostModel
import Foundation
import Kernels
import MPI
import Reports
import SequenceParallel

/// `spsim run --attention gla`: one linear attention strategy on one GLA problem.
extension RunCommand {
    /// Everything checked before the first message.
    struct LinearPrepared {
        var problem: LinearAttentionProblem
        var layout: SequenceLayout
        var strategy: any LinearAttentionStrategy.Type
        var local: GLAInputs
        var global: GLAInputs?
        var model: Prediction?
        /// This rank's memory estimate (checked against the host before any allocation).
        var memory: MemoryEstimate
    }

    func runLinear() throws {
        try withMPI(validate: prepareLinear) { world, prepared in
            let result = try runLinearAttention(prepared.strategy, problem: prepared.problem, layout: prepared.layout,
                                                inputs: prepared.local, backward: backward, repeats: repeats, world: world)
            try writeTrace(forward: result.forward, backward: result.backward, world: world)
            try reportMemoryUse(prepared.memory, world: world)
            var status: Int32 = 0
            if world.rank == 0 {
                let p = prepared.problem
                let blocks = prepared.strategy == ZeCOAttention.self ? p.resolvedScanBlocks(ranks: world.size) : nil
                status = try report(result, strategy: prepared.strategy.name, shape: GLAShape(p, scanBlocks: blocks),
                                    layout: prepared.layout, model: prepared.model) {
                    let whole = prepared.global
                        ?? GLAInputs.generated(p, seed: problemOptions.seed, positions: Array(0..<p.seqLen))
                    return glaReferenceOutputs(whole, backward: backward)
                }
            }
            return try world.bcast([status], count: 1, root: 0)[0]
        }
    }

    func prepareLinear(_ world: Communicator) throws -> LinearPrepared {
        guard repeats >= 1 else { throw InputError("--repeat must be at least 1 (got \(repeats))") }
        let name = strategy ?? ZeCOAttention.name
        guard let type = LinearAttentionStrategies.named(name) else {
            throw InputError("unknown GLA --strategy \(name); known with --attention gla: \(LinearAttentionStrategies.names)")
        }
        if linearOptions.scanBlocks != nil && type != ZeCOAttention.self {
            throw InputError("--scan-blocks sets ZeCO's All-Scan blocks; --strategy \(name) has none")
        }
        let files = try inputs.map(GLAInputFiles.read)
        let problem = try problemOptions.linearProblem(linearOptions, inputShapes: files.map { ($0.q.shape, $0.v.shape) })
        let layout = try SequenceLayout.make(problemOptions.layout, tokens: problem.seqLen, ranks: world.size).get()
        if let reason = type.unsupportedReason(problem, layout: layout.kind, ranks: world.size) {
            throw InputError(reason)
        }
        let workload = Workload(
            attention: .gla, seqLen: problem.seqLen, heads: problem.heads, headDim: problem.keyDim,
            valueDim: problem.valueDim, isCausal: true, layout: layout.kind,
            scanBlocks: type == ZeCOAttention.self ? problem.resolvedScanBlocks(ranks: world.size) : nil)
        let model = try predictRun(strategy: name, workload: workload, ranks: world.size, topology: topology)
        let memory = try requireRoom(outputs: outputElements(problem, backward: backward), strategy: name,
                                     workload: workload, world: world) {
            MemoryEstimate.linearRun(problem, localTokens: layout.count(rank: world.rank), rank: world.rank, modelBytes: $0,
                                      backward: backward, verify: verify, inputFiles: files != nil)
        }
        let positions = layout.positions(rank: world.rank)
        let global = try files?.tensors(for: problem, seed: problemOptions.seed)
        let local = global?.slice(positions)
            ?? GLAInputs.generated(problem, seed: problemOptions.seed, positions: positions)
        return LinearPrepared(problem: problem, layout: layout, strategy: type, local: local, global: global, model: model,
                        memory: memory)
    }
}
