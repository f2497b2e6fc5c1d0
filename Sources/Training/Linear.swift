/// A bias-free projection `y[n, out] = x[n, in] · W[in, out]`.
struct Linear: Sendable {
    /// The weight `W [in, out]`.
    let weight: ParameterSpec
    let inputs: Int
    let outputs: Int

    init(_ name: String, inputs: Int, outputs: Int, table: inout ParameterTable) {
        weight = table.add(name, [inputs, outputs])
        self.inputs = inputs
        self.outputs = outputs
    }

    /// `x W` for `rows` rows.
    func forward<T: TrainingScalar>(_ x: [T], rows: Int, weights: [T]) -> [T] {
        matmul(x, weight.values(in: weights), m: rows, n: outputs, k: inputs)
    }

    /// Adds `xᵀ dy` to the weight's gradient and returns `dx = dy Wᵀ` (added into `dx` when given).
    func backward<T: TrainingScalar>(x: [T], dy: [T], rows: Int, weights: [T], gradients: inout [T],
                                     addingTo dx: inout [T]) {
        var dW = [T](repeating: 0, count: weight.count)
        matmul(x, dy, into: &dW, m: inputs, n: outputs, k: rows, transposeA: true)
        weight.accumulate(dW, into: &gradients)
        if dx.isEmpty { dx = [T](repeating: 0, count: rows * inputs) }
        matmul(dy, weight.values(in: weights), into: &dx, m: rows, n: inputs, k: outputs, transposeB: true, accumulate: true)
    }
}
