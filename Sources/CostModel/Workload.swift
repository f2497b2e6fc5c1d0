import SPCore

/// Softmax or GLA: the model's name for SPCore's `AttentionKind`.
public typealias AttentionFamily = AttentionKind

/// One attention layer as the model sees it: the shape, the layout, the element sizes.
///
/// Element sizes are parameters because the ledger of a real run counts float32 (4 bytes)
/// while training on GPUs moves bf16 (2 bytes); the log-sum-exp and GLA decays stay float32.
public struct Workload: Sendable, Equatable, Codable {
    /// Softmax or GLA.
    public var attention: AttentionFamily
    /// Global tokens N.
    public var seqLen: Int
    /// Query heads H (GLA: heads).
    public var heads: Int
    /// KV heads G (softmax; G divides H).
    public var kvHeads: Int
    /// Channels per head D (softmax; GLA key dim Dk).
    public var headDim: Int
    /// GLA value channels per head Dv (softmax: unused, equal to `headDim`).
    public var valueDim: Int
    /// GLA chunk size C of the intra-chunk kernel (FLOPs only).
    public var chunkSize: Int
    /// Causal softmax attention (GLA is causal by construction).
    public var isCausal: Bool
    /// How tokens are spread over ranks.
    public var layout: LayoutKind
    /// Bytes per element of q, k, v, o, states and gradients (b).
    public var elementBytes: Int
    /// Bytes per element of what stays float32 in training: the log-sum-exp, GLA decays and
    /// gate-gradient carries, ring attention's dK/dV accumulators (4).
    public var statsBytes: Int
    /// ZeCO's pipeline blocks K, or nil for the time-optimal K*.
    public var scanBlocks: Int?
    /// USP's Ulysses degree U, or nil for the model's default (`USPModel`).
    public var ulyssesDegree: Int?

    /// A workload; defaults are float32 everywhere (what `spsim run` moves).
    public init(attention: AttentionFamily = .softmax, seqLen: Int, heads: Int, kvHeads: Int? = nil, headDim: Int,
                valueDim: Int? = nil, chunkSize: Int = 64, isCausal: Bool, layout: LayoutKind = .contiguous,
                elementBytes: Int = 4, statsBytes: Int = 4, scanBlocks: Int? = nil, ulyssesDegree: Int? = nil) {
        self.attention = attention
        self.seqLen = seqLen
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.headDim = headDim
        self.valueDim = valueDim ?? headDim
        self.chunkSize = chunkSize
        self.isCausal = attention == .gla ? true : isCausal
        self.layout = layout
        self.elementBytes = elementBytes
        self.statsBytes = statsBytes
        self.scanBlocks = scanBlocks
        self.ulyssesDegree = ulyssesDegree
    }

    /// The workload of a softmax `AttentionProblem` with `layout`, float32.
    public init(_ problem: AttentionProblem, layout: LayoutKind) {
        self.init(seqLen: problem.seqLen, heads: problem.heads, kvHeads: problem.kvHeads, headDim: problem.headDim,
                  isCausal: problem.isCausal, layout: layout, ulyssesDegree: problem.ulyssesDegree)
    }

    /// Why the shape itself is impossible, or nil: every size at least 1 and within
    /// `SizeLimits` (overflow-checked, so no byte count the model derives can overflow).
    public func shapeReason() -> String? { shapeError()?.message }

    /// `shapeReason` as the error naming its quantities (`InputError.Message`), for the
    /// command line to word.
    public func shapeError() -> InputError? {
        do {
            switch attention {
            case .softmax: try SizeLimits.requireSoftmax(seqLen: seqLen, heads: heads, kvHeads: kvHeads, headDim: headDim)
            case .gla: try SizeLimits.requireLinear(seqLen: seqLen, heads: heads, keyDim: headDim, valueDim: valueDim)
            }
            try SizeLimits.require("--bytes-per-element", elementBytes, atMost: SizeLimits.maxElementBytes)
            try SizeLimits.require("the statistics' bytes per element", statsBytes, atMost: SizeLimits.maxElementBytes)
            try SizeLimits.require("--chunk-size", chunkSize, atMost: SizeLimits.maxSeqLen)
        } catch {
            return error
        }
        if attention == .softmax && heads % kvHeads != 0 {
            return InputError(about: "\(.kvHeads) \(kvHeads) must divide \(.heads) \(heads): each KV head serves H/G query heads")
        }
        if let k = scanBlocks, k < 1 || k > stateRows {
            return InputError(about: "\(.scanBlocks) \(k) must be between 1 and the state's H·Dk = \(heads)·\(headDim) = \(stateRows) rows")
        }
        return nil
    }

    /// The token layout on `ranks` ranks, or the reason there is none.
    public func sequenceLayout(ranks: Int) -> Result<SequenceLayout, CostModelError> {
        SequenceLayout.make(layout, tokens: seqLen, ranks: ranks).mapError { CostModelError($0) }
    }

    /// Rows of a GLA state, `H·Dk`: All-Scan splits them into K blocks.
    public var stateRows: Int { heads * headDim }
    /// Bytes of one GLA state `[H, Dk, Dv]`.
    public var stateBytes: Int { heads * headDim * valueDim * elementBytes }
    /// Bytes of one GLA decay vector `[H, Dk]` (float32).
    public var decayBytes: Int { heads * headDim * statsBytes }
    /// Bytes of one packed scan element: per state row its decay then its Dv entries,
    /// `H·Dk·(Dv·b + s)` (also a state gradient with its gate-gradient carry).
    public var packedStateBytes: Int { stateBytes + decayBytes }
}
