/// A gated linear attention (GLA) problem: one GLA layer over a sequence of N tokens
/// (docs/design.md, exact semantics). Per head, `S_t = Diag(exp(g_t)) S_{t−1} + k_tᵀ v_t`, `o_t = q_t S_t`;
/// the state is `[heads, keyDim, valueDim]`, causal by construction.
public struct LinearAttentionProblem: Sendable, Equatable, Codable {
    /// Global tokens N.
    public var seqLen: Int
    /// Heads H (q, k, v and g all have H heads).
    public var heads: Int
    /// Key dimension Dk: channels of q, k and g per head, rows of the state per head.
    public var keyDim: Int
    /// Value dimension Dv: channels of v and o per head, columns of the state.
    public var valueDim: Int
    /// Row blocks K of ZeCO's All-Scan, or nil for the default rule (`resolvedScanBlocks`, ScanBlocks.swift).
    public var scanBlocks: Int?

    /// A problem from its dimensions (checked by `validate()`).
    public init(seqLen: Int, heads: Int, keyDim: Int, valueDim: Int, scanBlocks: Int? = nil) {
        self.seqLen = seqLen
        self.heads = heads
        self.keyDim = keyDim
        self.valueDim = valueDim
        self.scanBlocks = scanBlocks
    }

    /// Rows of the state, `heads · keyDim`: the unit the scan operator and All-Scan's
    /// blocks work on (row `(h, c)` is `valueDim` floats with one decay).
    public var stateRows: Int { heads * keyDim }

    /// Bytes of one float32 state, `heads · keyDim · valueDim · 4`.
    public var stateBytes: Int { stateRows * valueDim * MemoryLayout<Float>.stride }

    /// Checks the shape alone (no rank count involved): every dimension at least 1 and
    /// within `SizeLimits`, tensor and state sizes overflow-checked, K within the state's rows.
    /// - Throws: `InputError` naming the quantity and the limit it breaks.
    public func validate() throws(InputError) {
        try SizeLimits.requireLinear(seqLen: seqLen, heads: heads, keyDim: keyDim, valueDim: valueDim)
        if let k = scanBlocks, k < 1 || k > stateRows {
            throw InputError(about: "\(.scanBlocks) \(k) must be between 1 and the state's H·Dk = \(heads)·\(keyDim) = \(stateRows) rows")
        }
    }
}
