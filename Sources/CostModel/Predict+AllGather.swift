// Model of `allgather` (Llama 3 §3.3.2; SequenceParallel/AllGatherAttention.swift).
//
// Traffic, rank r holding n_r tokens, m_r = 2·n_r·G·D·b (its K and V packed):
//   forward:  all-gather of m_r            bytes (P−1)·m_r                       messages P−1
//   backward: all-gather again, then a reduce-scatter whose block j is rank j's dK, dV
//             bytes (P−1)·m_r + 2·(N − n_r)·G·D·b                            messages 2·(P−1)
// Time: no overlap. Forward: ring all-gather of the largest m_r, then local attention.
// Backward: all-gather, attention backward, then the reduce-scatter, which waits for the
// slowest rank. Memory: the gathered K, V (2·N·G·D·b) and, backward, the full dK, dV.
import SPCore

/// The model of all-gather KV context parallelism.
public enum AllGatherModel: StrategyModel {
    public static let name = "allgather"
    public static let attention = AttentionFamily.softmax
    public static let layouts = LayoutKind.allCases

    public static func predict(_ w: Workload, shape: RankShape, on placement: Placement) -> Prediction {
        let p = shape.ranks
        let kv = shape.counts.map { 2 * w.keyBytes($0) }
        let totalKeys = 2 * w.keyBytes(w.seqLen)
        let peers = p - 1

        var forward = PhasePrediction(ranks: p), backward = PhasePrediction(ranks: p)
        for r in 0..<p {
            forward.bytesSent[r] = peers * kv[r]
            forward.messagesSent[r] = peers
            backward.bytesSent[r] = peers * kv[r] + (totalKeys - kv[r])
            backward.messagesSent[r] = 2 * peers
        }

        let gather = placement.allGatherSeconds(bytesPerRank: Double(kv.max() ?? 0))
        let scatter = placement.reduceScatterSeconds(bytesPerBlock: Double(kv.max() ?? 0))
        let computeForward = shape.forwardFLOPs.map { $0 / placement.topology.device.flopsPerSecond }
        let computeBackward = computeForward.map { backwardFLOPsFactor * $0 }
        fillUnoverlapped(&forward, comm: Array(repeating: gather, count: p), compute: computeForward)
        fillUnoverlapped(&backward, comm: Array(repeating: gather + scatter, count: p), compute: computeBackward,
                         finish: gather + (computeBackward.max() ?? 0) + scatter)

        let memory = shape.counts.map { n in w.softmaxBackwardBytes(n) + 2 * totalKeys }
        return Prediction(strategy: name, topology: placement.topology.name, ranks: p, workload: w,
                          forward: forward, backward: backward, memoryBytes: memory)
    }
}
