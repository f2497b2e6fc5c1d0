// Chunked gated linear attention backward (the math is in GLA.swift's header).

/// Intra-chunk backward: recomputes A (into `scores`, 0 above the diagonal) and, from
/// `dA = scoreGradients`, accumulates `dq_t += Σ_{s<t} dA_ts k_s ⊙ exp(Γ_t − Γ_s)` and
/// `dk_s += Σ_{t>s} dA_ts q_t ⊙ exp(Γ_t − Γ_s)`. The diagonal pair (s = t) is left out of
/// dq and dk: it is added after dG is formed, since its q ⊙ dq and k ⊙ dk terms cancel exactly.
func glaIntraBackward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, rowStride: Int,
                              length: Int, keyDim dk: Int, gateExp: UnsafePointer<Float>,
                              scoreGradients: UnsafePointer<Float>, scores: UnsafeMutablePointer<Float>, ld: Int,
                              dq: UnsafeMutablePointer<Float>, dkOut: UnsafeMutablePointer<Float>,
                              f: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>) {
    for t in 0..<length {
        let row = scores + t &* ld, dRow = scoreGradients + t &* ld
        let qt = q + t &* rowStride, dqt = dq + t &* rowStride
        f.update(repeating: 1, count: dk)
        w.update(from: qt, count: dk)
        row[t] = dotProduct(qt, k + t &* rowStride, count: dk)
        var s = t &- 1
        while s >= 0 {
            row[s] = glaBackwardPair(f: f, w: w, e: gateExp + (s &+ 1) &* dk, k: k + s &* rowStride,
                                     d: dRow[s], dq: dqt, dk: dkOut + s &* rowStride, dk)
            s &-= 1
        }
        for s in (t &+ 1)..<length { row[s] = 0 }
    }
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

    withGLAChunks(q: q, k: k, v: v, g: g, chunkSize: chunkSize) { x, ws in
    dO.storage.withUnsafeBufferPointer { dob in
    dq.storage.withUnsafeMutableBufferPointer { dqb in
    dkT.storage.withUnsafeMutableBufferPointer { dkb in
    dvT.storage.withUnsafeMutableBufferPointer { dvb in
    dG.storage.withUnsafeMutableBufferPointer { dgb in
    state.storage.withUnsafeMutableBufferPointer { sb in
    stateGradient.storage.withUnsafeMutableBufferPointer { rb in
        let chunk = ws.chunk, kStride = x.keyStride, vStride = x.valueStride
        // Forward over chunks: dq (inter and intra), intra dk and dv, carrying S.
        ws.forEachChunk(x, tokens: n, heads: heads, valueDim: dv) { c, qp, kp, vp in
            let dop = dob.baseAddress! + c.valueOffset, s = sb.baseAddress! + c.head &* dk &* dv
            let dqp = dqb.baseAddress! + c.keyOffset, dvp = dvb.baseAddress! + c.valueOffset
            // dq_t = exp(Γ_t) ⊙ (do_t Sᵀ).
            ws.engine.gemm(.plain, .transposed, m: c.length, n: dk, k: dv, a: dop, lda: vStride, b: s, ldb: dv,
                           beta: 0, c: ws.product, ldc: dk, panels: ws.panels)
            for t in 0..<c.length {
                glaMultiply(ws.product + t &* dk, ws.prefixDecay + t &* dk, into: dqp + t &* kStride, dk)
            }
            // dA = dO Vᵀ, then the intra-chunk dq, dk (off-diagonal) and A.
            ws.engine.gemm(.plain, .transposed, m: c.length, n: c.length, k: dv, a: dop, lda: vStride,
                           b: vp, ldb: vStride, beta: 0, c: ws.scoreGradients, ldc: chunk, panels: ws.panels)
            glaIntraBackward(q: qp, k: kp, rowStride: kStride, length: c.length, keyDim: dk,
                             gateExp: ws.gateExp, scoreGradients: ws.scoreGradients,
                             scores: ws.scores, ld: chunk, dq: dqp, dkOut: dkb.baseAddress! + c.keyOffset,
                             f: ws.running, w: ws.runningQ)
            // dv = Aᵀ dO (intra-chunk part).
            ws.engine.gemm(.transposed, .plain, m: c.length, n: dv, k: c.length, a: ws.scores, lda: chunk,
                           b: dop, ldb: vStride, beta: 0, c: dvp, ldc: vStride, panels: ws.panels)
            // S = Diag(exp(Γ_L)) S + (k ⊙ exp(Γ_L − Γ))ᵀ V.
            ws.decayState(s, valueDim: dv)
            ws.scale(kp, rowStride: kStride, length: c.length, by: ws.suffixDecay, into: ws.scaledK)
            ws.engine.gemm(.transposed, .plain, m: dk, n: dv, k: c.length, a: ws.scaledK, lda: dk,
                           b: vp, ldb: vStride, beta: 1, c: s, ldc: dv, panels: ws.panels)
        }

        // Reverse over the same chunks: inter-chunk dk and dv, carrying R = dS.
        ws.forEachChunk(x, tokens: n, heads: heads, valueDim: dv, reversed: true) { c, qp, kp, vp in
            let dop = dob.baseAddress! + c.valueOffset, r = rb.baseAddress! + c.head &* dk &* dv
            ws.addStateGradient(r, v: vp, k: kp, rowStride: kStride, valueStride: vStride, length: c.length,
                                valueDim: dv, dk: dkb.baseAddress! + c.keyOffset, dv: dvb.baseAddress! + c.valueOffset)
            // R = Diag(exp(Γ_L)) R + (q ⊙ exp(Γ))ᵀ dO.
            ws.decayState(r, valueDim: dv)
            ws.scale(qp, rowStride: kStride, length: c.length, by: ws.prefixDecay, into: ws.scaledQ)
            ws.engine.gemm(.transposed, .plain, m: dk, n: dv, k: c.length, a: ws.scaledQ, lda: dk,
                           b: dop, ldb: vStride, beta: 1, c: r, ldc: dv, panels: ws.panels)
        }

        // dG from the off-diagonal parts, then the diagonal (do_t · v_t) terms of dq and dk.
        for t in 0..<n {
            for h in 0..<heads {
                let kOff = (t &* heads &+ h) &* dk, vOff = (t &* heads &+ h) &* dv
                let d = dotProduct(dob.baseAddress! + vOff, x.v + vOff, count: dv)
                let qt = x.q + kOff, kt = x.k + kOff
                let dqt = dqb.baseAddress! + kOff, dkt = dkb.baseAddress! + kOff, dgt = dgb.baseAddress! + kOff
                for c in 0..<dk {
                    dgt[c] = qt[c] * dqt[c] - kt[c] * dkt[c]
                    dqt[c] += d * kt[c]
                    dkt[c] += d * qt[c]
                }
            }
        }
    }}}}}}}}
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
    let ws = GLAWorkspace(chunk: chunk, keyDim: dk, valueDim: dv)
    defer { ws.deallocate() }
    let kStride = heads * dk, vStride = heads * dv
    var suffixSums = [Double](repeating: 0, count: heads * dk)  // G_T − G_t per (head, channel)

    k.storage.withUnsafeBufferPointer { kb in
    v.storage.withUnsafeBufferPointer { vb in
    g.storage.withUnsafeBufferPointer { gb in
    dsOut.storage.withUnsafeBufferPointer { rb in
    grads.dk.storage.withUnsafeMutableBufferPointer { dkb in
    grads.dv.storage.withUnsafeMutableBufferPointer { dvb in
    grads.dG.storage.withUnsafeMutableBufferPointer { dgb in
    suffixSums.withUnsafeMutableBufferPointer { sums in
        glaForEachChunk(tokens: n, heads: heads, keyDim: dk, valueDim: dv, chunk: chunk, reversed: true) { c in
            let kp = kb.baseAddress! + c.keyOffset, dgp = dgb.baseAddress! + c.keyOffset
            let sum = sums.baseAddress! + c.head &* dk
            var t = c.length - 1
            while t >= 0 {
                let gt = gb.baseAddress! + c.keyOffset + t &* kStride, suf = ws.suffixDecay + t &* dk
                for i in 0..<dk {
                    suf[i] = Float(sum[i])
                    sum[i] += Double(gt[i])
                }
                t -= 1
            }
            fastExpInPlace(ws.suffixDecay, count: c.length &* dk)
            // δk = exp(G_T − G) ⊙ (V dS_outᵀ): dk += δk, dG −= k ⊙ δk; dv += (k ⊙ exp(G_T − G)) dS_out.
            ws.addStateGradient(rb.baseAddress! + c.head &* dk &* dv, v: vb.baseAddress! + c.valueOffset, k: kp,
                                rowStride: kStride, valueStride: vStride, length: c.length, valueDim: dv,
                                dk: dkb.baseAddress! + c.keyOffset, dv: dvb.baseAddress! + c.valueOffset)
            for t in 0..<c.length {
                let kt = kp + t &* kStride, delta = ws.product + t &* dk, dgt = dgp + t &* kStride
                for i in 0..<dk { dgt[i] -= kt[i] * delta[i] }
            }
        }
    }}}}}}}}
    var decay = suffixSums.map { Float($0) }
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
