/// The LM head and next-token cross-entropy: `logits = x W [n, vocabulary]`,
/// `loss_i = logsumexp(logits_i) − logits_i[label_i]`.
struct CrossEntropyHead: Sendable {
    let projection: Linear

    init(hidden: Int, vocabulary: Int, table: inout ParameterTable) {
        projection = Linear("lm_head", inputs: hidden, outputs: vocabulary, table: &table)
    }

    /// The sum of this rank's token losses (in Double) and `dx`, the gradient of
    /// `Σ loss_i / normalizer` (the normalizer is the GLOBAL token count, so the ranks'
    /// gradients add up to the gradient of the mean loss); adds the head's weight gradient.
    func lossAndBackward<T: TrainingScalar>(_ x: [T], labels: [Int], normalizer: Int, weights: [T],
                                            gradients: inout [T]) -> (lossSum: Double, dx: [T]) {
        let n = labels.count, vocabulary = projection.outputs
        var logits = projection.forward(x, rows: n, weights: weights)
        var lossSum = 0.0
        let inverse = 1 / T(normalizer)
        logits.withUnsafeMutableBufferPointer { l in
            for i in 0..<n {
                let row = l.baseAddress! + i &* vocabulary
                var top = row[0]
                for j in 1..<vocabulary where row[j] > top { top = row[j] }
                for j in 0..<vocabulary { row[j] -= top }
                T.exponentiate(UnsafeMutableBufferPointer(start: row, count: vocabulary))
                var sum: T = 0
                for j in 0..<vocabulary { sum += row[j] }
                let label = labels[i]
                precondition(label >= 0 && label < vocabulary, "label \(label) outside the vocabulary")
                // loss = log Σ e^{l_j − top} − (l_label − top); row[label] holds e^{l_label − top}.
                lossSum += Double(T.logarithm(sum) - T.logarithm(row[label]))
                let scale = inverse / sum
                for j in 0..<vocabulary { row[j] *= scale }
                row[label] -= inverse
            }
        }
        var dx = [T]()
        projection.backward(x: x, dy: logits, rows: n, weights: weights, gradients: &gradients, addingTo: &dx)
        return (lossSum, dx)
    }
}
