// Float64 references for softmax attention, written plainly: the full score matrix of
// each head, a two-pass softmax, and the textbook backward. For tests and `--verify`
// at small sizes only (memory nq·nk per head).

import Foundation

/// Whether key `j` is visible to query `i` under `mask`.
@inline(__always)
func isVisible(_ mask: AttentionMask, query i: Int, key j: Int) -> Bool {
    switch mask {
    case .none: return true
    case let .causal(queryPositions, keyPositions): return keyPositions[j] <= queryPositions[i]
    }
}

/// Softmax attention in float64: `s_ij = q_i·k_j / sqrt(D)` over visible keys,
/// `lse_i = log Σ_j exp(s_ij)`, `o_i = Σ_j exp(s_ij − lse_i) v_j`; `o [nq, H, Dv]`,
/// `lse [nq, H, 1]`, with o = 0 and lse = -inf for a query that sees no key.
///
/// q `[nq, H, D]`, k/v `[nk, G, D]`, query head h uses KV head `h / (H/G)`.
public func attentionReference(q: Tensor64, k: Tensor64, v: Tensor64, mask: AttentionMask) -> (o: Tensor64, lse: Tensor64) {
    let nq = q.tokens, nk = k.tokens, heads = q.heads, kvHeads = k.heads, dim = q.dim, valueDim = v.dim
    precondition(k.dim == dim && v.tokens == nk && v.heads == kvHeads && kvHeads > 0 && heads % kvHeads == 0,
                 "attention reference: inconsistent shapes")
    let group = heads / kvHeads
    let scale = 1 / Double(dim).squareRoot()
    var o = Tensor64(tokens: nq, heads: heads, dim: valueDim)
    var lse = Tensor64(tokens: nq, heads: heads, dim: 1, repeating: -.infinity)
    for h in 0..<heads {
        let g = h / group
        for i in 0..<nq {
            var scores = [Double](repeating: -.infinity, count: nk)
            for j in 0..<nk where isVisible(mask, query: i, key: j) {
                var dot = 0.0
                for d in 0..<dim { dot += q[i, h, d] * k[j, g, d] }
                scores[j] = scale * dot
            }
            let top = scores.max() ?? -.infinity
            if top == -.infinity { continue }
            var sum = 0.0
            for j in 0..<nk { sum += exp(scores[j] - top) }
            let rowLSE = top + log(sum)
            lse[i, h, 0] = rowLSE
            for j in 0..<nk where scores[j] != -.infinity {
                let p = exp(scores[j] - rowLSE)
                for d in 0..<valueDim { o[i, h, d] += p * v[j, g, d] }
            }
        }
    }
    return (o, lse)
}

/// Gradients of softmax attention in float64 for the upstream gradient `dO`:
/// with `P = softmax(S)` row-wise over visible keys, `dV = Pᵀ dO`, `dP = dO Vᵀ`,
/// `dS_ij = P_ij (dP_ij − Σ_l P_il dP_il)`, `dQ = scale·dS K`, `dK = scale·dSᵀ Q`;
/// dk and dv are summed over the query heads of each KV head.
public func attentionReferenceBackward(q: Tensor64, k: Tensor64, v: Tensor64, dO: Tensor64, mask: AttentionMask) -> (dq: Tensor64, dk: Tensor64, dv: Tensor64) {
    let nq = q.tokens, nk = k.tokens, heads = q.heads, kvHeads = k.heads, dim = q.dim, valueDim = v.dim
    precondition(k.dim == dim && v.tokens == nk && v.heads == kvHeads && kvHeads > 0 && heads % kvHeads == 0,
                 "attention reference: inconsistent shapes")
    precondition(dO.shape == [nq, heads, valueDim], "attention reference: dO must be [nq, H, Dv]")
    let group = heads / kvHeads
    let scale = 1 / Double(dim).squareRoot()
    var dq = Tensor64(tokens: nq, heads: heads, dim: dim)
    var dk = Tensor64(tokens: nk, heads: kvHeads, dim: dim)
    var dv = Tensor64(tokens: nk, heads: kvHeads, dim: valueDim)
    for h in 0..<heads {
        let g = h / group
        for i in 0..<nq {
            // P row (two-pass softmax over the visible keys).
            var scores = [Double](repeating: -.infinity, count: nk)
            for j in 0..<nk where isVisible(mask, query: i, key: j) {
                var dot = 0.0
                for d in 0..<dim { dot += q[i, h, d] * k[j, g, d] }
                scores[j] = scale * dot
            }
            let top = scores.max() ?? -.infinity
            if top == -.infinity { continue }
            var p = scores.map { exp($0 - top) }
            let sum = p.reduce(0, +)
            for j in 0..<nk { p[j] /= sum }
            // dP row and its P-weighted mean.
            var dp = [Double](repeating: 0, count: nk)
            var mean = 0.0
            for j in 0..<nk where p[j] != 0 {
                var dot = 0.0
                for d in 0..<valueDim { dot += dO[i, h, d] * v[j, g, d] }
                dp[j] = dot
                mean += p[j] * dot
            }
            for j in 0..<nk where p[j] != 0 {
                let ds = p[j] * (dp[j] - mean)
                for d in 0..<valueDim { dv[j, g, d] += p[j] * dO[i, h, d] }
                for d in 0..<dim {
                    dq[i, h, d] += scale * ds * k[j, g, d]
                    dk[j, g, d] += scale * ds * q[i, h, d]
                }
            }
        }
    }
    return (dq, dk, dv)
}
