// LASP-2 — "LASP-2: Rethinking Sequence Parallelism for Linear Attention and Its Hybrid"
// (Sun et al., arXiv 2502.07563), §3.1–3.2: one all-gather of every rank's memory state
// instead of a chain, the prefix combined locally.
//
// forward on rank p (a_p = exp(Σ_t g_t) per state row):
//   o, B_p ← GLA(q, k, v, g) from a zero state         the local work
//   {(a_j, B_j)} ← all-gather((a_p, B_p))               one collective, packed rows [a, B]
//   S_in ← state of (a_0, B_0) ⊕ … ⊕ (a_{p−1}, B_{p−1}) local prefix combine (0 on rank 0)
//   o += (q ⊙ exp(G)) S_in
//
// backward on rank p:
//   dq, dk, dv, dG, dB_p ← GLA backward from S_in with no later gradient
//   {(a_j, dB_j)} ← all-gather((a_p, dB_p))
//   dS_out ← state of (a_{P−1}, dB_{P−1}) ⊕ … ⊕ (a_{p+1}, dB_{p+1})   local suffix combine
//   dk, dv, dG += dS_out's share
//   dg ← Σ_{t' ≥ t} dG_t' + c,   c = rowDot(dS_out, S_out),  S_out = Diag(a_p) S_in + B_p
//
// The gate-gradient carry c (the sum of dG over every later token) needs no message: it
// equals rowDot(dS_out, S_out), the derivative of the loss with respect to a shift of every
// later log-gate, which is the final-state term a rank's own autograd adds to its dg (the
// kernels' tests check this identity). The forward keeps S_in and B_p. No overlap: the
// all-gather is blocking.
//
// Traffic (b = 4 bytes; logical all-gather schedule, the packed element to every other rank):
//   forward:  every rank sends (P−1)·H·Dk·(Dv+1)·b bytes in P−1 messages.
//   backward: the same.
import Kernels
import MPI

/// LASP-2: all-gather of every rank's (decay, state), local prefix combine; backward
/// all-gathers state gradients and combines the suffix.
public final class LASP2Attention: StrategyInstance<LinearAttentionProblem>, LinearAttentionStrategy {
    public typealias Saved = GLABoundaryStates
    public static let descriptor = StrategyDescriptor(
        name: "lasp2", attention: .gla, layouts: [.contiguous], colour: "#882255", marker: .diamond,
        summary: "all-gather every rank's (decay, state), local prefix combine; backward suffix combine (LASP-2)")

    public func forward(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32) throws -> LinearAttentionOutput<Saved> {
        try stateScanForward(q: q, k: k, v: v, g: g) { element in
            let all = try gather(element, "all-gather states")
            return context.kernel("prefix combine", flops: combineFLOPs(count: context.rank), phantom: zeroState) {
                fold(all!, order: Array(0 ..< context.rank))
            }
        }
    }

    public func backward(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32, saved: Saved, dO: Tensor32) throws
        -> LinearAttentionGradients {
        try stateScanBackward(q: q, k: k, v: v, g: g, saved: saved, dO: dO) { element in
            let all = try gather(element, "all-gather state gradients")
            return context.kernel("suffix combine", flops: combineFLOPs(count: context.size - 1 - context.rank),
                                  phantom: zeroState) {
                fold(all!, order: Array((context.rank + 1 ..< context.size).reversed()))
            }
        }
    }

    /// Every rank's packed element in rank order (one all-gather); nil in phantom mode,
    /// which sends the same messages between phantom buffers: P states per rank, held by
    /// every simulated rank at once, would not fit 256 ranks in one process.
    private func gather(_ element: GLAScanElement, _ name: String) throws -> [Float]? {
        let count = element.packed.count, p = context.size
        guard context.isPhantom else {
            return try context.communicate(name) { try context.communicator.allgather(element.packed) }
        }
        try context.communicate(name) {
            try context.communicator.phantomAllgatherv(context.phantomBuffer(count: count),
                                                       into: context.phantomBuffer(count: count * p),
                                                       counts: Array(repeating: count, count: p))
        }
        return nil
    }

    private var zeroState: GLAState { GLAState(heads: problem.heads, keyDim: problem.keyDim, valueDim: problem.valueDim) }

    private func combineFLOPs(count: Int) -> Double {
        KernelFLOPs.scanCombine(count: count, heads: problem.heads, keyDim: problem.keyDim, valueDim: problem.valueDim)
    }

    private func fold(_ elements: [Float], order: [Int]) -> GLAState {
        GLAScanElement.foldedState(elements, order: order, heads: problem.heads, keyDim: problem.keyDim,
                                   valueDim: problem.valueDim)
    }
}
