import SPCore

/// The closed-form model of one strategy: what it sends, what it computes, how the two
/// overlap. Written from the strategy's documented schedule, never by calling its code.
///
/// Independent on purpose: the model restates its strategy's name, attention kind, layouts
/// and refusal rules (`unsupportedReason`) and re-derives the traffic from the schedule in
/// the strategy file's header, rather than reading `StrategyDescriptor` or the strategy's
/// code; it shares only SPCore's vocabulary (layouts, problems, head split, causal block
/// rules). It is paired with its strategy by `name`, and two tests hold the pairs together:
/// `RegistryTests` (same attention kind and layouts for every registered strategy) and
/// `LedgerMatchesModelTests` (a run's ledger equals the prediction exactly).
public protocol StrategyModel {
    /// The strategy's `--strategy` name.
    static var name: String { get }
    /// Softmax or GLA.
    static var attention: AttentionFamily { get }
    /// Layouts the strategy accepts.
    static var layouts: [LayoutKind] { get }
    /// Why the strategy cannot run `workload` on `ranks` ranks (beyond the layout), or nil.
    static func unsupportedReason(_ workload: Workload, ranks: Int) -> String?
    /// The prediction on `placement`; the workload is valid for the strategy and the rank count.
    static func predict(_ workload: Workload, shape: RankShape, on placement: Placement) -> Prediction
}

extension StrategyModel {
    /// By default a model refuses nothing beyond its layouts.
    public static func unsupportedReason(_ workload: Workload, ranks: Int) -> String? { nil }
}

/// Every strategy the model knows, and the checked entry point.
public enum CostModel {
    /// All strategy models, in the order tables list them.
    public static var strategies: [any StrategyModel.Type] {
        [UlyssesModel.self, RingModel.self, TokenRingModel.self, AllGatherModel.self, ZeCOModel.self, LASP1Model.self, LASP2Model.self,
         ExscanModel.self, USPModel.self]
    }

    /// Every strategy's name, comma-separated.
    public static var names: String { strategies.map { $0.name }.joined(separator: ", ") }

    /// The model of the strategy called `name`, or nil.
    public static func strategy(named name: String) -> (any StrategyModel.Type)? {
        strategies.first { $0.name == name }
    }

    /// Why `strategy` cannot run `workload` on `ranks` ranks of `topology`, or nil.
    public static func unsupportedReason(_ strategy: any StrategyModel.Type, _ workload: Workload, ranks: Int,
                                         topology: Topology) -> String? {
        unsupported(strategy, workload, ranks: ranks, topology: topology)?.message
    }

    /// `unsupportedReason` as an error that keeps the quantities it names.
    public static func unsupported(_ strategy: any StrategyModel.Type, _ workload: Workload, ranks: Int,
                                   topology: Topology) -> CostModelError? {
        if let error = workload.shapeError() { return CostModelError(error) }
        guard let reason = otherReason(strategy, workload, ranks: ranks, topology: topology) else { return nil }
        return CostModelError(reason)
    }

    /// Why `strategy` cannot run a valid-shaped `workload` on `ranks` ranks of `topology`, or nil.
    private static func otherReason(_ strategy: any StrategyModel.Type, _ workload: Workload, ranks: Int,
                                    topology: Topology) -> String? {
        if workload.attention != strategy.attention {
            return "--strategy \(strategy.name) runs \(strategy.attention.rawValue) attention, not \(workload.attention.rawValue)"
        }
        if !strategy.layouts.contains(workload.layout) {
            return "--strategy \(strategy.name) supports --layout \(strategy.layouts.map(\.rawValue).joined(separator: "|")), not \(workload.layout.rawValue)"
        }
        if case .failure(let error) = workload.sequenceLayout(ranks: ranks) { return error.message }
        if let reason = strategy.unsupportedReason(workload, ranks: ranks) { return reason }
        return topology.placementReason(ranks: ranks)
    }

    /// The prediction for `strategy` on `workload` over `ranks` ranks of `topology`, or why there is none.
    public static func predict(_ strategy: any StrategyModel.Type, _ workload: Workload, ranks: Int,
                               topology: Topology) -> Result<Prediction, CostModelError> {
        if let error = unsupported(strategy, workload, ranks: ranks, topology: topology) { return .failure(error) }
        let placement = Placement(topology: topology, ranks: ranks)
        let shape = RankShape(workload, ranks: ranks)
        return .success(strategy.predict(workload, shape: shape, on: placement))
    }
}

/// How the tokens of a workload fall on the ranks, with the per-rank FLOPs.
public struct RankShape: Sendable {
    /// Ranks P.
    public let ranks: Int
    /// Tokens per rank n_r.
    public let counts: [Int]
    /// The largest n_r.
    public let maxCount: Int
    /// Forward FLOPs per rank for the rank's queries against every key it must see.
    public let forwardFLOPs: [Double]

    /// The shape of `workload` on `ranks` ranks (the layout must be valid).
    public init(_ workload: Workload, ranks: Int) {
        self.ranks = ranks
        let n = workload.seqLen, p = ranks
        let counts = (0..<p).map { workload.layout == .contiguous ? n / p + ($0 < n % p ? 1 : 0) : n / p }
        self.counts = counts
        maxCount = counts.max() ?? 0
        forwardFLOPs = (0..<p).map { r in
            switch workload.attention {
            case .softmax:
                return 4 * Double(workload.heads * workload.headDim) * RankShape.visiblePairs(workload, rank: r, ranks: p)
            case .gla:
                return Double(counts[r]) * glaFLOPsPerToken(workload)
            }
        }
    }

    /// (query, key) pairs rank r's queries see: `n_r·N` without a mask; with the causal mask
    /// `Σ_{i ∈ positions(r)} (i + 1)`, in closed form per layout.
    public static func visiblePairs(_ w: Workload, rank r: Int, ranks p: Int) -> Double {
        let n = w.seqLen
        guard w.isCausal else {
            let nr = w.layout == .contiguous ? n / p + (r < n % p ? 1 : 0) : n / p
            return Double(nr) * Double(n)
        }
        // Σ_{i = s}^{s + c − 1} (i + 1) = c·s + c(c + 1)/2
        func run(start s: Int, count c: Int) -> Double { Double(c) * Double(s) + Double(c) * Double(c + 1) / 2 }
        switch w.layout {
        case .contiguous:
            let base = n / p, extra = n % p
            return run(start: r * base + min(r, extra), count: base + (r < extra ? 1 : 0))
        case .zigzag:
            let c = n / (2 * p)
            return run(start: r * c, count: c) + run(start: (2 * p - 1 - r) * c, count: c)
        case .striped:
            let c = Double(n / p)
            return c * Double(r + 1) + Double(p) * c * (c - 1) / 2
        }
    }
}

/// GLA FLOPs per token (all heads): `H·(2·C·(Dk + Dv) + 4·Dk·Dv)` — the intra-chunk part
/// plus the state update and read-out (docs/algorithms.md, compute model; `KernelFLOPs`,
/// which simulated kernels charge).
public func glaFLOPsPerToken(_ w: Workload) -> Double {
    KernelFLOPs.glaPerToken(heads: w.heads, keyDim: w.headDim, valueDim: w.valueDim, chunk: w.chunkSize)
}

/// Backward FLOPs as a multiple of forward FLOPs (≈ 2.5×; `KernelFLOPs.backwardFactor`).
public let backwardFLOPsFactor = KernelFLOPs.backwardFactor

extension Workload {
    /// Bytes of `tokens` rows of a query-shaped tensor `[tokens, H, D]`.
    func queryBytes(_ tokens: Int) -> Int { tokens * heads * headDim * elementBytes }
    /// Bytes of `tokens` rows of one key-shaped tensor `[tokens, G, D]`.
    func keyBytes(_ tokens: Int) -> Int { tokens * kvHeads * headDim * elementBytes }
    /// Bytes of `tokens` rows of the log-sum-exp `[tokens, H]`.
    func lseBytes(_ tokens: Int) -> Int { tokens * heads * statsBytes }

    /// Bytes a softmax rank holds in the forward (q, k, v, o, lse) of `n` tokens.
    func softmaxForwardBytes(_ n: Int) -> Int { 2 * queryBytes(n) + 2 * keyBytes(n) + lseBytes(n) }
    /// Bytes a softmax rank holds in the backward: the forward's plus do, dq, dk, dv.
    func softmaxBackwardBytes(_ n: Int) -> Int { softmaxForwardBytes(n) + 2 * queryBytes(n) + 2 * keyBytes(n) }
}

/// Fills per-rank times of a phase without overlap: every rank communicates `comm[r]`,
/// computes `compute[r]`, and finishes at `finish` (or at its own sum when nil).
func fillUnoverlapped(_ phase: inout PhasePrediction, comm: [Double], compute: [Double], finish: Double? = nil) {
    for r in comm.indices {
        phase.commSeconds[r] = comm[r]
        phase.computeSeconds[r] = compute[r]
        phase.exposedCommSeconds[r] = comm[r]
        phase.seconds[r] = finish ?? (comm[r] + compute[r])
    }
}
