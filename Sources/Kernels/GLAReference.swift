import Foundation

// Float64 gated linear attention in the plain recurrent form, one token at a time, written
// independently of the chunked kernels in GLA.swift so tests can compare the two.

/// One step of the recurrence for token `t` and head `h`:
/// `S[h] = Diag(exp(g_t)) S[h] + k_tᵀ v_t` on a `[H, Dk, Dv]` row-major state.
private func referenceStateStep(_ state: inout [Double], token t: Int, head h: Int, k: Tensor64, v: Tensor64, g: Tensor64) {
    let dk = k.dim, dv = v.dim
    for c in 0..<dk {
        let decay = exp(g[t, h, c]), kc = k[t, h, c]
        for e in 0..<dv {
            let i = (h * dk + c) * dv + e
            state[i] = decay * state[i] + kc * v[t, h, e]
        }
    }
}

/// Reference GLA forward in float64, token by token, per head:
///
///     S_t = Diag(exp(g_t)) S_{t−1} + k_tᵀ v_t,   S_{−1} = initialState (zero when nil),
///     o_t = q_t S_t.
///
/// q, k, g are `[n, H, Dk]`, v `[n, H, Dv]`; `initialState` and the returned `finalState`
/// (`S_{n−1}`) are `[H, Dk, Dv]` row-major (`(h * Dk + c) * Dv + e`).
public func glaReference(q: Tensor64, k: Tensor64, v: Tensor64, g: Tensor64,
                         initialState: [Double]? = nil) -> (o: Tensor64, finalState: [Double]) {
    precondition(q.shape == k.shape && q.shape == g.shape, "GLA reference: q, k, g differ in shape")
    precondition(v.tokens == q.tokens && v.heads == q.heads, "GLA reference: v does not match q")
    let n = q.tokens, heads = q.heads, dk = q.dim, dv = v.dim
    var state = initialState ?? [Double](repeating: 0, count: heads * dk * dv)
    precondition(state.count == heads * dk * dv, "GLA reference: initial state has the wrong size")
    var o = Tensor64(tokens: n, heads: heads, dim: dv)
    for t in 0..<n {
        for h in 0..<heads {
            referenceStateStep(&state, token: t, head: h, k: k, v: v, g: g)
            for e in 0..<dv {
                var sum = 0.0
                for c in 0..<dk { sum += q[t, h, c] * state[(h * dk + c) * dv + e] }
                o[t, h, e] = sum
            }
        }
    }
    return (o, state)
}

/// Reference GLA backward in float64 through the reverse recurrence of the state gradient
/// (zero initial state, zero final-state gradient). Per head, with `S_t` from the forward
/// recurrence and `dS_t = ∂L/∂S_t = q_tᵀ do_t + Diag(exp(g_{t+1})) dS_{t+1}`:
///
///     dq_t = do_t S_tᵀ,   dk_t[c] = Σ_e dS_t[c, e] v_t[e],   dv_t[e] = Σ_c k_t[c] dS_t[c, e],
///     dg_t[c] = exp(g_t[c]) Σ_e dS_t[c, e] S_{t−1}[c, e].
///
/// dg does not use the identity `dg_u = Σ_{t≥u} (q_t ⊙ dq_t − k_t ⊙ dk_t)`, so tests of the
/// chunked kernels check that identity independently. Keeps every ⌈√n⌉-th state and recomputes
/// the states of one stretch at a time in the backward sweep (the same steps, so the same
/// values): `(⌈n / ⌈√n⌉⌉ + ⌈√n⌉ + 1)·H·Dk·Dv` doubles instead of `(n + 1)·H·Dk·Dv`.
public func glaReferenceBackward(q: Tensor64, k: Tensor64, v: Tensor64, g: Tensor64,
                                 dO: Tensor64) -> (dq: Tensor64, dk: Tensor64, dv: Tensor64, dg: Tensor64) {
    precondition(q.shape == k.shape && q.shape == g.shape, "GLA reference: q, k, g differ in shape")
    precondition(v.tokens == q.tokens && v.heads == q.heads, "GLA reference: v does not match q")
    precondition(dO.shape == v.shape, "GLA reference: dO and v differ in shape")
    let n = q.tokens, heads = q.heads, dk = q.dim, dv = v.dim
    let stateSize = heads * dk * dv

    // checkpoints[b] = S_{b·stretch − 1}, the state before token b·stretch (S_{−1} = 0).
    let stretch = glaReferenceStretch(tokens: n)
    var checkpoints = [[Double]]()
    var running = [Double](repeating: 0, count: stateSize)
    for t in 0..<n {
        if t % stretch == 0 { checkpoints.append(running) }
        for h in 0..<heads { referenceStateStep(&running, token: t, head: h, k: k, v: v, g: g) }
    }

    var dq = Tensor64(tokens: n, heads: heads, dim: dk)
    var dkT = Tensor64(tokens: n, heads: heads, dim: dk)
    var dvT = Tensor64(tokens: n, heads: heads, dim: dv)
    var dg = Tensor64(tokens: n, heads: heads, dim: dk)
    // dS holds ∂L/∂S_t while token t is processed; before that it holds the part coming from
    // later tokens, Diag(exp(g_{t+1})) dS_{t+1}.
    var dS = [Double](repeating: 0, count: stateSize)
    var t = n - 1
    // states[i] = S_{first + i − 1} for the stretch of tokens first..., recomputed from its checkpoint.
    var states = [[Double]](), first = n
    while t >= 0 {
        if t < first {
            first = t / stretch * stretch
            states = [checkpoints[first / stretch]]
            for u in first...t {
                var next = states[states.count - 1]
                for h in 0..<heads { referenceStateStep(&next, token: u, head: h, k: k, v: v, g: g) }
                states.append(next)
            }
        }
        let current = states[t - first + 1], previous = states[t - first]
        for h in 0..<heads {
            for c in 0..<dk {
                for e in 0..<dv { dS[(h * dk + c) * dv + e] += q[t, h, c] * dO[t, h, e] }
            }
            for c in 0..<dk {
                var sq = 0.0, sk = 0.0, sg = 0.0
                for e in 0..<dv {
                    let i = (h * dk + c) * dv + e
                    sq += dO[t, h, e] * current[i]
                    sk += dS[i] * v[t, h, e]
                    sg += dS[i] * previous[i]
                }
                dq[t, h, c] = sq
                dkT[t, h, c] = sk
                dg[t, h, c] = exp(g[t, h, c]) * sg
            }
            for e in 0..<dv {
                var sum = 0.0
                for c in 0..<dk { sum += k[t, h, c] * dS[(h * dk + c) * dv + e] }
                dvT[t, h, e] = sum
            }
            for c in 0..<dk {
                let decay = exp(g[t, h, c])
                for e in 0..<dv { dS[(h * dk + c) * dv + e] *= decay }
            }
        }
        t -= 1
    }
    return (dq, dkT, dvT, dg)
}

/// Tokens between the states the float64 GLA backward keeps: ⌈√n⌉ (at least 1).
public func glaReferenceStretch(tokens n: Int) -> Int {
    var stretch = max(1, Int(Double(n).squareRoot()))
    while stretch * stretch < n { stretch += 1 }
    return stretch
}
