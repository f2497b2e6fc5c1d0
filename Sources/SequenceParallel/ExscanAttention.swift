// MPI_Exscan — the MPI library's own exclusive scan (MPI 4.0 §6.11.2) with the GLA scan
// operator registered as a non-commutative user-defined operation: what a scan collective
// achieves without ZeCO's pipelining, typically recursive doubling, ⌈log2 P⌉ rounds of the
// whole packed state (docs/algorithms.md, collective costs). A baseline for All-Scan.
//
// forward on rank p (a_p = exp(Σ_t g_t) per state row):
//   o, B_p ← GLA(q, k, v, g) from a zero state
//   S_in ← state of MPI_Exscan((a_p, B_p), ⊕)          packed rows [a, B] as the MPI element;
//                                                      rank 0 gets nothing and sets the identity
//   o += (q ⊙ exp(G)) S_in
//
// backward on rank p, over a communicator with the ranks reversed (split with key P−1−p):
//   dq, dk, dv, dG, dB_p ← GLA backward from S_in with no later gradient
//   dS_out ← state of MPI_Exscan((a_p, dB_p), ⊕) in reverse rank order
//                                                      = (a_{P−1}, dB_{P−1}) ⊕ … ⊕ (a_{p+1}, dB_{p+1})
//   dk, dv, dG += dS_out's share
//   dg ← Σ_{t' ≥ t} dG_t' + c,   c = rowDot(dS_out, S_out),  S_out = Diag(a_p) S_in + B_p
//
// As in LASP-2, the gate-gradient carry c needs no message (see LASP2Attention.swift); the
// forward keeps S_in and B_p.
//
// Traffic (b = 4 bytes; the ledger counts MPI_Exscan's logical schedule, the whole packed
// element to every later rank in scan order):
//   forward:  rank p sends (P−1−p)·H·Dk·(Dv+1)·b bytes in P−1−p messages (to ranks p+1 … P−1).
//   backward: rank p sends p·H·Dk·(Dv+1)·b bytes in p messages (to ranks p−1 … 0).
import Kernels
import MPI

/// `MPI_Exscan` with the GLA scan operator as a non-commutative user op, forward and backward.
public final class ExscanAttention: StrategyInstance<LinearAttentionProblem>, LinearAttentionStrategy {
    public typealias Saved = GLABoundaryStates
    public static let descriptor = StrategyDescriptor(
        name: "exscan", attention: .gla, layouts: [.contiguous], colour: "#7F7F7F", marker: .hexagon,
        summary: "MPI_Exscan with the scan operator as a non-commutative user op; backward over reversed ranks")

    /// The same ranks in reverse order, for the backward scan.
    private let reversed: Communicator

    public required init(problem: LinearAttentionProblem, context: RankContext) throws {
        reversed = try context.communicator.split(color: 0, key: context.size - 1 - context.rank)!
        try super.init(problem: problem, context: context)
    }

    public func forward(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32) throws -> LinearAttentionOutput<Saved> {
        try stateScanForward(q: q, k: k, v: v, g: g) { element in
            try context.communicate("exscan states") { try scan(element, on: context.communicator) }
        }
    }

    public func backward(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32, saved: Saved, dO: Tensor32) throws
        -> LinearAttentionGradients {
        try stateScanBackward(q: q, k: k, v: v, g: g, saved: saved, dO: dO) { element in
            try context.communicate("exscan state gradients") { try scan(element, on: reversed) }
        }
    }

    /// The state of the exclusive ⊕-scan of `element` over `communicator`'s rank order; the
    /// first rank receives nothing from MPI and takes the identity's state, zero.
    private func scan(_ element: GLAScanElement, on communicator: Communicator) throws -> GLAState {
        let dv = problem.valueDim
        let prefix = try communicator.exscan(element.packed, elementCount: GLAScanOperator.packedWidth(valueDim: dv)) {
            GLAScanOperator.combine(earlier: $0, into: $1, valueDim: dv)
        }
        guard let prefix else { return GLAState(heads: problem.heads, keyDim: problem.keyDim, valueDim: dv) }
        return unpackRows(prefix, heads: problem.heads, keyDim: problem.keyDim, valueDim: dv).state
    }
}
