// TokenRing — "TokenRing: An Efficient Parallelism Framework for Infinite-Context LLMs via
// Bidirectional Communication" (Wang, Liu, Li, Jiang; arXiv 2412.20501): the ring of queries
// with partial outputs sent back, and its zigzag causal variant. The public code
// (ACA-Lab-SJTU/token-ring) is forward-only; the backward below is derived here.
//
// K and V never move. Every rank's queries visit every rank, one hop per step; the partial
// (o, lse) a rank computes for a visiting Q goes straight back to the Q's owner, which may
// be any rank. Q travels on one communicator and the returns on another (two dups), so the
// two streams use opposite directions of the links at once. All sends and receives are
// nonblocking and each step posts its receives before it waits for anything; a rank waits
// for its return sends only after its last step, so no wait needs a later step's post.
//
// Who holds what. Non-causal (any layout): Q moves to the successor r+1, so at step s rank
// r holds the Q of owner (r − s) mod P. Causal needs the zigzag layout (rank r holds chunks
// r and 2P−1−r of c = N/2P tokens) and mirrors the ring: Q moves to r−1 and rank r holds the
// Q of owner (r + s) mod P. A causal step is "wrapped" when r + s ≥ P: the Q has crossed from
// rank 0 to rank P−1 and its owner is below r.
//   step 0            own Q × own K/V, causal mask (the diagonal chunks)
//   owner o > r       both Q chunks see K chunk r whole and chunk 2P−1−r not at all:
//                     all of Q × the first half of K/V
//   owner o < r       Q chunk o sees nothing, chunk 2P−1−o sees both K chunks:
//   (wrapped)         the second half of Q × all of K/V, and the return is half size
// A Q that has wrapped stays wrapped for the rest of its trip, so its first half is dropped
// when it crosses from rank 0 to rank P−1: on wrapped steps only the second half is sent and
// computed. Every non-diagonal step is n²/2 query-key pairs: the work is balanced.
//
//   forward, rank r (visit(r, s) = the owner, its rows that visit, and the local K rows used):
//     block ← q;  acc ← (0, −inf)
//     for s in 0..<P:
//       if s ≥ 1:   irecv the return of my Q at step s from the rank holding it   (not earlier)
//       if s < P−1: irecv the block of step s+1 from the predecessor;
//                   isend to the successor the rows of block it needs at step s+1
//       part ← attention(block, k[keyRows], v[keyRows])
//       if s = 0: merge part into acc  else: isend part's (o, lse), packed, to its owner
//       if s ≥ 2: wait for the return of step s−1; merge it into acc at its rows
//       wait for the block of step s+1 (and for its own send)
//     wait for the return of step P−1, merge it; wait for every isend
//
//   backward: the same ring, the block now (q, dO, o, lse) with the owner's FINAL o and lse,
//     part ← attention-backward(block, k[keyRows], v[keyRows])
//     dk[keyRows] += part.dk;  dv[keyRows] += part.dv      K, V and dK, dV never move
//     part.dq returns to the owner, which adds the P partials (its own locally) at their rows.
//   Exact because each block backward with the final o, lse gives the exact partial gradients.
//   (o travels whole, as the kernel takes it; only rowsum(dO∘o) is used, so sending that one
//   float per row instead would save H·(D−1) floats per token of every block message.)
// Overlap: each Q hop and each return travel while the next block is computed; the owner
// merges the return of step s−1 after computing step s; the last return is exposed.
// Pacing: a return sent by rendezvous (a large message; every message on a SimGrid platform
// without an eager regime) moves only once its receive is posted. The owner posts it as its
// step s begins, so the return of step s comes in over the owner's link during the owner's
// own step s, beside the block of step s+1, whatever step the holder has reached: one block
// and one return per link and step, as the closed form prices it. Posting all P−1 up front
// (this file's first version) let a holder that runs ahead push its return into the owner's
// link while the owner still receives an earlier block; in the causal zigzag ring, whose
// wrapped steps move half blocks, ranks run ahead and the blocks slowed down: on a
// contention-free SimGrid platform (toy, N = 4096, H = 8, D = 16, P = 64) the step took
// 1.08× its closed form (Predict+TokenRing.swift), the backward 1.11×; posted as above, 0.99×
// and 1.00× (SMPITests; at P = 256, N = 16384 the same). At most two return buffers are
// pending instead of P−1.
//
// Traffic (rank r, 4-byte floats, n_j tokens on rank j; ledger convention: one isend = one
// message of its payload's bytes; "next" is (r+1) mod P, "previous" (r−1) mod P):
//   Non-causal, every layout, Q to next:
//     forward   Q        P−1 messages to next, one per owner j ≠ next: n_j·H·D·4 each;
//                        total (N − n_next)·H·D·4, which is (P−1)·n·H·D·4 for even N
//               returns  one message to every other rank j (the owner): n_j·H·(D+1)·4 (o, lse
//                        packed); total (N − n_r)·H·(D+1)·4
//     backward  blocks   P−1 messages to next: n_j·H·(3D+1)·4 each (q, dO, o, lse), j ≠ next
//               dq       one message to every other rank j: n_j·H·D·4
//     2(P−1) messages per phase. Per direction: next gets every Q (block) message plus the
//     return of the last step (owner r+1 = r−(P−1)); the other P−2 returns go to others.
//   Causal, zigzag (n = 2c tokens per rank), Q to previous: a block rank x receives, computes
//   and returns for owner o ≠ x has all n rows when o > x and the second half n/2 when o < x.
//     forward   Q        P−1 messages to previous x, one per owner o ≠ x, (o > x ? n : n/2)·H·D·4:
//                        rank 0: (P−1)·(n/2)·H·D·4; rank r ≥ 1: (2P − r − 1)·(n/2)·H·D·4
//               returns  one to every other rank o: (o > r ? n : n/2)·H·(D+1)·4;
//                        total (2P − 2 − r)·(n/2)·H·(D+1)·4
//     backward  blocks   as Q with H·(3D+1)·4 per token;  dq  as returns with H·D·4 per token
//     2(P−1) messages per phase. Per direction: previous gets every Q message plus the last
//     return (owner r−1); next gets the step-1 return (owner r+1); the rest go to others.
//   With P = 2 next and previous are the same rank: everything goes to next, nothing to others.
//   P = 1: no messages.
import Kernels
import MPI

/// TokenRing: K/V stay; Q circulates one hop per step and each partial `(o, lse)` returns
/// straight to the Q's owner on a second communicator, so both link directions carry data.
public final class TokenRingAttention: AttentionStrategy {
    public static let descriptor = StrategyDescriptor(
        name: "token-ring", attention: .softmax, layouts: LayoutKind.allCases, colour: "#CC79A7", marker: .diamond,
        summary: "K/V stay; Q circulates, partial (o, lse) go straight back to its owner (TokenRing)")

    public static func unsupportedReason(_ problem: AttentionProblem, layout: LayoutKind, ranks: Int) -> String? {
        if let reason = layoutReason(layout) { return reason }
        if problem.isCausal && layout != .zigzag {
            return "--strategy token-ring on causal attention needs --layout zigzag, not \(layout.rawValue) "
                + "(zigzag balances the causal work)"
        }
        return nil
    }

    private let problem: AttentionProblem
    private let context: RankContext
    /// Carries Q (backward: q, dO, o, lse) from rank to rank around the ring.
    private let queryRing: Communicator
    /// Carries partial results straight back to the owner of the queries.
    private let returns: Communicator
    private let schedule: TokenRingSchedule

    public init(problem: AttentionProblem, context: RankContext) throws {
        self.problem = problem
        self.context = context
        queryRing = try context.communicator.dup()
        returns = try context.communicator.dup()
        schedule = TokenRingSchedule(counts: context.layout.counts, isCausal: problem.isCausal)
    }

    public func forward(q: Tensor32, k: Tensor32, v: Tensor32) throws -> AttentionOutput {
        var acc = context.emptyOutput(tokens: q.tokens, heads: q.heads, dim: v.dim)
        let keys = LocalKeys(k: k, v: v)
        try circulate([q], returning: [RowShape(heads: q.heads, dim: v.dim), RowShape(heads: q.heads, dim: 1)]) {
            block, visit in
            let visible = mask(visit)
            defer { context.charge(flops: flops(visit, mask: visible)) }
            if context.isPhantom { return [] }
            let part = attentionForward(q: block[0], k: keys.keys(visit.keyRows), v: keys.values(visit.keyRows),
                                        mask: visible)
            return [part.o, part.lse]
        } merge: { part, rows in
            mergeAttention(&acc, AttentionOutput(o: part[0], lse: part[1]), atToken: rows.lowerBound)
        }
        return acc
    }

    public func backward(q: Tensor32, k: Tensor32, v: Tensor32, o: Tensor32, lse: Tensor32, dO: Tensor32) throws
        -> AttentionGradients {
        var dq = context.zeros(tokens: q.tokens, heads: q.heads, dim: q.dim)
        var dk = context.zeros(tokens: k.tokens, heads: k.heads, dim: k.dim)
        var dv = context.zeros(tokens: v.tokens, heads: v.heads, dim: v.dim)
        let keys = LocalKeys(k: k, v: v)
        try circulate([q, dO, o, lse], returning: [RowShape(of: q)]) { block, visit in
            let visible = mask(visit)
            defer { context.charge(flops: KernelFLOPs.backwardFactor * flops(visit, mask: visible)) }
            if context.isPhantom { return [] }
            let part = attentionBackward(q: block[0], k: keys.keys(visit.keyRows), v: keys.values(visit.keyRows),
                                         o: block[2], lse: block[3], dO: block[1], mask: visible)
            dk.addTokens(part.dk, at: visit.keyRows.lowerBound)
            dv.addTokens(part.dv, at: visit.keyRows.lowerBound)
            return [part.dq]
        } merge: { part, rows in
            dq.addTokens(part[0], at: rows.lowerBound)
        }
        return AttentionGradients(dq: dq, dk: dk, dv: dv)
    }

    /// Forward FLOPs of a visit: its query rows against its key rows under `mask`.
    private func flops(_ visit: TokenRingSchedule.Visit, mask: AttentionMask) -> Double {
        KernelFLOPs.attention(queries: visit.rows.count, keys: visit.keyRows.count, heads: problem.heads,
                              dim: problem.headDim, mask: mask)
    }

    /// The mask of a visit: the visiting queries' global positions against the local keys'.
    private func mask(_ visit: TokenRingSchedule.Visit) -> AttentionMask {
        guard problem.isCausal else { return .none }
        let layout = context.layout
        return problem.mask(queries: Array(layout.positions(rank: visit.owner)[visit.rows]),
                            keys: Array(context.positions[visit.keyRows]))
    }

    /// The ring, shared by forward and backward (see the header).
    ///
    /// `own` are this rank's row-aligned tensors that travel; `compute` turns a visiting block
    /// into the partial result for its owner (tensors of `resultShapes`, one row per visiting
    /// row); `merge` folds a partial result for this rank's rows `rows` into its accumulator.
    /// In phantom mode the messages are the context's phantom buffers and nothing is packed,
    /// unpacked or merged (`compute` then only charges its FLOPs).
    private func circulate(_ own: [Tensor32], returning resultShapes: [RowShape],
                           compute: ([Tensor32], TokenRingSchedule.Visit) -> [Tensor32],
                           merge: ([Tensor32], Range<Int>) -> Void) throws {
        let p = context.size, r = context.rank
        let blockShapes = own.map(RowShape.init)

        // The returns of my queries, each posted when its step begins and merged one step
        // later (see the header): at most two are pending.
        var pendingReturns = [Int: (rows: Range<Int>, buffer: MessageBuffer<Float>, request: Request)]()
        func postReturn(ofStep s: Int) throws {
            let holder = schedule.holder(of: r, step: s)
            let rows = schedule.visit(at: holder, step: s).rows
            let buffer = context.receiveBuffer(count: RowShape.count(resultShapes, tokens: rows.count))
            pendingReturns[s] = (rows, buffer, try returns.irecv(into: buffer, from: holder, tag: s))
        }
        func mergeReturn(ofStep s: Int) throws {
            guard let (rows, buffer, request) = pendingReturns.removeValue(forKey: s) else {
                preconditionFailure("TokenRing: the return of step \(s) was never posted")
            }
            try context.communicate("wait return") { try request.wait() }
            context.arithmetic("merge") { merge(unpackRows(buffer, tokens: rows.count, shapes: resultShapes), rows) }
        }

        var block = own
        var sends = [Request]()
        let ring = RingExchange(context: context, communicator: queryRing, name: "Q", tag: 0,
                                step: schedule.successor(of: r) == (r + 1) % p ? 1 : -1)
        for s in 0..<p {
            let visit = schedule.visit(at: r, step: s)
            var incomingRows: Range<Int>?
            if s >= 1 { try postReturn(ofStep: s) }
            if s < p - 1 {
                let rows = schedule.visit(at: r, step: s + 1).rows
                let needed = schedule.visit(at: ring.next, step: s + 1).rows
                let local = (needed.lowerBound - visit.rows.lowerBound) ..< (needed.upperBound - visit.rows.lowerBound)
                let packed = context.payload(count: RowShape.count(blockShapes, tokens: local.count)) { packRows(block, local) }
                try ring.start(sending: packed, receiving: RowShape.count(blockShapes, tokens: rows.count))
                incomingRows = rows
            }
            let part = context.compute("attention") { compute(block, visit) }
            if s == 0 {
                context.arithmetic("merge") { merge(part, visit.rows) }
            } else {
                let packed = context.payload(count: RowShape.count(resultShapes, tokens: visit.rows.count)) {
                    packRows(part, 0 ..< visit.rows.count)
                }
                sends.append(try returns.isend(packed, to: visit.owner, tag: s))
            }
            if s >= 2 { try mergeReturn(ofStep: s - 1) }
            if let incomingRows, let buffer = try ring.finish(), !context.isPhantom {
                block = unpackRows(buffer, tokens: incomingRows.count, shapes: blockShapes)
            }
        }
        if p >= 2 { try mergeReturn(ofStep: p - 1) }
        try context.communicate("wait returns sent") { try waitAll(sends) }
    }

    /// This rank's K and V, and their first halves, which unwrapped causal steps use alone
    /// (copied when first used: never in phantom mode).
    private final class LocalKeys {
        let k: Tensor32, v: Tensor32
        lazy var firstK = k.tokens(0 ..< k.tokens / 2)
        lazy var firstV = v.tokens(0 ..< v.tokens / 2)

        init(k: Tensor32, v: Tensor32) {
            self.k = k
            self.v = v
        }

        /// The key rows `rows`: all of them, or the first half.
        func keys(_ rows: Range<Int>) -> Tensor32 {
            precondition(rows == 0 ..< k.tokens || rows == 0 ..< k.tokens / 2, "all keys or the first half")
            return rows.count == k.tokens ? k : firstK
        }

        /// The value rows `rows`: all of them, or the first half.
        func values(_ rows: Range<Int>) -> Tensor32 { rows.count == v.tokens ? v : firstV }
    }
}

/// Who holds which queries at each step of TokenRing, and which rows travel (pure
/// arithmetic over the layout's token counts, no MPI).
struct TokenRingSchedule: Sendable {
    /// Tokens on each rank.
    let counts: [Int]
    /// Causal: the mirrored ring over the zigzag layout, with half blocks on wrapped steps.
    let isCausal: Bool

    /// What one rank computes at one step.
    struct Visit: Equatable, Sendable {
        /// The rank whose queries visit.
        var owner: Int
        /// The owner's local rows that visit (all, or the second half on wrapped causal steps).
        var rows: Range<Int>
        /// The local key rows used (all, or the first half on unwrapped causal steps).
        var keyRows: Range<Int>
    }

    /// Number of ranks P.
    var ranks: Int { counts.count }

    /// Where queries go after each step: r+1, or r−1 in the mirrored causal ring.
    func successor(of x: Int) -> Int { isCausal ? (x + ranks - 1) % ranks : (x + 1) % ranks }

    /// Where queries come from before each step.
    func predecessor(of x: Int) -> Int { isCausal ? (x + 1) % ranks : (x + ranks - 1) % ranks }

    /// The owner of the queries rank `x` holds at step `s`.
    func owner(at x: Int, step s: Int) -> Int { isCausal ? (x + s) % ranks : (x + ranks - s) % ranks }

    /// The rank holding owner `o`'s queries at step `s`.
    func holder(of o: Int, step s: Int) -> Int { isCausal ? (o + ranks - s) % ranks : (o + s) % ranks }

    /// Whether, at step `s`, the queries on rank `x` have crossed from rank 0 to rank P−1
    /// (causal only): their owner is then below `x`, and only their second half is needed.
    func isWrapped(at x: Int, step s: Int) -> Bool { isCausal && x + s >= ranks }

    /// What rank `x` computes at step `s`.
    func visit(at x: Int, step s: Int) -> Visit {
        let o = owner(at: x, step: s), n = counts[o], local = counts[x]
        if !isCausal || s == 0 { return Visit(owner: o, rows: 0 ..< n, keyRows: 0 ..< local) }
        return isWrapped(at: x, step: s)
            ? Visit(owner: o, rows: n / 2 ..< n, keyRows: 0 ..< local)
            : Visit(owner: o, rows: 0 ..< n, keyRows: 0 ..< local / 2)
    }
}
