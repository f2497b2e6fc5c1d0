// Model of `usp` (Unified Sequence Parallelism, arXiv 2405.07719; SequenceParallel/USPAttention.swift).
//
// P = U × R: Ulysses inside groups of U consecutive ranks, ring attention across the R
// groups (ranks with equal member index, stride U). Rank r = g·U + u. Heads over the U
// members as Ulysses over U ranks: c_m query heads (the first H mod U members one more),
// g_m KV heads (those its query heads use), G' = Σ_m g_m. Group g holds M_g = Σ_m n_{g·U+m}
// tokens (the layout must make them ring block g of the same layout over R ranks, so
// M_g = the R-rank layout's count of rank g). b element bytes, s float32 bytes (the
// log-sum-exp, the ring's dK/dV accumulators):
//   forward   2(U−1) + (R−1) messages
//     q k v → m ≠ u:  n_r·(c_m + 2·g_m)·D·b        o lse → m ≠ u:  n_{g·U+m}·c_u·(D·b + s)
//     ring:  2·(N − M_{(g+1) mod R})·g_u·D·b
//   backward  2(U−1) + (2R−1 if R > 1 else 0) messages
//     q o do lse k v → m ≠ u:  n_r·(c_m·(3·D·b + s) + 2·g_m·D·b)
//     dq dk dv → m ≠ u:        n_{g·U+m}·(c_u + 2·g_u)·D·b
//     ring:  2·(N − M_{(g+1) mod R})·g_u·D·b + 2·N·g_u·D·s
// U: the workload's `ulyssesDegree`, else the largest supported U with U | P, U² ≤ P, U ≤ H.
// Time: the group all-to-alls priced as Ulysses on U ranks (the first U of the topology),
// no overlap with compute; between them a ring over R ranks as the ring model prices it
// (double buffered, a hop at the level of the whole P-rank placement, a step as slow as
// the slowest group, the backward's K/V and dK/dV hops leaving together at one latency:
// `RingBackwardHops`), on the largest c_u heads.
import SPCore

/// The model of USP (Ulysses × ring).
public enum USPModel: StrategyModel {
    public static let name = "usp"
    public static let attention = AttentionFamily.softmax
    public static let layouts: [LayoutKind] = [.contiguous, .zigzag]

    public static func unsupportedReason(_ w: Workload, ranks p: Int) -> String? {
        reason(w, ranks: p, degree: degree(w, ranks: p))
    }

    /// U for `w` on `p` ranks: the workload's, else the default rule.
    static func degree(_ w: Workload, ranks p: Int) -> Int {
        if let u = w.ulyssesDegree { return u }
        var best = 1
        for u in 1...max(1, p) where p % u == 0 && u * u <= p && u <= w.heads && reason(w, ranks: p, degree: u) == nil {
            best = u
        }
        return best
    }

    /// Why degree `u` does not fit, or nil.
    static func reason(_ w: Workload, ranks p: Int, degree u: Int) -> String? {
        if u < 1 || p % u != 0 { return "--ulysses-degree \(u) must be at least 1 and divide P = \(p)" }
        if u > w.heads { return "--ulysses-degree \(u) needs U ≤ H = \(w.heads)" }
        // Every member's query heads must use their KV heads equally (one kernel call).
        let group = w.heads / w.kvHeads
        for m in 0..<u {
            let start = m * (w.heads / u) + min(m, w.heads % u), end = start + w.heads / u + (m < w.heads % u ? 1 : 0)
            let served = (start / group ... (end - 1) / group).map { min(end, ($0 + 1) * group) - max(start, $0 * group) }
            if Set(served).count > 1 { return "--ulysses-degree \(u): member \(m)'s query heads use their KV heads unequally" }
        }
        if w.layout == .contiguous {
            let n = groupTokens(w, ranks: p, degree: u), r = p / u
            let block = (0..<r).map { w.seqLen / r + ($0 < w.seqLen % r ? 1 : 0) }
            if n != block { return "--ulysses-degree \(u): the groups hold \(n) tokens, not contiguous blocks \(block)" }
        }
        return nil
    }

    /// M_g: tokens of each group (contiguous: the first N mod P ranks hold one more; zigzag: N/R).
    static func groupTokens(_ w: Workload, ranks p: Int, degree u: Int) -> [Int] {
        (0..<(p / u)).map { g in
            (0..<u).reduce(0) { total, m in
                let r = g * u + m
                return total + (w.layout == .contiguous ? w.seqLen / p + (r < w.seqLen % p ? 1 : 0) : w.seqLen / p)
            }
        }
    }

    public static func predict(_ w: Workload, shape: RankShape, on placement: Placement) -> Prediction {
        let p = shape.ranks, n = shape.counts, N = w.seqLen, d = w.headDim, b = w.elementBytes, s = w.statsBytes
        let u = degree(w, ranks: p), r = p / u, groups = groupTokens(w, ranks: p, degree: u)
        let split = (0..<u).map { UlyssesModel.heads(w, rank: $0, ranks: u) }
        let gPrime = split.reduce(0) { $0 + $1.kv }
        var forward = PhasePrediction(ranks: p), backward = PhasePrediction(ranks: p)
        for rank in 0..<p {
            let g = rank / u, (c, gu) = split[rank % u], others = groups[g] - n[rank]
            let ring = r > 1 ? 2 * (N - groups[(g + 1) % r]) * gu * d * b : 0
            forward.bytesSent[rank] = n[rank] * d * b * ((w.heads - c) + 2 * (gPrime - gu)) + ring + others * c * (d * b + s)
            backward.bytesSent[rank] = n[rank] * ((w.heads - c) * (3 * d * b + s) + 2 * d * b * (gPrime - gu))
                + (r > 1 ? ring + 2 * N * gu * d * s : 0) + others * d * b * (c + 2 * gu)
            forward.messagesSent[rank] = 2 * (u - 1) + (r - 1)
            backward.messagesSent[rank] = 2 * (u - 1) + (r > 1 ? 2 * r - 1 : 0)
        }

        // Times. Group all-to-alls as Ulysses on U ranks, per peer the largest block.
        let inner = Placement(topology: placement.topology, ranks: u)
        let cMax = split.map(\.queries).max() ?? 0, gMax = split.map(\.kv).max() ?? 0
        let nMax = Double(shape.maxCount), mMax = groups.max() ?? 0
        let toHeads = inner.allToAllSeconds(bytesPerPeer: nMax * Double((cMax + 2 * gMax) * d * b))
        let toSequence = inner.allToAllSeconds(bytesPerPeer: nMax * Double(cMax * (d * b + s)))
        let toHeadsBackward = inner.allToAllSeconds(bytesPerPeer: nMax * Double(cMax * (3 * d * b + s) + 2 * gMax * d * b))
        let toSequenceBackward = inner.allToAllSeconds(bytesPerPeer: nMax * Double((cMax + 2 * gMax) * d * b))
        // The ring over R groups: the ring model's steps on the R-rank shape, c_u heads.
        var ringWorkload = w
        ringWorkload.ulyssesDegree = nil
        let ringShape = RankShape(ringWorkload, ranks: r)
        let steps = RingSteps(ringWorkload, shape: ringShape)
        let perPair = 4 * Double(d) / placement.topology.device.flopsPerSecond
        let hops = RingBackwardHops(placement, ranks: r, blockBytes: Double(2 * mMax * gMax * d * b),
                                    accumulatorBytes: Double(2 * mMax * gMax * d * s))
        let kvHop = hops.keysValues, accHop = hops.accumulator
        var ringForward = 0.0, ringBackward = 0.0
        for step in 0..<r {
            let c = Double(cMax) * perPair * steps.slowestPairs(step: step)
            ringForward += max(c, step < r - 1 ? kvHop : 0)
            ringBackward += max(backwardFLOPsFactor * c, hops.step(step))
        }
        ringBackward += accHop
        for rank in 0..<p {
            let g = rank / u, flops = Double(split[rank % u].queries) * perPair
            let compute = flops * RankShape.visiblePairs(ringWorkload, rank: g, ranks: r)
            forward.computeSeconds[rank] = compute
            backward.computeSeconds[rank] = backwardFLOPsFactor * compute
            forward.commSeconds[rank] = toHeads + toSequence + Double(r - 1) * kvHop
            backward.commSeconds[rank] = toHeadsBackward + toSequenceBackward + hops.total
            forward.exposedCommSeconds[rank] = toHeads + toSequence
                + steps.exposed(rank: g, flops: flops, factor: 1) { $0 < r - 1 ? kvHop : 0 }
            backward.exposedCommSeconds[rank] = toHeadsBackward + toSequenceBackward + accHop
                + steps.exposed(rank: g, flops: flops, factor: backwardFLOPsFactor, comm: hops.step)
            forward.seconds[rank] = toHeads + ringForward + toSequence
            backward.seconds[rank] = toHeadsBackward + ringBackward + toSequenceBackward
        }
        // Head layout on the group's M_g tokens (as Ulysses) plus the ring's two blocks and accumulators.
        let memory = (0..<p).map { rank -> Int in
            let (c, gu) = split[rank % u], m = groups[rank / u], block = 2 * m * gu * d
            return w.softmaxBackwardBytes(n[rank]) + m * (c * (3 * d * b + s) + 2 * gu * d * b) + m * (c + 2 * gu) * d * b
                + 2 * block * b + 2 * block * s
        }
        return Prediction(strategy: name, topology: placement.topology.name, ranks: p, workload: w,
                          forward: forward, backward: backward, memoryBytes: memory)
    }
}
