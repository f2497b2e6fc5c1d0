// Model of `lasp1` (LASP-1, arXiv 2404.02882; SequenceParallel/LASP1Attention.swift).
//
// Traffic (m = H·Dk·Dv·b, m' = H·Dk·(Dv·b + s): the state gradient with its carry):
//   forward   rank p < P−1 sends m to p+1 in 1 message; rank P−1 sends nothing.
//   backward  rank p > 0 sends m' to p−1 in 1 message; rank 0 sends nothing.
// Time: a blocking chain. Rank p starts its local work when its predecessor's state has
// arrived: start_p = start_{p−1} + C_{p−1} + hop(p−1 → p); the backward runs the chain
// in reverse. Nothing overlaps, and the last rank waits for every other's work.
import SPCore

/// The model of LASP-1's serial chain.
public enum LASP1Model: StrategyModel {
    public static let name = "lasp1"
    public static let attention = AttentionFamily.gla
    public static let layouts: [LayoutKind] = [.contiguous]

    public static func predict(_ w: Workload, shape: RankShape, on placement: Placement) -> Prediction {
        glaPrediction(w, shape: shape, on: placement, states: 2) { cost, forward, backward in
            let p = shape.ranks
            let m = Double(w.stateBytes), mPrime = Double(w.packedStateBytes)
            for r in 0..<p {
                if r < p - 1 { forward.bytesSent[r] = w.stateBytes; forward.messagesSent[r] = 1 }
                if r > 0 { backward.bytesSent[r] = w.packedStateBytes; backward.messagesSent[r] = 1 }
            }
            // Forward chain 0 → P−1.
            var start = 0.0
            for r in 0..<p {
                let compute = cost.localForward[r] + cost.readoutForward[r]
                let hopIn = r > 0 ? placement.messageSeconds(m, from: r - 1, to: r) : 0
                let hopOut = r < p - 1 ? placement.messageSeconds(m, from: r, to: r + 1) : 0
                forward.computeSeconds[r] = compute
                forward.commSeconds[r] = hopIn + hopOut
                forward.exposedCommSeconds[r] = hopIn + hopOut
                forward.seconds[r] = start + compute + hopOut
                start += compute + hopOut
            }
            // Backward chain P−1 → 0.
            start = 0
            for r in stride(from: p - 1, through: 0, by: -1) {
                let compute = cost.localBackward[r] + cost.readoutBackward[r]
                let hopIn = r < p - 1 ? placement.messageSeconds(mPrime, from: r + 1, to: r) : 0
                let hopOut = r > 0 ? placement.messageSeconds(mPrime, from: r, to: r - 1) : 0
                backward.computeSeconds[r] = compute
                backward.commSeconds[r] = hopIn + hopOut
                backward.exposedCommSeconds[r] = hopIn + hopOut
                backward.seconds[r] = start + compute + hopOut
                start += compute + hopOut
            }
        }
    }
}
