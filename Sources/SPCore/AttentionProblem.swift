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

    /// Checks the shape alone (no rank count involved).
    /// - Throws: `InputError` when a dimension is below 1 or G does not divide H.
    public func validate() throws(InputError) {
        if seqLen < 1 { throw InputError("--seq-len must be at least 1 (got \(seqLen))") }
        if heads < 1 { throw InputError("--heads must be at least 1 (got \(heads))") }
        if kvHeads < 1 { throw InputError("--kv-heads must be at least 1 (got \(kvHeads))") }
        if headDim < 1 { throw InputError("--head-dim must be at least 1 (got \(headDim))") }
        if heads % kvHeads != 0 {
            throw InputError("--kv-heads \(kvHeads) must divide --heads \(heads): each KV head serves H/G query heads")
        }
    }
}
