// All-gather KV context parallelism — "The Llama 3 Herd of Models", §3.3.2.
//
//   forward:  K, V ← all-gather(k, v)            one collective, K and V packed together
//             (o, lse) ← attention(q, K, V)      local queries against every key
//   backward: K, V ← all-gather(k, v)            again: nothing is kept between passes
//             dq, dK, dV ← attention-backward(q, K, V, o, lse, do)
//             dk, dv ← reduce-scatter(dK, dV)    each rank gets the sums for its own keys
//
// No overlap: the baseline every ring-style schedule is measured against.
import Kernels
import MPI

/// All-gather K and V, then local attention (Llama 3 context parallelism).
public final class AllGatherAttention: StrategyInstance<AttentionProblem>, AttentionStrategy {
    public static let descriptor = StrategyDescriptor(
        name: "allgather", attention: .softmax, layouts: LayoutKind.allCases, colour: "#D55E00", marker: .square,
        aliases: ["all_gather"],
        summary: "all-gather K/V, local attention; backward reduce-scatters dK/dV (Llama 3 CP)")

    public func forward(q: Tensor32, k: Tensor32, v: Tensor32) throws -> AttentionOutput {
        let gathered = try gatherKeysAndValues(k, v)
        return context.kernel("attention", flops: flops(q),
                              phantom: context.emptyOutput(tokens: q.tokens, heads: q.heads, dim: v.dim)) {
            attentionForward(q: q, k: gathered!.keys, v: gathered!.values, mask: mask)
        }
    }

    public func backward(q: Tensor32, k: Tensor32, v: Tensor32, o: Tensor32, lse: Tensor32, dO: Tensor32) throws
        -> AttentionGradients {
        let gathered = try gatherKeysAndValues(k, v)
        let full = context.kernel("attention backward",
                                  flops: KernelFLOPs.backwardFactor * flops(q),
                                  phantom: nil) { () -> AttentionGradients? in
            attentionBackward(q: q, k: gathered!.keys, v: gathered!.values, o: o, lse: lse, dO: dO, mask: mask)
        }
        // Block j of the reduce-scatter holds rank j's rows of dK then of dV.
        let counts = context.layout.counts, row = k.tokenStride, n = k.tokens
        let blocks = counts.map { 2 * $0 * row }
        guard let full else {  // phantom mode: the messages only
            try context.communicate("reduce-scatter dK dV") {
                try context.communicator.phantomReduceScatter(context.phantomBuffer(count: blocks.reduce(0, +)), counts: blocks)
            }
            return AttentionGradients(dq: context.zeros(tokens: q.tokens, heads: q.heads, dim: q.dim),
                                      dk: context.zeros(tokens: n, heads: k.heads, dim: k.dim),
                                      dv: context.zeros(tokens: n, heads: v.heads, dim: v.dim))
        }
        var packed = [Float]()
        packed.reserveCapacity(2 * full.dk.storage.count)
        var start = 0
        for c in counts {
            packed += full.dk.storage[start * row ..< (start + c) * row]
            packed += full.dv.storage[start * row ..< (start + c) * row]
            start += c
        }
        let mine = try context.communicate("reduce-scatter dK dV") {
            try context.communicator.reduceScatter(packed, counts: blocks, .sum)
        }
        return AttentionGradients(
            dq: full.dq,
            dk: Tensor32(tokens: n, heads: k.heads, dim: k.dim, storage: Array(mine[0 ..< n * row])),
            dv: Tensor32(tokens: n, heads: v.heads, dim: v.dim, storage: Array(mine[n * row ..< 2 * n * row])))
    }

    /// Forward FLOPs of the local queries against every key: the gathered keys are every
    /// position 0..<N, so causally the query at position t sees t + 1 of them (the mask's
    /// count, without building its N key positions).
    private func flops(_ q: Tensor32) -> Double {
        let pairs = problem.isCausal ? context.positions.reduce(0) { $0 + $1 + 1 } : q.tokens * context.layout.tokens
        return KernelFLOPs.attention(heads: q.heads, dim: q.dim, pairs: pairs)
    }

    private var mask: AttentionMask {
        problem.mask(queries: context.positions, keys: context.layout.gatheredPositions)
    }

    /// Every rank's K and V in rank order (one all-gather of K and V packed together); nil
    /// in phantom mode, which sends the same messages between phantom buffers and keeps none.
    private func gatherKeysAndValues(_ k: Tensor32, _ v: Tensor32) throws -> (keys: Tensor32, values: Tensor32)? {
        let row = k.tokenStride, counts = context.layout.counts.map { 2 * $0 * row }
        if context.isPhantom {
            try context.communicate("all-gather K V") {
                try context.communicator.phantomAllgatherv(context.phantomBuffer(count: 2 * k.tokens * row),
                                                           into: context.phantomBuffer(count: counts.reduce(0, +)),
                                                           counts: counts)
            }
            return nil
        }
        let gathered = try context.communicate("all-gather K V") {
            try context.communicator.allgatherv(k.storage + v.storage, counts: counts)
        }
        let total = context.layout.tokens
        var keys = [Float](), values = [Float]()
        keys.reserveCapacity(total * row)
        values.reserveCapacity(total * row)
        var start = 0
        for c in context.layout.counts {
            keys += gathered[start ..< start + c * row]
            values += gathered[start + c * row ..< start + 2 * c * row]
            start += 2 * c * row
        }
        return (Tensor32(tokens: total, heads: k.heads, dim: k.dim, storage: keys),
                Tensor32(tokens: total, heads: v.heads, dim: v.dim, storage: values))
    }
}
