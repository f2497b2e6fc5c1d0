// Hockney α-β costs of the collectives the strategies use (Thakur, Rabenseifner, Gropp
// 2005), on a placement: α and β of the outermost level the collective spans, and for
// traffic that leaves a node each rank's share of the node's NICs. Every collective call
// also pays the topology's launch latency once. The operator cost γ of scans is left out:
// an elementwise update runs at memory bandwidth, far above any network level.
//
// | operation                         | algorithm          | seconds                               |
// |-----------------------------------|--------------------|---------------------------------------|
// | send m bytes                      | —                  | α + m·β                               |
// | all-to-all, m to each peer        | pairwise exchange  | (P−1)·α + (P−1)·m·β                   |
// | all-gather, m per rank            | ring               | (P−1)·(α + m·β)                       |
// | reduce-scatter, m per block       | ring               | (P−1)·(α + m·β)                       |
// | exclusive scan, m per rank        | recursive doubling | ⌈log2 P⌉·(α + m·β)                    |
// | chain, m per hop                  | linear             | Σ_hops (α + m·β)                      |
// | pipelined chain, K segments       | —                  | (P−2+K)·(α + (m/K)·β)                 |
//
// Across nodes the β of an all-to-all is split: the (g−1)·m bytes to peers on the node
// go over the node level while the (P−g)·m bytes to other nodes share the NICs; the
// slower of the two sets the time (docs/algorithms.md, collective costs: bus bandwidth ≈ B_nic·(P−1)/(P−g)).

extension Placement {
    /// Seconds of an all-to-all in which every rank sends `bytesPerPeer` to each other rank.
    public func allToAllSeconds(bytesPerPeer m: Double) -> Double {
        guard ranks > 1 else { return 0 }
        let p = Double(ranks)
        let node = topology.nodeLevel
        if !spansNodes {
            return topology.collectiveLaunchSeconds + (p - 1) * node.latencySeconds(forMessageOf: m)
                + (p - 1) * m / node.bytesPerSecond(forMessageOf: m)
        }
        let g = Double(ranksPerNode), cluster = topology.clusterLevel
        let inside = (g - 1) * m / node.bytesPerSecond(forMessageOf: m)
        let outside = (p - g) * m / nicShareBytesPerSecond(forMessageOf: m)
        return topology.collectiveLaunchSeconds + (g - 1) * node.latencySeconds(forMessageOf: m)
            + (p - g) * cluster.latencySeconds(forMessageOf: m) + max(inside, outside)
    }

    /// Bytes per second of a ring collective's steps: the node level inside a node; across
    /// nodes each rank's NIC share (every rank sends at once), never more than the node level.
    func ringCollectiveBytesPerSecond(forMessageOf m: Double) -> Double {
        spansNodes ? nicShareBytesPerSecond(forMessageOf: m) : topology.nodeLevel.bytesPerSecond(forMessageOf: m)
    }

    /// The latency of one step of a collective spanning the placement.
    func outerLatencySeconds(forMessageOf m: Double) -> Double {
        (spansNodes ? topology.clusterLevel : topology.nodeLevel).latencySeconds(forMessageOf: m)
    }

    /// Seconds of a ring all-gather of `bytesPerRank` from every rank (uneven: pass the largest).
    public func allGatherSeconds(bytesPerRank m: Double) -> Double {
        guard ranks > 1 else { return 0 }
        return topology.collectiveLaunchSeconds
            + Double(ranks - 1) * (outerLatencySeconds(forMessageOf: m) + m / ringCollectiveBytesPerSecond(forMessageOf: m))
    }

    /// Seconds of a ring reduce-scatter whose blocks are `bytesPerBlock` (uneven: the largest).
    public func reduceScatterSeconds(bytesPerBlock m: Double) -> Double {
        allGatherSeconds(bytesPerRank: m)
    }

    /// Seconds of a recursive-doubling exclusive scan of `m` bytes per rank (MPICH's
    /// algorithm): step k pairs rank r with r XOR 2^k, at the outermost level any such pair
    /// differs at.
    public func exscanSeconds(bytes m: Double) -> Double {
        guard ranks > 1 else { return 0 }
        var total = topology.collectiveLaunchSeconds
        var mask = 1
        while mask < ranks {
            let level = crossesNodes(partnerMask: mask) ? topology.clusterLevel : topology.nodeLevel
            total += level.seconds(forMessageOf: m)
            mask *= 2
        }
        return total
    }

    /// Whether some rank r and its partner r XOR `mask` sit on different nodes.
    func crossesNodes(partnerMask mask: Int) -> Bool {
        guard spansNodes else { return false }
        return (0..<ranks).contains { r in (r ^ mask) < ranks && node(of: r) != node(of: r ^ mask) }
    }

    /// Seconds of a linear chain `0 → 1 → … → P−1`, one message of `m` bytes per hop, each
    /// hop waiting for the one before.
    public func chainSeconds(bytes m: Double) -> Double {
        guard ranks > 1 else { return 0 }
        var total = 0.0
        for r in 0..<(ranks - 1) { total += messageSeconds(m, from: r, to: r + 1) }
        return total
    }

    /// The pieces of a pipelined chain of `m` bytes in `k` segments: the time of every hop
    /// for the first segment, plus `k − 1` more segments at the pace of the slowest hop.
    public func pipelinedChainSeconds(bytes m: Double, segments k: Int) -> Double {
        guard ranks > 1 else { return 0 }
        let segment = m / Double(k)
        var first = 0.0, slowest = 0.0
        for r in 0..<(ranks - 1) {
            let hop = messageSeconds(segment, from: r, to: r + 1)
            first += hop
            slowest = max(slowest, hop)
        }
        return first + Double(k - 1) * slowest
    }

    /// The K in `1...maxSegments` that minimizes `pipelinedChainSeconds`: near
    /// `K* = sqrt((Σβ·m − β_max·m) / α_max)`, which on a uniform chain is
    /// `sqrt((P−2)·m·β/α)` (docs/algorithms.md, ZeCO All-Scan).
    public func optimalSegments(bytes m: Double, maxSegments: Int) -> Int {
        guard ranks > 2, maxSegments > 1 else { return 1 }
        var sumBeta = 0.0, slowestBeta = 0.0, slowestAlpha = 0.0
        for r in 0..<(ranks - 1) {
            let level = self.level(r, r + 1)
            let beta = m / level.bytesPerSecond(forMessageOf: m / 2)
            sumBeta += beta
            if beta > slowestBeta { slowestBeta = beta; slowestAlpha = level.latencySeconds(forMessageOf: m / 2) }
        }
        let estimate = slowestAlpha > 0 ? ((sumBeta - slowestBeta) / slowestAlpha).squareRoot() : Double(maxSegments)
        let center = min(max(1, Int(estimate.rounded())), maxSegments)
        var best = center, bestTime = Double.infinity
        for k in max(1, center - 2)...min(maxSegments, center + 2) {
            let t = pipelinedChainSeconds(bytes: m, segments: k)
            if t < bestTime { bestTime = t; best = k }
        }
        return best
    }
}
