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
        name: "allgather", attention: .softmax, layouts: LayoutKind.allCases, aliases: ["all_gather"],
        summary: "all-gather K/V, local attention; backward reduce-scatters dK/dV (Llama 3 CP)")


    public func forward(q: Tensor32, k: Tensor32, v: Tensor32) throws -> AttentionOutput {
        let (keys, values) = try gatherKeysAndValues(k, v)
        return context.compute("attention") {
            defer { context.charge(flops: KernelFLOPs.attention(q, keys: keys.tokens, mask: mask)) }
            return attentionForward(q: q, k: keys, v: values, mask: mask)
        }
    }

    public func backward(q: Tensor32, k: Tensor32, v: Tensor32, o: Tensor32, lse: Tensor32, dO: Tensor32) throws
        -> AttentionGradients {
        let (keys, values) = try gatherKeysAndValues(k, v)
        let full = context.compute("attention backward") {
            defer { context.charge(flops: KernelFLOPs.backwardFactor * KernelFLOPs.attention(q, keys: keys.tokens, mask: mask)) }
            return attentionBackward(q: q, k: keys, v: values, o: o, lse: lse, dO: dO, mask: mask)
        }
        // Block j of the reduce-scatter holds rank j's rows of dK then of dV.
        let counts = context.layout.counts, row = k.tokenStride
        var packed = [Float]()
        packed.reserveCapacity(2 * full.dk.storage.count)
        var start = 0
        for c in counts {
            packed += full.dk.storage[start * row ..< (start + c) * row]
            packed += full.dv.storage[start * row ..< (start + c) * row]
            start += c
        }
        let mine = try context.communicate("reduce-scatter dK dV") {
            try context.communicator.reduceScatter(packed, counts: counts.map { 2 * $0 * row }, .sum)
        }
        let n = k.tokens
        return AttentionGradients(
            dq: full.dq,
            dk: Tensor32(tokens: n, heads: k.heads, dim: k.dim, storage: Array(mine[0 ..< n * row])),
            dv: Tensor32(tokens: n, heads: v.heads, dim: v.dim, storage: Array(mine[n * row ..< 2 * n * row])))
    }

    private var mask: AttentionMask {
        problem.mask(queries: context.positions, keys: context.layout.gatheredPositions)
    }

    /// Every rank's K and V in rank order (one all-gather of K and V packed together).
    private func gatherKeysAndValues(_ k: Tensor32, _ v: Tensor32) throws -> (Tensor32, Tensor32) {
        let row = k.tokenStride, counts = context.layout.counts
        let gathered = try context.communicate("all-gather K V") {
            try context.communicator.allgatherv(k.storage + v.storage, counts: counts.map { 2 * $0 * row })
        }
        var keys = [Float](), values = [Float]()
        keys.reserveCapacity(context.layout.tokens * row)
        values.reserveCapacity(context.layout.tokens * row)
        var start = 0
        for c in counts {
            keys += gathered[start ..< start + c * row]
            values += gathered[start + c * row ..< start + 2 * c * row]
            start += 2 * c * row
        }
        let total = context.layout.tokens
        return (Tensor32(tokens: total, heads: k.heads, dim: k.dim, storage: keys),
                Tensor32(tokens: total, heads: v.heads, dim: v.dim, storage: values))
    }
}
