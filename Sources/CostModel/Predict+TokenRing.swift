// Model of `token-ring` (TokenRing, arXiv 2412.20501; SequenceParallel/TokenRingAttention.swift).
//
// K and V stay; Q moves one hop per step and each partial (o, lse) returns straight to its
// owner, on the other direction of the links. Rank r, n_j tokens on rank j, b element
// bytes, s float32 bytes of the log-sum-exp; 2(P−1) messages per phase (P = 1: none).
//   Non-causal (any layout), Q to r+1 ("next"):
//     forward   Q (N − n_next)·H·D·b            returns (N − n_r)·H·(D·b + s)
//     backward  blocks (q, dO, o, lse) (N − n_next)·H·(3·D·b + s)     dq returns (N − n_r)·H·D·b
//   Causal (zigzag, n = 2c tokens per rank), Q to r−1; a wrapped Q sends only its second half:
//     forward   Q rank 0: (P−1)·(n/2)·H·D·b, rank r ≥ 1: (2P−r−1)·(n/2)·H·D·b
//               returns (2P−2−r)·(n/2)·H·(D·b + s)
//     backward  blocks as Q with H·(3·D·b + s) per token, dq returns as returns with H·D·b.
// Time: a step lasts the longer of the slowest rank's compute and the Q hop of the next
// step plus the return of the previous step: both leave the rank through its one port (its
// link to the NVSwitch, or its NIC), one after the other; the last return is exposed.
// Step 0 computes the diagonal and merges it locally, so it returns nothing: steps 0 and 1
// carry a Q hop alone, steps 2…P−2 a Q hop and a return, step P−1 a return, and the return
// of step P−1 follows: P−1 Q hops and P−1 returns, as sent. (Charging a return at step 1 too
// priced P returns: one return too many wherever the transfers are not hidden — on the toy
// platform, N = 512, H = 8, D = 16, causal, 1.43× the simulated forward at P = 2, 1.09× at
// P = 8; now 1.000 and 1.016.) Causal zigzag's wrapped steps send half blocks and half
// returns, but at every step some rank sends a whole block and a whole return (rank 1; at
// step P−1 rank 0 its whole return), so each step is priced whole. The schedule
// posts each return's receive when the owner's step begins, so returns reach the owner's
// link in its own step (TokenRingAttention.swift, "Pacing") as priced here.
// Not priced: where a block's compute is close to its Q hop, a return leaves only once its
// block is computed and shares the link with the next hop, which then arrives late — toy,
// P = 8, D = 64: simulated 1.03× this (non-causal, N = 8192) and 1.07× (causal, N = 16384,
// backward 1.08×). Transfer-bound or compute-bound, the simulation agrees within 3%.
// Returns cross nodes at each GPU's NIC share.
import SPCore

/// The model of TokenRing.
public enum TokenRingModel: StrategyModel {
    public static let name = "token-ring"
    public static let attention = AttentionFamily.softmax
    public static let layouts = LayoutKind.allCases

    public static func unsupportedReason(_ w: Workload, ranks: Int) -> String? {
        w.isCausal && w.layout != .zigzag
            ? "--strategy token-ring on causal attention needs --layout zigzag, not \(w.layout.rawValue)" : nil
    }

    public static func predict(_ w: Workload, shape: RankShape, on placement: Placement) -> Prediction {
        let p = shape.ranks, n = shape.counts, N = w.seqLen, h = w.heads, d = w.headDim
        let b = w.elementBytes, s = w.statsBytes
        let qRow = h * d * b, returnRow = h * (d * b + s), blockRow = h * (3 * d * b + s), dqRow = h * d * b
        var forward = PhasePrediction(ranks: p), backward = PhasePrediction(ranks: p)
        if p > 1 {
            for r in 0..<p {
                // Tokens this rank sends as blocks, and as returns.
                let sent: Int, returned: Int
                if w.isCausal {
                    let half = n[r] / 2
                    sent = (r == 0 ? p - 1 : 2 * p - r - 1) * half
                    returned = (2 * p - 2 - r) * half
                } else {
                    sent = N - n[(r + 1) % p]
                    returned = N - n[r]
                }
                forward.bytesSent[r] = sent * qRow + returned * returnRow
                backward.bytesSent[r] = sent * blockRow + returned * dqRow
                forward.messagesSent[r] = 2 * (p - 1)
                backward.messagesSent[r] = 2 * (p - 1)
            }
        }

        let rows = Double(shape.maxCount)
        func hop(_ bytes: Double) -> Double { p > 1 ? placement.ringHopSeconds(bytes) : 0 }
        func back(_ bytes: Double) -> Double {
            guard p > 1 else { return 0 }
            guard placement.spansNodes else { return placement.topology.nodeLevel.seconds(forMessageOf: bytes) }
            return placement.topology.clusterLevel.latencySeconds(forMessageOf: bytes)
                + bytes / placement.nicShareBytesPerSecond(forMessageOf: bytes)
        }
        let phases: [(q: Double, ret: Double, factor: Double)] = [
            (hop(rows * Double(qRow)), back(rows * Double(returnRow)), 1),
            (hop(rows * Double(blockRow)), back(rows * Double(dqRow)), backwardFLOPsFactor),
        ]
        let flops = 4 * Double(h * d) / placement.topology.device.flopsPerSecond
        let steps = RingSteps(w, shape: shape)
        for (index, phase) in phases.enumerated() {
            var time = 0.0
            // Step s carries the Q hop of step s+1 and the return of step s−1 (none from step 0).
            let comm: (Int) -> Double = { step in (step < p - 1 ? phase.q : 0) + (step >= 2 ? phase.ret : 0) }
            for step in 0..<p { time += max(phase.factor * flops * steps.slowestPairs(step: step), comm(step)) }
            time += phase.ret
            for r in 0..<p {
                let compute = phase.factor * shape.forwardFLOPs[r] / placement.topology.device.flopsPerSecond
                let exposed = steps.exposed(rank: r, flops: flops, factor: phase.factor, comm: comm) + phase.ret
                if index == 0 {
                    forward.computeSeconds[r] = compute
                    forward.commSeconds[r] = Double(p - 1) * (phase.q + phase.ret)
                    forward.exposedCommSeconds[r] = exposed
                    forward.seconds[r] = time
                } else {
                    backward.computeSeconds[r] = compute
                    backward.commSeconds[r] = Double(p - 1) * (phase.q + phase.ret)
                    backward.exposedCommSeconds[r] = exposed
                    backward.seconds[r] = time
                }
            }
        }
        // Two block buffers and at most two pending return buffers (forward (o, lse); backward dq):
        // a return's receive is posted when its step begins and merged one step later.
        let memory = n.map { nr in
            w.softmaxBackwardBytes(nr) + 2 * shape.maxCount * blockRow + min(2, max(0, p - 1)) * shape.maxCount * returnRow
        }
        return Prediction(strategy: name, topology: placement.topology.name, ranks: p, workload: w,
                          forward: forward, backward: backward, memoryBytes: memory)
    }
}
