// Chunked gated linear attention (GLA), forward and backward, float32.
//
// Per head, q_t, k_t ∈ R^Dk, v_t ∈ R^Dv, log-gate g_t ∈ R^Dk (g_t ≤ 0):
//     S_t = Diag(exp(g_t)) S_{t−1} + k_tᵀ v_t,   o_t = q_t S_t   (no scale).
//
// Tokens are cut into chunks of C (64 by default). Inside a chunk, Γ_t is the chunk-local
// inclusive cumulative log-gate (accumulated in Double), Γ_L its total. With S the state
// entering the chunk:
//     o_t  = (q_t ⊙ exp(Γ_t)) S + Σ_{s≤t} A_ts v_s,   A_ts = Σ_c q_tc k_sc exp(Γ_tc − Γ_sc)
//     S'   = Diag(exp(Γ_L)) S + Σ_s (k_s ⊙ exp(Γ_L − Γ_s))ᵀ v_s.
// The three products with S and V are sgemm calls. A is computed in sub-blocks of 16 tokens:
// between sub-blocks by one sgemm on (q_t ⊙ exp(Γ_t − Γ_r)) (k_s ⊙ exp(Γ_r − Γ_s))ᵀ, r the
// token before the row sub-block (s ≤ r < t, so both exponents are ≤ 0); inside a sub-block
// directly, the factor exp(Γ_t − Γ_s) being the running product Π_{u=s+1..t} exp(g_u) ≤ 1.
// Only values ≤ 0 are ever exponentiated; strongly negative gates underflow to 0 gracefully
// and nothing overflows. The chunk-wide factorization (q ⊙ exp(Γ)) (k ⊙ exp(−Γ))ᵀ, whose
// second factor overflows, is never formed.
//
// Backward, with R the gradient of the state leaving the chunk (dS_out for the last one):
//     dq_t = exp(Γ_t) ⊙ (do_t Sᵀ) + Σ_{s≤t} dA_ts k_s ⊙ exp(Γ_t − Γ_s),   dA_ts = do_t · v_s
//     dk_s = exp(Γ_L − Γ_s) ⊙ (v_s Rᵀ) + Σ_{t≥s} dA_ts q_t ⊙ exp(Γ_t − Γ_s)
//     dv_s = Σ_{t≥s} A_ts do_t + (k_s ⊙ exp(Γ_L − Γ_s)) R
//     R'   = Diag(exp(Γ_L)) R + Σ_t (q_t ⊙ exp(Γ_t))ᵀ do_t.
// A forward pass over the chunks does everything that needs S (and the intra-chunk parts);
// a reverse pass does everything that needs R, so no per-chunk states are stored.

/// Checks that q, k, g are `[n, H, Dk]` and v `[n, H, Dv]`; returns (n, H, Dk, Dv).
private func glaShape(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32) -> (Int, Int, Int, Int) {
    precondition(q.shape == k.shape, "GLA: q and k differ in shape")
    precondition(q.shape == g.shape, "GLA: q and g differ in shape")
    precondition(v.tokens == q.tokens && v.heads == q.heads, "GLA: v does not match q in tokens or heads")
    return (q.tokens, q.heads, q.dim, v.dim)
}

// MARK: - Small vector helpers (SSE2-level SIMD: no FMA, so the baseline build vectorizes)

@inline(__always)
private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
private func store8(_ x: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: x, as: SIMD8<Float>.self)
}

/// Σ_i a[i] · b[i].
@inline(__always)
private func glaDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i &+ 8 <= n {
        acc += load8(a + i) * load8(b + i)
        i &+= 8
    }
    var sum = acc.sum()
    while i < n {
        sum += a[i] * b[i]
        i &+= 1
    }
    return sum
}

/// `w ← w ⊙ e`, then returns Σ_i w[i] · k[i].
@inline(__always)
private func glaDecayAndDot(_ w: UnsafeMutablePointer<Float>, _ e: UnsafePointer<Float>,
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
private func glaBackwardPair(f: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>,
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

// MARK: - Workspace and chunk decays

/// Scratch buffers for one chunk of one head, allocated once per call.
private struct GLAWorkspace {
    let chunk: Int
    let keyDim: Int
    /// Intra-chunk scores A `[chunk, chunk]` and their gradient dA.
    let scores, scoreGradients: UnsafeMutablePointer<Float>
    /// `[chunk, keyDim]`: exp(g_t), exp(Γ_t), exp(Γ_L − Γ_t), q ⊙ exp(Γ), k ⊙ exp(Γ_L − Γ), a product.
    let gateExp, prefixDecay, suffixDecay, scaledQ, scaledK, product: UnsafeMutablePointer<Float>
    /// `[chunk, keyDim]`: Γ_t itself (before the exponential), for the forward's sub-blocks.
    let logPrefix: UnsafeMutablePointer<Float>
    /// `[keyDim]`: exp(Γ_L), and two running vectors for the intra-chunk loops.
    let totalDecay, running, runningQ: UnsafeMutablePointer<Float>
    /// `[keyDim]` Double accumulators for the cumulative log-gates.
    let prefixSum, suffixSum: UnsafeMutablePointer<Double>

    init(chunk: Int, keyDim: Int) {
        self.chunk = chunk
        self.keyDim = keyDim
        func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            return p
        }
        func doubles(_ count: Int) -> UnsafeMutablePointer<Double> {
            let p = UnsafeMutablePointer<Double>.allocate(capacity: max(count, 1))
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
        logPrefix = floats(chunk * keyDim)
        totalDecay = floats(keyDim)
        running = floats(keyDim)
        runningQ = floats(keyDim)
        prefixSum = doubles(keyDim)
        suffixSum = doubles(keyDim)
    }

    func deallocate() {
        for p in [scores, scoreGradients, gateExp, prefixDecay, suffixDecay, scaledQ, scaledK,
                  product, logPrefix, totalDecay, running, runningQ] { p.deallocate() }
        prefixSum.deallocate()
        suffixSum.deallocate()
    }

    /// For the `length` tokens at `g` (row stride `rowStride`, `keyDim` channels): fills
    /// `prefixDecay[t] = exp(Γ_t)`, `suffixDecay[t] = exp(Γ_L − Γ_t) = exp(Σ_{u>t} g_u)`,
    /// `totalDecay = exp(Γ_L)` and, when `gates` is set, `gateExp[t] = exp(g_t)`. The sums
    /// are accumulated in Double; every exponent is ≤ 0.
    func computeDecays(g: UnsafePointer<Float>, rowStride: Int, length: Int, gates: Bool) {
        let dk = keyDim
        prefixSum.update(repeating: 0, count: dk)
        suffixSum.update(repeating: 0, count: dk)
        for t in 0..<length {
            let gt = g + t &* rowStride, pre = prefixDecay + t &* dk
            for c in 0..<dk {
                prefixSum[c] += Double(gt[c])
                pre[c] = Float(prefixSum[c])
            }
        }
        for c in 0..<dk { totalDecay[c] = Float(prefixSum[c]) }
        logPrefix.update(from: prefixDecay, count: length &* dk)
        var t = length &- 1
        while t >= 0 {
            let gt = g + t &* rowStride, suf = suffixDecay + t &* dk
            for c in 0..<dk {
                suf[c] = Float(suffixSum[c])
                suffixSum[c] += Double(gt[c])
            }
            t &-= 1
        }
        fastExpInPlace(prefixDecay, count: length &* dk)
        fastExpInPlace(suffixDecay, count: length &* dk)
        fastExpInPlace(totalDecay, count: dk)
        if gates {
            for t in 0..<length {
                (gateExp + t &* dk).update(from: g + t &* rowStride, count: dk)
            }
            fastExpInPlace(gateExp, count: length &* dk)
        }
    }

    /// `scaledQ[t] = x_t ⊙ prefixDecay[t]` for the `length` rows at `x` (row stride `rowStride`).
    func scaleByPrefix(_ x: UnsafePointer<Float>, rowStride: Int, length: Int, into out: UnsafeMutablePointer<Float>) {
        let dk = keyDim
        for t in 0..<length {
            let xt = x + t &* rowStride, pt = prefixDecay + t &* dk, ot = out + t &* dk
            for c in 0..<dk { ot[c] = xt[c] * pt[c] }
        }
    }

    /// `out[t] = x_t ⊙ suffixDecay[t]` for the `length` rows at `x` (row stride `rowStride`).
    func scaleBySuffix(_ x: UnsafePointer<Float>, rowStride: Int, length: Int, into out: UnsafeMutablePointer<Float>) {
        let dk = keyDim
        for t in 0..<length {
            let xt = x + t &* rowStride, st = suffixDecay + t &* dk, ot = out + t &* dk
            for c in 0..<dk { ot[c] = xt[c] * st[c] }
        }
    }

    /// `state[c, :] *= totalDecay[c]` for a `keyDim × valueDim` state.
    func decayState(_ state: UnsafeMutablePointer<Float>, valueDim: Int) {
        for c in 0..<keyDim {
            let a = totalDecay[c], row = state + c &* valueDim
            for e in 0..<valueDim { row[e] *= a }
        }
    }
}

/// Tokens per sub-block of the forward's intra-chunk scores.
private let glaSubBlock = 16

/// Intra-chunk scores `A_ts = Σ_c q_tc k_sc exp(Γ_tc − Γ_sc)` for s ≤ t, 0 above the
/// diagonal, into `scores` (leading dimension `ld`), in sub-blocks of 16 tokens. For the
/// sub-block of rows starting at t0 and every earlier column s < t0, with r = t0 − 1:
///
///     A[t, s] = Σ_c (q_tc exp(Γ_tc − Γ_rc)) (k_sc exp(Γ_rc − Γ_sc))      (t > r ≥ s)
///
/// one sgemm of `[16 × Dk]·[Dk × t0]`, both exponents ≤ 0 (so nothing overflows; a factor
/// that underflows belongs to a pair whose true score underflows too). Inside a sub-block
/// (the diagonal 16 × 16 triangle) row t starts from `w = q_t` and multiplies `w` by
/// `exp(g_{s+1})` on each step to s, a running product of factors ≤ 1. `logPrefix` holds Γ,
/// `gateExp` exp(g); `rowScratch` `[16, Dk]` and `columnScratch` `[length, Dk]` are scratch.
private func glaIntraScores(q: UnsafePointer<Float>, k: UnsafePointer<Float>, rowStride: Int,
                            length: Int, keyDim dk: Int, gateExp: UnsafePointer<Float>, logPrefix: UnsafePointer<Float>,
                            scores: UnsafeMutablePointer<Float>, ld: Int, w: UnsafeMutablePointer<Float>,
                            rowScratch: UnsafeMutablePointer<Float>, columnScratch: UnsafeMutablePointer<Float>) {
    var t0 = 0
    while t0 < length {
        let t1 = min(t0 &+ glaSubBlock, length)
        if t0 > 0 {
            let reference = logPrefix + (t0 &- 1) &* dk
            for t in t0..<t1 {
                let gt = logPrefix + t &* dk, out = rowScratch + (t &- t0) &* dk
                for c in 0..<dk { out[c] = gt[c] - reference[c] }
            }
            for s in 0..<t0 {
                let gs = logPrefix + s &* dk, out = columnScratch + s &* dk
                for c in 0..<dk { out[c] = reference[c] - gs[c] }
            }
            fastExpInPlace(rowScratch, count: (t1 &- t0) &* dk)
            fastExpInPlace(columnScratch, count: t0 &* dk)
            for t in t0..<t1 {
                let qt = q + t &* rowStride, out = rowScratch + (t &- t0) &* dk
                for c in 0..<dk { out[c] *= qt[c] }
            }
            for s in 0..<t0 {
                let ks = k + s &* rowStride, out = columnScratch + s &* dk
                for c in 0..<dk { out[c] *= ks[c] }
            }
            sgemm(.plain, .transposed, m: t1 &- t0, n: t0, k: dk, a: rowScratch, lda: dk,
                  b: columnScratch, ldb: dk, c: scores + t0 &* ld, ldc: ld)
        }
        for t in t0..<t1 {
            let row = scores + t &* ld
            let qt = q + t &* rowStride
            w.update(from: qt, count: dk)
            row[t] = glaDot(qt, k + t &* rowStride, dk)
            var s = t &- 1
            while s >= t0 {
                row[s] = glaDecayAndDot(w, gateExp + (s &+ 1) &* dk, k + s &* rowStride, dk)
                s &-= 1
            }
            for s in (t &+ 1)..<length { row[s] = 0 }
        }
        t0 = t1
    }
}

/// Intra-chunk backward: recomputes A (into `scores`, 0 above the diagonal) and, from
/// `dA = scoreGradients`, accumulates `dq_t += Σ_{s<t} dA_ts k_s ⊙ exp(Γ_t − Γ_s)` and
/// `dk_s += Σ_{t>s} dA_ts q_t ⊙ exp(Γ_t − Γ_s)`. The diagonal pair (s = t) is left out of
/// dq and dk: it is added after dG is formed, since its q ⊙ dq and k ⊙ dk terms cancel exactly.
private func glaIntraBackward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, rowStride: Int,
                              length: Int, keyDim dk: Int, gateExp: UnsafePointer<Float>,
                              scoreGradients: UnsafePointer<Float>, scores: UnsafeMutablePointer<Float>, ld: Int,
                              dq: UnsafeMutablePointer<Float>, dkOut: UnsafeMutablePointer<Float>,
                              f: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>) {
    for t in 0..<length {
        let row = scores + t &* ld, dRow = scoreGradients + t &* ld
        let qt = q + t &* rowStride, dqt = dq + t &* rowStride
        f.update(repeating: 1, count: dk)
        w.update(from: qt, count: dk)
        row[t] = glaDot(qt, k + t &* rowStride, dk)
        var s = t &- 1
        while s >= 0 {
            row[s] = glaBackwardPair(f: f, w: w, e: gateExp + (s &+ 1) &* dk, k: k + s &* rowStride,
                                     d: dRow[s], dq: dqt, dk: dkOut + s &* rowStride, dk)
            s &-= 1
        }
        for s in (t &+ 1)..<length { row[s] = 0 }
    }
}

// MARK: - Public kernels

/// The block's total log-decay per (head, channel): `result[h * Dk + c] = Σ_t g[t, h, c]`,
/// `[H * Dk]` values (summed in Double). `a_p = exp(result)` is the decay of the scan operator
/// `(a1, B1) ⊕ (a2, B2) = (a1 ⊙ a2, Diag(a2) B1 + B2)`.
public func glaTotalLogDecay(g: Tensor32) -> [Float] {
    let width = g.heads * g.dim
    var sums = [Double](repeating: 0, count: width)
    g.storage.withUnsafeBufferPointer { gb in
        for t in 0..<g.tokens {
            let base = t &* width
            for i in 0..<width { sums[i] += Double(gb[base &+ i]) }
        }
    }
    return sums.map { Float($0) }
}

/// Chunked GLA forward from an optional incoming state `S_in` (zero when nil):
///
///     S_t = Diag(exp(g_t)) S_{t−1} + k_tᵀ v_t,  S_{−1} = S_in,   o_t = q_t S_t   (per head)
///
/// q, k, g are `[n, H, Dk]`, v `[n, H, Dv]`, the state `[H, Dk, Dv]`. Returns o `[n, H, Dv]`
/// and the final state `S_{n−1}`, which includes the decayed incoming state
/// `Diag(exp(Σ_t g_t)) S_in`. Chunks of `chunkSize` tokens; the products with the state and
/// with V are sgemm calls, the intra-chunk scores are computed directly with factors
/// `exp(Γ_t − Γ_s) ≤ 1`, so gates of −50 per step give no NaN or infinity.
public func glaForward(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32,
                       initialState: GLAState? = nil, chunkSize: Int = 64) -> (o: Tensor32, finalState: GLAState) {
    let (n, heads, dk, dv) = glaShape(q: q, k: k, v: v, g: g)
    precondition(chunkSize > 0, "GLA: chunk size must be positive")
    var state = initialState ?? GLAState(heads: heads, keyDim: dk, valueDim: dv)
    precondition(state.heads == heads && state.keyDim == dk && state.valueDim == dv,
                 "GLA: initial state does not match the tensors")
    var o = Tensor32(tokens: n, heads: heads, dim: dv)
    if n == 0 || heads == 0 || dk == 0 || dv == 0 { return (o, state) }

    let chunk = min(chunkSize, n)
    let ws = GLAWorkspace(chunk: chunk, keyDim: dk)
    defer { ws.deallocate() }
    let kStride = heads * dk, vStride = heads * dv

    q.storage.withUnsafeBufferPointer { qb in
    k.storage.withUnsafeBufferPointer { kb in
    v.storage.withUnsafeBufferPointer { vb in
    g.storage.withUnsafeBufferPointer { gb in
    o.storage.withUnsafeMutableBufferPointer { ob in
    state.storage.withUnsafeMutableBufferPointer { sb in
        for h in 0..<heads {
            let s = sb.baseAddress! + h &* dk &* dv
            var c0 = 0
            while c0 < n {
                let length = min(chunk, n - c0)
                let kOff = (c0 &* heads &+ h) &* dk, vOff = (c0 &* heads &+ h) &* dv
                let qp = qb.baseAddress! + kOff, kp = kb.baseAddress! + kOff, gp = gb.baseAddress! + kOff
                let vp = vb.baseAddress! + vOff, op = ob.baseAddress! + vOff

                ws.computeDecays(g: gp, rowStride: kStride, length: length, gates: true)
                // Inter-chunk: o = (q ⊙ exp(Γ)) S.
                ws.scaleByPrefix(qp, rowStride: kStride, length: length, into: ws.scaledQ)
                sgemm(m: length, n: dv, k: dk, a: ws.scaledQ, lda: dk, b: s, ldb: dv,
                      beta: 0, c: op, ldc: vStride)
                // Intra-chunk: o += A V.
                glaIntraScores(q: qp, k: kp, rowStride: kStride, length: length, keyDim: dk,
                               gateExp: ws.gateExp, logPrefix: ws.logPrefix, scores: ws.scores, ld: chunk,
                               w: ws.running, rowScratch: ws.scaledK, columnScratch: ws.product)
                sgemm(m: length, n: dv, k: length, a: ws.scores, lda: chunk, b: vp, ldb: vStride,
                      beta: 1, c: op, ldc: vStride)
                // State: S = Diag(exp(Γ_L)) S + (k ⊙ exp(Γ_L − Γ))ᵀ V.
                ws.decayState(s, valueDim: dv)
                ws.scaleBySuffix(kp, rowStride: kStride, length: length, into: ws.scaledK)
                sgemm(.transposed, .plain, m: dk, n: dv, k: length, a: ws.scaledK, lda: dk,
                      b: vp, ldb: vStride, beta: 1, c: s, ldc: dv)
                c0 += length
            }
        }
    }}}}}}
    return (o, state)
}

/// Adds a late-arriving incoming state to a block's output:
///
///     o_t += (q_t ⊙ exp(G_t)) · state,   G_t = Σ_{u≤t} g_u   (block-local, inclusive)
///
/// per head; `state` is `[H, Dk, Dv]`. `glaForward(initialState: nil)` followed by this equals
/// `glaForward(initialState: state)` in o. Every exponent is ≤ 0; the sums are in Double.
public func glaAddIncomingState(_ o: inout Tensor32, q: Tensor32, g: Tensor32, state: GLAState) {
    precondition(q.shape == g.shape, "GLA: q and g differ in shape")
    precondition(o.tokens == q.tokens && o.heads == q.heads, "GLA: o does not match q in tokens or heads")
    precondition(state.heads == q.heads && state.keyDim == q.dim && state.valueDim == o.dim,
                 "GLA: state does not match the tensors")
    let n = q.tokens, heads = q.heads, dk = q.dim, dv = o.dim
    if n == 0 || heads == 0 || dk == 0 || dv == 0 { return }
    let chunk = min(64, n)
    let ws = GLAWorkspace(chunk: chunk, keyDim: dk)
    defer { ws.deallocate() }
    let kStride = heads * dk, vStride = heads * dv

    q.storage.withUnsafeBufferPointer { qb in
    g.storage.withUnsafeBufferPointer { gb in
    state.storage.withUnsafeBufferPointer { sb in
    o.storage.withUnsafeMutableBufferPointer { ob in
        for h in 0..<heads {
            let s = sb.baseAddress! + h &* dk &* dv
            ws.prefixSum.update(repeating: 0, count: dk)
            var c0 = 0
            while c0 < n {
                let length = min(chunk, n - c0)
                let kOff = (c0 &* heads &+ h) &* dk
                let gp = gb.baseAddress! + kOff, qp = qb.baseAddress! + kOff
                for t in 0..<length {
                    let gt = gp + t &* kStride, pre = ws.prefixDecay + t &* dk
                    for c in 0..<dk {
                        ws.prefixSum[c] += Double(gt[c])
                        pre[c] = Float(ws.prefixSum[c])
                    }
                }
                fastExpInPlace(ws.prefixDecay, count: length &* dk)
                ws.scaleByPrefix(qp, rowStride: kStride, length: length, into: ws.scaledQ)
                sgemm(m: length, n: dv, k: dk, a: ws.scaledQ, lda: dk, b: s, ldb: dv,
                      beta: 1, c: ob.baseAddress! + (c0 &* heads &+ h) &* dv, ldc: vStride)
                c0 += length
            }
        }
    }}}}
}

/// Gradients of a GLA block: `dq, dk` `[n, H, Dk]`, `dv` `[n, H, Dv]`, the per-token gate
/// gradient `dG` and the gradient of the incoming state.
public struct GLAGradients: Sendable, Equatable {
    /// ∂L/∂q, `[n, H, Dk]`.
    public var dq: Tensor32
    /// ∂L/∂k, `[n, H, Dk]`.
    public var dk: Tensor32
    /// ∂L/∂v, `[n, H, Dv]`.
    public var dv: Tensor32
    /// Per-token `dG_t = q_t ⊙ dq_t − k_t ⊙ dk_t`, `[n, H, Dk]`: the gradient with respect to
    /// the cumulative log-gate G_t. `dg_u = Σ_{t≥u} dG_t` (plus the carry from later tokens,
    /// see `glaGateGradient(dG:carry:)`). It does not contain the final-state term
    /// `rowDot(dS_out, S_T)`; in a sequence split over blocks that term is exactly the carry.
    public var dG: Tensor32
    /// ∂L/∂S_in, `[H, Dk, Dv]`:
    /// `Σ_t Diag(exp(G_t)) q_tᵀ do_t + Diag(exp(G_T)) dS_out`.
    public var initialState: GLAState

    /// Gradients from their parts.
    public init(dq: Tensor32, dk: Tensor32, dv: Tensor32, dG: Tensor32, initialState: GLAState) {
        self.dq = dq
        self.dk = dk
        self.dv = dv
        self.dG = dG
        self.initialState = initialState
    }
}

/// Chunked GLA backward. With `do` = ∂L/∂o, `S_in` = `initialState` and
/// `dS_out` = `finalStateGradient` = ∂L/∂S_{n−1} (both zero when nil), per head and with
/// `dS_t = q_tᵀ do_t + Diag(exp(g_{t+1})) dS_{t+1}` (`dS_{n−1}` including dS_out):
///
///     dq_t = do_t S_tᵀ,   dk_t = v_t dS_tᵀ,   dv_t = k_t dS_t,
///     dG_t = q_t ⊙ dq_t − k_t ⊙ dk_t,   dS_in = Diag(exp(g_0)) dS_0.
///
/// `dG` is formed with the diagonal term `(do_t · v_t) q_t ⊙ k_t`, which cancels exactly,
/// left out of both products, so very negative gates give a dG accurate relative to its own
/// (tiny) scale. Chunks of `chunkSize` tokens; one forward pass over the chunks (dq and the
/// intra-chunk terms, carrying S) and one reverse pass (carrying dS); no per-chunk state is stored.
public func glaBackward(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32, dO: Tensor32,
                        initialState: GLAState? = nil, finalStateGradient: GLAState? = nil,
                        chunkSize: Int = 64) -> GLAGradients {
    let (n, heads, dk, dv) = glaShape(q: q, k: k, v: v, g: g)
    precondition(dO.shape == v.shape, "GLA: dO and v differ in shape")
    precondition(chunkSize > 0, "GLA: chunk size must be positive")
    var state = initialState ?? GLAState(heads: heads, keyDim: dk, valueDim: dv)
    var stateGradient = finalStateGradient ?? GLAState(heads: heads, keyDim: dk, valueDim: dv)
    precondition(state.heads == heads && state.keyDim == dk && state.valueDim == dv,
                 "GLA: initial state does not match the tensors")
    precondition(stateGradient.heads == heads && stateGradient.keyDim == dk && stateGradient.valueDim == dv,
                 "GLA: final-state gradient does not match the tensors")
    var dq = Tensor32(tokens: n, heads: heads, dim: dk)
    var dkT = Tensor32(tokens: n, heads: heads, dim: dk)
    var dvT = Tensor32(tokens: n, heads: heads, dim: dv)
    var dG = Tensor32(tokens: n, heads: heads, dim: dk)
    if n == 0 || heads == 0 || dk == 0 || dv == 0 {
        return GLAGradients(dq: dq, dk: dkT, dv: dvT, dG: dG, initialState: stateGradient)
    }

    let chunk = min(chunkSize, n)
    let ws = GLAWorkspace(chunk: chunk, keyDim: dk)
    defer { ws.deallocate() }
    let kStride = heads * dk, vStride = heads * dv

    q.storage.withUnsafeBufferPointer { qb in
    k.storage.withUnsafeBufferPointer { kb in
    v.storage.withUnsafeBufferPointer { vb in
    g.storage.withUnsafeBufferPointer { gb in
    dO.storage.withUnsafeBufferPointer { dob in
    dq.storage.withUnsafeMutableBufferPointer { dqb in
    dkT.storage.withUnsafeMutableBufferPointer { dkb in
    dvT.storage.withUnsafeMutableBufferPointer { dvb in
    dG.storage.withUnsafeMutableBufferPointer { dgb in
    state.storage.withUnsafeMutableBufferPointer { sb in
    stateGradient.storage.withUnsafeMutableBufferPointer { rb in
        for h in 0..<heads {
            let s = sb.baseAddress! + h &* dk &* dv
            let r = rb.baseAddress! + h &* dk &* dv

            // Forward over chunks: dq (inter and intra), intra dk and dv, carrying S.
            var c0 = 0
            while c0 < n {
                let length = min(chunk, n - c0)
                let kOff = (c0 &* heads &+ h) &* dk, vOff = (c0 &* heads &+ h) &* dv
                let qp = qb.baseAddress! + kOff, kp = kb.baseAddress! + kOff, gp = gb.baseAddress! + kOff
                let vp = vb.baseAddress! + vOff, dop = dob.baseAddress! + vOff
                let dqp = dqb.baseAddress! + kOff, dkp = dkb.baseAddress! + kOff, dvp = dvb.baseAddress! + vOff

                ws.computeDecays(g: gp, rowStride: kStride, length: length, gates: true)
                // dq_t = exp(Γ_t) ⊙ (do_t Sᵀ).
                sgemm(.plain, .transposed, m: length, n: dk, k: dv, a: dop, lda: vStride, b: s, ldb: dv,
                      beta: 0, c: ws.product, ldc: dk)
                for t in 0..<length {
                    let src = ws.product + t &* dk, pre = ws.prefixDecay + t &* dk, dst = dqp + t &* kStride
                    for c in 0..<dk { dst[c] = src[c] * pre[c] }
                }
                // dA = dO Vᵀ, then the intra-chunk dq, dk (off-diagonal) and A.
                sgemm(.plain, .transposed, m: length, n: length, k: dv, a: dop, lda: vStride,
                      b: vp, ldb: vStride, beta: 0, c: ws.scoreGradients, ldc: chunk)
                glaIntraBackward(q: qp, k: kp, rowStride: kStride, length: length, keyDim: dk,
                                 gateExp: ws.gateExp, scoreGradients: ws.scoreGradients,
                                 scores: ws.scores, ld: chunk, dq: dqp, dkOut: dkp,
                                 f: ws.running, w: ws.runningQ)
                // dv = Aᵀ dO (intra-chunk part).
                sgemm(.transposed, .plain, m: length, n: dv, k: length, a: ws.scores, lda: chunk,
                      b: dop, ldb: vStride, beta: 0, c: dvp, ldc: vStride)
                // S = Diag(exp(Γ_L)) S + (k ⊙ exp(Γ_L − Γ))ᵀ V.
                ws.decayState(s, valueDim: dv)
                ws.scaleBySuffix(kp, rowStride: kStride, length: length, into: ws.scaledK)
                sgemm(.transposed, .plain, m: dk, n: dv, k: length, a: ws.scaledK, lda: dk,
                      b: vp, ldb: vStride, beta: 1, c: s, ldc: dv)
                c0 += length
            }

            // Reverse over the same chunks: inter-chunk dk and dv, carrying R = dS.
            var end = n
            while end > 0 {
                let start = (end - 1) / chunk * chunk, length = end - start
                let kOff = (start &* heads &+ h) &* dk, vOff = (start &* heads &+ h) &* dv
                let qp = qb.baseAddress! + kOff, kp = kb.baseAddress! + kOff, gp = gb.baseAddress! + kOff
                let vp = vb.baseAddress! + vOff, dop = dob.baseAddress! + vOff
                let dkp = dkb.baseAddress! + kOff, dvp = dvb.baseAddress! + vOff

                ws.computeDecays(g: gp, rowStride: kStride, length: length, gates: false)
                // dk_s += exp(Γ_L − Γ_s) ⊙ (v_s Rᵀ).
                sgemm(.plain, .transposed, m: length, n: dk, k: dv, a: vp, lda: vStride, b: r, ldb: dv,
                      beta: 0, c: ws.product, ldc: dk)
                for t in 0..<length {
                    let src = ws.product + t &* dk, suf = ws.suffixDecay + t &* dk, dst = dkp + t &* kStride
                    for c in 0..<dk { dst[c] += src[c] * suf[c] }
                }
                // dv += (k ⊙ exp(Γ_L − Γ)) R.
                ws.scaleBySuffix(kp, rowStride: kStride, length: length, into: ws.scaledK)
                sgemm(m: length, n: dv, k: dk, a: ws.scaledK, lda: dk, b: r, ldb: dv,
                      beta: 1, c: dvp, ldc: vStride)
                // R = Diag(exp(Γ_L)) R + (q ⊙ exp(Γ))ᵀ dO.
                ws.decayState(r, valueDim: dv)
                ws.scaleByPrefix(qp, rowStride: kStride, length: length, into: ws.scaledQ)
                sgemm(.transposed, .plain, m: dk, n: dv, k: length, a: ws.scaledQ, lda: dk,
                      b: dop, ldb: vStride, beta: 1, c: r, ldc: dv)
                end = start
            }
        }

        // dG from the off-diagonal parts, then the diagonal (do_t · v_t) terms of dq and dk.
        for t in 0..<n {
            for h in 0..<heads {
                let kOff = (t &* heads &+ h) &* dk, vOff = (t &* heads &+ h) &* dv
                let d = glaDot(dob.baseAddress! + vOff, vb.baseAddress! + vOff, dv)
                let qt = qb.baseAddress! + kOff, kt = kb.baseAddress! + kOff
                let dqt = dqb.baseAddress! + kOff, dkt = dkb.baseAddress! + kOff, dgt = dgb.baseAddress! + kOff
                for c in 0..<dk {
                    dgt[c] = qt[c] * dqt[c] - kt[c] * dkt[c]
                    dqt[c] += d * kt[c]
                    dkt[c] += d * qt[c]
                }
            }
        }
    }}}}}}}}}}}
    return GLAGradients(dq: dq, dk: dkT, dv: dvT, dG: dG, initialState: stateGradient)
}

/// Adds the contribution of a final-state gradient `dS_out` that arrived after `glaBackward`
/// ran without it. Per head, with `G_T − G_t = Σ_{u>t} g_u` (block-local, summed in Double)
/// and `a = exp(G_T) = exp(Σ_t g_t)`:
///
///     δk_t = exp(G_T − G_t) ⊙ (dS_out v_tᵀ)      (row-wise over Dk)
///     dk_t += δk_t,   dv_t += (k_t ⊙ exp(G_T − G_t)) dS_out,   dG_t −= k_t ⊙ δk_t,
///     dS_in = Diag(a) dS_out + dS_in.
///
/// `glaBackward(..., finalStateGradient: X)` equals `glaBackward(...)` followed by this
/// (up to rounding). Every exponent is ≤ 0.
public func glaAddFinalStateGradient(_ grads: inout GLAGradients, k: Tensor32, v: Tensor32, g: Tensor32,
                                     finalStateGradient: GLAState) {
    precondition(k.shape == g.shape, "GLA: k and g differ in shape")
    precondition(v.tokens == k.tokens && v.heads == k.heads, "GLA: v does not match k in tokens or heads")
    precondition(grads.dk.shape == k.shape && grads.dG.shape == k.shape && grads.dv.shape == v.shape,
                 "GLA: gradients do not match the tensors")
    let n = k.tokens, heads = k.heads, dk = k.dim, dv = v.dim
    let dsOut = finalStateGradient
    precondition(dsOut.heads == heads && dsOut.keyDim == dk && dsOut.valueDim == dv,
                 "GLA: final-state gradient does not match the tensors")
    precondition(grads.initialState.heads == heads && grads.initialState.keyDim == dk
                 && grads.initialState.valueDim == dv, "GLA: initial-state gradient does not match the tensors")
    if heads == 0 || dk == 0 || dv == 0 { return }
    let chunk = max(1, min(64, n))
    let ws = GLAWorkspace(chunk: chunk, keyDim: dk)
    defer { ws.deallocate() }
    let kStride = heads * dk, vStride = heads * dv
    var decay = [Float](repeating: 1, count: heads * dk)

    k.storage.withUnsafeBufferPointer { kb in
    v.storage.withUnsafeBufferPointer { vb in
    g.storage.withUnsafeBufferPointer { gb in
    dsOut.storage.withUnsafeBufferPointer { rb in
    grads.dk.storage.withUnsafeMutableBufferPointer { dkb in
    grads.dv.storage.withUnsafeMutableBufferPointer { dvb in
    grads.dG.storage.withUnsafeMutableBufferPointer { dgb in
        for h in 0..<heads {
            let r = rb.baseAddress! + h &* dk &* dv
            ws.suffixSum.update(repeating: 0, count: dk)
            var end = n
            while end > 0 {
                let length = min(chunk, end), start = end - length
                let kOff = (start &* heads &+ h) &* dk, vOff = (start &* heads &+ h) &* dv
                let kp = kb.baseAddress! + kOff, gp = gb.baseAddress! + kOff, vp = vb.baseAddress! + vOff
                let dkp = dkb.baseAddress! + kOff, dgp = dgb.baseAddress! + kOff, dvp = dvb.baseAddress! + vOff
                var t = length - 1
                while t >= 0 {
                    let gt = gp + t &* kStride, suf = ws.suffixDecay + t &* dk
                    for c in 0..<dk {
                        suf[c] = Float(ws.suffixSum[c])
                        ws.suffixSum[c] += Double(gt[c])
                    }
                    t -= 1
                }
                fastExpInPlace(ws.suffixDecay, count: length &* dk)
                // δk = exp(G_T − G) ⊙ (V dS_outᵀ).
                sgemm(.plain, .transposed, m: length, n: dk, k: dv, a: vp, lda: vStride, b: r, ldb: dv,
                      beta: 0, c: ws.product, ldc: dk)
                for t in 0..<length {
                    let src = ws.product + t &* dk, suf = ws.suffixDecay + t &* dk
                    let kt = kp + t &* kStride, dkt = dkp + t &* kStride, dgt = dgp + t &* kStride
                    for c in 0..<dk {
                        let delta = src[c] * suf[c]
                        dkt[c] += delta
                        dgt[c] -= kt[c] * delta
                    }
                }
                // dv += (k ⊙ exp(G_T − G)) dS_out.
                ws.scaleBySuffix(kp, rowStride: kStride, length: length, into: ws.scaledK)
                sgemm(m: length, n: dv, k: dk, a: ws.scaledK, lda: dk, b: r, ldb: dv,
                      beta: 1, c: dvp, ldc: vStride)
                end = start
            }
            for c in 0..<dk { decay[h &* dk &+ c] = Float(ws.suffixSum[c]) }
        }
    }}}}}}}
    fastExp(&decay)
    var incoming = dsOut
    incoming.scale(by: decay, adding: grads.initialState)
    grads.initialState = incoming
}

/// The gate gradient from per-token `dG` (`[n, H, Dk]`): a reverse cumulative sum along tokens,
///
///     dg_u = Σ_{t ≥ u} dG_t + carry,
///
/// with `carry` (`[H * Dk]`, zero when nil) the sum of dG over all tokens after this block
/// (later ranks). Accumulated in Double.
public func glaGateGradient(dG: Tensor32, carry: [Float]? = nil) -> Tensor32 {
    let width = dG.heads * dG.dim
    precondition(carry == nil || carry!.count == width, "GLA: carry must have heads * keyDim entries")
    var acc = carry.map { $0.map { Double($0) } } ?? [Double](repeating: 0, count: width)
    var out = Tensor32(tokens: dG.tokens, heads: dG.heads, dim: dG.dim)
    dG.storage.withUnsafeBufferPointer { src in
        out.storage.withUnsafeMutableBufferPointer { dst in
            var t = dG.tokens - 1
            while t >= 0 {
                let base = t &* width
                for i in 0..<width {
                    acc[i] += Double(src[base &+ i])
                    dst[base &+ i] = Float(acc[i])
                }
                t -= 1
            }
        }
    }
    return out
}
