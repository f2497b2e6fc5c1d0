import Kernels

/// The SwiGLU feed-forward layer (Shazeer 2020): `y = (silu(x W₁) ⊙ x W₃) W₂` with
/// `W₁, W₃ [hidden, ffn]`, `W₂ [ffn, hidden]`, `silu(a) = a·σ(a)`.
struct SwiGLU: Sendable {
    let gate: Linear
    let up: Linear
    let down: Linear

    init(_ name: String, hidden: Int, ffn: Int, table: inout ParameterTable) {
        gate = Linear("\(name).w1", inputs: hidden, outputs: ffn, table: &table)
        up = Linear("\(name).w3", inputs: hidden, outputs: ffn, table: &table)
        down = Linear("\(name).w2", inputs: ffn, outputs: hidden, table: &table)
    }

    /// `y [n, hidden]` and the cache (`x`, `a = x W₁`, `b = x W₃`, `h = silu(a) ⊙ b`).
    func forward<T: TrainingScalar>(_ x: [T], rows: Int, weights: [T]) -> (y: [T], cache: SwiGLUCache<T>) {
        let a = gate.forward(x, rows: rows, weights: weights), b = up.forward(x, rows: rows, weights: weights)
        var h = sigmoids(a)
        h.withUnsafeMutableBufferPointer { h in
            for i in h.indices { h[i] = a[i] * h[i] * b[i] }  // silu(a)·b
        }
        return (down.forward(h, rows: rows, weights: weights), SwiGLUCache(x: x, a: a, b: b, h: h))
    }

    /// `dx`, adding the three weights' gradients.
    func backward<T: TrainingScalar>(_ cache: SwiGLUCache<T>, dy: [T], rows: Int, weights: [T],
                                     gradients: inout [T]) -> [T] {
        var dh = [T]()
        down.backward(x: cache.h, dy: dy, rows: rows, weights: weights, gradients: &gradients, addingTo: &dh)
        var da = sigmoids(cache.a), db = dh
        da.withUnsafeMutableBufferPointer { da in
            db.withUnsafeMutableBufferPointer { db in
                for i in da.indices {
                    let a = cache.a[i], s = da[i]
                    db[i] = dh[i] * a * s
                    da[i] = dh[i] * cache.b[i] * s * (1 + a * (1 - s))
                }
            }
        }
        var dx = [T]()
        gate.backward(x: cache.x, dy: da, rows: rows, weights: weights, gradients: &gradients, addingTo: &dx)
        up.backward(x: cache.x, dy: db, rows: rows, weights: weights, gradients: &gradients, addingTo: &dx)
        return dx
    }
}

/// SwiGLU's saved activations.
struct SwiGLUCache<T: TrainingScalar> {
    var x: [T], a: [T], b: [T], h: [T]
}

/// `σ(a) = 1 / (1 + e^(−a))` for every element (the exponentials vectorized: `exponentiate`).
func sigmoids<T: TrainingScalar>(_ a: [T]) -> [T] {
    var s = a
    s.withUnsafeMutableBufferPointer { s in
        for i in s.indices { s[i] = -s[i] }
        T.exponentiate(s)
        for i in s.indices { s[i] = 1 / (1 + s[i]) }
    }
    return s
}
