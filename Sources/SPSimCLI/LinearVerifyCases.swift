import MPI
import SequenceParallel

/// The gated linear attention rows of `spsim verify`.
extension VerifyCommand {
    /// The built-in GLA shapes for `ranks` ranks, with the factor applied to the generated
    /// log-gates (100: gates down to −50, whose products underflow to 0 in float32).
    static func linearShapes(ranks p: Int) -> [(String, LinearAttentionProblem, gateScale: Float)] {
        [("gla N=\(16 * p) H=2 Dk=8 Dv=6", LinearAttentionProblem(seqLen: 16 * p, heads: 2, keyDim: 8, valueDim: 6), 1),
         ("gla uneven N=\(16 * p + 3) H=3 Dk=4 Dv=8 (zeco K=3)",
          LinearAttentionProblem(seqLen: 16 * p + 3, heads: 3, keyDim: 4, valueDim: 8, scanBlocks: 3), 1),
         ("gla fast-decay N=\(16 * p) H=2 Dk=8 Dv=6 g×100",
          LinearAttentionProblem(seqLen: 16 * p, heads: 2, keyDim: 8, valueDim: 6), 100)]
    }

    /// One GLA row: the strategy forward and backward against the float64 recurrence.
    func checkLinear(_ type: any LinearAttentionStrategy.Type, _ shape: String, _ problem: LinearAttentionProblem,
                     gateScale: Float, world: Communicator) throws -> Case {
        var row = Case(strategy: type.name, shape: shape, layout: LayoutKind.contiguous.rawValue, causal: true,
                       errors: nil, skipped: nil, passed: true)
        let layout: SequenceLayout
        switch SequenceLayout.make(.contiguous, tokens: problem.seqLen, ranks: world.size) {
        case .failure(let error): row.skipped = error.message; return row
        case .success(let l): layout = l
        }
        if let reason = type.unsupportedReason(problem, layout: .contiguous, ranks: world.size) {
            row.skipped = reason
            return row
        }
        let seed: UInt64 = 7
        let local = GLAInputs.generated(problem, seed: seed, positions: layout.positions(rank: world.rank), gateScale: gateScale)
        let result = try runLinearAttention(type, problem: problem, layout: layout, inputs: local, backward: true,
                                            repeats: 1, world: world)
        if world.rank == 0 {
            let whole = GLAInputs.generated(problem, seed: seed, positions: Array(0..<problem.seqLen), gateScale: gateScale)
            let errors = relativeErrors(result.outputs, against: glaReferenceOutputs(whole, backward: true))
            row.errors = errors
            row.passed = errors.count == 5 && errors.allSatisfy { $0.value <= Tolerance.limit(for: $0.key) }
        }
        return row
    }
}
