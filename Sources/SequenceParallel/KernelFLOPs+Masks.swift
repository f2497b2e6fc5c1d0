import Kernels

// The kernel FLOP counts that need the kernels' types (a tensor's shape, a mask); the
// formulas themselves are in SPCore's KernelFLOPs, shared with the cost model.
extension KernelFLOPs {
    /// Forward FLOPs of `attentionForward(q:k:v:mask:)` on `q [nq, H, D]` against `keys` keys.
    public static func attention(_ q: Tensor32, keys: Int, mask: AttentionMask) -> Double {
        attention(heads: q.heads, dim: q.dim, pairs: visiblePairs(queries: q.tokens, keys: keys, mask: mask))
    }

    /// Forward FLOPs of attention of `queries` queries (`heads` heads of `dim`) against
    /// `keys` keys under `mask`, without the tensors (phantom runs count what they skip).
    public static func attention(queries: Int, keys: Int, heads: Int, dim: Int, mask: AttentionMask) -> Double {
        attention(heads: heads, dim: dim, pairs: visiblePairs(queries: queries, keys: keys, mask: mask))
    }

    /// (query, key) pairs a mask lets through: all `queries · keys` without one.
    public static func visiblePairs(queries: Int, keys: Int, mask: AttentionMask) -> Int {
        guard case .causal(let queryPositions, let keyPositions) = mask else { return queries * keys }
        return visiblePairs(queryPositions: queryPositions, keyPositions: keyPositions)
    }
}
