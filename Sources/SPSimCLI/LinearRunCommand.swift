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
    }

    func runLinear() throws {
        try withMPI(validate: prepareLinear) { world, prepared in
            let result = try runLinearAttention(prepared.strategy, problem: prepared.problem, layout: prepared.layout,
                                                inputs: prepared.local, backward: backward, repeats: repeats, world: world)
            try writeTrace(forward: result.forward, backward: result.backward, world: world)
            var status: Int32 = 0
            if world.rank == 0 { status = try reportLinear(result, prepared) }
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
        try validateSaveDirectory(save)
        try validateTracePath(trace)
        let positions = layout.positions(rank: world.rank)
        let global = try files?.tensors(for: problem, seed: problemOptions.seed)
        let local = global?.slice(positions)
            ?? GLAInputs.generated(problem, seed: problemOptions.seed, positions: positions)
        let workload = Workload(
            attention: .gla, seqLen: problem.seqLen, heads: problem.heads, headDim: problem.keyDim,
            valueDim: problem.valueDim, isCausal: true, layout: layout.kind,
            scanBlocks: type == ZeCOAttention.self ? problem.resolvedScanBlocks(ranks: world.size) : nil)
        let model = try predictRun(strategy: name, workload: workload, ranks: world.size, topology: topology)
        return LinearPrepared(problem: problem, layout: layout, strategy: type, local: local, global: global, model: model)
    }

    /// Verifies, saves and prints on rank 0; returns the exit status.
    func reportLinear(_ result: LinearAttentionRunResult, _ prepared: LinearPrepared) throws -> Int32 {
        let problem = prepared.problem
        var errors: [String: Double]?
        if verify {
            let whole = prepared.global
                ?? GLAInputs.generated(problem, seed: problemOptions.seed, positions: Array(0..<problem.seqLen))
            errors = relativeErrors(result.outputs, against: glaReferenceOutputs(whole, backward: backward))
        }
        let passed = errors.map { $0.allSatisfy { $0.value <= Tolerance.limit(for: $0.key) } }
        if let save { try saveOutputs(result.outputs, to: save) }

        let ranks = prepared.layout.ranks
        let summary = LinearRunReport(
            strategy: prepared.strategy.name, attention: AttentionKind.gla.rawValue, ranks: ranks,
            seqLen: problem.seqLen, heads: problem.heads, headDim: problem.keyDim, valueDim: problem.valueDim,
            scanBlocks: prepared.strategy == ZeCOAttention.self ? problem.resolvedScanBlocks(ranks: ranks) : nil,
            stateBytes: problem.stateBytes, layout: prepared.layout.kind.rawValue, seed: problemOptions.seed,
            repeat: repeats, forwardSeconds: result.forward.seconds, backwardSeconds: result.backward?.seconds,
            computeSeconds: result.forward.computeSeconds, backwardComputeSeconds: result.backward?.computeSeconds,
            errors: errors, tolerance: verify ? ["output": Tolerance.output, "gradient": Tolerance.gradient] : nil,
            passed: passed,
            traffic: TrafficReport(forward: result.forward.traffic, backward: result.backward?.traffic),
            model: prepared.model)
        if json { print(try jsonLine(summary)) } else { print(summary.text, terminator: "") }
        return passed == false ? 1 : 0
    }
}

/// The `--json` object of `spsim run --attention gla` (field names carry units).
struct LinearRunReport: Encodable {
    var strategy: String
    var attention: String
    var ranks: Int
    var seqLen: Int
    var heads: Int
    /// Dk.
    var headDim: Int
    /// Dv.
    var valueDim: Int
    /// ZeCO's All-Scan blocks K (nil for the other strategies).
    var scanBlocks: Int?
    /// One state, H·Dk·Dv·4 bytes.
    var stateBytes: Int
    var layout: String
    var seed: UInt64
    var `repeat`: Int
    var forwardSeconds: Double
    var backwardSeconds: Double?
    var computeSeconds: [Double]
    var backwardComputeSeconds: [Double]?
    var errors: [String: Double]?
    var tolerance: [String: Double]?
    var passed: Bool?
    var traffic: TrafficReport
    /// The cost model's prediction for the same configuration (float32, as the run moves).
    var model: Prediction?

    /// The same facts for people.
    var text: String {
        runSummaryText(
            title: "\(strategy) on \(ranks) rank\(ranks == 1 ? "" : "s"): GLA N=\(seqLen) H=\(heads) Dk=\(headDim) Dv=\(valueDim)"
                + (scanBlocks.map { " K=\($0)" } ?? "") + " \(layout)",
            computeSeconds: computeSeconds, backwardComputeSeconds: backwardComputeSeconds, forwardSeconds: forwardSeconds,
            backwardSeconds: backwardSeconds, repeats: `repeat`, traffic: traffic, errors: errors, passed: passed)
            + (model.map { modelComparison($0, measuredForward: forwardSeconds, measuredBackward: backwardSeconds) } ?? "")
    }
}
