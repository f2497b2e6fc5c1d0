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

    /// `x W` for `rows` rows (W read in place in the flat `weights`).
    func forward<T: TrainingScalar>(_ x: [T], rows: Int, weights: [T]) -> [T] {
        matmul(x, weights, bOffset: weight.offset, m: rows, n: outputs, k: inputs)
    }

    /// Adds `xᵀ dy` to the weight's gradient (in place in the flat `gradients`) and returns
    /// `dx = dy Wᵀ` (added into `dx` when given).
    func backward<T: TrainingScalar>(x: [T], dy: [T], rows: Int, weights: [T], gradients: inout [T],
                                     addingTo dx: inout [T]) {
        matmul(x, dy, into: &gradients, cOffset: weight.offset, m: inputs, n: outputs, k: rows, transposeA: true,
               accumulate: true)
        if dx.isEmpty { dx = [T](repeating: 0, count: rows * inputs) }
        matmul(dy, weights, bOffset: weight.offset, into: &dx, m: rows, n: inputs, k: outputs, transposeB: true,
               accumulate: true)
    }
}
