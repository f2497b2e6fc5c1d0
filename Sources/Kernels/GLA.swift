// Chunked gated linear attention (GLA), forward and backward, float32.
//
// Per head, q_t, k_t ∈ R^Dk, v_t ∈ R^Dv, log-gate g_t ∈ R^Dk (g_t ≤ 0):
//     S_t = Diag(exp(g_t)) S_{t−1} + k_tᵀ v_t,   o_t = q_t S_t   (no scale).
//
// Tokens are cut into chunks of C (64 by default). Inside a chunk, Γ_t is the chunk-local
// inclusive cumulative log-gate, Γ_L its total. With S the state
// entering the chunk:
//     o_t  = (q_t ⊙ exp(Γ_t)) S + Σ_{s≤t} A_ts v_s,   A_ts = Σ_c q_tc k_sc exp(Γ_tc − Γ_sc)
//     S'   = Diag(exp(Γ_L)) S + Σ_s (k_s ⊙ exp(Γ_L − Γ_s))ᵀ v_s.
// The three products with S and V are sgemm calls, and so is A: for the whole chunk,
// A = (q ⊙ exp(Γ)) (k ⊙ exp(Γ_L − Γ) ⊙ exp(−Γ_L))ᵀ, reusing the operands of the inter-chunk
// products, when every exp(Γ_L) ≥ 2^−32; else for blocks of rows t0..<t1, with r = t0 − 1,
// A_ts = (q_t ⊙ exp(Γ_t − Γ_r)) · (k_s ⊙ exp(Γ_r − Γ_s)), one sgemm; the block is halved
// while a factor exp(Γ_t − Γ_r) is below 2^−32, so the inverse factors of the columns inside
// the block stay below 2^32 (GLAWorkspace.scoreRows). Every decay factor is a running product
// of exp(g_u) ≤ 1 (one exponential per gate): strongly negative gates underflow to 0
// gracefully and nothing overflows: the chunk-wide factorization, whose factor exp(−Γ_s)
// overflows under strong gates, is formed only where exp(−Γ_s) ≤ exp(−Γ_L) ≤ 2^32.
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
// row helpers, the chunk walker, workspace, chunk decays and intra-chunk scores),
// GLAState.swift, GLAReference.swift.

/// Checks that q, k, g are `[n, H, Dk]` and v `[n, H, Dv]`; returns (n, H, Dk, Dv).
func glaShape(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32) -> (Int, Int, Int, Int) {
    precondition(q.shape == k.shape, "GLA: q and k differ in shape")
    precondition(q.shape == g.shape, "GLA: q and g differ in shape")
    precondition(v.tokens == q.tokens && v.heads == q.heads, "GLA: v does not match q in tokens or heads")
    return (q.tokens, q.heads, q.dim, v.dim)
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
/// with V and the intra-chunk scores are sgemm calls whose decay factors are bounded (see the
/// file's header), so gates of −50 per step give no NaN or infinity.
public func glaForward(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32,
                       initialState: GLAState? = nil, chunkSize: Int = 64) -> (o: Tensor32, finalState: GLAState) {
    let (n, heads, dk, dv) = glaShape(q: q, k: k, v: v, g: g)
    precondition(chunkSize > 0, "GLA: chunk size must be positive")
    var state = initialState ?? GLAState(heads: heads, keyDim: dk, valueDim: dv)
    precondition(state.heads == heads && state.keyDim == dk && state.valueDim == dv,
                 "GLA: initial state does not match the tensors")
    if n == 0 || heads == 0 || dk == 0 || dv == 0 { return (Tensor32(tokens: n, heads: heads, dim: dv), state) }
    // Every element is written: each chunk's first product (the inter-chunk one) has beta 0.
    var o = Tensor32(unwrittenTokens: n, heads: heads, dim: dv)

    withGLAChunks(q: q, k: k, v: v, g: g, chunkSize: chunkSize) { x, ws in
    o.storage.withUnsafeMutableBufferPointer { ob in
    state.storage.withUnsafeMutableBufferPointer { sb in
        let kStride = x.keyStride, vStride = x.valueStride
        ws.forEachChunk(x, tokens: n, heads: heads, valueDim: dv) { c, qp, kp, vp in
            let op = ob.baseAddress! + c.valueOffset, s = sb.baseAddress! + c.head &* dk &* dv
            // Inter-chunk: o = (q ⊙ exp(Γ)) S.
            ws.scale(qp, rowStride: kStride, length: c.length, by: ws.prefixDecay, into: ws.scaledQ)
            ws.engine.gemm(m: c.length, n: dv, k: dk, a: ws.scaledQ, lda: dk, b: s, ldb: dv, beta: 0, c: op,
                           ldc: vStride, panels: ws.panels)
            // Intra-chunk: o += A V.
            ws.scale(kp, rowStride: kStride, length: c.length, by: ws.suffixDecay, into: ws.scaledK)
            ws.intraScores(q: qp, k: kp, rowStride: kStride, length: c.length)
            let values = ws.engine.prepare(vp, rowStride: vStride, colStride: 1, k: c.length, n: dv,
                                           storage: ws.valuePanels)
            ws.engine.product(m: c.length, a: ws.scores, rowStride: ws.chunk, colStride: 1, b: values,
                              beta: 1, c: op, ldc: vStride, shape: .lowerTriangularA)
            // State: S = Diag(exp(Γ_L)) S + (k ⊙ exp(Γ_L − Γ))ᵀ V.
            ws.decayState(s, valueDim: dv)
            ws.engine.product(m: dk, a: ws.scaledK, rowStride: 1, colStride: dk, b: values, beta: 1, c: s, ldc: dv)
        }
    }}}
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
    let ws = GLAWorkspace(chunk: chunk, keyDim: dk, valueDim: dv)
    defer { ws.deallocate() }
    let kStride = heads * dk, vStride = heads * dv
    var prefixSums = [Double](repeating: 0, count: heads * dk)  // G_t per (head, channel)

    q.storage.withUnsafeBufferPointer { qb in
    g.storage.withUnsafeBufferPointer { gb in
    state.storage.withUnsafeBufferPointer { sb in
    o.storage.withUnsafeMutableBufferPointer { ob in
    prefixSums.withUnsafeMutableBufferPointer { sums in
        glaForEachChunk(tokens: n, heads: heads, keyDim: dk, valueDim: dv, chunk: chunk) { c in
            let sum = sums.baseAddress! + c.head &* dk
            for t in 0..<c.length {
                let gt = gb.baseAddress! + c.keyOffset + t &* kStride, pre = ws.prefixDecay + t &* dk
                for i in 0..<dk {
                    sum[i] += Double(gt[i])
                    pre[i] = Float(sum[i])
                }
            }
            fastExpInPlace(ws.prefixDecay, count: c.length &* dk)
            ws.scale(qb.baseAddress! + c.keyOffset, rowStride: kStride, length: c.length, by: ws.prefixDecay,
                     into: ws.scaledQ)
            ws.engine.gemm(m: c.length, n: dv, k: dk, a: ws.scaledQ, lda: dk, b: sb.baseAddress! + c.head &* dk &* dv,
                           ldb: dv, beta: 1, c: ob.baseAddress! + c.valueOffset, ldc: vStride, panels: ws.panels)
        }
    }}}}}
}
