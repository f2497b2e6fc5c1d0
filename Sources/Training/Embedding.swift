/// Token embedding: row `token` of `E [vocabulary, hidden]` for each token.
struct Embedding: Sendable {
    let table: ParameterSpec
    let vocabulary: Int
    let hidden: Int

    init(vocabulary: Int, hidden: Int, table parameters: inout ParameterTable) {
        table = parameters.add("embedding", [vocabulary, hidden])
        self.vocabulary = vocabulary
        self.hidden = hidden
    }

    /// `[n, hidden]`: the embedding rows of `tokens` (each in `0..<vocabulary`).
    func forward<T: TrainingScalar>(_ tokens: [Int], weights: [T]) -> [T] {
        var out = [T](repeating: 0, count: tokens.count * hidden)
        for (i, t) in tokens.enumerated() {
            precondition(t >= 0 && t < vocabulary, "token \(t) outside the vocabulary")
            let src = table.offset + t * hidden
            for c in 0..<hidden { out[i * hidden + c] = weights[src + c] }
        }
        return out
    }

    /// Scatter-adds `dy [n, hidden]` into the rows of the tokens.
    func backward<T: TrainingScalar>(_ tokens: [Int], dy: [T], gradients: inout [T]) {
        for (i, t) in tokens.enumerated() {
            let dst = table.offset + t * hidden
            for c in 0..<hidden { gradients[dst + c] += dy[i * hidden + c] }
        }
    }
}
