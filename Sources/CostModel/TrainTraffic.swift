// The traffic one training step of `spsim train` sends, per rank and phase, as the ledger
// counts it (MPI/TrafficLedger.swift): float32 elements (4 bytes) everywhere.
//
//   attention_forward    L × the strategy model's forward bytes and messages of one layer
//   attention_backward   L × its backward
//   attention_recompute  with activation checkpointing, the forward rerun in backward: L × forward
//   gradient_allreduce   one all-reduce of the flat float32 vector of all Ψ parameters, counted
//                        logically: the whole vector to every other rank, (P − 1)·4Ψ bytes in
//                        P − 1 messages per rank
//
// The attention shape is the model's: softmax H, G, D, causal; a softmax model run by a GLA
// strategy uses H heads with Dk = Dv = D and its parameters are those of that GLA variant
// (`withAttention`), as `spsim train --attention gla` builds it. ZeCO's K, when not given, is the run's own rule
// (`ScanBlocks.defaultBlocks` on the float32 state), not the model's time-optimal K*.
import SPCore

/// Bytes and messages each rank sends in one phase.
public struct PhaseTraffic: Sendable, Equatable, Codable {
    /// Bytes per rank.
    public var bytes: [Int]
    /// Messages per rank.
    public var messages: [Int]

    /// Nothing on `ranks` ranks.
    public init(ranks: Int) {
        bytes = Array(repeating: 0, count: ranks)
        messages = Array(repeating: 0, count: ranks)
    }
}

/// The traffic of one training step per phase, per rank.
public struct TrainStepTraffic: Sendable, Equatable, Codable {
    /// Every layer's attention forward.
    public var attentionForward: PhaseTraffic
    /// Every layer's attention backward.
    public var attentionBackward: PhaseTraffic
    /// The forward rerun in backward under activation checkpointing (zero without).
    public var attentionRecompute: PhaseTraffic
    /// The gradient all-reduce.
    public var gradientAllreduce: PhaseTraffic
}

extension TransformerModel {
    /// The per-rank traffic of one `spsim train` step of this model.
    ///
    /// - Parameters:
    ///   - strategy: the attention strategy's `--strategy` name.
    ///   - layout: the token layout.
    ///   - ranks: P, the ranks of the run (all of them sequence-parallel).
    ///   - seqLen: N, global tokens of the sequence.
    ///   - checkpointing: whether the layers' forward is rerun in backward.
    ///   - scanBlocks: ZeCO's K (nil: the run's default rule).
    ///   - ulyssesDegree: USP's U (nil: the strategy's default).
    /// - Returns: the traffic, or why the strategy cannot run this shape on P ranks.
    public func trainStepTraffic(strategy: String, layout: LayoutKind, ranks: Int, seqLen: Int, checkpointing: Bool,
                                 scanBlocks: Int? = nil, ulyssesDegree: Int? = nil) -> Result<TrainStepTraffic, CostModelError> {
        guard let model = CostModel.strategy(named: strategy) else {
            return .failure(CostModelError("unknown --strategy \(strategy); known: \(CostModel.names)"))
        }
        var w = workload(seqLen: seqLen, family: model.attention, layout: layout, elementBytes: 4, statsBytes: 4,
                         ulyssesDegree: ulyssesDegree)
        if model.attention == .gla {
            w.scanBlocks = scanBlocks ?? ScanBlocks.defaultBlocks(ranks: ranks, rows: w.stateRows, stateBytes: w.stateBytes)
        }
        // Bytes do not depend on the topology; the toy places up to 1024 ranks.
        let layer: Prediction
        switch CostModel.predict(model, w, ranks: ranks, topology: .toy) {
        case .success(let p): layer = p
        case .failure(let e): return .failure(e)
        }
        func times(_ phase: PhasePrediction, _ k: Int) -> PhaseTraffic {
            var t = PhaseTraffic(ranks: ranks)
            t.bytes = phase.bytesSent.map { k * $0 }
            t.messages = phase.messagesSent.map { k * $0 }
            return t
        }
        var allreduce = PhaseTraffic(ranks: ranks)
        if ranks > 1 {
            allreduce.bytes = Array(repeating: (ranks - 1) * 4 * withAttention(model.attention).parameters, count: ranks)
            allreduce.messages = Array(repeating: ranks - 1, count: ranks)
        }
        return .success(TrainStepTraffic(attentionForward: times(layer.forward, layerCount),
                                         attentionBackward: times(layer.backward, layerCount),
                                         attentionRecompute: times(layer.forward, checkpointing ? layerCount : 0),
                                         gradientAllreduce: allreduce))
    }
}
