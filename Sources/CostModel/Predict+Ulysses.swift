// Model of `ulysses` (DeepSpeed-Ulysses, arXiv 2309.14509; SequenceParallel/UlyssesAttention.swift).
//
// Heads: rank j holds c_j = H/P query heads (the first H mod P ranks one more, contiguous)
// and g_j KV heads, exactly those its query heads use (query head h uses KV head
// h / (H/G)); G' = Σ g_j ≥ G when KV heads are replicated. One alltoallv per exchange,
// one message to each other rank. Rank r with n_r tokens (b element bytes, s = float32
// bytes of the log-sum-exp):
//   forward   2(P−1) messages
//     q k v  → j:  n_r·(c_j + 2·g_j)·D·b            o lse → j:  n_j·c_r·(D·b + s)
//     bytes  n_r·D·b·((H − c_r) + 2·(G' − g_r)) + (N − n_r)·c_r·(D·b + s)
//   backward  2(P−1) messages
//     q o do lse k v → j:  n_r·(c_j·(3·D·b + s) + 2·g_j·D·b)      dq dk dv → j:  n_j·(c_r + 2·g_r)·D·b
//     bytes  n_r·((H − c_r)·(3·D·b + s) + 2·D·b·(G' − g_r)) + (N − n_r)·D·b·(c_r + 2·g_r)
// Time: no overlap; each all-to-all waits for every rank (pairwise exchange, NIC-capped
// across nodes), attention runs on the whole sequence for c_r heads (causal balance is free).
import SPCore

/// The model of DeepSpeed-Ulysses.
public enum UlyssesModel: StrategyModel {
    public static let name = "ulysses"
    public static let attention = AttentionFamily.softmax
    public static let layouts = LayoutKind.allCases

    public static func unsupportedReason(_ w: Workload, ranks: Int) -> String? {
        ranks > w.heads
            ? "--strategy ulysses splits the \(w.heads) query heads over the ranks and needs P ≤ H, but P = \(ranks) > H = \(w.heads)"
            : nil
    }

    /// Query heads of rank r: c_r, and the KV heads it uses: g_r.
    static func heads(_ w: Workload, rank r: Int, ranks p: Int) -> (queries: Int, kv: Int) {
        let c = w.heads / p + (r < w.heads % p ? 1 : 0)
        let start = r * (w.heads / p) + min(r, w.heads % p)
        let group = w.heads / w.kvHeads
        return (c, (start + c - 1) / group - start / group + 1)
    }

    public static func predict(_ w: Workload, shape: RankShape, on placement: Placement) -> Prediction {
        let p = shape.ranks, n = shape.counts, N = w.seqLen, d = w.headDim, b = w.elementBytes, s = w.statsBytes
        let split = (0..<p).map { heads(w, rank: $0, ranks: p) }
        let gPrime = split.reduce(0) { $0 + $1.kv }
        var forward = PhasePrediction(ranks: p), backward = PhasePrediction(ranks: p)
        if p > 1 {
            for r in 0..<p {
                let (c, g) = split[r]
                forward.bytesSent[r] = n[r] * d * b * ((w.heads - c) + 2 * (gPrime - g)) + (N - n[r]) * c * (d * b + s)
                backward.bytesSent[r] = n[r] * ((w.heads - c) * (3 * d * b + s) + 2 * d * b * (gPrime - g))
                    + (N - n[r]) * d * b * (c + 2 * g)
                forward.messagesSent[r] = 2 * (p - 1)
                backward.messagesSent[r] = 2 * (p - 1)
            }
        }
        // Times: the largest per-peer block of each exchange.
        let cMax = split.map(\.queries).max() ?? 0, gMax = split.map(\.kv).max() ?? 0
        let nMax = Double(shape.maxCount)
        let toHeads = placement.allToAllSeconds(bytesPerPeer: nMax * Double((cMax + 2 * gMax) * d * b))
        let toSequence = placement.allToAllSeconds(bytesPerPeer: nMax * Double(cMax * (d * b + s)))
        let toHeadsBackward = placement.allToAllSeconds(bytesPerPeer: nMax * Double(cMax * (3 * d * b + s) + 2 * gMax * d * b))
        let toSequenceBackward = placement.allToAllSeconds(bytesPerPeer: nMax * Double((cMax + 2 * gMax) * d * b))
        let pairs = w.isCausal ? Double(N) * Double(N + 1) / 2 : Double(N) * Double(N)
        let compute = split.map { 4 * Double($0.queries * d) * pairs / placement.topology.device.flopsPerSecond }
        let slowest = compute.max() ?? 0
        fillUnoverlapped(&forward, comm: Array(repeating: toHeads + toSequence, count: p), compute: compute,
                         finish: toHeads + slowest + toSequence)
        fillUnoverlapped(&backward, comm: Array(repeating: toHeadsBackward + toSequenceBackward, count: p),
                         compute: compute.map { backwardFLOPsFactor * $0 },
                         finish: toHeadsBackward + backwardFLOPsFactor * slowest + toSequenceBackward)
        // Head layout: the whole sequence for c_r query heads and g_r KV heads, forward
        // (Q, K, V, O, L) and backward (Q, O, dO, L, K, V, dQ, dK, dV).
        let memory = (0..<p).map { r -> Int in
            let (c, g) = split[r]
            return w.softmaxBackwardBytes(n[r]) + N * (c * (3 * d * b + s) + 2 * g * d * b) + N * (c + 2 * g) * d * b
        }
        return Prediction(strategy: name, topology: placement.topology.name, ranks: p, workload: w,
                          forward: forward, backward: backward, memoryBytes: memory)
    }
}
