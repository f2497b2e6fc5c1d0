// Model of `exscan` (MPI_Exscan with the scan operator; SequenceParallel/ExscanAttention.swift).
//
// Traffic (m' = H·Dk·(Dv·b + s); the ledger counts MPI_Exscan's logical schedule, the
// whole element to every later rank in scan order):
//   forward   rank p sends (P−1−p)·m' in P−1−p messages (to ranks p+1 … P−1).
//   backward  rank p sends p·m' in p messages (to ranks p−1 … 0), the scan reversed.
// Time: local work, then the library's scan, modelled as recursive doubling
// ⌈log2 P⌉·(α + m'·β) at the level each round's pairs cross, then the read-out. No overlap.
import SPCore

/// The model of `MPI_Exscan` on packed (decay, state) elements.
public enum ExscanModel: StrategyModel {
    public static let name = "exscan"
    public static let attention = AttentionFamily.gla
    public static let layouts: [LayoutKind] = [.contiguous]

    public static func predict(_ w: Workload, shape: RankShape, on placement: Placement) -> Prediction {
        glaPrediction(w, shape: shape, on: placement, states: 3) { cost, forward, backward in
            let p = shape.ranks
            for r in 0..<p {
                forward.bytesSent[r] = (p - 1 - r) * w.packedStateBytes
                forward.messagesSent[r] = p - 1 - r
                backward.bytesSent[r] = r * w.packedStateBytes
                backward.messagesSent[r] = r
            }
            let scan = placement.exscanSeconds(bytes: Double(w.packedStateBytes))
            let slowestForward = cost.localForward.max() ?? 0, slowestBackward = cost.localBackward.max() ?? 0
            for r in 0..<p {
                forward.computeSeconds[r] = cost.localForward[r] + cost.readoutForward[r]
                backward.computeSeconds[r] = cost.localBackward[r] + cost.readoutBackward[r]
                forward.commSeconds[r] = scan
                backward.commSeconds[r] = scan
                forward.exposedCommSeconds[r] = scan
                backward.exposedCommSeconds[r] = scan
                forward.seconds[r] = slowestForward + scan + cost.readoutForward[r]
                backward.seconds[r] = slowestBackward + scan + cost.readoutBackward[r]
            }
        }
    }
}
