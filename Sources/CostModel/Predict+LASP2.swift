// Model of `lasp2` (LASP-2, arXiv 2502.07563; SequenceParallel/LASP2Attention.swift).
//
// Traffic (m' = H·Dk·(Dv·b + s), one packed (decay, state) element):
//   forward   every rank sends (P−1)·m' in P−1 messages (all-gather, logical schedule).
//   backward  the same (all-gather of state gradients).
// Time: local work, then a ring all-gather that waits for the slowest rank, then the
// local prefix (forward: p combines) or suffix (backward: P−1−p combines) and the
// read-out. No overlap. The all-gather grows linearly in P: (P−1)·(α + m'·β).
import SPCore

/// The model of LASP-2's all-gather of states.
public enum LASP2Model: StrategyModel {
    public static let name = "lasp2"
    public static let attention = AttentionFamily.gla
    public static let layouts: [LayoutKind] = [.contiguous]

    public static func predict(_ w: Workload, shape: RankShape, on placement: Placement) -> Prediction {
        glaPrediction(w, shape: shape, on: placement, states: 2 + shape.ranks) { cost, forward, backward in
            let p = shape.ranks, device = placement.topology.device
            for r in 0..<p {
                forward.bytesSent[r] = (p - 1) * w.packedStateBytes
                forward.messagesSent[r] = p - 1
                backward.bytesSent[r] = (p - 1) * w.packedStateBytes
                backward.messagesSent[r] = p - 1
            }
            let gather = placement.allGatherSeconds(bytesPerRank: Double(w.packedStateBytes))
            let slowestForward = cost.localForward.max() ?? 0, slowestBackward = cost.localBackward.max() ?? 0
            for r in 0..<p {
                let prefix = GLACost.combineSeconds(w, count: r, device: device)
                let suffix = GLACost.combineSeconds(w, count: p - 1 - r, device: device)
                forward.computeSeconds[r] = cost.localForward[r] + prefix + cost.readoutForward[r]
                backward.computeSeconds[r] = cost.localBackward[r] + suffix + cost.readoutBackward[r]
                forward.commSeconds[r] = gather
                backward.commSeconds[r] = gather
                forward.exposedCommSeconds[r] = gather
                backward.exposedCommSeconds[r] = gather
                forward.seconds[r] = slowestForward + gather + prefix + cost.readoutForward[r]
                backward.seconds[r] = slowestBackward + gather + suffix + cost.readoutBackward[r]
            }
        }
    }
}
