/// One pre-norm decoder block: `h = x + Attention(RMSNorm(x))`, `y = h + SwiGLU(RMSNorm(h))`.
struct TransformerBlock: Sendable {
    let attentionNorm: RMSNorm
    let attention: AttentionLayer
    let mlpNorm: RMSNorm
    let mlp: SwiGLU

    /// The block's attention layer.
    enum AttentionLayer: Sendable {
        case softmax(SoftmaxAttentionLayer)
        case linear(GatedLinearAttentionLayer)
    }

    init(index: Int, config c: TrainingModelConfig, table: inout ParameterTable) {
        let name = "layers.\(index)"
        attentionNorm = RMSNorm("\(name).attention_norm", width: c.hidden, epsilon: c.normEpsilon, table: &table)
        switch c.attention {
        case .softmax: attention = .softmax(SoftmaxAttentionLayer("\(name).attention", config: c, table: &table))
        case .gla: attention = .linear(GatedLinearAttentionLayer("\(name).attention", config: c, table: &table))
        }
        mlpNorm = RMSNorm("\(name).mlp_norm", width: c.hidden, epsilon: c.normEpsilon, table: &table)
        mlp = SwiGLU("\(name).mlp", hidden: c.hidden, ffn: c.ffn, table: &table)
    }

    /// The block's output and what its backward needs.
    func forward<T: TrainingScalar>(_ x: [T], positions: [Int], weights: [T], core: AttentionCore<T>,
                                    pass: ForwardPass) throws -> (y: [T], cache: BlockCache<T>) {
        let n = positions.count
        let a = attentionNorm.forward(x, weights: weights)
        let attended: [T], mixer: BlockCache<T>.Mixer
        switch (attention, core) {
        case (.softmax(let layer), .softmax(let core)):
            let r = try layer.forward(a, positions: positions, weights: weights, core: core, pass: pass)
            (attended, mixer) = (r.y, .softmax(r.cache))
        case (.linear(let layer), .linear(let core)):
            let r = try layer.forward(a, rows: n, weights: weights, core: core, pass: pass)
            (attended, mixer) = (r.y, .linear(r.cache))
        default:
            preconditionFailure("the attention core does not match the model's attention kind")
        }
        var h = x
        h.add(attended)
        let m = mlpNorm.forward(h, weights: weights)
        let (f, mlpCache) = mlp.forward(m, rows: n, weights: weights)
        var y = h
        y.add(f)
        return (y, BlockCache(x: x, h: h, mixer: mixer, mlp: mlpCache))
    }

    /// `dx` given `dy`; adds every weight's gradient.
    func backward<T: TrainingScalar>(_ c: BlockCache<T>, dy: [T], positions: [Int], weights: [T],
                                     core: AttentionCore<T>, gradients: inout [T]) throws -> [T] {
        let n = positions.count
        let dm = mlp.backward(c.mlp, dy: dy, rows: n, weights: weights, gradients: &gradients)
        var dh = dy
        dh.add(mlpNorm.backward(x: c.h, dy: dm, weights: weights, gradients: &gradients))
        let da: [T]
        switch (attention, core, c.mixer) {
        case (.softmax(let layer), .softmax(let core), .softmax(let cache)):
            da = try layer.backward(cache, dy: dh, positions: positions, weights: weights, core: core, gradients: &gradients)
        case (.linear(let layer), .linear(let core), .linear(let cache)):
            da = try layer.backward(cache, dy: dh, rows: n, weights: weights, core: core, gradients: &gradients)
        default:
            preconditionFailure("the attention core does not match the model's attention kind")
        }
        var dx = dh
        dx.add(attentionNorm.backward(x: c.x, dy: da, weights: weights, gradients: &gradients))
        return dx
    }
}

/// A block's saved activations.
struct BlockCache<T: TrainingScalar> {
    enum Mixer {
        case softmax(SoftmaxAttentionCache<T>)
        case linear(LinearAttentionCache<T>)
    }
    /// The block's input and its residual stream after attention.
    var x: [T], h: [T]
    var mixer: Mixer
    var mlp: SwiGLUCache<T>
}
