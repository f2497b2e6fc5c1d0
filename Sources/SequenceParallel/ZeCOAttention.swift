// ZeCO — "ZeCO: Zero Communication Overhead Sequence Parallelism for Linear Attention"
// (arXiv 2507.01004), §3, Algorithm 1: gated linear attention with the All-Scan collective.
//
// forward on rank p (tokens in rank order; a_p = exp(Σ_t g_t) per state row):
//   post the All-Scan receives: K row blocks from rank p−1
//   for h in heads:                                    the local intra-chunk work, head by head
//       o[h], B_p[h] ← GLA(q, k, v, g of head h) from a zero state
//       All-Scan, every block that is ready:           S_in ← block from p−1 (0 on rank 0)
//                                                      send Diag(a_p) S_in + B_p to p+1 at once
//   All-Scan, the remaining blocks
//   o += (q ⊙ exp(G)) S_in                             the incoming state's share of o
//
// backward on rank p (the same All-Scan, ranks in reverse order, on state gradients):
//   for h in heads:
//       dq, dk, dv, dG, dB_p[h] ← GLA backward of head h from S_in with no later gradient
//       σ_p[h] ← Σ_t dG_t
//       reverse All-Scan, every block that is ready:   (c, dS_out) ← block from p+1 (0 on rank P−1)
//           send (c + σ_p − rowDot(dS_out, B_p),  Diag(a_p) dS_out + dB_p) to p−1
//   reverse All-Scan, the remaining blocks
//   dk, dv, dG += dS_out's share;  dg ← Σ_{t' ≥ t} dG_t' + c
//
// c is the gate-gradient carry, the sum of dG over every later token (docs/algorithms.md, gated linear attention): rank p
// adds its own tokens' total, σ_p plus the final-state term −rowDot(dS_out, B_p) that
// dS_out's share removes from dG. Both the carry and the state gradient are row-separable, so
// the carry rides in the same row blocks, one float per row. Overlap: a block is passed on
// as soon as its rows' local part is done and its message has arrived (the scan advances
// between heads; with H = 1 the scan follows the local work). The default K is the cost
// model's K* = sqrt((P−2)·m·β/α) (`ScanBlocks.defaultBlocks`), `--scan-blocks` overrides it.
//
// Traffic (b = 4 bytes, state H·Dk·Dv):
//   forward:  rank p < P−1 sends H·Dk·Dv·b bytes to p+1 in K messages; rank P−1 sends nothing.
//   backward: rank p > 0 sends H·Dk·(Dv+1)·b bytes to p−1 in K messages; rank 0 sends nothing.
import Kernels
import MPI

/// ZeCO: the All-Scan of boundary states, pipelined in K row blocks and overlapped with the
/// local work, forward and backward.
public final class ZeCOAttention: LinearAttentionStrategy {
    public typealias Saved = GLABoundaryStates
    public static let descriptor = StrategyDescriptor(
        name: "zeco", attention: .gla, layouts: [.contiguous], colour: "#56B4E9", marker: .star,
        options: [.scanBlocks],
        summary: "All-Scan: exclusive scan of states pipelined in K row blocks, overlapped with local work (ZeCO)")

    public static func resolvedOptions(_ problem: LinearAttentionProblem, layout: LayoutKind, ranks: Int)
        -> [StrategyOption: Int] {
        [.scanBlocks: problem.resolvedScanBlocks(ranks: ranks)]
    }

    private let problem: LinearAttentionProblem
    private let context: RankContext
    /// Row blocks K of both scans.
    public let blocks: Int

    /// The forward and backward All-Scans, set up on first use and restarted in the same
    /// buffers by every later step.
    private var scans: [ScanDirection: AllScan] = [:]

    /// The All-Scan along `direction` with `width` floats per row, its receives posted.
    private func allScan(_ direction: ScanDirection, width: Int) throws -> AllScan {
        if let scan = scans[direction], scan.isComplete {
            try scan.restart()
            return scan
        }
        let scan = try AllScan(communicator: context.communicator, rows: problem.stateRows, width: width, blocks: blocks,
                               direction: direction)
        scans[direction] = scan
        return scan
    }

    public init(problem: LinearAttentionProblem, context: RankContext) {
        self.problem = problem
        self.context = context
        blocks = problem.resolvedScanBlocks(ranks: context.size)
    }

    public func forward(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32) throws -> LinearAttentionOutput<Saved> {
        let heads = problem.heads, dk = problem.keyDim, dv = problem.valueDim
        let zero = GLAState(heads: heads, keyDim: dk, valueDim: dv)
        let decay = rowDecay(g, problem: problem, context: context)
        let scan = try context.communicate("all-scan post") { try allScan(.ascending, width: dv) }
        var states = GLABoundaryStates(incoming: zero, local: zero)
        // Block of rows: S_in ← the received rows; the message is Diag(a_p) S_in + B_p.
        let combine: AllScan.Combine = { rows, incoming, outgoing in
            GLAScanOperator.forwardBlock(rows, received: incoming, outgoing: outgoing, decay: decay, local: states.local,
                                         incoming: &states.incoming)
        }

        var o = context.zeros(tokens: q.tokens, heads: heads, dim: dv)
        for h in 0..<heads {
            let flops = problem.localForwardFLOPs(tokens: q.tokens) / Double(heads)
            if let part = context.kernel("local GLA", flops: flops, phantom: nil, { () -> (o: Tensor32, finalState: GLAState)? in
                let one = h ..< h + 1
                return glaForward(q: q.heads(one), k: k.heads(one), v: v.heads(one), g: g.heads(one))
            }) {
                o.setHeads(h ..< h + 1, from: part.o)
                states.local.replaceHead(h, with: part.finalState)
            }
            try context.communicate("all-scan") { try scan.advance(readyRows: (h + 1) * dk, combine: combine) }
        }
        try context.communicate("all-scan") { try scan.finish(combine: combine) }
        context.kernel("incoming state", flops: problem.readoutForwardFLOPs(tokens: q.tokens), phantom: ()) {
            glaAddIncomingState(&o, q: q, g: g, state: states.incoming)
        }
        return LinearAttentionOutput(o: o, saved: states)
    }

    public func backward(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32, saved: Saved, dO: Tensor32) throws
        -> LinearAttentionGradients {
        let heads = problem.heads, dk = problem.keyDim, dv = problem.valueDim, rows = problem.stateRows
        let n = q.tokens, width = GLAScanOperator.packedWidth(valueDim: dv)
        let decay = rowDecay(g, problem: problem, context: context)
        let scan = try context.communicate("all-scan post") { try allScan(.descending, width: width) }
        var local = GLAGradients(dq: context.zeros(tokens: n, heads: heads, dim: dk), dk: context.zeros(tokens: n, heads: heads, dim: dk),
                                 dv: context.zeros(tokens: n, heads: heads, dim: dv), dG: context.zeros(tokens: n, heads: heads, dim: dk),
                                 initialState: GLAState(heads: heads, keyDim: dk, valueDim: dv))
        var ownTotal = [Float](repeating: 0, count: rows)          // σ_p
        var later = GLAState(heads: heads, keyDim: dk, valueDim: dv) // dS_out
        var carry = [Float](repeating: 0, count: rows)              // c
        // Block of rows [c, dS]: keep the received ones, send (c + σ_p − rowDot(dS_out, B_p), Diag(a_p) dS_out + dB_p).
        let combine: AllScan.Combine = { block, incoming, outgoing in
            if let incoming {
                for (i, r) in block.enumerated() {
                    carry[r] = incoming[i * width]
                    later.storage.replaceSubrange(r * dv ..< (r + 1) * dv, with: incoming[i * width + 1 ..< (i + 1) * width])
                }
            }
            guard let outgoing else { return }
            decay.withUnsafeBufferPointer { a in
                local.initialState.storage.withUnsafeBufferPointer { db in
                    GLAScanOperator.apply(rows: block, decay: a.baseAddress!, own: db.baseAddress!,
                                          incoming: incoming?.baseAddress, into: outgoing.baseAddress!,
                                          valueDim: dv, stride: width, offset: 1)
                }
            }
            later.storage.withUnsafeBufferPointer { ds in
                saved.local.storage.withUnsafeBufferPointer { b in
                    for (i, r) in block.enumerated() {
                        var finalStateTerm = 0.0
                        for e in 0..<dv { finalStateTerm += Double(ds[r * dv + e]) * Double(b[r * dv + e]) }
                        outgoing[i * width] = Float(Double(carry[r]) + Double(ownTotal[r]) - finalStateTerm)
                    }
                }
            }
        }

        for h in 0..<heads {
            let one = h ..< h + 1
            if let part = context.kernel("local GLA backward", flops: problem.localBackwardFLOPs(tokens: n) / Double(heads),
                                         phantom: nil, { () -> GLAGradients? in
                glaBackward(q: q.heads(one), k: k.heads(one), v: v.heads(one), g: g.heads(one), dO: dO.heads(one),
                            initialState: saved.incoming.head(h))
            }) {
                local.dq.setHeads(one, from: part.dq)
                local.dk.setHeads(one, from: part.dk)
                local.dv.setHeads(one, from: part.dv)
                local.dG.setHeads(one, from: part.dG)
                local.initialState.replaceHead(h, with: part.initialState)
                ownTotal.replaceSubrange(h * dk ..< (h + 1) * dk, with: part.dG.sumOverTokens())
            }
            try context.communicate("all-scan") { try scan.advance(readyRows: (h + 1) * dk, combine: combine) }
        }
        try context.communicate("all-scan") { try scan.finish(combine: combine) }
        let phantom = LinearAttentionGradients(dq: local.dq, dk: local.dk, dv: local.dv, dg: local.dG)
        return context.kernel("final-state gradient", flops: problem.readoutBackwardFLOPs(tokens: n), phantom: phantom) {
            finishGLABackward(local, k: k, v: v, g: g, finalStateGradient: later, carry: carry)
        }
    }
}
