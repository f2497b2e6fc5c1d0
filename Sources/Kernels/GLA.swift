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
//
// Files: GLA.swift (this math, the forward), GLABackward.swift, GLAChunk.swift (shared
// row helpers, workspace and chunk decays), GLAState.swift, GLAReference.swift.

/// Checks that q, k, g are `[n, H, Dk]` and v `[n, H, Dv]`; returns (n, H, Dk, Dv).
func glaShape(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32) -> (Int, Int, Int, Int) {
    precondition(q.shape == k.shape, "GLA: q and k differ in shape")
    precondition(q.shape == g.shape, "GLA: q and g differ in shape")
    precondition(v.tokens == q.tokens && v.heads == q.heads, "GLA: v does not match q in tokens or heads")
    return (q.tokens, q.heads, q.dim, v.dim)
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
func glaIntraScores(q: UnsafePointer<Float>, k: UnsafePointer<Float>, rowStride: Int,
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
            gemm(.plain, .transposed, m: t1 &- t0, n: t0, k: dk, a: rowScratch, lda: dk,
                  b: columnScratch, ldb: dk, c: scores + t0 &* ld, ldc: ld)
        }
        for t in t0..<t1 {
            let row = scores + t &* ld
            let qt = q + t &* rowStride
            w.update(from: qt, count: dk)
            row[t] = dotProduct(qt, k + t &* rowStride, count: dk)
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

// MARK: - Public kernels

/// The block's total log-decay per (head, channel): `result[h * Dk + c] = Σ_t g[t, h, c]`,
/// `[H * Dk]` values (summed in Double). `a_p = exp(result)` is the decay of the scan operator
/// `(a1, B1) ⊕ (a2, B2) = (a1 ⊙ a2, Diag(a2) B1 + B2)`.
public func glaTotalLogDecay(g: Tensor32) -> [Float] { g.sumOverTokens() }

extension Tensor where Scalar == Float {
    /// Σ over tokens for every (head, channel), summed in Double: `[heads · dim]` values
    /// (with a block's `dG`, its contribution to the gate-gradient carry).
    public func sumOverTokens() -> [Float] {
        let width = tokenStride
        var sums = [Double](repeating: 0, count: width)
        storage.withUnsafeBufferPointer { x in
            for t in 0..<tokens {
                let base = t &* width
                for i in 0..<width { sums[i] += Double(x[base &+ i]) }
            }
        }
        return sums.map { Float($0) }
    }
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
                gemm(m: length, n: dv, k: dk, a: ws.scaledQ, lda: dk, b: s, ldb: dv,
                      beta: 0, c: op, ldc: vStride)
                // Intra-chunk: o += A V.
                glaIntraScores(q: qp, k: kp, rowStride: kStride, length: length, keyDim: dk,
                               gateExp: ws.gateExp, logPrefix: ws.logPrefix, scores: ws.scores, ld: chunk,
                               w: ws.running, rowScratch: ws.scaledK, columnScratch: ws.product)
                gemm(m: length, n: dv, k: length, a: ws.scores, lda: chunk, b: vp, ldb: vStride,
                      beta: 1, c: op, ldc: vStride)
                // State: S = Diag(exp(Γ_L)) S + (k ⊙ exp(Γ_L − Γ))ᵀ V.
                ws.decayState(s, valueDim: dv)
                ws.scaleBySuffix(kp, rowStride: kStride, length: length, into: ws.scaledK)
                gemm(.transposed, .plain, m: dk, n: dv, k: length, a: ws.scaledK, lda: dk,
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
                gemm(m: length, n: dv, k: dk, a: ws.scaledQ, lda: dk, b: s, ldb: dv,
                      beta: 1, c: ob.baseAddress! + (c0 &* heads &+ h) &* dv, ldc: vStride)
                c0 += length
            }
        }
    }}}}
}
