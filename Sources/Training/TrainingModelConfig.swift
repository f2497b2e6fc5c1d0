import SequenceParallel

/// The shape of a decoder-only language model: what `--model NAME` names.
///
/// Softmax blocks: `heads` query heads and `kvHeads` key/value heads (GQA when fewer) of
/// `headDim` channels; GLA blocks: `heads` heads with key dimension `headDim` (Dk) and value
/// dimension `valueDim` (Dv).
public struct TrainingModelConfig: Sendable, Equatable, Codable {
    public var layers: Int
    public var hidden: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var valueDim: Int
    public var ffn: Int
    public var vocabulary: Int
    /// Whether the LM head reuses the embedding matrix (only `false` is implemented).
    public var tiedEmbeddings: Bool
    public var attention: AttentionKind
    /// RMSNorm ε.
    public var normEpsilon: Double
    /// RoPE base θ.
    public var ropeBase: Double

    public init(layers: Int, hidden: Int, heads: Int, kvHeads: Int, headDim: Int, valueDim: Int, ffn: Int,
                vocabulary: Int, tiedEmbeddings: Bool = false, attention: AttentionKind = .softmax,
                normEpsilon: Double = 1e-5, ropeBase: Double = 10_000) {
        self.layers = layers
        self.hidden = hidden
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.valueDim = valueDim
        self.ffn = ffn
        self.vocabulary = vocabulary
        self.tiedEmbeddings = tiedEmbeddings
        self.attention = attention
        self.normEpsilon = normEpsilon
        self.ropeBase = ropeBase
    }

    /// The built-in `tiny` model: 2 layers, hidden 128, 4 heads (2 KV heads: GQA) of 64, FFN 448
    /// (3.5·hidden, Llama 3's ratio), byte vocabulary 256, untied embeddings; with GLA 4 heads,
    /// Dk = Dv = 64. Small enough for the tests' many runs, but with the head dimension of real
    /// models (64–128): at D = 16 the attention kernels spend as long on exponentials as on
    /// products, a regime no model in `Models/` is in.
    public static func tiny(attention: AttentionKind = .softmax) -> TrainingModelConfig {
        TrainingModelConfig(layers: 2, hidden: 128, heads: 4, kvHeads: 2, headDim: 64, valueDim: 64, ffn: 448,
                            vocabulary: 256, attention: attention)
    }

    /// Checks the dimensions. - Throws: `InputError` naming the flag at fault.
    /// Parameters of the model this configuration builds, counted without building it:
    /// per layer the attention projections (softmax q, k, v, o: `d·H·D + 2·d·G·D + H·D·d`;
    /// GLA q, k, gates and v, o: `3·d·H·Dk + 2·d·H·Dv`), the SwiGLU `3·d·f` and two RMSNorm
    /// gains; the embedding and LM head `2·V·d`; the final gain `d`. Call after `validate()`.
    public var parameterCount: Int {
        let projections = attention == .softmax
            ? hidden * heads * headDim + 2 * hidden * kvHeads * headDim + heads * headDim * hidden
            : 3 * hidden * heads * headDim + 2 * hidden * heads * valueDim
        return layers * (projections + 3 * hidden * ffn + 2 * hidden) + 2 * vocabulary * hidden + hidden
    }

    public func validate() throws(InputError) {
        for (flag, value) in [("--layers", layers), ("--hidden", hidden), ("--heads", heads), ("--kv-heads", kvHeads),
                              ("--head-dim", headDim), ("--value-dim", valueDim), ("--ffn", ffn),
                              ("vocabulary", vocabulary)] where value < 1 {
            throw InputError("\(flag) must be at least 1 (got \(value))")
        }
        if hidden % heads != 0 {
            throw InputError("--heads \(heads) must divide --hidden \(hidden)")
        }
        if attention == .softmax {
            if heads % kvHeads != 0 {
                throw InputError("--kv-heads \(kvHeads) must divide --heads \(heads): each KV head serves H/G query heads")
            }
            if headDim % 2 != 0 {
                throw InputError("--head-dim \(headDim) must be even: rotary embeddings rotate channel pairs")
            }
        }
        if tiedEmbeddings { throw InputError("tied embeddings are not implemented; the model needs tied_embeddings false") }
        let smaller = "train --model tiny, or a smaller --layers, --hidden or --ffn"
        // An upper bound of the parameter count, overflow-checked before anything is allocated:
        // q, k, v, g and o projections at the widest head shape, the MLP, two gains, per layer.
        let perLayer = [[5, hidden, heads, max(headDim, valueDim)], [3, hidden, ffn], [2, hidden]]
        let terms = perLayer.map { $0 + [layers] } + [[2, vocabulary, hidden], [hidden]]
        var total = 0
        for term in terms {
            var product = 1
            for factor in term {
                let (next, overflow) = product.multipliedReportingOverflow(by: factor)
                if overflow || next > 1 << 31 {
                    throw InputError("the model has more than 2³¹ parameters, more than spsim train holds; \(smaller)")
                }
                product = next
            }
            total += product
        }
        if total > 1 << 31 {
            throw InputError("the model has about \(total) parameters; spsim train holds at most 2³¹: \(smaller)")
        }
    }
}
