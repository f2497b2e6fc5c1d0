/// A decoder-only language model: token embedding; `layers` pre-norm blocks (RMSNorm →
/// attention → residual, RMSNorm → SwiGLU → residual); final RMSNorm; LM head; next-token
/// cross-entropy. Forward and backward are written by hand; every weight lives in one flat
/// vector laid out by `parameters`.
///
/// A rank runs it on its slice of the sequence: any tokens at any global positions, in the
/// layout's local order. Only attention (the core) mixes tokens; everything else is per token.
public struct LanguageModel: Sendable {
    public let config: TrainingModelConfig
    /// Where each weight tensor sits in the flat vector.
    public let parameters: ParameterTable
    let embedding: Embedding
    let blocks: [TransformerBlock]
    let finalNorm: RMSNorm
    let head: CrossEntropyHead

    /// The model `config` describes (validate it first).
    public init(_ config: TrainingModelConfig) {
        self.config = config
        var table = ParameterTable()
        embedding = Embedding(vocabulary: config.vocabulary, hidden: config.hidden, table: &table)
        blocks = (0..<config.layers).map { TransformerBlock(index: $0, config: config, table: &table) }
        finalNorm = RMSNorm("final_norm", width: config.hidden, epsilon: config.normEpsilon, table: &table)
        head = CrossEntropyHead(hidden: config.hidden, vocabulary: config.vocabulary, table: &table)
        parameters = table
    }

    /// The initial flat weights, a pure function of `seed`: gains 1, projections uniform with
    /// std 1/√fan-in, output projections (`wo`, `w2`) further scaled by 1/√(2·layers)
    /// (GPT-2's residual scaling), the embedding std 1.
    public func initialWeights<T: TrainingScalar>(seed: UInt64) -> [T] {
        var weights = [T]()
        weights.reserveCapacity(parameters.count)
        let residualScale = 1 / (2 * Double(config.layers)).squareRoot()
        for spec in parameters.specs {
            let rule: Initialization
            if spec.shape.count == 1 {
                rule = .constant(1)
            } else if spec.name == "embedding" {
                rule = .uniform(std: 1)
            } else {
                let std = 1 / Double(spec.shape[0]).squareRoot()
                let isResidual = spec.name.hasSuffix(".wo") || spec.name.hasSuffix(".w2")
                rule = .uniform(std: isResidual ? std * residualScale : std)
            }
            weights += initialValues(spec, rule, seed: seed) as [T]
        }
        return weights
    }

    /// What one forward and backward of a rank's tokens gives.
    public struct Result<T: TrainingScalar> {
        /// Σ of this rank's token losses (natural log).
        public var lossSum: Double
        /// The gradient of `Σ losses / normalizer` with respect to every weight, flat.
        public var gradient: [T]
    }

    /// Forward and backward on this rank's `tokens` at global `positions`, predicting
    /// `labels` (the token after each, in global order). With `checkpoint`, each block keeps
    /// only its input and reruns its forward (`.recompute`) inside the backward.
    public func lossAndGradient<T: TrainingScalar>(weights: [T], tokens: [Int], labels: [Int], positions: [Int],
                                                   normalizer: Int, core: AttentionCore<T>,
                                                   checkpoint: Bool = false) throws -> Result<T> {
        precondition(weights.count == parameters.count, "weights do not match the model")
        precondition(tokens.count == labels.count && tokens.count == positions.count, "tokens, labels, positions differ")
        var x = embedding.forward(tokens, weights: weights)
        var inputs = [[T]](), caches = [BlockCache<T>?]()
        for block in blocks {
            let (y, cache) = try block.forward(x, positions: positions, weights: weights, core: core, pass: .forward)
            inputs.append(x)
            caches.append(checkpoint ? nil : cache)
            x = y
        }
        let normalized = finalNorm.forward(x, weights: weights)
        var gradient = [T](repeating: 0, count: parameters.count)
        let (lossSum, dNormalized) = head.lossAndBackward(normalized, labels: labels, normalizer: normalizer,
                                                           weights: weights, gradients: &gradient)
        var dx = finalNorm.backward(x: x, dy: dNormalized, weights: weights, gradients: &gradient)
        for (i, block) in blocks.enumerated().reversed() {
            let cache = try caches[i]
                ?? block.forward(inputs[i], positions: positions, weights: weights, core: core, pass: .recompute).cache
            caches[i] = nil
            dx = try block.backward(cache, dy: dx, positions: positions, weights: weights, core: core, gradients: &gradient)
        }
        embedding.backward(tokens, dy: dx, gradients: &gradient)
        return Result(lossSum: lossSum, gradient: gradient)
    }
}
