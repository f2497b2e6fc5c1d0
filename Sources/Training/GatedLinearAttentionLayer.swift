import Kernels

/// Gated linear attention (Yang et al. 2024, "Gated Linear Attention Transformers with
/// Hardware-Efficient Training") with its projections: `q = x W_q / √Dk`, `k = x W_k`,
/// `v = x W_v`, log-gates `g = logsigmoid(x W_g) / τ` with τ = 16 (the paper's gate
/// temperature, so gates start near 1 and memory is long), the attention core
/// (`S_t = Diag(e^{g_t}) S_{t−1} + k_tᵀ v_t`, `o_t = q_t S_t`), and `y = o W_o`.
struct GatedLinearAttentionLayer: Sendable {
    let wq: Linear, wk: Linear, wv: Linear, wg: Linear, wo: Linear
    let heads: Int, keyDim: Int, valueDim: Int
    /// The gate temperature τ.
    static let gateTemperature = 16.0

    init(_ name: String, config c: TrainingModelConfig, table: inout ParameterTable) {
        wq = Linear("\(name).wq", inputs: c.hidden, outputs: c.heads * c.headDim, table: &table)
        wk = Linear("\(name).wk", inputs: c.hidden, outputs: c.heads * c.headDim, table: &table)
        wv = Linear("\(name).wv", inputs: c.hidden, outputs: c.heads * c.valueDim, table: &table)
        wg = Linear("\(name).wg", inputs: c.hidden, outputs: c.heads * c.headDim, table: &table)
        wo = Linear("\(name).wo", inputs: c.heads * c.valueDim, outputs: c.hidden, table: &table)
        (heads, keyDim, valueDim) = (c.heads, c.headDim, c.valueDim)
    }

    /// `y [n, hidden]` for the normalized input `x [n, hidden]`.
    func forward<T: TrainingScalar>(_ x: [T], rows n: Int, weights: [T], core: LinearAttentionCore<T>,
                                    pass: ForwardPass) throws -> (y: [T], cache: LinearAttentionCache<T>) {
        let scale = 1 / T(keyDim).squareRoot(), tau = T(Self.gateTemperature)
        let q = Tensor(tokens: n, heads: heads, dim: keyDim, storage: wq.forward(x, rows: n, weights: weights).map { $0 * scale })
        let k = Tensor(tokens: n, heads: heads, dim: keyDim, storage: wk.forward(x, rows: n, weights: weights))
        let v = Tensor(tokens: n, heads: heads, dim: valueDim, storage: wv.forward(x, rows: n, weights: weights))
        let gatePre = wg.forward(x, rows: n, weights: weights)
        let g = Tensor(tokens: n, heads: heads, dim: keyDim, storage: gatePre.map { logSigmoid($0) / tau })
        let (o, saved) = try core.forward(q, k, v, g, pass)
        return (wo.forward(o.storage, rows: n, weights: weights),
                LinearAttentionCache(x: x, q: q, k: k, v: v, g: g, gatePre: gatePre, o: o, saved: saved))
    }

    /// `dx`, adding the five projections' gradients.
    func backward<T: TrainingScalar>(_ c: LinearAttentionCache<T>, dy: [T], rows n: Int, weights: [T],
                                     core: LinearAttentionCore<T>, gradients: inout [T]) throws -> [T] {
        let scale = 1 / T(keyDim).squareRoot(), tau = T(Self.gateTemperature)
        var dO = [T]()
        wo.backward(x: c.o.storage, dy: dy, rows: n, weights: weights, gradients: &gradients, addingTo: &dO)
        let r = try core.backward(c.q, c.k, c.v, c.g, c.saved, Tensor(tokens: n, heads: heads, dim: valueDim, storage: dO))
        // d logsigmoid(z)/dz = σ(−z).
        var dGatePre = sigmoids(c.gatePre.map { -$0 })
        dGatePre.withUnsafeMutableBufferPointer { d in
            r.dg.storage.withUnsafeBufferPointer { dg in
                for i in d.indices { d[i] *= dg[i] / tau }
            }
        }
        var dx = [T]()
        wq.backward(x: c.x, dy: r.dq.storage.map { $0 * scale }, rows: n, weights: weights, gradients: &gradients, addingTo: &dx)
        wk.backward(x: c.x, dy: r.dk.storage, rows: n, weights: weights, gradients: &gradients, addingTo: &dx)
        wv.backward(x: c.x, dy: r.dv.storage, rows: n, weights: weights, gradients: &gradients, addingTo: &dx)
        wg.backward(x: c.x, dy: dGatePre, rows: n, weights: weights, gradients: &gradients, addingTo: &dx)
        return dx
    }
}

/// What the GLA layer's backward needs.
struct LinearAttentionCache<T: TrainingScalar> {
    var x: [T]
    var q: Tensor<T>, k: Tensor<T>, v: Tensor<T>, g: Tensor<T>
    var gatePre: [T]
    var o: Tensor<T>
    var saved: Any
}

/// `log σ(z) = −log(1 + e^{−z})`, computed without overflow for either sign of z.
@inline(__always)
func logSigmoid<T: TrainingScalar>(_ z: T) -> T {
    z >= 0 ? -T.logarithm(1 + T.exponential(-z)) : z - T.logarithm(1 + T.exponential(z))
}
