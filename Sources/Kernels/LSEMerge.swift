// The one LSE merge of spsim: every ring-style strategy combines partial attention
// outputs over disjoint key sets with `mergeAttention`.

import Foundation

/// Merges a partial result over a disjoint key set into `acc`, for rows [offset, offset + part.o.tokens) of acc (all heads). Stable form: l = max + log1p(exp(min − max)); -inf with -inf stays -inf (o unchanged), never NaN.
///
/// Per row, with `(o1, l1)` from `acc` and `(o2, l2)` from `part`:
///
///     l = max(l1, l2) + log1p(exp(min(l1, l2) − max(l1, l2)))
///     o = exp(l1 − l) · o1 + exp(l2 − l) · o2
///
/// Mathematical properties: exact for disjoint key sets (up to rounding); commutative and
/// associative up to rounding; `(0, -inf)` is the identity, so a row that sees no key in
/// either part stays `(0, -inf)`. Weights are computed in float64; no overflow for any
/// finite lse values (differences of 1e4 and more are fine).
public func mergeAttention(_ acc: inout AttentionOutput, _ part: AttentionOutput, atToken offset: Int = 0) {
    let heads = acc.o.heads, dim = acc.o.dim, tokens = part.o.tokens
    precondition(part.o.heads == heads && part.o.dim == dim, "merge: o shapes differ in heads or dim")
    precondition(acc.lse.shape == [acc.o.tokens, heads, 1] && part.lse.shape == [tokens, heads, 1],
                 "merge: lse must be [tokens, heads, 1]")
    precondition(offset >= 0 && offset + tokens <= acc.o.tokens, "merge: rows out of range")
    acc.o.storage.withUnsafeMutableBufferPointer { accO in
    acc.lse.storage.withUnsafeMutableBufferPointer { accL in
    part.o.storage.withUnsafeBufferPointer { partO in
    part.lse.storage.withUnsafeBufferPointer { partL in
        let ao = accO.baseAddress!, al = accL.baseAddress!
        let po = partO.baseAddress!, pl = partL.baseAddress!
        for row in 0..<(tokens &* heads) {
            let l2 = pl[row]
            if l2 == -.infinity { continue }  // nothing to add (covers -inf with -inf)
            let accRow = offset &* heads &+ row
            let l1 = al[accRow]
            let target = ao + accRow &* dim, source = po + row &* dim
            if l1 == -.infinity {
                // acc has seen no key for this row: take the part as it is.
                target.update(from: source, count: dim)
                al[accRow] = l2
                continue
            }
            let a = Double(l1), b = Double(l2)
            let high = max(a, b), low = min(a, b)
            let l = high + log1p(exp(low - high))
            let w1 = Float(exp(a - l)), w2 = Float(exp(b - l))
            for d in 0..<dim {
                target[d] = w1 * target[d] + w2 * source[d]
            }
            al[accRow] = Float(l)
        }
    }}}}
}

/// An accumulator with o = 0 and lse = -inf for n tokens, H heads, D dim.
///
/// The identity of `mergeAttention`: merging any part into it yields that part.
public func emptyAttentionOutput(tokens: Int, heads: Int, dim: Int) -> AttentionOutput {
    AttentionOutput(o: Tensor32(tokens: tokens, heads: heads, dim: dim),
                    lse: Tensor32(tokens: tokens, heads: heads, dim: 1, repeating: -.infinity))
}
