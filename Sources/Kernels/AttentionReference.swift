// Float64 references for softmax attention: for each head and tile of queries, the full
// row of scores against every visible key (one dgemm), an exact two-pass softmax, and the
// textbook backward, with every matrix product a float64 `cblas_dgemm` and every row pass
// (max, exp, normalisation, the dS row) float64 vector code in C (CVectorMath/reference_rows.c,
// an exp accurate to about 1 ulp; the mask as each row's visible key prefix where it is one).
// Independent of the float32 kernels in Attention.swift (no online softmax, no saved lse, no
// float32 anywhere); memory one tile of rows, `referenceQueryTile × nk` doubles (and one key
// block for the backward) per KV head, whose query heads one thread computes (the KV heads run
// concurrently: `--verify` checks a whole distributed run on one rank, with the machine's
// other cores). Under a causal mask a tile's products stop at the last key any of its queries
// sees.

import CVectorMath
import Foundation

/// A pointer handed to the reference's worker threads, which write disjoint parts of it.
private struct Shared<Pointee>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Pointee>
    init(_ pointer: UnsafePointer<Pointee>) { self.pointer = UnsafeMutablePointer(mutating: pointer) }
    init(_ pointer: UnsafeMutablePointer<Pointee>) { self.pointer = pointer }
}

/// Query rows per tile of the float64 references.
let referenceQueryTile = 128

/// Keys per block of the reference backward: a tile's dP and dS, `referenceQueryTile ×
/// referenceKeyBlock` doubles (256 KiB), stay in L2 through the four products that use them.
let referenceKeyBlock = 256

/// The keys `0..<end` that can matter to queries `rows`: one past the last key visible to any
/// of them (all keys without a mask; 0 when none is visible).
private func visibleKeyEnd(_ mask: AttentionMask, rows: Range<Int>, keys: Int) -> Int {
    guard case let .causal(queryPositions, keyPositions) = mask else { return keys }
    let latest = rows.map { queryPositions[$0] }.max() ?? Int.min
    var end = keys
    while end > 0 && keyPositions[end - 1] > latest { end -= 1 }
    return end
}

/// For each of `queries` rows, how many leading keys it sees, when the mask is a key prefix
/// for every query: all `keys` without a mask; under a causal mask whose key positions never
/// decrease, the keys at positions ≤ the query's (a binary search per row). nil when the key
/// positions are in another order (then the mask is applied key by key).
private func visiblePrefixes(_ mask: AttentionMask, queries: Int, keys: Int) -> [Int]? {
    guard case let .causal(queryPositions, keyPositions) = mask else { return Array(repeating: keys, count: queries) }
    guard zip(keyPositions, keyPositions.dropFirst()).allSatisfy({ $0 <= $1 }) else { return nil }
    return queryPositions.map { position in
        var low = 0, high = keyPositions.count  // the first key past `position` lies in low...high
        while low < high {
            let mid = (low + high) / 2
            if keyPositions[mid] <= position { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

/// Fills `p[rows × keys]` (row stride `keys`) with the softmax probabilities of one tile:
/// `s_ij = scale · q_i·k_j` (one dgemm), then per row (`spsim_reference_softmax_row`, float64
/// vector code) `lse_i = max + log Σ_j exp(s_ij − max)` and `p_ij = exp(s_ij − max) / Σ_j exp(s_ij − max)`
/// over the visible keys, 0 on the hidden ones. `prefixes[i]` is the number of leading keys
/// query `i` sees (`visiblePrefixes`); nil applies the mask key by key (−∞ scores). Returns each
/// row's lse (−∞ and a zero row for a query that sees no key).
private func referenceProbabilities(
    _ p: UnsafeMutablePointer<Double>, q: UnsafePointer<Double>, k: UnsafePointer<Double>,
    rows: Range<Int>, keys: Int, head h: Int, kvHead g: Int, heads: Int, kvHeads: Int, dim: Int,
    mask: AttentionMask, prefixes: [Int]?
) -> [Double] {
    let scale = 1 / Double(dim).squareRoot()
    gemm(.plain, .transposed, m: rows.count, n: keys, k: dim, alpha: scale,
          a: q, aOffset: (rows.lowerBound * heads + h) * dim, lda: heads * dim,
          b: k, bOffset: g * dim, ldb: kvHeads * dim, c: p, ldc: keys)
    var lse = [Double](repeating: -.infinity, count: rows.count)
    for (r, i) in rows.enumerated() {
        let row = p + r * keys
        var visible = keys
        if let prefixes {
            visible = min(prefixes[i], keys)
        } else if case let .causal(queryPositions, keyPositions) = mask {
            let position = queryPositions[i]
            keyPositions.withUnsafeBufferPointer { kp in
                for j in 0..<keys where kp[j] > position { row[j] = -.infinity }
            }
        }
        lse[r] = spsim_reference_softmax_row(cpuVectorLevel, row, visible, keys)
    }
    return lse
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
    var o = Tensor64(tokens: nq, heads: heads, dim: valueDim)
    var lse = Tensor64(tokens: nq, heads: heads, dim: 1, repeating: -.infinity)
    let tileFloats = min(referenceQueryTile, nq) * nk
    let prefixes = visiblePrefixes(mask, queries: nq, keys: nk)
    withStoragePointers(q, k, v) { qb, kb, vb in
    withMutableStoragePointers(&o, &lse) { ob, lb in
      let (qs, ks, vs, os, ls) = (Shared(qb), Shared(kb), Shared(vb), Shared(ob), Shared(lb))
      // One worker per KV head: each writes only the o and lse rows of its own query heads.
      DispatchQueue.concurrentPerform(iterations: kvHeads) { g in
        let (qp, kp, vp, op, lp) = (qs.pointer, ks.pointer, vs.pointer, os.pointer, ls.pointer)
        let pb = UnsafeMutableBufferPointer<Double>.allocate(capacity: tileFloats)
        defer { pb.deallocate() }
        for h in g * group ..< (g + 1) * group {
            for q0 in stride(from: 0, to: nq, by: referenceQueryTile) {
                let rows = q0 ..< min(q0 + referenceQueryTile, nq)
                let keys = visibleKeyEnd(mask, rows: rows, keys: nk)
                if keys == 0 { continue }
                let rowLSE = referenceProbabilities(pb.baseAddress!, q: qp, k: kp, rows: rows,
                                                    keys: keys, head: h, kvHead: g, heads: heads, kvHeads: kvHeads,
                                                    dim: dim, mask: mask, prefixes: prefixes)
                for (r, i) in rows.enumerated() { lp[i * heads + h] = rowLSE[r] }
                // O = P V
                gemm(m: rows.count, n: valueDim, k: keys, a: pb.baseAddress!, lda: keys,
                      b: vp, bOffset: g * valueDim, ldb: kvHeads * valueDim,
                      c: op, cOffset: (q0 * heads + h) * valueDim, ldc: heads * valueDim)
            }
        }
      }
    }}
    return (o, lse)
}

/// Gradients of softmax attention in float64 for the upstream gradient `dO`:
/// with `P = softmax(S)` row-wise over visible keys, `dV = Pᵀ dO`, `dP = dO Vᵀ`,
/// `dS_ij = P_ij (dP_ij − Σ_l P_il dP_il)`, `dQ = scale·dS K`, `dK = scale·dSᵀ Q`;
/// dk and dv are summed over the query heads of each KV head.
public func attentionReferenceBackward(q: Tensor64, k: Tensor64, v: Tensor64, dO: Tensor64, mask: AttentionMask) -> (dq: Tensor64, dk: Tensor64, dv: Tensor64) {
    let all = attentionReferenceWithGradients(q: q, k: k, v: v, dO: dO, mask: mask)
    return (all.dq, all.dk, all.dv)
}

/// `attentionReference` and `attentionReferenceBackward` in one pass: each tile's
/// probabilities are computed once and give o, lse and the gradients (`--verify` with `--backward`).
/// The row sums `Σ_l P_il dP_il` of the dS formula are taken as `dO_i · o_i` (the same sum:
/// `o_i = Σ_l P_il v_l`, `dP_il = dO_i · v_l`), from the tile's float64 o, so the backward runs
/// over blocks of keys without storing a tile-wide dP.
public func attentionReferenceWithGradients(q: Tensor64, k: Tensor64, v: Tensor64, dO: Tensor64, mask: AttentionMask)
    -> (o: Tensor64, lse: Tensor64, dq: Tensor64, dk: Tensor64, dv: Tensor64) {
    let nq = q.tokens, nk = k.tokens, heads = q.heads, kvHeads = k.heads, dim = q.dim, valueDim = v.dim
    precondition(k.dim == dim && v.tokens == nk && v.heads == kvHeads && kvHeads > 0 && heads % kvHeads == 0,
                 "attention reference: inconsistent shapes")
    precondition(dO.shape == [nq, heads, valueDim], "attention reference: dO must be [nq, H, Dv]")
    let group = heads / kvHeads
    let scale = 1 / Double(dim).squareRoot()
    var dq = Tensor64(tokens: nq, heads: heads, dim: dim)
    var dk = Tensor64(tokens: nk, heads: kvHeads, dim: dim)
    var dv = Tensor64(tokens: nk, heads: kvHeads, dim: valueDim)
    var o = Tensor64(tokens: nq, heads: heads, dim: valueDim)
    var lse = Tensor64(tokens: nq, heads: heads, dim: 1, repeating: -.infinity)
    let tileFloats = min(referenceQueryTile, nq) * nk
    let prefixes = visiblePrefixes(mask, queries: nq, keys: nk)
    withStoragePointers(q, k, v) { qb, kb, vb in
    withMutableStoragePointers(&dq, &dk, &dv) { dqb, dkb, dvb in
    withMutableStoragePointers(&o, &lse) { ob, lb in
    dO.storage.withUnsafeBufferPointer { gb in
      let (qs, ks, vs, gs) = (Shared(qb), Shared(kb), Shared(vb), Shared(gb.baseAddress!))
      let (dqs, dks, dvs, os, ls) = (Shared(dqb), Shared(dkb), Shared(dvb), Shared(ob), Shared(lb))
      // One worker per KV head: each writes the dq rows of its own query heads and its own dk, dv.
      DispatchQueue.concurrentPerform(iterations: kvHeads) { g in
        let (qp, kp, vp, gp) = (qs.pointer, ks.pointer, vs.pointer, gs.pointer)
        let (dqp, dkp, dvp) = (dqs.pointer, dks.pointer, dvs.pointer)
        let pp = UnsafeMutablePointer<Double>.allocate(capacity: tileFloats)
        let sp = UnsafeMutablePointer<Double>.allocate(capacity: referenceQueryTile * referenceKeyBlock)
        let delta = UnsafeMutablePointer<Double>.allocate(capacity: referenceQueryTile)
        defer { pp.deallocate(); sp.deallocate(); delta.deallocate() }
        for h in g * group ..< (g + 1) * group {
            for q0 in stride(from: 0, to: nq, by: referenceQueryTile) {
                let rows = q0 ..< min(q0 + referenceQueryTile, nq), m = rows.count
                let keys = visibleKeyEnd(mask, rows: rows, keys: nk)
                if keys == 0 { continue }
                let rowLSE = referenceProbabilities(pp, q: qp, k: kp, rows: rows, keys: keys, head: h, kvHead: g,
                                                    heads: heads, kvHeads: kvHeads, dim: dim, mask: mask,
                                                    prefixes: prefixes)
                let qOffset = (q0 * heads + h) * dim, oOffset = (q0 * heads + h) * valueDim
                for (r, i) in rows.enumerated() { ls.pointer[i * heads + h] = rowLSE[r] }
                gemm(m: m, n: valueDim, k: keys, a: pp, lda: keys, b: vp, bOffset: g * valueDim,
                      ldb: kvHeads * valueDim, c: os.pointer, cOffset: oOffset, ldc: heads * valueDim)
                // δ_i = Σ_l P_il dP_il = dO_i · Σ_l P_il v_l = dO_i · o_i (the tile's o is complete).
                for r in 0..<m {
                    let oRow = os.pointer + oOffset + r * heads * valueDim, gRow = gp + oOffset + r * heads * valueDim
                    var sum = 0.0
                    for c in 0..<valueDim { sum += oRow[c] * gRow[c] }
                    delta[r] = sum
                }
                // Per block of keys (its dP, dS in L2): dP = dO V_bᵀ, dS = P_b ∘ (dP − δ) in place,
                // dV_b += P_bᵀ dO, dQ += scale·dS K_b, dK_b += scale·dSᵀ Q.
                for k0 in stride(from: 0, to: keys, by: referenceKeyBlock) {
                    let n = min(referenceKeyBlock, keys - k0)
                    let kvOffset = (k0 * kvHeads + g) * dim, vOffset = (k0 * kvHeads + g) * valueDim
                    gemm(.plain, .transposed, m: m, n: n, k: valueDim,
                          a: gp, aOffset: oOffset, lda: heads * valueDim,
                          b: vp, bOffset: vOffset, ldb: kvHeads * valueDim, c: sp, ldc: n)
                    for r in 0..<m {
                        spsim_reference_softmax_gradient_row(cpuVectorLevel, sp + r * n, pp + r * keys + k0, n, delta[r])
                    }
                    gemm(.transposed, .plain, m: n, n: valueDim, k: m, a: pp, aOffset: k0, lda: keys,
                          b: gp, bOffset: oOffset, ldb: heads * valueDim,
                          beta: 1, c: dvp, cOffset: vOffset, ldc: kvHeads * valueDim)
                    gemm(m: m, n: dim, k: n, alpha: scale, a: sp, lda: n,
                          b: kp, bOffset: kvOffset, ldb: kvHeads * dim,
                          beta: 1, c: dqp, cOffset: qOffset, ldc: heads * dim)
                    gemm(.transposed, .plain, m: n, n: dim, k: m, alpha: scale, a: sp, lda: n,
                          b: qp, bOffset: qOffset, ldb: heads * dim,
                          beta: 1, c: dkp, cOffset: kvOffset, ldc: kvHeads * dim)
                }
            }
        }
      }
    }}}}
    return (o, lse, dq, dk, dv)
}
