// The FLOPs a kernel call is charged under simulation (RankContext.charge(flops:)),
// in the cost model's convention — the model reads the same functions, so simulated
// compute and predicted compute are one formula:
//
//   softmax attention   4·H·D per visible (query, key) pair forward (QKᵀ and PV, 2 FLOPs
//                       per multiply-add); backward 2.5× forward (FlashAttention-2's
//                       accounting, docs/algorithms.md, compute: recompute S, dV, dP, dQ, dK)
//   gated linear attn.  per token, all heads: H·(2·C·(Dk + Dv) + 4·Dk·Dv) — the intra-chunk
//                       part plus the state update and read-out; the read-out half,
//                       H·2·Dk·Dv, needs the incoming state; backward 2.5× forward, of
//                       which twice the read-out applies the state gradient
//   scan combine        2·H·Dk·Dv per packed element folded locally
// Masks, decays, packing and merges are memory-bound and charged nothing.

/// FLOP counts of the kernels, as the cost model and the simulated device count them.
public enum KernelFLOPs {
    /// Backward FLOPs as a multiple of forward FLOPs (≈ 2.5×).
    public static let backwardFactor = 2.5

    /// Forward FLOPs of softmax attention over `pairs` (query, key) pairs with `heads`
    /// query heads of width `dim`.
    public static func attention(heads: Int, dim: Int, pairs: Int) -> Double {
        4 * Double(heads) * Double(dim) * Double(pairs)
    }

    /// Causal (query, key) pairs: for each query position, the keys at or before it.
    public static func visiblePairs(queryPositions: [Int], keyPositions: [Int]) -> Int {
        let sorted = keyPositions.sorted()
        var total = 0
        for position in queryPositions {
            var lo = 0, hi = sorted.count  // keys at or before this query
            while lo < hi {
                let mid = (lo + hi) / 2
                if sorted[mid] <= position { lo = mid + 1 } else { hi = mid }
            }
            total += lo
        }
        return total
    }

    /// Forward FLOPs of GLA per token, all heads: `H·(2·C·(Dk + Dv) + 4·Dk·Dv)`.
    public static func glaPerToken(heads: Int, keyDim: Int, valueDim: Int, chunk: Int) -> Double {
        Double(heads) * (2 * Double(chunk) * Double(keyDim + valueDim) + 4 * Double(keyDim * valueDim))
    }

    /// Forward FLOPs of reading out the incoming state for one token, all heads: `2·H·Dk·Dv`.
    public static func glaReadoutPerToken(heads: Int, keyDim: Int, valueDim: Int) -> Double {
        2 * Double(heads) * Double(keyDim * valueDim)
    }

    /// FLOPs of folding `count` packed scan elements of `heads` (Dk × Dv) states.
    public static func scanCombine(count: Int, heads: Int, keyDim: Int, valueDim: Int) -> Double {
        2 * Double(count) * Double(heads * keyDim * valueDim)
    }
}

extension LinearAttentionProblem {
    /// The chunk C the strategies' GLA kernels run with (`glaForward`'s default; the cost
    /// model's `Workload.chunkSize` default).
    public var chunkSize: Int { 64 }

    /// Forward FLOPs of the local GLA of `tokens` tokens before the incoming state is needed.
    public func localForwardFLOPs(tokens: Int) -> Double {
        Double(tokens) * (KernelFLOPs.glaPerToken(heads: heads, keyDim: keyDim, valueDim: valueDim, chunk: chunkSize)
            - KernelFLOPs.glaReadoutPerToken(heads: heads, keyDim: keyDim, valueDim: valueDim))
    }

    /// Forward FLOPs of reading the incoming state out into `tokens` tokens' outputs.
    public func readoutForwardFLOPs(tokens: Int) -> Double {
        Double(tokens) * KernelFLOPs.glaReadoutPerToken(heads: heads, keyDim: keyDim, valueDim: valueDim)
    }

    /// Backward FLOPs of `tokens` tokens before the later ranks' state gradient is needed.
    public func localBackwardFLOPs(tokens: Int) -> Double {
        KernelFLOPs.backwardFactor * Double(tokens)
            * KernelFLOPs.glaPerToken(heads: heads, keyDim: keyDim, valueDim: valueDim, chunk: chunkSize)
            - readoutBackwardFLOPs(tokens: tokens)
    }

    /// Backward FLOPs of applying the later ranks' state gradient to `tokens` tokens.
    public func readoutBackwardFLOPs(tokens: Int) -> Double { 2 * readoutForwardFLOPs(tokens: tokens) }
}
