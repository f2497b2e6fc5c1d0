// What every GLA strategy shares in the model: local FLOPs, the read-out of the incoming
// state, memory. Per token per head the intra-chunk part costs 2·C·(Dk + Dv) FLOPs and the
// state update plus read-out 4·Dk·Dv (docs/algorithms.md, compute model); the read-out half, 2·Dk·Dv, needs
// the incoming state and so waits for the scan.
import SPCore

/// Per-rank compute of a GLA layer, split at the point where the incoming state is needed.
struct GLACost {
    /// Forward seconds before the incoming state is needed, per rank.
    let localForward: [Double]
    /// Forward seconds of the read-out `(q ⊙ exp G) S_in`, per rank.
    let readoutForward: [Double]
    /// Backward seconds before the state gradient from later ranks is needed, per rank.
    let localBackward: [Double]
    /// Backward seconds applying that state gradient (dk, dv, dg shares), per rank.
    let readoutBackward: [Double]

    init(_ w: Workload, shape: RankShape, device: Device) {
        let f = device.flopsPerSecond
        let readoutPerToken = 2 * Double(w.heads * w.headDim * w.valueDim)
        let total = shape.forwardFLOPs
        readoutForward = shape.counts.map { Double($0) * readoutPerToken / f }
        localForward = zip(total, readoutForward).map { $0 / f - $1 }
        readoutBackward = readoutForward.map { 2 * $0 }
        localBackward = zip(total, readoutBackward).map { backwardFLOPsFactor * $0 / f - $1 }
    }

    /// Seconds of combining `count` packed scan elements locally (2 FLOPs per state entry each).
    static func combineSeconds(_ w: Workload, count: Int, device: Device) -> Double {
        2 * Double(count) * Double(w.heads * w.headDim * w.valueDim) / device.flopsPerSecond
    }

    /// Peak bytes of a rank's GLA tensors with `n` tokens: q, k, g `[n, H, Dk]`, v, o
    /// `[n, H, Dv]`, and backward do, dq, dk, dv, dg; plus `states` whole states.
    static func memory(_ w: Workload, tokens n: Int, states: Int) -> Int {
        let keyLike = n * w.heads * w.headDim * w.elementBytes, valueLike = n * w.heads * w.valueDim * w.elementBytes
        return 2 * (3 * keyLike + 2 * valueLike) + states * w.packedStateBytes
    }
}

extension StrategyModel {
    /// The frame every GLA model's `predict` shares: the per-rank `GLACost`, empty forward
    /// and backward phases for `phases` to fill, and each rank's memory with `states` packed
    /// `[Dk, Dv]` states beside its tokens' tensors.
    static func glaPrediction(_ w: Workload, shape: RankShape, on placement: Placement, states: Int,
                              scanBlocks: Int? = nil,
                              _ phases: (GLACost, inout PhasePrediction, inout PhasePrediction) -> Void) -> Prediction {
        let cost = GLACost(w, shape: shape, device: placement.topology.device)
        var forward = PhasePrediction(ranks: shape.ranks), backward = PhasePrediction(ranks: shape.ranks)
        phases(cost, &forward, &backward)
        let memory = shape.counts.map { GLACost.memory(w, tokens: $0, states: states) }
        return Prediction(strategy: name, topology: placement.topology.name, ranks: shape.ranks, workload: w,
                          forward: forward, backward: backward, memoryBytes: memory, scanBlocks: scanBlocks)
    }
}
