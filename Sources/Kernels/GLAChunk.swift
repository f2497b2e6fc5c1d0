// Chunked gated linear attention: the SIMD row helpers and the per-chunk workspace and decays
// that GLA.swift (forward) and GLABackward.swift share. Row dot products use `dotProduct`
// (Attention.swift), the one row dot product of the kernels; a chunk's decays and the row
// scalings by them run in C for the CPU's widest vector unit (CVectorMath/gla_rows.c).

import CVectorMath

// MARK: - Small vector helpers (SSE2-level SIMD: no FMA, so the baseline build vectorizes)

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
func store8(_ x: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: x, as: SIMD8<Float>.self)
}

/// `w ← w ⊙ e`, then returns Σ_i w[i] · k[i].
@inline(__always)
func glaDecayAndDot(_ w: UnsafeMutablePointer<Float>, _ e: UnsafePointer<Float>,
                            _ k: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i &+ 8 <= n {
        let wv = load8(w + i) * load8(e + i)
        store8(wv, w + i)
        acc += wv * load8(k + i)
        i &+= 8
    }
    var sum = acc.sum()
    while i < n {
        let wi = w[i] * e[i]
        w[i] = wi
        sum += wi * k[i]
        i &+= 1
    }
    return sum
}

/// One backward pair (t, s < t): `f ← f ⊙ e`, `w ← w ⊙ e` (w = q_t ⊙ f), returns
/// `A_ts = Σ w ⊙ k_s`, and accumulates `dq_t += d · (k_s ⊙ f)`, `dk_s += d · w`.
@inline(__always)
func glaBackwardPair(f: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>,
                             e: UnsafePointer<Float>, k: UnsafePointer<Float>, d: Float,
                             dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                             _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    let dv = SIMD8<Float>(repeating: d)
    var i = 0
    while i &+ 8 <= n {
        let ev = load8(e + i)
        let fv = load8(f + i) * ev
        let wv = load8(w + i) * ev
        let kv = load8(k + i)
        store8(fv, f + i)
        store8(wv, w + i)
        acc += wv * kv
        store8(load8(dq + i) + dv * (kv * fv), dq + i)
        store8(load8(dk + i) + dv * wv, dk + i)
        i &+= 8
    }
    var sum = acc.sum()
    while i < n {
        let fi = f[i] * e[i], wi = w[i] * e[i], ki = k[i]
        f[i] = fi
        w[i] = wi
        sum += wi * ki
        dq[i] += d * (ki * fi)
        dk[i] += d * wi
        i &+= 1
    }
    return sum
}

/// `out[i] = x[i] · y[i]` for `n` values (`out` may be `x` or `y`).
@inline(__always)
func glaMultiply(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i &+ 8 <= n {
        store8(load8(x + i) * load8(y + i), out + i)
        i &+= 8
    }
    while i < n {
        out[i] = x[i] * y[i]
        i &+= 1
    }
}

/// `out[i] = x[i] / y[i]` for `n` values.
@inline(__always)
func glaDivide(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i &+ 8 <= n {
        store8(load8(x + i) / load8(y + i), out + i)
        i &+= 8
    }
    while i < n {
        out[i] = x[i] / y[i]
        i &+= 1
    }
}

/// `out[i] += x[i]` for `n` values.
@inline(__always)
func glaAccumulate(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i &+ 8 <= n {
        store8(load8(out + i) + load8(x + i), out + i)
        i &+= 8
    }
    while i < n {
        out[i] += x[i]
        i &+= 1
    }
}

// MARK: - Chunk walker

/// One chunk of one head: tokens `start ..< start + length` of head `head`, and the element
/// offsets of its first row in the `[n, H, Dk]` and `[n, H, Dv]` tensors (rows `H·Dk` and
/// `H·Dv` apart).
struct GLAChunk {
    let head, start, length: Int
    let keyOffset, valueOffset: Int
}

/// Calls `body` for every chunk of `chunk` tokens of every head: chunks in token order (from
/// the last when `reversed`), and every head of a chunk before the next chunk, so the inputs
/// are read in memory order. Chunks start at multiples of `chunk` (the last may be shorter).
@inline(__always)
func glaForEachChunk(tokens n: Int, heads: Int, keyDim: Int, valueDim: Int, chunk: Int, reversed: Bool = false,
                     _ body: (GLAChunk) -> Void) {
    let count = (n &+ chunk &- 1) / chunk
    for i in 0..<count {
        let start = (reversed ? count &- 1 &- i : i) &* chunk
        for h in 0..<heads {
            body(GLAChunk(head: h, start: start, length: min(chunk, n &- start),
                          keyOffset: (start &* heads &+ h) &* keyDim, valueOffset: (start &* heads &+ h) &* valueDim))
        }
    }
}

/// Base pointers of a GLA kernel's inputs: q, k, g `[n, H, Dk]` and v `[n, H, Dv]`, and
/// their row strides.
struct GLAInputs {
    let q, k, g, v: UnsafePointer<Float>
    /// `H·Dk` and `H·Dv`: elements from one token's row to the next.
    let keyStride, valueStride: Int
}

/// Runs `body` with the base pointers of q, k, v, g (all non-empty) and a workspace for
/// chunks of `min(chunkSize, n)` tokens, deallocated afterwards.
@inline(__always)
func withGLAChunks<R>(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32, chunkSize: Int,
                      _ body: (GLAInputs, GLAWorkspace) -> R) -> R {
    let ws = GLAWorkspace(chunk: min(chunkSize, q.tokens), keyDim: q.dim, valueDim: v.dim)
    defer { ws.deallocate() }
    return q.storage.withUnsafeBufferPointer { qb in
    k.storage.withUnsafeBufferPointer { kb in
    v.storage.withUnsafeBufferPointer { vb in
    g.storage.withUnsafeBufferPointer { gb in
        body(GLAInputs(q: qb.baseAddress!, k: kb.baseAddress!, g: gb.baseAddress!, v: vb.baseAddress!,
                       keyStride: q.heads * q.dim, valueStride: v.heads * v.dim), ws)
    }}}}
}

extension GLAWorkspace {
    /// The kernels' chunk walker: for every chunk (in `glaForEachChunk`'s order) fills the
    /// chunk's decays (`computeDecays`) and calls `body` with the chunk and the first rows of
    /// its q, k and v.
    @inline(__always)
    func forEachChunk(_ x: GLAInputs, tokens n: Int, heads: Int, valueDim dv: Int, reversed: Bool = false,
                      _ body: (GLAChunk, _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>,
                               _ v: UnsafePointer<Float>) -> Void) {
        glaForEachChunk(tokens: n, heads: heads, keyDim: keyDim, valueDim: dv, chunk: chunk, reversed: reversed) { c in
            prefetchAfter(c, x, tokens: n, heads: heads, valueDim: dv, reversed: reversed)
            computeDecays(g: x.g + c.keyOffset, rowStride: x.keyStride, length: c.length)
            body(c, x.q + c.keyOffset, x.k + c.keyOffset, x.v + c.valueOffset)
        }
    }
}

extension GLAWorkspace {
    /// Asks the caches for the q, k, g, v rows of the chunk-head after `c` in the walk: the
    /// next head's slice of the same token rows, or the first head's of the next chunk. The walk
    /// reads one head's slice (`Dk` floats) of each token row, rows `H·Dk` apart, which the
    /// hardware prefetchers do not follow. With the inputs out of cache (`spsim bench --kernels`
    /// runs the GLA forward after the attention kernels), into L2 made the forward 5–7% faster,
    /// into L1 as well another 6%.
    private func prefetchAfter(_ c: GLAChunk, _ x: GLAInputs, tokens n: Int, heads: Int, valueDim dv: Int,
                               reversed: Bool) {
        var start = c.start, head = c.head &+ 1
        if head == heads {
            start = reversed ? start &- chunk : start &+ chunk
            head = 0
        }
        guard start >= 0 && start < n else { return }
        let rows = min(chunk, n &- start)
        let keys = start &* x.keyStride &+ head &* keyDim, values = start &* x.valueStride &+ head &* dv
        for tensor in [x.q, x.k, x.g] { spsim_prefetch_rows(tensor + keys, x.keyStride, rows, keyDim) }
        spsim_prefetch_rows(x.v + values, x.valueStride, rows, dv)
    }
}

// MARK: - Workspace and chunk decays

/// Smallest factor `exp(Γ_t − Γ_r)` (t in a block, r the token before it) for which the
/// intra-chunk scores of the block are one product of scaled rows and columns: its inverse,
/// the largest column factor, is then at most 2^32, far from overflow.
let glaFactorFloor: Float = 0x1p-32

/// Scratch buffers for one chunk of one head, allocated once per call.
struct GLAWorkspace {
    let chunk: Int
    let keyDim: Int
    /// Intra-chunk scores A `[chunk, chunk]` and their gradient dA.
    let scores, scoreGradients: UnsafeMutablePointer<Float>
    /// `[chunk, keyDim]`: exp(g_t), exp(Γ_t), exp(Γ_L − Γ_t), q ⊙ exp(Γ), k ⊙ exp(Γ_L − Γ), a product.
    let gateExp, prefixDecay, suffixDecay, scaledQ, scaledK, product: UnsafeMutablePointer<Float>
    /// `[chunk, keyDim]`: the scaled rows and columns of the intra-chunk score products.
    let blockRows, blockColumns: UnsafeMutablePointer<Float>
    /// `[keyDim]`: exp(Γ_L), and two running vectors for the intra-chunk loops.
    let totalDecay, running, runningQ: UnsafeMutablePointer<Float>
    /// The product engine of the chunk products, the packed B of the product running, and a
    /// chunk's V packed once for the two products that read it.
    let engine: ProductEngine, panels, valuePanels: UnsafeMutablePointer<Float>

    init(chunk: Int, keyDim: Int, valueDim: Int, engine: ProductEngine = .best) {
        self.chunk = chunk
        self.keyDim = keyDim
        self.engine = engine
        func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            return p
        }
        scores = floats(chunk * chunk)
        scoreGradients = floats(chunk * chunk)
        gateExp = floats(chunk * keyDim)
        prefixDecay = floats(chunk * keyDim)
        suffixDecay = floats(chunk * keyDim)
        scaledQ = floats(chunk * keyDim)
        scaledK = floats(chunk * keyDim)
        product = floats(chunk * keyDim)
        blockRows = floats(chunk * keyDim)
        blockColumns = floats(chunk * keyDim)
        totalDecay = floats(keyDim)
        running = floats(keyDim)
        runningQ = floats(keyDim)
        let side = max(chunk, keyDim, valueDim)
        panels = floats(engine.preparedFloats(k: side, n: side))
        valuePanels = floats(engine.preparedFloats(k: chunk, n: valueDim))
    }

    func deallocate() {
        for p in [scores, scoreGradients, gateExp, prefixDecay, suffixDecay, scaledQ, scaledK,
                  product, blockRows, blockColumns, totalDecay, running, runningQ, panels, valuePanels] { p.deallocate() }
    }

    /// For the `length` tokens at `g` (row stride `rowStride`, `keyDim` channels): fills
    /// `gateExp[t] = exp(g_t)`, then by running products of those factors (all ≤ 1, so
    /// nothing overflows and a product underflows only when its true value does)
    /// `prefixDecay[t] = exp(Γ_t)`, `suffixDecay[t] = exp(Γ_L − Γ_t) = exp(Σ_{u>t} g_u)` and
    /// `totalDecay = exp(Γ_L)`. One exponential per gate.
    func computeDecays(g: UnsafePointer<Float>, rowStride: Int, length: Int) {
        let dk = keyDim
        spsim_exp_rows(cpuVectorLevel, g, rowStride, length, dk, gateExp)
        spsim_gla_decays(cpuVectorLevel, gateExp, length, dk, prefixDecay, suffixDecay, totalDecay)
    }

    /// `out[t] = x_t ⊙ factor[t]` for the `length` rows at `x` (row stride `rowStride`) and
    /// the rows of `factor` (`keyDim` apart): `prefixDecay` or `suffixDecay`.
    func scale(_ x: UnsafePointer<Float>, rowStride: Int, length: Int, by factor: UnsafePointer<Float>,
               into out: UnsafeMutablePointer<Float>) {
        spsim_scale_rows(cpuVectorLevel, x, rowStride, length, keyDim, factor, keyDim, out)
    }

    /// `state[c, :] *= totalDecay[c]` for a `keyDim × valueDim` state.
    func decayState(_ state: UnsafeMutablePointer<Float>, valueDim: Int) {
        spsim_scale_each_row(cpuVectorLevel, state, valueDim, keyDim, valueDim, totalDecay)
    }

    /// The terms of a state gradient R (`[Dk, Dv]`, leaving the chunk) in the chunk's key
    /// and value gradients, for the `length` rows at `k` (row stride `rowStride`), `v`
    /// (`valueStride`), `dk`, `dv`:
    ///
    ///     δk_s = exp(Γ_L − Γ_s) ⊙ (v_s Rᵀ)  (left in `product`),   dk_s += δk_s,
    ///     dv_s += (k_s ⊙ exp(Γ_L − Γ_s)) R,
    ///
    /// with `suffixDecay` holding exp(Γ_L − Γ_s).
    func addStateGradient(_ r: UnsafePointer<Float>, v: UnsafePointer<Float>, k: UnsafePointer<Float>,
                          rowStride: Int, valueStride: Int, length: Int, valueDim: Int,
                          dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>) {
        let n = keyDim
        engine.gemm(.plain, .transposed, m: length, n: n, k: valueDim, a: v, lda: valueStride, b: r, ldb: valueDim,
                    beta: 0, c: product, ldc: n, panels: panels)
        for t in 0..<length {
            glaMultiply(product + t &* n, suffixDecay + t &* n, into: product + t &* n, n)
            glaAccumulate(product + t &* n, into: dk + t &* rowStride, n)
        }
        scale(k, rowStride: rowStride, length: length, by: suffixDecay, into: scaledK)
        engine.gemm(m: length, n: valueDim, k: n, a: scaledK, lda: n, b: r, ldb: valueDim, beta: 1, c: dv,
                    ldc: valueStride, panels: panels)
    }

    /// Intra-chunk scores `A_ts = Σ_c q_tc k_sc exp(Γ_tc − Γ_sc)` for s ≤ t, 0 above the
    /// diagonal, into `scores` (leading dimension `chunk`), for the `length` rows at `q`, `k`
    /// (row stride `rowStride`). Needs `computeDecays`, `scaledQ = q ⊙ exp(Γ)` and
    /// `scaledK = k ⊙ exp(Γ_L − Γ)` first. When every `exp(Γ_L)` is at least
    /// `glaFactorFloor`, the whole chunk is one block (r = −1):
    /// `A = scaledQ · (scaledK ⊙ exp(−Γ_L))ᵀ`, one sgemm; otherwise its halves go to `scoreRows`.
    func intraScores(q: UnsafePointer<Float>, k: UnsafePointer<Float>, rowStride: Int, length: Int) {
        let dk = keyDim
        if (0..<dk).contains(where: { !(totalDecay[$0] >= glaFactorFloor) }) {
            let middle = (length &+ 1) / 2
            scoreRows(t0: 0, t1: middle, q: q, k: k, rowStride: rowStride, length: length)
            if middle < length { scoreRows(t0: middle, t1: length, q: q, k: k, rowStride: rowStride, length: length) }
            return
        }
        // The columns as rows `[length, Dk]`, scaled in the vector unit; packing the product's
        // operand transposes them.
        for c in 0..<dk { running[c] = 1 / totalDecay[c] }
        spsim_scale_rows(cpuVectorLevel, scaledK, dk, length, dk, running, 0, blockColumns)
        engine.gemm(.plain, .transposed, m: length, n: length, k: dk, a: scaledQ, lda: dk, b: blockColumns, ldb: dk,
                    c: scores, ldc: chunk, panels: panels, shape: .lowerTriangleOfC)
        zeroAboveDiagonal(rows: 0..<length, length: length)
    }

    /// `scores[t, s] = 0` for s in `t + 1 ..< length`, t in `rows`.
    private func zeroAboveDiagonal(rows: Range<Int>, length: Int) {
        for t in rows {
            let above: UnsafeMutablePointer<Float> = scores + (t &* chunk &+ t &+ 1)
            above.update(repeating: 0, count: length &- t &- 1)
        }
    }

    /// The score rows `t0 ..< t1`. With r = t0 − 1 the token before the block,
    /// `A_ts = Σ_c (q_tc exp(Γ_tc − Γ_rc)) (k_sc exp(Γ_rc − Γ_sc))`: one sgemm of
    /// `[t1 − t0, Dk]·[Dk, t1]`. The row factors `exp(Γ_t − Γ_r)` are running products ≤ 1;
    /// the column factors are running products ≤ 1 for s ≤ r and the row factors' inverses
    /// for s in the block, used only when every row factor is at least `glaFactorFloor`.
    /// Otherwise (strongly negative gates) the block is halved; a single row t is one
    /// product against `k_s ⊙ exp(Γ_t − Γ_s)`, every factor ≤ 1. So nothing overflows, and
    /// the chunk-wide form with factors `exp(−Γ_s)` is never formed.
    private func scoreRows(t0: Int, t1: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>, rowStride: Int,
                           length: Int) {
        let dk = keyDim
        if t1 &- t0 == 1 {
            decayedColumns(k: k, rowStride: rowStride, through: t0)
            engine.gemm(.plain, .transposed, m: 1, n: t0 &+ 1, k: dk, a: q + t0 &* rowStride, lda: dk,
                        b: blockColumns, ldb: dk, c: scores + t0 &* chunk, ldc: chunk, panels: panels)
        } else {
            let rows = blockRows
            rows.update(from: gateExp + t0 &* dk, count: dk)
            for t in 1..<(t1 &- t0) {
                glaMultiply(rows + (t &- 1) &* dk, gateExp + (t0 &+ t) &* dk, into: rows + t &* dk, dk)
            }
            let last = rows + (t1 &- t0 &- 1) &* dk
            if (0..<dk).contains(where: { !(last[$0] >= glaFactorFloor) }) {
                let middle = t0 &+ (t1 &- t0) / 2
                scoreRows(t0: t0, t1: middle, q: q, k: k, rowStride: rowStride, length: length)
                scoreRows(t0: middle, t1: t1, q: q, k: k, rowStride: rowStride, length: length)
                return
            }
            if t0 > 0 { decayedColumns(k: k, rowStride: rowStride, through: t0 &- 1) }
            for t in t0..<t1 {
                glaDivide(k + t &* rowStride, rows + (t &- t0) &* dk, into: blockColumns + t &* dk, dk)
                glaMultiply(q + t &* rowStride, rows + (t &- t0) &* dk, into: rows + (t &- t0) &* dk, dk)
            }
            engine.gemm(.plain, .transposed, m: t1 &- t0, n: t1, k: dk, a: rows, lda: dk,
                        b: blockColumns, ldb: dk, c: scores + t0 &* chunk, ldc: chunk, panels: panels)
        }
        zeroAboveDiagonal(rows: t0..<t1, length: length)
    }

    /// `blockColumns[s] = k_s ⊙ exp(Γ_r − Γ_s)` for s = 0 … r: a running product of the
    /// factors exp(g_u), u = r, r − 1, …, from 1.
    private func decayedColumns(k: UnsafePointer<Float>, rowStride: Int, through r: Int) {
        let dk = keyDim
        running.update(repeating: 1, count: dk)
        var s = r
        while s >= 0 {
            glaMultiply(k + s &* rowStride, running, into: blockColumns + s &* dk, dk)
            if s > 0 { glaMultiply(running, gateExp + s &* dk, into: running, dk) }
            s &-= 1
        }
    }
}
