// Ring Attention — Liu, Zaharia, Abbeel, "Ring Attention with Blockwise Transformers for
// Near-Infinite Context" (arXiv 2310.01889), §3 and Algorithm 1; schedule and causal
// layouts after zhuzilin/ring-flash-attention (ring_flash_attn, zigzag_ring_flash_attn,
// stripe_flash_attn).
//
//   forward, rank r of P; at step s it holds the K/V block of origin o = (r − s) mod P:
//     block ← (k, v)
//     for s in 0 ..< P:
//       if s < P−1: post irecv(next ← r−1), isend(block → r+1)      double buffering
//       w ← BlockWork.plan(r, o)                                    skip, full, half or shifted
//       (o_s, lse_s) ← attention(q[w.q], K_o[w.k], V_o[w.k])         masks from real positions
//       (o, lse) ← merge((o, lse), (o_s, lse_s))                     LSE merge, rows w.q
//       if s < P−1: wait; block ← next
//
//   backward (stateless: K/V circulate again):
//     block ← (k, v);  dq ← 0
//     for s in 0 ..< P:
//       if s < P−1: post irecv(next ← r−1), isend(block → r+1)
//       (dq_s, dk_s, dv_s) ← attention-backward(q[w.q], K_o[w.k], V_o[w.k], o, lse, do)
//       dq[w.q] += dq_s
//       acc ← s = 0 ? 0 : wait(accumulator of block o, from r−1)
//       acc[w.k] += (dk_s, dv_s);  post isend(acc → r+1), irecv(next accumulator ← r−1)
//       if s < P−1: wait; block ← next
//     (dk, dv) ← wait: our own block's accumulator, home after P hops
//
// Causal work per block (`BlockWork`): contiguous skips future blocks (rank r computes
// n²/2 + r·n² pairs: the last rank sets the pace); zigzag computes exactly half a block
// on every non-diagonal step (balanced); striped computes the causal diagonal or the
// strictly lower triangle (q[1:] × k[:-1]). A skipped step still receives and forwards
// K/V (and, backward, forwards the accumulator unchanged): the ring is a pipeline and the
// traffic below does not depend on the mask. With uneven contiguous N, blocks differ in
// size; each receiver knows the size of the block it gets from the layout.
//
// Traffic (ledger convention; b = 4 bytes, n_j tokens on rank j, N = Σ n_j; one message
// per hop carries K and V packed, another dK and dV packed; P = 1 sends nothing):
//   forward   messages P−1; bytes Σ_{s=0}^{P−2} 2·n_{(r−s) mod P}·G·D·b
//             = 2·(N − n_{(r+1) mod P})·G·D·b   (every block but the one that arrives last)
//             = (P−1)·2·n·G·D·b when P | N.
//   backward  K/V as forward, plus P accumulator messages of Σ_o 2·n_o·G·D·b = 2·N·G·D·b
//             (every block's dK, dV passes every rank once): messages 2P−1;
//             bytes 2·(N − n_{(r+1) mod P})·G·D·b + 2·N·G·D·b = (2P−1)·2·n·G·D·b when P | N.
import Kernels
import MPI

/// Ring attention: K/V blocks circulate, outputs merge by log-sum-exp (Liu et al. 2023).
public final class RingAttention: AttentionStrategy {
    public static let descriptor = StrategyDescriptor(
        name: "ring", attention: .softmax, layouts: LayoutKind.allCases, colour: "#009E73", marker: .triangle,
        aliases: ["p2p"],
        summary: "K/V blocks circulate P−1 hops, double buffered, LSE merge; backward sends dK/dV home (Ring Attention)")

    /// Message tags: K/V blocks and dK/dV accumulators travel between the same neighbours.
    private enum Tag { static let keysValues = 0, gradients = 1 }

    private let problem: AttentionProblem
    private let context: RankContext
    /// Tokens on every rank (positions are made when a mask needs them: O(P), not O(N), per rank).
    private let counts: [Int]

    public init(problem: AttentionProblem, context: RankContext) {
        self.problem = problem
        self.context = context
        counts = context.layout.counts
    }

    public func forward(q: Tensor32, k: Tensor32, v: Tensor32) throws -> AttentionOutput {
        let p = context.size, r = context.rank
        let ring = RingExchange(context: context, name: "K V", tag: Tag.keysValues)
        var queries = RowCache(q)
        var result = context.emptyOutput(tokens: q.tokens, heads: q.heads, dim: v.dim)
        var block = packKeysValues(k, v)
        for s in 0..<p {
            let origin = (r - s + p) % p
            if s < p - 1 { try ring.start(sending: block, receiving: blockCount(origin: origin - 1)) }
            if let work = plan(origin) {
                let visible = mask(work, origin: origin)
                context.kernel("attention", flops: flops(work, mask: visible), phantom: ()) {
                    let (keys, values) = keysAndValues(block, origin: origin, rows: work.keys)
                    let part = attentionForward(q: queries[work.queries], k: keys, v: values, mask: visible)
                    mergeAttention(&result, part, atToken: work.queries.lowerBound)
                }
            }
            if s < p - 1 { block = try ring.finish()! }
        }
        return result
    }

    public func backward(q: Tensor32, k: Tensor32, v: Tensor32, o: Tensor32, lse: Tensor32, dO: Tensor32) throws
        -> AttentionGradients {
        let p = context.size, r = context.rank
        let keysValues = RingExchange(context: context, name: "K V", tag: Tag.keysValues)
        let accumulators = RingExchange(context: context, name: "dK dV", tag: Tag.gradients)
        var queries = RowCache(q), outputs = RowCache(o), sums = RowCache(lse), outputGradients = RowCache(dO)
        var dq = context.zeros(tokens: q.tokens, heads: q.heads, dim: q.dim)
        var block = packKeysValues(k, v)
        var accumulator = MessageBuffer<Float>(count: 0, repeating: 0)
        for s in 0..<p {
            let origin = (r - s + p) % p
            if s < p - 1 { try keysValues.start(sending: block, receiving: blockCount(origin: origin - 1)) }
            let work = plan(origin)
            let part = work.flatMap { work in
                let rows = work.queries, visible = mask(work, origin: origin)
                return context.kernel("attention backward", flops: KernelFLOPs.backwardFactor * flops(work, mask: visible),
                                      phantom: nil) { () -> AttentionGradients? in
                    let (keys, values) = keysAndValues(block, origin: origin, rows: work.keys)
                    let grads = attentionBackward(q: queries[rows], k: keys, v: values, o: outputs[rows], lse: sums[rows],
                                                  dO: outputGradients[rows], mask: visible)
                    dq.addTokens(grads.dq, atToken: rows.lowerBound)
                    return grads
                }
            }
            accumulator = s == 0 ? context.receiveBuffer(count: blockCount(origin: r)) : try accumulators.finish()!
            if let work, let part {
                context.compute("accumulate dK dV") {
                    let row = k.tokenStride, half = counts[origin] * row
                    addFloats(part.dk.storage, into: accumulator.baseAddress + work.keys.lowerBound * row)
                    addFloats(part.dv.storage, into: accumulator.baseAddress + half + work.keys.lowerBound * row)
                }
            }
            if p > 1 { try accumulators.start(sending: accumulator, receiving: blockCount(origin: origin - 1)) }
            if s < p - 1 { block = try keysValues.finish()! }
        }
        if p > 1 { accumulator = try accumulators.finish()! }
        if context.isPhantom {
            return AttentionGradients(dq: dq, dk: context.zeros(tokens: k.tokens, heads: k.heads, dim: k.dim),
                                      dv: context.zeros(tokens: v.tokens, heads: v.heads, dim: v.dim))
        }
        let n = k.tokens * k.tokenStride
        return context.compute("unpack dK dV") {
            let home = accumulator.buffer
            return AttentionGradients(
                dq: dq,
                dk: Tensor32(tokens: k.tokens, heads: k.heads, dim: k.dim, storage: Array(home[0..<n])),
                dv: Tensor32(tokens: v.tokens, heads: v.heads, dim: v.dim, storage: Array(home[n ..< 2 * n])))
        }
    }

    // MARK: Pieces of a step

    /// This rank's packed `[K | V]` block (phantom in phantom mode).
    private func packKeysValues(_ k: Tensor32, _ v: Tensor32) -> MessageBuffer<Float> {
        context.payload(count: blockCount(origin: context.rank)) {
            context.compute("pack K V") { MessageBuffer(copying: k.storage + v.storage) }
        }
    }

    /// Forward FLOPs of `work` under `mask`.
    private func flops(_ work: BlockWork, mask: AttentionMask) -> Double {
        KernelFLOPs.attention(queries: work.queries.count, keys: work.keys.count, heads: problem.heads,
                              dim: problem.headDim, mask: mask)
    }

    /// What this rank's queries compute against the block of `origin` (nil: nothing visible).
    private func plan(_ origin: Int) -> BlockWork? {
        BlockWork.plan(context.layout, isCausal: problem.isCausal, queryRank: context.rank, keyRank: origin)
    }

    /// Floats of the packed K/V block (or dK/dV accumulator) of `origin` (taken modulo P).
    private func blockCount(origin: Int) -> Int {
        let p = context.size
        return 2 * counts[(origin % p + p) % p] * problem.kvHeads * problem.headDim
    }

    /// The causal mask of `work` from the real global positions, or none when every pair is visible.
    private func mask(_ work: BlockWork, origin: Int) -> AttentionMask {
        guard work.isMasked else { return .none }
        let layout = context.layout
        return problem.mask(queries: Array(layout.positions(rank: context.rank)[work.queries]),
                            keys: Array(layout.positions(rank: origin)[work.keys]))
    }

    /// Rows `rows` of K and V from a packed block `[K | V]` of `origin`.
    private func keysAndValues(_ block: MessageBuffer<Float>, origin: Int, rows: Range<Int>) -> (Tensor32, Tensor32) {
        let g = problem.kvHeads, d = problem.headDim, row = g * d, half = counts[origin] * row
        let all = block.buffer
        return (Tensor32(tokens: rows.count, heads: g, dim: d, storage: Array(all[rows.lowerBound * row ..< rows.upperBound * row])),
                Tensor32(tokens: rows.count, heads: g, dim: d,
                         storage: Array(all[half + rows.lowerBound * row ..< half + rows.upperBound * row])))
    }
}
