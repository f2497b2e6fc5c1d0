// Model of `ring` (Liu et al. 2023; SequenceParallel/RingAttention.swift).
//
// Traffic, rank r, n_j tokens on rank j, one message per hop with K and V packed, one per
// hop with dK and dV packed (s = accumulator bytes per element, float32):
//   forward   P−1 messages, bytes Σ_{s=0}^{P−2} 2·n_{(r−s) mod P}·G·D·b = 2·(N − n_{(r+1) mod P})·G·D·b
//   backward  K/V as forward, plus P accumulator messages carrying every block once:
//             2P−1 messages, bytes 2·(N − n_{(r+1) mod P})·G·D·b + 2·N·G·D·s
//   P = 1 sends nothing.
// Time (double buffering): step s computes rank r's queries against the K/V of origin
// (r − s) mod P while the next block travels, so a step lasts max(compute, transfer) of
// the slowest rank; the last step has nothing to send. Causal contiguous: every step
// s ≥ 1 has a rank with a full block (the last rank), the others idle — the imbalance.
// Zigzag: every non-diagonal step is half a block on every rank. Striped: a causal diagonal
// or a strictly lower triangle. Backward: K/V and the previous step's dK/dV accumulator
// leave a rank together and share its link: one latency, both messages' bytes
// (`concurrentRingHopSeconds`); the last accumulator's hop home is exposed.
import SPCore

/// The model of ring attention, every layout.
public enum RingModel: StrategyModel {
    public static let name = "ring"
    public static let attention = AttentionFamily.softmax
    public static let layouts = LayoutKind.allCases

    public static func predict(_ w: Workload, shape: RankShape, on placement: Placement) -> Prediction {
        let p = shape.ranks, n = shape.counts
        let gd = w.kvHeads * w.headDim
        var forward = PhasePrediction(ranks: p), backward = PhasePrediction(ranks: p)
        if p > 1 {
            for r in 0..<p {
                forward.bytesSent[r] = 2 * (w.seqLen - n[(r + 1) % p]) * gd * w.elementBytes
                forward.messagesSent[r] = p - 1
                backward.bytesSent[r] = forward.bytesSent[r] + 2 * w.seqLen * gd * w.statsBytes
                backward.messagesSent[r] = 2 * p - 1
            }
        }

        // Times with the largest block: per hop the K/V block and the accumulator.
        let flops = 4 * Double(w.heads * w.headDim) / placement.topology.device.flopsPerSecond
        let hops = RingBackwardHops(placement, ranks: p, blockBytes: Double(2 * shape.maxCount * gd * w.elementBytes),
                                    accumulatorBytes: Double(2 * shape.maxCount * gd * w.statsBytes))
        let kvHop = hops.keysValues
        let steps = RingSteps(w, shape: shape)
        // Critical path: each step as slow as its slowest rank or its transfer.
        var fwdTime = 0.0, bwdTime = 0.0
        for s in 0..<p {
            let c = flops * steps.slowestPairs(step: s)
            fwdTime += max(c, s < p - 1 ? kvHop : 0)
            bwdTime += max(backwardFLOPsFactor * c, hops.step(s))
        }
        bwdTime += hops.accumulator
        for r in 0..<p {
            let compute = shape.forwardFLOPs[r] / placement.topology.device.flopsPerSecond
            forward.computeSeconds[r] = compute
            backward.computeSeconds[r] = backwardFLOPsFactor * compute
            forward.commSeconds[r] = Double(p - 1) * kvHop
            backward.commSeconds[r] = hops.total
            forward.exposedCommSeconds[r] = steps.exposed(rank: r, flops: flops, factor: 1) { s in s < p - 1 ? kvHop : 0 }
            backward.exposedCommSeconds[r] = steps.exposed(rank: r, flops: flops, factor: backwardFLOPsFactor, comm: hops.step)
                + hops.accumulator
            forward.seconds[r] = fwdTime
            backward.seconds[r] = bwdTime
        }
        let block = 2 * w.keyBytes(shape.maxCount)
        let memory = n.map { nr in
            w.softmaxBackwardBytes(nr) + 2 * block + 2 * (block / w.elementBytes) * w.statsBytes
        }
        return Prediction(strategy: name, topology: placement.topology.name, ranks: p, workload: w,
                          forward: forward, backward: backward, memoryBytes: memory)
    }
}

/// The transfers of a ring backward's steps (ring attention, and USP's ring across groups):
/// step s sends the K/V block on (s < P−1) and the accumulator of step s−1 (s ≥ 1), both
/// out of the rank at once, then the last accumulator goes home.
struct RingBackwardHops {
    /// One K/V hop alone (step 0), seconds.
    let keysValues: Double
    /// One accumulator hop alone (step P−1 and the hop home), seconds.
    let accumulator: Double
    /// A K/V hop and an accumulator hop leaving together (steps 1 … P−2), seconds.
    let both: Double
    let ranks: Int

    /// The hops of a ring over `ranks` ranks (none when it has one rank).
    init(_ placement: Placement, ranks: Int, blockBytes: Double, accumulatorBytes: Double) {
        self.ranks = ranks
        guard ranks > 1 else { (keysValues, accumulator, both) = (0, 0, 0); return }
        keysValues = placement.ringHopSeconds(blockBytes)
        accumulator = placement.ringHopSeconds(accumulatorBytes)
        both = placement.concurrentRingHopSeconds([blockBytes, accumulatorBytes])
    }

    /// The transfer of step `s`.
    func step(_ s: Int) -> Double {
        switch (s < ranks - 1, s >= 1) {
        case (true, true): return both
        case (true, false): return keysValues
        case (false, true): return accumulator
        case (false, false): return 0
        }
    }

    /// Every step's transfer and the hop home, seconds.
    var total: Double { ranks > 1 ? keysValues + Double(ranks - 2) * both + 2 * accumulator : 0 }
}

extension Placement {
    /// Seconds of a ring step whose hops each carry the messages `sizes` (bytes) at once, as
    /// the ring backward's K/V block and dK/dV accumulator leave a rank together: they share
    /// each hop's bandwidth, but their latencies overlap — latency is the time to first
    /// byte, not link occupancy, and a full-duplex link pipelines messages (SimGrid's flow
    /// model, which `SMPITests` compares with, does the same) — so the step costs the largest
    /// latency plus every message's transfer: α + Σ m·β, not Σ (α + m·β). With one message
    /// it is `ringHopSeconds`.
    func concurrentRingHopSeconds(_ sizes: [Double]) -> Double {
        func hop(_ level: NetworkLevel, bandwidth: (Double) -> Double) -> Double {
            (sizes.map { level.latencySeconds(forMessageOf: $0) }.max() ?? 0) + sizes.reduce(0) { $0 + $1 / bandwidth($1) }
        }
        let node = hop(topology.nodeLevel) { topology.nodeLevel.bytesPerSecond(forMessageOf: $0) }
        guard ringCrossesNodes else { return node }
        let cluster = topology.clusterLevel
        return max(node, hop(cluster) {
            topology.placement == .block ? cluster.bytesPerSecond(forMessageOf: $0) : nicShareBytesPerSecond(forMessageOf: $0)
        })
    }
}

/// The (query, key) pairs of a ring step: rank r's queries against the block of origin
/// (r − s) mod P, by layout (docs/algorithms.md, Ring attention; SequenceParallel/BlockWork.swift's rules).
struct RingSteps {
    let w: Workload
    let p: Int
    let counts: [Int]
    let maxCount: Int
    /// Average tokens per rank (times use it for the other rank's block when N is uneven).
    let mean: Double

    init(_ w: Workload, shape: RankShape) {
        self.w = w
        p = shape.ranks
        counts = shape.counts
        maxCount = shape.maxCount
        mean = Double(w.seqLen) / Double(shape.ranks)
    }

    /// Pairs of the diagonal step (a rank's queries against its own keys).
    func diagonal(_ n: Double) -> Double { w.isCausal ? n * (n + 1) / 2 : n * n }

    /// Pairs of an off-diagonal step whose origin is below (earlier than) the rank, or above.
    func offDiagonal(_ n: Double, below: Bool) -> Double {
        guard w.isCausal else { return n * n }
        switch w.layout {
        case .contiguous: return below ? n * n : 0
        case .zigzag: return n * n / 2
        case .striped: return below ? n * (n + 1) / 2 : n * (n - 1) / 2
        }
    }

    /// The largest pairs of any rank at step s (the rank that sets the step's pace).
    func slowestPairs(step s: Int) -> Double {
        let n = Double(maxCount)
        if s == 0 { return diagonal(n) }
        // The last rank always has an origin below it for s ≥ 1.
        return offDiagonal(n, below: true)
    }

    /// Σ over steps of the transfer `comm(s)` not hidden by rank r's own compute at step s:
    /// steps 1…r see origins below r, steps r+1…P−1 origins above. `comm` may differ at
    /// s = 0, s = 1 and s = P−1 and is the same at every s in 2…P−2. O(1) per rank.
    func exposed(rank r: Int, flops: Double, factor: Double, comm: (Int) -> Double) -> Double {
        let n = Double(counts[r])
        var total = max(0, comm(0) - factor * flops * diagonal(n))
        guard p > 1 else { return total }
        let below = factor * flops * offDiagonal(n, below: true), above = factor * flops * offDiagonal(n, below: false)
        // Steps 1…r see origins below r, steps r+1…P−1 above.
        func hidden(_ s: Int) -> Double { s <= r ? below : above }
        // comm(s) takes at most four values: s = 0, s = 1, 2 ≤ s ≤ P−2, s = P−1.
        total += max(0, comm(1) - hidden(1))
        if p - 1 >= 2 { total += max(0, comm(p - 1) - hidden(p - 1)) }
        if p - 2 >= 2 {
            let middle = comm(2), steps = p - 3  // s = 2…P−2
            let belowSteps = max(0, min(r, p - 2) - 1)
            total += Double(belowSteps) * max(0, middle - below) + Double(steps - belowSteps) * max(0, middle - above)
        }
        return total
    }
}
