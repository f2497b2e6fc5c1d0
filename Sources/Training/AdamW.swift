import Foundation

/// AdamW (Loshchilov & Hutter 2019): Adam with bias correction and weight decay decoupled
/// from the gradient, applied to the tensors whose `decays` is set (matrices and the
/// embedding, not norm gains). Constant learning rate.
public struct AdamW: Sendable {
    public var learningRate: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    public var weightDecay: Double
    /// Steps taken so far.
    public private(set) var step = 0
    private var m: [Float]
    private var v: [Float]
    private let decayMask: [Bool]

    /// An optimizer for the flat weights laid out by `parameters`.
    public init(parameters: ParameterTable, learningRate: Double, beta1: Double = 0.9, beta2: Double = 0.95,
                epsilon: Double = 1e-8, weightDecay: Double = 0.1) {
        (self.learningRate, self.beta1, self.beta2, self.epsilon, self.weightDecay)
            = (learningRate, beta1, beta2, epsilon, weightDecay)
        m = [Float](repeating: 0, count: parameters.count)
        v = m
        decayMask = parameters.specs.flatMap { [Bool](repeating: $0.decays, count: $0.count) }
    }

    /// One update of `weights` with `gradient`:
    /// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
    /// `w ← w − lr·(m̂/(√v̂ + ε) + λw)` with `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`.
    public mutating func update(_ weights: inout [Float], gradient: [Float]) {
        precondition(weights.count == m.count && gradient.count == m.count, "AdamW: sizes differ")
        step += 1
        let b1 = Float(beta1), b2 = Float(beta2), lr = Float(learningRate), eps = Float(epsilon), wd = Float(weightDecay)
        let c1 = Float(1 - pow(beta1, Double(step))), c2 = Float(1 - pow(beta2, Double(step)))
        weights.withUnsafeMutableBufferPointer { w in
        gradient.withUnsafeBufferPointer { g in
        m.withUnsafeMutableBufferPointer { m in
        v.withUnsafeMutableBufferPointer { v in
        decayMask.withUnsafeBufferPointer { decays in
            for i in 0..<w.count {
                m[i] = b1 * m[i] + (1 - b1) * g[i]
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                let update = (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
                w[i] -= lr * (update + (decays[i] ? wd * w[i] : 0))
            }
        }}}}}
    }
}
