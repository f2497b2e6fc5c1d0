// DeepSpeed-Ulysses — Jacobs et al., "DeepSpeed Ulysses: System Optimizations for Enabling
// Training of Extreme Long Sequence Transformer Models" (arXiv 2309.14509), §3 and Fig. 2;
// uneven heads after DeepSpeed PR #6392, KV-head replication for G < P after ALST.
//
//   forward, rank r of P (heads split by `HeadPartition`: rank r holds query heads H_r and
//   the KV heads G_r they use):
//     (Q, K, V) ← all-to-all sequence→heads (q[:, H_j], k[:, G_j], v[:, G_j] to rank j)
//                                                  one alltoallv; every token, heads H_r, G_r
//     (O, L) ← attention(Q, K, V)                  full sequence, global positions
//     (o, lse) ← all-to-all heads→sequence (O, L)  one alltoallv
//
//   backward (stateless: the head-layout inputs are exchanged again):
//     (Q, O, dO, L, K, V) ← all-to-all sequence→heads
//     (dQ, dK, dV) ← attention-backward(Q, K, V, O, L, dO)
//     (dq, dk, dv) ← all-to-all heads→sequence     dk, dv summed over the ranks holding
//                                                  a replicated KV head
//
// H not divisible by P: the first H mod P ranks hold one more query head (alltoallv).
// G < P (or groups straddling ranks): each rank receives exactly the KV heads its query
// heads use, so a KV head may go to several ranks; their gradients are summed on the way
// back. P > H is refused (use ring, token-ring or usp). Any layout works: the head-layout
// tensors are put in global token order on arrival, and the mask uses global positions;
// causal load balance is free (every rank sees the whole sequence for its heads).
//
// Traffic (ledger convention; b = 4 bytes; n_j tokens on rank j, N = Σ n_j; c_j query
// heads and g_j KV heads on rank j, Σ c_j = H, Σ g_j = G' ≥ G, G' = G without
// replication; one alltoallv message to each other rank per exchange):
//   forward   messages 2(P−1)
//     q k v   to each j ≠ r: n_r·(c_j + 2·g_j)·D·b
//     o lse   to each j ≠ r: n_j·c_r·(D + 1)·b
//     total   b·[n_r·D·((H − c_r) + 2·(G' − g_r)) + (N − n_r)·c_r·(D + 1)]
//             = (P−1)/P · n·b·(2·H·D + 2·G·D + H)  when P | N, P | H, no replication
//   backward  messages 2(P−1)
//     q o do lse k v  to each j ≠ r: n_r·(c_j·(3D + 1) + 2·g_j·D)·b
//     dq dk dv        to each j ≠ r: n_j·(c_r + 2·g_r)·D·b
//     total   b·[n_r·((H − c_r)·(3D + 1) + 2·D·(G' − g_r)) + (N − n_r)·D·(c_r + 2·g_r)]
import Kernels
import MPI

/// DeepSpeed-Ulysses: all-to-all to head parallelism, local attention, all-to-all back.
public final class UlyssesAttention: AttentionStrategy {
    public static let descriptor = StrategyDescriptor(
        name: "ulysses", attention: .softmax, layouts: LayoutKind.allCases, colour: "#0072B2", marker: .circle,
        aliases: ["a2a"],
        summary: "all-to-all sequence→heads, full attention on local heads, all-to-all back (DeepSpeed-Ulysses)")

    public static func unsupportedReason(_ problem: AttentionProblem, layout: LayoutKind, ranks: Int) -> String? {
        if let reason = layoutReason(layout) { return reason }
        return HeadPartition.unsupportedReason(heads: problem.heads, ranks: ranks, strategy: name).map { reason in
            let others = Strategies.alternatives(to: name, problem, layout: layout, ranks: ranks)
            guard let last = others.last else { return reason }
            let list = others.count == 1 ? last : others.dropLast().joined(separator: ", ") + " or " + last
            return reason + "; use --strategy \(list), which run it"
        }
    }

    private let problem: AttentionProblem
    private let context: RankContext
    private let partition: HeadPartition

    public init(problem: AttentionProblem, context: RankContext) throws {
        if let reason = Self.unsupportedReason(problem, layout: context.layout.kind, ranks: context.size) {
            throw InputError(reason)
        }
        self.problem = problem
        self.context = context
        partition = HeadPartition(heads: problem.heads, kvHeads: problem.kvHeads, ranks: context.size)
    }

    public func forward(q: Tensor32, k: Tensor32, v: Tensor32) throws -> AttentionOutput {
        let d = problem.headDim
        let toHeads = exchange([queryHeads(d), kvHeads(d), kvHeads(d)])
        let qkv = try toHeads.sequenceToHeads([q, k, v], context: context, name: "q k v")
        let local = context.kernel("attention", flops: flops(heads: qkv[0].heads),
                                   phantom: context.emptyOutput(tokens: qkv[0].tokens, heads: qkv[0].heads, dim: qkv[2].dim)) {
            attention(q: qkv[0], k: qkv[1], v: qkv[2])
        }
        let toSequence = exchange([queryHeads(d), queryHeads(1)])
        let out = try toSequence.headsToSequence([local.o, local.lse], context: context, name: "o lse")
        return AttentionOutput(o: out[0], lse: out[1])
    }

    public func backward(q: Tensor32, k: Tensor32, v: Tensor32, o: Tensor32, lse: Tensor32, dO: Tensor32) throws
        -> AttentionGradients {
        let d = problem.headDim
        let toHeads = exchange([queryHeads(d), queryHeads(d), queryHeads(d), queryHeads(1), kvHeads(d), kvHeads(d)])
        let t = try toHeads.sequenceToHeads([q, o, dO, lse, k, v], context: context, name: "q o do lse k v")
        let local = context.kernel("attention backward", flops: KernelFLOPs.backwardFactor * flops(heads: t[0].heads), phantom: AttentionGradients(
            dq: context.zeros(tokens: t[0].tokens, heads: t[0].heads, dim: t[0].dim),
            dk: context.zeros(tokens: t[4].tokens, heads: t[4].heads, dim: t[4].dim),
            dv: context.zeros(tokens: t[5].tokens, heads: t[5].heads, dim: t[5].dim))) {
            attentionBackward(q: t[0], k: t[4], v: t[5], o: t[1], lse: t[3], dO: t[2])
        }
        let toSequence = exchange([queryHeads(d), kvHeads(d), kvHeads(d)])
        let grads = try toSequence.headsToSequence([local.dq, local.dk, local.dv], context: context, name: "dq dk dv")
        return AttentionGradients(dq: grads[0], dk: grads[1], dv: grads[2])
    }

    // MARK: Head layout

    private func exchange(_ parts: [HeadExchange.Part]) -> HeadExchange {
        HeadExchange(layout: context.layout, parts: parts)
    }

    private func queryHeads(_ dim: Int) -> HeadExchange.Part {
        HeadExchange.Part(heads: problem.heads, dim: dim, ranges: partition.queryHeadRanges)
    }

    private func kvHeads(_ dim: Int) -> HeadExchange.Part {
        HeadExchange.Part(heads: problem.kvHeads, dim: dim, ranges: partition.kvHeadRanges)
    }

    /// Forward FLOPs of this rank's `heads` query heads over every token: N² pairs, causally
    /// N(N+1)/2 (the mask's count, without building its 2N positions).
    private func flops(heads: Int) -> Double {
        let n = problem.seqLen
        return KernelFLOPs.attention(heads: heads, dim: problem.headDim, pairs: problem.isCausal ? n * (n + 1) / 2 : n * n)
    }

    /// Every token is here, in global order: the plain causal mask over 0..<N.
    private var mask: AttentionMask {
        let all = Array(0..<problem.seqLen)
        return problem.mask(queries: all, keys: all)
    }

    /// Attention over this rank's heads, one kernel call per run of uniformly grouped heads.
    private func attention(q: Tensor32, k: Tensor32, v: Tensor32) -> AttentionOutput {
        let segments = partition.kernelSegments(rank: context.rank), mask = mask
        if segments.count == 1 { return attentionForward(q: q, k: k, v: v, mask: mask) }
        var out = emptyAttentionOutput(tokens: q.tokens, heads: q.heads, dim: v.dim)
        for segment in segments {
            let part = attentionForward(q: q.heads(segment.queries), k: k.heads(segment.kv), v: v.heads(segment.kv),
                                        mask: mask)
            out.o.setHeads(segment.queries, from: part.o)
            out.lse.setHeads(segment.queries, from: part.lse)
        }
        return out
    }

    /// The backward over this rank's heads, run by run like `attention`.
    private func attentionBackward(q: Tensor32, k: Tensor32, v: Tensor32, o: Tensor32, lse: Tensor32,
                                   dO: Tensor32) -> AttentionGradients {
        let segments = partition.kernelSegments(rank: context.rank), mask = mask
        if segments.count == 1 {
            return Kernels.attentionBackward(q: q, k: k, v: v, o: o, lse: lse, dO: dO, mask: mask)
        }
        var grads = AttentionGradients(dq: Tensor32(tokens: q.tokens, heads: q.heads, dim: q.dim),
                                       dk: Tensor32(tokens: k.tokens, heads: k.heads, dim: k.dim),
                                       dv: Tensor32(tokens: v.tokens, heads: v.heads, dim: v.dim))
        for segment in segments {
            let part = Kernels.attentionBackward(
                q: q.heads(segment.queries), k: k.heads(segment.kv), v: v.heads(segment.kv), o: o.heads(segment.queries),
                lse: lse.heads(segment.queries), dO: dO.heads(segment.queries), mask: mask)
            grads.dq.setHeads(segment.queries, from: part.dq)
            grads.dk.setHeads(segment.kv, from: part.dk)
            grads.dv.setHeads(segment.kv, from: part.dv)
        }
        return grads
    }
}
