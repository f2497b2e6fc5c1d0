import Kernels
import MPI
import SequenceParallel

/// Runs the linear `strategy` on this rank's `inputs`, forward and optionally backward,
/// `repeats` times each (the same phases, ledger and gathering as softmax runs).
func runLinearAttention(_ strategy: any LinearAttentionStrategy.Type, problem: LinearAttentionProblem,
                        layout: SequenceLayout, inputs: GLAInputs, backward: Bool, repeats: Int,
                        world: Communicator) throws -> RunResult {
    try runLinear(strategy, problem: problem, layout: layout, inputs: inputs, backward: backward, repeats: repeats,
                  world: world)
}

private func runLinear<S: LinearAttentionStrategy>(_ strategy: S.Type, problem: LinearAttentionProblem,
                                                   layout: SequenceLayout, inputs: GLAInputs, backward: Bool,
                                                   repeats: Int, world: Communicator) throws -> RunResult {
    let (context, ledger, timeline) = try strategyContext(world: world, layout: layout)
    let instance = try S(problem: problem, context: context)
    let (out, forward) = try measurePhase(repeats: repeats, world: world, ledger: ledger, timeline: timeline) {
        try instance.forward(q: inputs.q, k: inputs.k, v: inputs.v, g: inputs.g)
    }
    var locals = ["o": out.o]
    var backwardMeasurement: PhaseMeasurement?
    if backward {
        let (grads, measured) = try measurePhase(repeats: repeats, world: world, ledger: ledger, timeline: timeline) {
            try instance.backward(q: inputs.q, k: inputs.k, v: inputs.v, g: inputs.g, saved: out.saved, dO: inputs.dO)
        }
        backwardMeasurement = measured
        locals["dq"] = grads.dq
        locals["dk"] = grads.dk
        locals["dv"] = grads.dv
        locals["dg"] = grads.dg
    }
    return RunResult(forward: forward, backward: backwardMeasurement,
                                    outputs: try gatherOutputs(locals, layout: layout, world: world))
}

/// The float64 recurrent reference for the whole GLA problem, by output name.
func glaReferenceOutputs(_ inputs: GLAInputs, backward: Bool) -> [String: Tensor64] {
    let q = inputs.q.converted(to: Double.self), k = inputs.k.converted(to: Double.self)
    let v = inputs.v.converted(to: Double.self), g = inputs.g.converted(to: Double.self)
    var out = ["o": glaReference(q: q, k: k, v: v, g: g).o]
    if backward {
        let grads = glaReferenceBackward(q: q, k: k, v: v, g: g, dO: inputs.dO.converted(to: Double.self))
        out["dq"] = grads.dq
        out["dk"] = grads.dk
        out["dv"] = grads.dv
        out["dg"] = grads.dg
    }
    return out
}
