// Float64 references for softmax attention: for each head and tile of queries, the full
// row of scores against every visible key (one product), an exact two-pass softmax, and the
// textbook backward, with every matrix product accumulated in float64 and every row pass
// (max, exp, normalisation, the dS row) float64 vector code in C (CVectorMath/reference_rows.c,
// an exp accurate to about 1 ulp; the mask as each row's visible key prefix where it is one).
// The products run on `ProductEngine.bestFloat64`: on AVX-512, spsim's float64 panel
// micro-kernel (CVectorMath/panel_gemm.c, the `_f64` entries) over each KV head's Kᵀ, V (and
// for the backward Vᵀ, K) packed once for all its query heads and tiles; elsewhere
// `cblas_dgemm` on the operands in place. Independent of the float32 kernels in Attention.swift
// (no online softmax, no saved lse, no float32 anywhere); memory per KV head one tile of rows,
// `referenceQueryTile × nk` doubles (and one key block for the backward), and the packed keys
// and values (2 or 4 × nk × D doubles), whose query heads one thread computes (the KV heads run
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
    let latest = rows.reduce(Int.min) { max($0, queryPositions[$1]) }
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

/// Row stride of the reference's P and dS scratch for rows of `count` doubles: a cache line
/// more, so that rows a multiple of 4 KiB long do not all fall in the same few L1 sets (dV =
/// Pᵀ dO and dK = dSᵀ Q read P and dS down their columns; about 5% of the reference's time at
/// 8192 keys, within the noise of a shared 2-vCPU machine).
private func paddedStride(_ count: Int) -> Int { count + 8 }

/// One worker's float64 operands for one KV head `g`: its keys and values packed once as the B
/// operands of every product of its query heads' tiles (`Kᵀ` for S = QKᵀ, `V` for O = PV and,
/// for the backward, `Vᵀ` for dP = dO Vᵀ and `K` for dQ = dS K), and the tile's scratch: the
/// probabilities `P [tile × nk]`, one key block's dP/dS, and the tile's `Q`, `dO` packed for
/// dK = dSᵀ Q and dV = Pᵀ dO. One per worker thread (one KV head each): no state is shared.
private struct ReferenceWorkspace {
    let engine: ProductEngine
    let probabilities, scores, delta: UnsafeMutablePointer<Double>
    let keyPanels, valuePanels, valueTPanels, keyRowPanels, queryPanels, gradientPanels: UnsafeMutablePointer<Double>?
    var keysT, values, valuesT, keyRows: ProductOperand<Double>?

    init(engine: ProductEngine, queries nq: Int, keys nk: Int, dim: Int, valueDim: Int, backward: Bool) {
        self.engine = engine
        func doubles(_ count: Int) -> UnsafeMutablePointer<Double> { .allocate(capacity: max(count, 1)) }
        func panels(k: Int, n: Int, _ needed: Bool = true) -> UnsafeMutablePointer<Double>? {
            needed && engine.prepared(Double.self, k: k, n: n) > 0 ? doubles(engine.prepared(Double.self, k: k, n: n)) : nil
        }
        let tile = min(referenceQueryTile, nq)
        probabilities = doubles(tile * paddedStride(nk))
        scores = doubles(backward ? tile * paddedStride(referenceKeyBlock) : 0)
        delta = doubles(backward ? tile : 0)
        keyPanels = panels(k: dim, n: nk)
        valuePanels = panels(k: nk, n: valueDim)
        valueTPanels = panels(k: valueDim, n: nk, backward)
        keyRowPanels = panels(k: nk, n: dim, backward)
        queryPanels = panels(k: tile, n: dim, backward)
        gradientPanels = panels(k: tile, n: valueDim, backward)
    }

    /// Packs KV head `g`'s keys and values (`k`, `v` whole, `[nk, G, D]`), as the products need
    /// them.
    mutating func load(k: UnsafePointer<Double>, v: UnsafePointer<Double>, kvHead g: Int, kvHeads: Int, keys nk: Int,
                       dim: Int, valueDim: Int, backward: Bool) {
        let kp = k + g * dim, vp = v + g * valueDim, kStride = kvHeads * dim, vStride = kvHeads * valueDim
        keysT = engine.prepare(kp, rowStride: 1, colStride: kStride, k: dim, n: nk, storage: keyPanels)
        values = engine.prepare(vp, rowStride: vStride, colStride: 1, k: nk, n: valueDim, storage: valuePanels)
        guard backward else { return }
        valuesT = engine.prepare(vp, rowStride: 1, colStride: vStride, k: valueDim, n: nk, storage: valueTPanels)
        keyRows = engine.prepare(kp, rowStride: kStride, colStride: 1, k: nk, n: dim, storage: keyRowPanels)
    }

    func deallocate() {
        for pointer in [probabilities, scores, delta] { pointer.deallocate() }
        for pointer in [keyPanels, valuePanels, valueTPanels, keyRowPanels, queryPanels, gradientPanels] {
            pointer?.deallocate()
        }
    }
}

/// Fills the workspace's `P [rows × keys]` (row stride `paddedStride(keys)`) with the softmax probabilities
/// of one tile of query head `h` (`q` its first row, rows `qStride` apart): `s_ij = scale ·
/// q_i·k_j` (one product over the packed Kᵀ), then per row (`spsim_reference_softmax_row`,
/// float64 vector code) `lse_i = max + log Σ_j exp(s_ij − max)` and `p_ij = exp(s_ij − max) /
/// Σ_j exp(s_ij − max)` over the visible keys, 0 on the hidden ones, and O = P V into `o`
/// (rows `oStride` apart). `prefixes[i]` is the number of leading keys query `i` sees
/// (`visiblePrefixes`); nil applies the mask key by key (−∞ scores). Writes each row's lse
/// at `lse` (`lseStride` apart; −∞ and a zero row for a query that sees no key).
private func referenceTile(
    _ ws: ReferenceWorkspace, q: UnsafePointer<Double>, qStride: Int, o: UnsafeMutablePointer<Double>, oStride: Int,
    lse: UnsafeMutablePointer<Double>, lseStride: Int, rows: Range<Int>, keys: Int, dim: Int,
    mask: AttentionMask, prefixes: [Int]?
) {
    let p = ws.probabilities, ldp = paddedStride(keys)
    ws.engine.product(m: rows.count, a: q, rowStride: qStride, colStride: 1, b: ws.keysT!.columns(0..<keys),
                      alpha: 1 / Double(dim).squareRoot(), beta: 0, c: p, ldc: ldp)
    for (r, i) in rows.enumerated() {
        let row = p + r * ldp
        var visible = keys
        if let prefixes {
            visible = min(prefixes[i], keys)
        } else if case let .causal(queryPositions, keyPositions) = mask {
            let position = queryPositions[i]
            keyPositions.withUnsafeBufferPointer { kp in
                for j in 0..<keys where kp[j] > position { row[j] = -.infinity }
            }
        }
        lse[r * lseStride] = spsim_reference_softmax_row(cpuVectorLevel, row, visible, keys)
    }
    ws.engine.product(m: rows.count, a: p, rowStride: ldp, colStride: 1, b: ws.values!.rows(0..<keys),
                      beta: 0, c: o, ldc: oStride)
}

/// Softmax attention in float64: `s_ij = q_i·k_j / sqrt(D)` over visible keys,
/// `lse_i = log Σ_j exp(s_ij)`, `o_i = Σ_j exp(s_ij − lse_i) v_j`; `o [nq, H, Dv]`,
/// `lse [nq, H, 1]`, with o = 0 and lse = -inf for a query that sees no key.
///
/// q `[nq, H, D]`, k/v `[nk, G, D]`, query head h uses KV head `h / (H/G)`.
public func attentionReference(q: Tensor64, k: Tensor64, v: Tensor64, mask: AttentionMask) -> (o: Tensor64, lse: Tensor64) {
    attentionReference(q: q, k: k, v: v, mask: mask, engine: .bestFloat64)
}

/// `attentionReference` with its products on `engine` (the tests run every one).
func attentionReference(q: Tensor64, k: Tensor64, v: Tensor64, mask: AttentionMask,
                        engine: ProductEngine) -> (o: Tensor64, lse: Tensor64) {
    let nq = q.tokens, nk = k.tokens, heads = q.heads, kvHeads = k.heads, dim = q.dim, valueDim = v.dim
    precondition(k.dim == dim && v.tokens == nk && v.heads == kvHeads && kvHeads > 0 && heads % kvHeads == 0,
                 "attention reference: inconsistent shapes")
    let group = heads / kvHeads
    var o = Tensor64(tokens: nq, heads: heads, dim: valueDim)
    var lse = Tensor64(tokens: nq, heads: heads, dim: 1, repeating: -.infinity)
    let prefixes = visiblePrefixes(mask, queries: nq, keys: nk)
    withStoragePointers(q, k, v) { qb, kb, vb in
    withMutableStoragePointers(&o, &lse) { ob, lb in
      let (qs, ks, vs, os, ls) = (Shared(qb), Shared(kb), Shared(vb), Shared(ob), Shared(lb))
      // One worker per KV head: each writes only the o and lse rows of its own query heads.
      DispatchQueue.concurrentPerform(iterations: kvHeads) { g in
        var ws = ReferenceWorkspace(engine: engine, queries: nq, keys: nk, dim: dim, valueDim: valueDim,
                                    backward: false)
        defer { ws.deallocate() }
        ws.load(k: ks.pointer, v: vs.pointer, kvHead: g, kvHeads: kvHeads, keys: nk, dim: dim, valueDim: valueDim,
                backward: false)
        for h in g * group ..< (g + 1) * group {
            for q0 in stride(from: 0, to: nq, by: referenceQueryTile) {
                let rows = q0 ..< min(q0 + referenceQueryTile, nq)
                let keys = visibleKeyEnd(mask, rows: rows, keys: nk)
                if keys == 0 { continue }
                referenceTile(ws, q: qs.pointer + (q0 * heads + h) * dim, qStride: heads * dim,
                              o: os.pointer + (q0 * heads + h) * valueDim, oStride: heads * valueDim,
                              lse: ls.pointer + q0 * heads + h, lseStride: heads, rows: rows, keys: keys, dim: dim,
                              mask: mask, prefixes: prefixes)
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
    attentionReferenceWithGradients(q: q, k: k, v: v, dO: dO, mask: mask, engine: .bestFloat64)
}

/// `attentionReferenceWithGradients` with its products on `engine` (the tests run every one).
func attentionReferenceWithGradients(q: Tensor64, k: Tensor64, v: Tensor64, dO: Tensor64, mask: AttentionMask,
                                     engine: ProductEngine)
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
    let prefixes = visiblePrefixes(mask, queries: nq, keys: nk)
    withStoragePointers(q, k, v) { qb, kb, vb in
    withMutableStoragePointers(&dq, &dk, &dv) { dqb, dkb, dvb in
    withMutableStoragePointers(&o, &lse) { ob, lb in
    dO.storage.withUnsafeBufferPointer { gb in
      let (qs, ks, vs, gs) = (Shared(qb), Shared(kb), Shared(vb), Shared(gb.baseAddress!))
      let (dqs, dks, dvs, os, ls) = (Shared(dqb), Shared(dkb), Shared(dvb), Shared(ob), Shared(lb))
      // One worker per KV head: each writes the dq rows of its own query heads and its own dk, dv.
      DispatchQueue.concurrentPerform(iterations: kvHeads) { g in
        let (qp, gp, dqp, dkp, dvp) = (qs.pointer, gs.pointer, dqs.pointer, dks.pointer, dvs.pointer)
        var ws = ReferenceWorkspace(engine: engine, queries: nq, keys: nk, dim: dim, valueDim: valueDim,
                                    backward: true)
        defer { ws.deallocate() }
        ws.load(k: ks.pointer, v: vs.pointer, kvHead: g, kvHeads: kvHeads, keys: nk, dim: dim, valueDim: valueDim,
                backward: true)
        let (pp, sp, delta, engine) = (ws.probabilities, ws.scores, ws.delta, ws.engine)
        let (qStride, oStride) = (heads * dim, heads * valueDim)
        let (kStride, vStride) = (kvHeads * dim, kvHeads * valueDim)
        for h in g * group ..< (g + 1) * group {
            for q0 in stride(from: 0, to: nq, by: referenceQueryTile) {
                let rows = q0 ..< min(q0 + referenceQueryTile, nq), m = rows.count
                let keys = visibleKeyEnd(mask, rows: rows, keys: nk), ldp = paddedStride(keys)
                if keys == 0 { continue }
                let qOffset = (q0 * heads + h) * dim, oOffset = (q0 * heads + h) * valueDim
                referenceTile(ws, q: qp + qOffset, qStride: qStride, o: os.pointer + oOffset, oStride: oStride,
                              lse: ls.pointer + q0 * heads + h, lseStride: heads, rows: rows, keys: keys, dim: dim,
                              mask: mask, prefixes: prefixes)
                // The tile's Q and dO, B operands of every key block's dK and dV.
                let queries = engine.prepare(qp + qOffset, rowStride: qStride, colStride: 1, k: m, n: dim,
                                             storage: ws.queryPanels)
                let gradients = engine.prepare(gp + oOffset, rowStride: oStride, colStride: 1, k: m, n: valueDim,
                                               storage: ws.gradientPanels)
                // δ_i = Σ_l P_il dP_il = dO_i · Σ_l P_il v_l = dO_i · o_i (the tile's o is complete).
                for r in 0..<m {
                    let oRow = os.pointer + oOffset + r * oStride, gRow = gp + oOffset + r * oStride
                    var sum = 0.0
                    for c in 0..<valueDim { sum += oRow[c] * gRow[c] }
                    delta[r] = sum
                }
                // Per block of keys (its dP, dS in L2): dP = dO V_bᵀ, dS = P_b ∘ (dP − δ) in place,
                // dV_b += P_bᵀ dO, dQ += scale·dS K_b, dK_b += scale·dSᵀ Q.
                for k0 in stride(from: 0, to: keys, by: referenceKeyBlock) {
                    let n = min(referenceKeyBlock, keys - k0), block = k0 ..< k0 + n, lds = paddedStride(n)
                    engine.product(m: m, a: gp + oOffset, rowStride: oStride, colStride: 1,
                                   b: ws.valuesT!.columns(block), beta: 0, c: sp, ldc: lds)
                    for r in 0..<m {
                        spsim_reference_softmax_gradient_row(cpuVectorLevel, sp + r * lds, pp + r * ldp + k0, n, delta[r])
                    }
                    engine.product(m: n, a: pp + k0, rowStride: 1, colStride: ldp, b: gradients,
                                   beta: 1, c: dvp + k0 * vStride + g * valueDim, ldc: vStride)
                    engine.product(m: m, a: sp, rowStride: lds, colStride: 1, b: ws.keyRows!.rows(block),
                                   alpha: scale, beta: 1, c: dqp + qOffset, ldc: qStride)
                    engine.product(m: n, a: sp, rowStride: 1, colStride: lds, b: queries,
                                   alpha: scale, beta: 1, c: dkp + k0 * kStride + g * dim, ldc: kStride)
                }
            }
        }
      }
    }}}}
    return (o, lse, dq, dk, dv)
}
