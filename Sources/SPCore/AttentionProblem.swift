/// A softmax attention problem: one attention layer over a sequence of N tokens.
public struct AttentionProblem: Sendable, Equatable, Codable {
    /// Global tokens N.
    public var seqLen: Int
    /// Query heads H.
    public var heads: Int
    /// Key/value heads G (G divides H; G < H is grouped-query attention).
    public var kvHeads: Int
    /// Channels per head D.
    public var headDim: Int
    /// Whether query i sees only keys j ≤ i.
    public var isCausal: Bool
    /// USP's Ulysses degree U (`--ulysses-degree`), or nil for `USPAttention`'s default;
    /// other strategies ignore it.
    public var ulyssesDegree: Int?

    public init(seqLen: Int, heads: Int, kvHeads: Int, headDim: Int, isCausal: Bool, ulyssesDegree: Int? = nil) {
        self.seqLen = seqLen
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.isCausal = isCausal
        self.ulyssesDegree = ulyssesDegree
    }

    /// Checks the shape alone (no rank count involved): every dimension at least 1 and
    /// within `SizeLimits`, tensor sizes overflow-checked, G dividing H.
    /// - Throws: `InputError` naming the quantity and the limit it breaks.
    public func validate() throws(InputError) {
        try SizeLimits.requireSoftmax(seqLen: seqLen, heads: heads, kvHeads: kvHeads, headDim: headDim)
        if heads % kvHeads != 0 {
            throw InputError(about: "\(.kvHeads) \(kvHeads) must divide \(.heads) \(heads): each KV head serves H/G query heads")
        }
    }
}
