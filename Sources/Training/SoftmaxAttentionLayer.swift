import Kernels

/// Causal softmax self-attention with its projections: `q = x W_q`, `k = x W_k`, `v = x W_v`
/// (`W_q [hidden, H·D]`, `W_k`, `W_v [hidden, G·D]`: grouped-query attention when G < H),
/// rotary embeddings on q and k from the tokens' global positions, the attention core, and
/// `y = o W_o` (`W_o [H·D, hidden]`).
struct SoftmaxAttentionLayer: Sendable {
    let wq: Linear, wk: Linear, wv: Linear, wo: Linear
    let heads: Int, kvHeads: Int, headDim: Int
    let rotary: RotaryEmbedding

    init(_ name: String, config c: TrainingModelConfig, table: inout ParameterTable) {
        wq = Linear("\(name).wq", inputs: c.hidden, outputs: c.heads * c.headDim, table: &table)
        wk = Linear("\(name).wk", inputs: c.hidden, outputs: c.kvHeads * c.headDim, table: &table)
        wv = Linear("\(name).wv", inputs: c.hidden, outputs: c.kvHeads * c.headDim, table: &table)
        wo = Linear("\(name).wo", inputs: c.heads * c.headDim, outputs: c.hidden, table: &table)
        (heads, kvHeads, headDim) = (c.heads, c.kvHeads, c.headDim)
        rotary = RotaryEmbedding(headDim: c.headDim, base: c.ropeBase)
    }

    /// `y [n, hidden]` for the normalized input `x [n, hidden]` of tokens at global `positions`.
    func forward<T: TrainingScalar>(_ x: [T], positions: [Int], weights: [T], core: SoftmaxAttentionCore<T>,
                                    pass: ForwardPass) throws -> (y: [T], cache: SoftmaxAttentionCache<T>) {
        let n = positions.count
        let angles: RotaryAngles<T> = rotary.angles(positions: positions)
        let q = rotary.apply(Tensor(tokens: n, heads: heads, dim: headDim, storage: wq.forward(x, rows: n, weights: weights)),
                             angles)
        let k = rotary.apply(Tensor(tokens: n, heads: kvHeads, dim: headDim, storage: wk.forward(x, rows: n, weights: weights)),
                             angles)
        let v = Tensor(tokens: n, heads: kvHeads, dim: headDim, storage: wv.forward(x, rows: n, weights: weights))
        let (o, lse) = try core.forward(q, k, v, pass)
        return (wo.forward(o.storage, rows: n, weights: weights),
                SoftmaxAttentionCache(x: x, angles: angles, q: q, k: k, v: v, o: o, lse: lse))
    }

    /// `dx`, adding the four projections' gradients.
    func backward<T: TrainingScalar>(_ c: SoftmaxAttentionCache<T>, dy: [T], positions: [Int], weights: [T],
                                     core: SoftmaxAttentionCore<T>, gradients: inout [T]) throws -> [T] {
        let n = positions.count
        var dO = [T]()
        wo.backward(x: c.o.storage, dy: dy, rows: n, weights: weights, gradients: &gradients, addingTo: &dO)
        let g = try core.backward(c.q, c.k, c.v, c.o, c.lse, Tensor(tokens: n, heads: heads, dim: headDim, storage: dO))
        let dq = rotary.apply(g.dq, c.angles, inverse: true)
        let dk = rotary.apply(g.dk, c.angles, inverse: true)
        var dx = [T]()
        wq.backward(x: c.x, dy: dq.storage, rows: n, weights: weights, gradients: &gradients, addingTo: &dx)
        wk.backward(x: c.x, dy: dk.storage, rows: n, weights: weights, gradients: &gradients, addingTo: &dx)
        wv.backward(x: c.x, dy: g.dv.storage, rows: n, weights: weights, gradients: &gradients, addingTo: &dx)
        return dx
    }
}

/// What the softmax layer's backward needs: its input, the rotary angles, the rotated q and
/// k, v, o and lse.
struct SoftmaxAttentionCache<T: TrainingScalar> {
    var x: [T]
    var angles: RotaryAngles<T>
    var q: Tensor<T>, k: Tensor<T>, v: Tensor<T>, o: Tensor<T>, lse: Tensor<T>
}
