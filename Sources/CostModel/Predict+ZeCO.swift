// Model of `zeco` (ZeCO All-Scan, arXiv 2507.01004; SequenceParallel/ZeCOAttention.swift).
//
// Traffic (m = H·Dk·Dv·b, m' = H·Dk·(Dv·b + s), K row blocks):
//   forward   rank p < P−1 sends m to p+1 in K messages; rank P−1 sends nothing.
//   backward  rank p > 0 sends m' to p−1 in K messages; rank 0 sends nothing.
// Time: the All-Scan is a chain pipelined in K blocks of m/K bytes, overlapped with the
// local work (done head by head, so block k is ready locally about (k+1)/K of the way
// through). The last block reaches rank r at the later of
//   the compute-bound tail     C + Σ_{j<r} hop_j                       (all ranks finish C together,
//                                                                       then the last block walks r hops)
//   the communication bound   C/K + Σ_{j<r} hop_j + (K−1)·max_{j<r} hop_j (the pipeline's fill and drain)
// with hop_j = α + (m/K)·β at the level ranks j, j+1 differ at. On a uniform chain with
// the blocks ready at once this is (P−2+K)·(α + (m/K)·β); the time-optimal K is
// K* = sqrt((P−2)·m·β/α) (clamped to [1, H·Dk]). After its last block a rank waits for its
// own last send and adds the incoming state's read-out. The backward is the same chain in
// reverse rank order on m'. Exposed communication is what is left beyond the compute.
import SPCore

/// The model of ZeCO's pipelined All-Scan.
public enum ZeCOModel: StrategyModel {
    public static let name = "zeco"
    public static let attention = AttentionFamily.gla
    public static let layouts: [LayoutKind] = [.contiguous]

    /// The K used: the workload's, else the time-optimal one on this placement.
    public static func blocks(_ w: Workload, on placement: Placement) -> Int {
        w.scanBlocks ?? placement.optimalSegments(bytes: Double(w.stateBytes), maxSegments: w.stateRows)
    }

    public static func predict(_ w: Workload, shape: RankShape, on placement: Placement) -> Prediction {
        let k = blocks(w, on: placement)
        return glaPrediction(w, shape: shape, on: placement, states: 3, scanBlocks: k) { cost, forward, backward in
            let p = shape.ranks
            for r in 0..<p {
                if r < p - 1 { forward.bytesSent[r] = w.stateBytes; forward.messagesSent[r] = k }
                if r > 0 { backward.bytesSent[r] = w.packedStateBytes; backward.messagesSent[r] = k }
            }
            scan(&forward, order: Array(0..<p), segment: Double(w.stateBytes) / Double(k), blocks: k,
                 local: cost.localForward, readout: cost.readoutForward, placement: placement)
            scan(&backward, order: Array((0..<p).reversed()), segment: Double(w.packedStateBytes) / Double(k), blocks: k,
                 local: cost.localBackward, readout: cost.readoutBackward, placement: placement)
        }
    }

    /// Fills one phase's times for a pipelined chain visiting `order`.
    static func scan(_ phase: inout PhasePrediction, order: [Int], segment: Double, blocks k: Int,
                     local: [Double], readout: [Double], placement: Placement) {
        let c = local.max() ?? 0
        var before = 0.0, slowest = 0.0  // Σ and max of the hops before this rank
        for (position, r) in order.enumerated() {
            let next = position + 1 < order.count ? order[position + 1] : nil
            let hopIn = position > 0 ? placement.messageSeconds(segment, from: order[position - 1], to: r) : 0
            if position > 0 {
                before += hopIn
                slowest = max(slowest, hopIn)
            }
            let hopOut = next.map { placement.messageSeconds(segment, from: r, to: $0) } ?? 0
            let arrival = position == 0 ? 0 : max(c + before, c / Double(k) + before + Double(k - 1) * slowest)
            phase.computeSeconds[r] = local[r] + readout[r]
            phase.commSeconds[r] = Double(k) * (hopIn + hopOut)
            phase.seconds[r] = max(local[r], arrival) + hopOut + readout[r]
            phase.exposedCommSeconds[r] = max(0, phase.seconds[r] - phase.computeSeconds[r])
        }
    }
}
