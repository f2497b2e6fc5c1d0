// Chunked gated linear attention: the SIMD row helpers and the per-chunk workspace and decays
// that GLA.swift (forward) and GLABackward.swift share. Row dot products use `dotProduct`
// (Attention.swift), the one row dot product of the kernels.

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

// MARK: - Workspace and chunk decays

/// Scratch buffers for one chunk of one head, allocated once per call.
struct GLAWorkspace {
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
