// Softmax attention blocks, forward and backward, FlashAttention-2 style on the CPU.
//
// Queries and keys are cut into tiles; for each head and key tile, the tile's Kᵀ and V (in the
// backward also K and Vᵀ) are packed once for the products (`ProductEngine`), then every query
// tile computes its scores with one product that reads the q head in place (leading dimension
// heads·dim), so no n×n matrix is ever formed: scratch memory is one tile of scores (plus one
// of score gradients in the backward) and the packed operands of one tile. The forward keeps
// a running max and running sum per query row (online softmax) and accumulates o directly in
// the output tensor; the backward is FlashAttention-2's, given the final o and lse. Their
// exponentials e^(s − m) are evaluated as 2^((s − m)·log₂e) (`softmaxExp`, as FlashAttention-3
// does): the fewest instructions, and exactly 1 at a row's maximum.
// A causal mask is applied per tile from the min/max positions of its queries and keys:
// tiles with no visible pair are skipped, fully visible tiles skip the mask test.

import CVectorMath
import Foundation

/// Which keys each query may see.
public enum AttentionMask: Sendable, Equatable {
    /// Every query sees every key.
    case none
    /// key j is visible to query i iff keyPositions[j] <= queryPositions[i] (global token positions, any order)
    case causal(queryPositions: [Int], keyPositions: [Int])
}

/// Partial or final attention output: `o [n, H, D]` and `lse [n, H, 1]` (natural log; -inf for a row that sees no key, whose o row is 0).
///
/// For the keys `K` of the block, `lse_i = log Σ_{j∈K} exp(s_ij)` and
/// `o_i = Σ_{j∈K} exp(s_ij − lse_i) v_j`; two outputs over disjoint key sets combine
/// exactly with `mergeAttention`.
public struct AttentionOutput: Sendable, Equatable {
    /// The attention output, `[n, H, D]`.
    public var o: Tensor32
    /// The log-sum-exp of each row's scores, `[n, H, 1]`.
    public var lse: Tensor32

    /// An output from its two tensors.
    public init(o: Tensor32, lse: Tensor32) { (self.o, self.lse) = (o, lse) }
}

/// Gradients of a softmax attention block with respect to its inputs.
public struct AttentionGradients: Sendable, Equatable {
    /// Gradient with respect to the queries, `[nq, H, D]`.
    public var dq: Tensor32
    /// Gradient with respect to the keys, `[nk, G, D]` (summed over the query heads of each KV head).
    public var dk: Tensor32
    /// Gradient with respect to the values, `[nk, G, D]` (summed over the query heads of each KV head).
    public var dv: Tensor32

    /// Gradients from their three tensors.
    public init(dq: Tensor32, dk: Tensor32, dv: Tensor32) { (self.dq, self.dk, self.dv) = (dq, dk, dv) }
}

/// Query rows per tile. With 128 key columns a tile of scores is 32 KiB, so the scores stay
/// in the L1 cache between their product, the exponentials and the next product (measured
/// on a 48 KiB-L1 Xeon: 64 × 128 took 0.76–0.86 of the time of 128 × 256 at D = 16 and 64).
@usableFromInline let defaultAttentionQueryTile = 64
/// Key columns per tile.
@usableFromInline let defaultAttentionKeyTile = 128

// MARK: - Forward

/// q [nq, H, D], k/v [nk, G, D], H % G == 0, query head h uses KV head h / (H/G); scale 1/sqrt(D).
///
/// Returns `o_i = Σ_j softmax_j(s_ij) v_j` and `lse_i = log Σ_j exp(s_ij)` with
/// `s_ij = q_i·k_j / sqrt(D)` over the keys visible to query i (all of them, or those
/// with `keyPositions[j] <= queryPositions[i]` under `.causal`). A query that sees no key
/// gets o = 0 and lse = -inf. `v` may have its own head dimension; o then has it too.
/// Memory beyond the outputs: one 64×128 score tile, one key tile of K and V packed for the
/// products, and two floats per query; one thread.
public func attentionForward(q: Tensor32, k: Tensor32, v: Tensor32, mask: AttentionMask) -> AttentionOutput {
    attentionForward(q: q, k: k, v: v, mask: mask,
                     queryTile: defaultAttentionQueryTile, keyTile: defaultAttentionKeyTile)
}

/// `attentionForward` with explicit tile sizes and product engine (tests use small tiles to
/// exercise tiling, and both engines).
func attentionForward(q: Tensor32, k: Tensor32, v: Tensor32, mask: AttentionMask,
                      queryTile: Int, keyTile: Int, engine: ProductEngine = .best) -> AttentionOutput {
    let block = AttentionBlock(q: q, k: k, v: v, mask: mask, queryTile: queryTile, keyTile: keyTile)
    var o = Tensor32(tokens: block.queries, heads: block.heads, dim: block.valueDim)
    var lse = Tensor32(tokens: block.queries, heads: block.heads, dim: 1, repeating: -.infinity)
    if block.isEmpty { return AttentionOutput(o: o, lse: lse) }
    let plan = block.plan, heads = block.heads, valueDim = block.valueDim, nq = block.queries
    // Scratch: one tile of scores, the running max and sum of every query row of a head, and
    // the key tile's Kᵀ and V prepared for the products.
    let tileKeys = min(plan.keyTile, block.keys)
    let kTFloats = engine.preparedFloats(k: block.dim, n: tileKeys), vFloats = engine.preparedFloats(k: tileKeys, n: valueDim)
    var scratch = [Float](repeating: 0, count: block.tileFloats + 2 * nq + kTFloats + vFloats)

    withStoragePointers(q, k, v) { qp, kp, vp in
    withMutableStoragePointers(&o, &lse) { op, lp in
    scratch.withUnsafeMutableBufferPointer { scratchBuffer in
        let s = scratchBuffer.baseAddress!
        let m = s + block.tileFloats, l = m + nq, kTStorage = l + nq, vStorage = kTStorage + kTFloats
        for h in 0..<heads {
            for i in 0..<nq { m[i] = -.infinity; l[i] = 0 }
            for kt in 0..<plan.keyTiles {
                if !plan.anyQuerySees(keyTile: kt) { continue }
                let k0 = kt &* plan.keyTile, mk = min(plan.keyTile, block.keys &- k0)
                let kT = engine.prepare(kp + block.keyOffset(k0, head: h), rowStride: 1, colStride: block.kStride,
                                        k: block.dim, n: mk, storage: kTStorage)
                let values = engine.prepare(vp + block.valueOffset(k0, head: h), rowStride: block.vStride, colStride: 1,
                                            k: mk, n: valueDim, storage: vStorage)
                for qt in 0..<plan.queryTiles {
                    let visibility = plan.visibility(queryTile: qt, keyTile: kt)
                    if visibility == .none { continue }
                    let q0 = qt &* plan.queryTile, mq = min(plan.queryTile, nq &- q0)
                    // S = scale · Q Kᵀ  [mq × mk]
                    engine.product(m: mq, a: qp + block.queryOffset(q0, head: h), rowStride: block.qStride,
                                   colStride: 1, b: kT, alpha: block.scale, beta: 0, c: s, ldc: mk)
                    if visibility == .partial { plan.applyMask(s, queryTile: qt, keyTile: kt) }
                    // Online softmax: P = exp(S − m_new), l = l·exp(m_old − m_new) + rowsum(P),
                    // o = o·exp(m_old − m_new) (then o += P V below).
                    for i in 0..<mq {
                        let row = s + i &* mk, r = q0 &+ i
                        let oldMax = m[r]
                        let newMax = max(oldMax, rowMaximum(row, count: mk))
                        if newMax == -.infinity {
                            // No key visible to this row yet: P row is zero.
                            row.update(repeating: 0, count: mk)
                            continue
                        }
                        let tileSum = softmaxExp(row, count: mk, shift: newMax)
                        if oldMax != newMax && oldMax != -.infinity {
                            let correction = fastExp(oldMax - newMax)
                            l[r] *= correction
                            scaleRow(op + (r &* heads &+ h) &* valueDim, count: valueDim, by: correction)
                        }
                        l[r] += tileSum
                        m[r] = newMax
                    }
                    // o += P V  [mq × valueDim], accumulated in place in the output.
                    engine.product(m: mq, a: s, rowStride: mk, colStride: 1, b: values,
                                   beta: 1, c: op + block.outputOffset(q0, head: h), ldc: block.oStride)
                }
            }
            // o = o / l, lse = m + log l; rows that saw no key keep o = 0, lse = -inf.
            for i in 0..<nq where l[i] > 0 {
                let row = i &* heads &+ h
                scaleRow(op + row &* valueDim, count: valueDim, by: 1 / l[i])
                lp[row] = m[i] + log(l[i])
            }
        }
    }}}
    return AttentionOutput(o: o, lse: lse)
}

// MARK: - Backward

/// Given the FINAL o and lse of these queries (over all keys, possibly from a merge), returns the exact partial gradients for this key block: dq [nq,H,D], dk/dv [nk,G,D] (summed over the query heads of each KV head).
///
/// FlashAttention-2's backward, tiled like the forward: with `D_i = rowsum(dO∘O)`,
/// `P = exp(S − lse)`, `dV += Pᵀ dO`, `dP = dO Vᵀ`, `dS = P∘(dP − D_i)`,
/// `dQ += scale·dS K`, `dK += scale·dSᵀ Q`. Summing the results of every key block of a
/// query set gives the gradients of the whole attention. Rows with lse = -inf contribute
/// nothing.
public func attentionBackward(q: Tensor32, k: Tensor32, v: Tensor32, o: Tensor32, lse: Tensor32,
                              dO: Tensor32, mask: AttentionMask) -> AttentionGradients {
    attentionBackward(q: q, k: k, v: v, o: o, lse: lse, dO: dO, mask: mask,
                      queryTile: defaultAttentionQueryTile, keyTile: defaultAttentionKeyTile)
}

/// `attentionBackward` with explicit tile sizes and product engine (tests use small tiles to
/// exercise tiling, and both engines).
func attentionBackward(q: Tensor32, k: Tensor32, v: Tensor32, o: Tensor32, lse: Tensor32,
                       dO: Tensor32, mask: AttentionMask,
                       queryTile: Int, keyTile: Int, engine: ProductEngine = .best) -> AttentionGradients {
    let block = AttentionBlock(q: q, k: k, v: v, mask: mask, queryTile: queryTile, keyTile: keyTile)
    let nq = block.queries, nk = block.keys, heads = block.heads, kvHeads = block.kvHeads
    let dim = block.dim, valueDim = block.valueDim
    precondition(o.shape == [nq, heads, valueDim], "attention backward: o must be [nq, H, Dv]")
    precondition(dO.shape == [nq, heads, valueDim], "attention backward: dO must be [nq, H, Dv]")
    precondition(lse.shape == [nq, heads, 1], "attention backward: lse must be [nq, H, 1]")
    var dq = Tensor32(tokens: nq, heads: heads, dim: dim)
    var dk = Tensor32(tokens: nk, heads: kvHeads, dim: dim)
    var dv = Tensor32(tokens: nk, heads: kvHeads, dim: valueDim)
    if block.isEmpty { return AttentionGradients(dq: dq, dk: dk, dv: dv) }
    let plan = block.plan
    // Scratch: a tile of probabilities, a tile of score gradients, D_i per (query, head), then
    // the operands prepared for the products, one tile each: Kᵀ, Vᵀ and K of the key tile,
    // Q and dO of the query tile.
    let tileKeys = min(plan.keyTile, nk), tileQueries = min(plan.queryTile, nq)
    let kTFloats = engine.preparedFloats(k: dim, n: tileKeys), vTFloats = engine.preparedFloats(k: valueDim, n: tileKeys)
    let kFloats = engine.preparedFloats(k: tileKeys, n: dim)
    let qFloats = engine.preparedFloats(k: tileQueries, n: dim), dOFloats = engine.preparedFloats(k: tileQueries, n: valueDim)
    var scratch = [Float](repeating: 0, count: 2 * block.tileFloats + nq * heads
                          + kTFloats + vTFloats + kFloats + qFloats + dOFloats)

    withStoragePointers(q, k, v) { qp, kp, vp in
    withStoragePointers(dO, o, lse) { dOp, op, lp in
    withMutableStoragePointers(&dq, &dk, &dv) { dqp, dkp, dvp in
    scratch.withUnsafeMutableBufferPointer { scratchBuffer in
        let p = scratchBuffer.baseAddress!, ds = p + block.tileFloats, deltas = ds + block.tileFloats
        let kTStorage = deltas + nq * heads, vTStorage = kTStorage + kTFloats, kStorage = vTStorage + vTFloats
        let qStorage = kStorage + kFloats, dOStorage = qStorage + qFloats
        // D_i = rowsum(dO ∘ O)
        for row in 0..<(nq &* heads) {
            deltas[row] = dotProduct(dOp + row &* valueDim, op + row &* valueDim, count: valueDim)
        }
        for h in 0..<heads {
            for kt in 0..<plan.keyTiles {
                let k0 = kt &* plan.keyTile, mk = min(plan.keyTile, nk &- k0)
                let kOffset = block.keyOffset(k0, head: h), vOffset = block.valueOffset(k0, head: h)
                if !plan.anyQuerySees(keyTile: kt) { continue }
                let kT = engine.prepare(kp + kOffset, rowStride: 1, colStride: block.kStride, k: dim, n: mk,
                                        storage: kTStorage)
                let vT = engine.prepare(vp + vOffset, rowStride: 1, colStride: block.vStride, k: valueDim, n: mk,
                                        storage: vTStorage)
                let keys = engine.prepare(kp + kOffset, rowStride: block.kStride, colStride: 1, k: mk, n: dim,
                                          storage: kStorage)
                for qt in 0..<plan.queryTiles {
                    let visibility = plan.visibility(queryTile: qt, keyTile: kt)
                    if visibility == .none { continue }
                    let q0 = qt &* plan.queryTile, mq = min(plan.queryTile, nq &- q0)
                    let qOffset = block.queryOffset(q0, head: h), oOffset = block.outputOffset(q0, head: h)
                    let queries = engine.prepare(qp + qOffset, rowStride: block.qStride, colStride: 1, k: mq, n: dim,
                                                 storage: qStorage)
                    let outputGradients = engine.prepare(dOp + oOffset, rowStride: block.oStride, colStride: 1,
                                                         k: mq, n: valueDim, storage: dOStorage)
                    // S = scale · Q Kᵀ, then P = exp(S − lse).
                    engine.product(m: mq, a: qp + qOffset, rowStride: block.qStride, colStride: 1, b: kT,
                                   alpha: block.scale, beta: 0, c: p, ldc: mk)
                    if visibility == .partial { plan.applyMask(p, queryTile: qt, keyTile: kt) }
                    for i in 0..<mq {
                        let rowLSE = lp[(q0 &+ i) &* heads &+ h]
                        if rowLSE == -.infinity || rowLSE.isNaN {
                            (p + i &* mk).update(repeating: 0, count: mk)
                        } else {
                            _ = softmaxExp(p + i &* mk, count: mk, shift: rowLSE)
                        }
                    }
                    // dV += Pᵀ dO  [mk × valueDim]
                    engine.product(m: mk, a: p, rowStride: 1, colStride: mk, b: outputGradients,
                                   beta: 1, c: dvp + vOffset, ldc: block.vStride)
                    // dP = dO Vᵀ  [mq × mk]
                    engine.product(m: mq, a: dOp + oOffset, rowStride: block.oStride, colStride: 1, b: vT,
                                   beta: 0, c: ds, ldc: mk)
                    // dS = P ∘ (dP − D_i)
                    for i in 0..<mq {
                        softmaxGradientRow(ds + i &* mk, probabilities: p + i &* mk, count: mk,
                                           delta: deltas[(q0 &+ i) &* heads &+ h])
                    }
                    // dQ += scale · dS K  [mq × dim]
                    engine.product(m: mq, a: ds, rowStride: mk, colStride: 1, b: keys,
                                   alpha: block.scale, beta: 1, c: dqp + qOffset, ldc: block.qStride)
                    // dK += scale · dSᵀ Q  [mk × dim]
                    engine.product(m: mk, a: ds, rowStride: 1, colStride: mk, b: queries,
                                   alpha: block.scale, beta: 1, c: dkp + kOffset, ldc: block.kStride)
                }
            }
        }
    }}}}
    return AttentionGradients(dq: dq, dk: dk, dv: dv)
}

// MARK: - FLOPs

/// FLOPs the forward of this block performs in the model's convention: 4·(visible query-key pairs)·H·D. (Helper for reporting.)
///
/// Under `.causal` the visible pairs are counted exactly (a contiguous diagonal block of n
/// tokens has n(n+1)/2); `queries` and `keys` must then equal the position counts.
public func attentionForwardFLOPs(queries: Int, keys: Int, heads: Int, dim: Int, mask: AttentionMask) -> Double {
    let pairs: Int
    switch mask {
    case .none:
        pairs = queries * keys
    case let .causal(queryPositions, keyPositions):
        precondition(queryPositions.count == queries && keyPositions.count == keys,
                     "causal mask positions do not match the query and key counts")
        let sortedKeys = keyPositions.sorted()
        var total = 0
        for position in queryPositions {
            // Number of keys with position <= this query's (upper bound in the sorted keys).
            var lo = 0, hi = sortedKeys.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if sortedKeys[mid] <= position { lo = mid + 1 } else { hi = mid }
            }
            total += lo
        }
        pairs = total
    }
    return 4 * Double(pairs) * Double(heads) * Double(dim)
}

// MARK: - Shared pieces

/// The set-up the forward and the backward of a block share: extents, GQA grouping
/// (query head h reads KV head h / group), the score scale 1/sqrt(D), row strides in
/// elements of q `[nq, H, D]`, k `[nk, G, D]`, v `[nk, G, Dv]` and o `[nq, H, Dv]`, and the tiling.
struct AttentionBlock {
    let queries: Int, keys: Int, heads: Int, kvHeads: Int, dim: Int, valueDim: Int
    let group: Int
    let scale: Float
    let qStride: Int, kStride: Int, vStride: Int, oStride: Int
    let plan: AttentionTilePlan
    /// Floats of one score tile.
    let tileFloats: Int

    /// Checks shapes, GQA grouping, mask lengths and tile sizes; traps with a message on mismatch.
    init(q: Tensor32, k: Tensor32, v: Tensor32, mask: AttentionMask, queryTile: Int, keyTile: Int) {
        precondition(k.dim == q.dim, "attention: q and k head dimensions differ (\(q.dim) vs \(k.dim))")
        precondition(v.tokens == k.tokens && v.heads == k.heads, "attention: k and v shapes differ")
        precondition(k.heads > 0 || q.heads == 0, "attention: no KV heads")
        precondition(k.heads == 0 || q.heads % k.heads == 0,
                     "attention: query heads (\(q.heads)) not a multiple of KV heads (\(k.heads))")
        if case let .causal(queryPositions, keyPositions) = mask {
            precondition(queryPositions.count == q.tokens, "causal mask: \(queryPositions.count) query positions for \(q.tokens) queries")
            precondition(keyPositions.count == k.tokens, "causal mask: \(keyPositions.count) key positions for \(k.tokens) keys")
        }
        precondition(queryTile > 0 && keyTile > 0, "attention tiles must be positive")
        (queries, keys, heads, kvHeads, dim, valueDim) = (q.tokens, k.tokens, q.heads, k.heads, q.dim, v.dim)
        group = kvHeads > 0 ? heads / kvHeads : 1
        scale = 1 / Float(dim).squareRoot()
        (qStride, kStride, vStride, oStride) = (heads * dim, kvHeads * dim, kvHeads * valueDim, heads * valueDim)
        plan = AttentionTilePlan(mask: mask, queries: queries, keys: keys, queryTile: queryTile, keyTile: keyTile)
        tileFloats = min(queryTile, queries) * min(keyTile, keys)
    }

    /// Whether there is nothing to compute (no query, no key or no head).
    var isEmpty: Bool { queries == 0 || keys == 0 || heads == 0 }

    /// Offset of query `token`'s head `head` in q.
    @inline(__always) func queryOffset(_ token: Int, head: Int) -> Int { (token &* heads &+ head) &* dim }
    /// Offset of key `token` in k for query head `head` (its KV head).
    @inline(__always) func keyOffset(_ token: Int, head: Int) -> Int { (token &* kvHeads &+ head / group) &* dim }
    /// Offset of value `token` in v for query head `head` (its KV head).
    @inline(__always) func valueOffset(_ token: Int, head: Int) -> Int { (token &* kvHeads &+ head / group) &* valueDim }
    /// Offset of query `token`'s head `head` in o (and dO).
    @inline(__always) func outputOffset(_ token: Int, head: Int) -> Int { (token &* heads &+ head) &* valueDim }
}

/// Which pairs of a (query tile, key tile) a mask lets through.
enum TileVisibility: Sendable {
    /// No pair visible: skip the tile.
    case none
    /// Every pair visible: no mask test.
    case all
    /// Some pairs visible: mask element by element.
    case partial
}

/// The tiling of a query set × key set, with per-tile position bounds for a causal mask.
struct AttentionTilePlan {
    let queryTiles: Int
    let keyTiles: Int
    /// Query rows and key columns per tile.
    let queryTile: Int, keyTile: Int
    /// Query and key positions (empty without a mask).
    let positions: (queries: [Int], keys: [Int])
    private let isCausal: Bool
    private let queryMin: [Int]
    private let queryMax: [Int]
    private let keyMin: [Int]
    private let keyMax: [Int]

    init(mask: AttentionMask, queries: Int, keys: Int, queryTile: Int, keyTile: Int) {
        queryTiles = (queries + queryTile - 1) / queryTile
        keyTiles = (keys + keyTile - 1) / keyTile
        (self.queryTile, self.keyTile) = (queryTile, keyTile)
        switch mask {
        case .none:
            isCausal = false
            positions = ([], [])
            queryMin = []; queryMax = []; keyMin = []; keyMax = []
        case let .causal(queryPositions, keyPositions):
            isCausal = true
            positions = (queryPositions, keyPositions)
            (queryMin, queryMax) = Self.bounds(queryPositions, tile: queryTile)
            (keyMin, keyMax) = Self.bounds(keyPositions, tile: keyTile)
        }
    }

    /// Per-tile minimum and maximum of `values`.
    private static func bounds(_ values: [Int], tile: Int) -> ([Int], [Int]) {
        var lows = [Int](), highs = [Int]()
        var start = 0
        while start < values.count {
            let chunk = values[start ..< min(start + tile, values.count)]
            lows.append(chunk.min()!)
            highs.append(chunk.max()!)
            start += tile
        }
        return (lows, highs)
    }

    /// Whether no, all or some pairs of the tile are visible (key pos <= query pos).
    @inline(__always)
    func visibility(queryTile qt: Int, keyTile kt: Int) -> TileVisibility {
        if !isCausal { return .all }
        if keyMin[kt] > queryMax[qt] { return .none }
        if keyMax[kt] <= queryMin[qt] { return .all }
        return .partial
    }

    /// Whether some query tile sees some key of key tile `kt` (else its operands need no preparing).
    func anyQuerySees(keyTile kt: Int) -> Bool {
        (0..<queryTiles).contains { visibility(queryTile: $0, keyTile: kt) != .none }
    }

    /// Sets `scores[i, j] = -inf` in the tile's `[rows × columns]` scores (row stride
    /// `columns`) wherever key j's position exceeds query i's.
    func applyMask(_ scores: UnsafeMutablePointer<Float>, queryTile qt: Int, keyTile kt: Int) {
        let q0 = qt * queryTile, k0 = kt * keyTile
        let rows = min(queryTile, positions.queries.count - q0), columns = min(keyTile, positions.keys.count - k0)
        positions.queries.withUnsafeBufferPointer { queryPositions in
        positions.keys.withUnsafeBufferPointer { keyPositions in
            for i in 0..<rows {
                let position = queryPositions[q0 &+ i]
                let row = scores + i &* columns
                for j in 0..<columns where keyPositions[k0 &+ j] > position {
                    row[j] = -.infinity
                }
            }
        }}
    }
}

/// The largest of `count` values (-inf for none), on the CPU's widest vector unit.
@inline(__always)
func rowMaximum(_ values: UnsafePointer<Float>, count: Int) -> Float {
    spsim_row_max(cpuVectorLevel, values, count)
}

/// Multiplies `count` values by `factor`, in place.
@inline(__always)
func scaleRow(_ values: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
    for j in 0..<count { values[j] *= factor }
}

/// Σ a_j·b_j over `count` elements, in 16 lanes.
@inline(__always)
func dotProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var acc = SIMD16<Float>()
    var j = 0
    let whole = count & ~15
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while j < whole {
        acc += ra.loadUnaligned(fromByteOffset: j &* 4, as: SIMD16<Float>.self)
            * rb.loadUnaligned(fromByteOffset: j &* 4, as: SIMD16<Float>.self)
        j &+= 16
    }
    var result = acc.sum()
    while j < count {
        result += a[j] * b[j]
        j &+= 1
    }
    return result
}

/// `dS = P ∘ (dP − delta)` for one row: `gradients` holds dP on entry and dS on exit.
@inline(__always)
func softmaxGradientRow(_ gradients: UnsafeMutablePointer<Float>, probabilities: UnsafePointer<Float>,
                        count: Int, delta: Float) {
    spsim_softmax_gradient_row(cpuVectorLevel, gradients, probabilities, count, delta)
}
