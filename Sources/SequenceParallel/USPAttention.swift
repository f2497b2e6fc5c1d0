// USP, Unified Sequence Parallelism — Fang and Zhao, "USP: A Unified Sequence Parallelism
// Approach for Long Context Generative AI" (arXiv 2405.07719), §3 (Algorithm 1, the 2D
// mesh) and §4 (load balance); code feifeibear/long-context-attention (LongContextAttention).
//
// P = U × R. Rank r sits in Ulysses group g = r / U at member u = r mod U: the U consecutive
// ranks of a group run DeepSpeed-Ulysses among themselves (`HeadExchange` over the group's
// communicator, heads split by `HeadPartition` over U), and the R ranks with the same member
// index (stride U) run ring attention (`RingAttention` over the ring communicator) on the
// group's whole token block for the member's heads. Both communicators are `split`s of the
// strategy's, so the ledger records them.
//
//   forward, rank r = g·U + u (c_u query heads, g_u KV heads, M_g tokens in group g):
//     (Q, K, V) ← all-to-all sequence→heads inside group g   tokens of g, heads of u
//     (O, L) ← ring-attention(Q, K, V) over the R members u  K/V of the other groups
//                                                            circulate; LSE merge; masks
//                                                            from global positions
//     (o, lse) ← all-to-all heads→sequence inside group g
//
//   backward (stateless, as Ulysses and ring):
//     (Q, O, dO, L, K, V) ← all-to-all sequence→heads inside group g
//     (dQ, dK, dV) ← ring-attention-backward over the R members u   dK/dV accumulators
//                                                                    travel home
//     (dq, dk, dv) ← all-to-all heads→sequence inside group g        replicated KV heads summed
//
// U = P is Ulysses (one group, a ring of one), U = 1 is ring attention (groups of one, the
// exchanges carry nothing). Default U (no `--ulysses-degree`): the largest U with U | P,
// U² ≤ P (a ring at least as long as the group, the 2D split the paper found best on PCIe)
// and U ≤ H for which the problem is supported; U = 1 always is.
//
// Layouts. Group g's head-layout rows are its tokens in the order of block g of the same
// layout kind over R ranks, so the ring is exactly `RingAttention` over that R-rank layout:
//   contiguous  the group's U ranks hold one contiguous range; it must be block g of
//               contiguous(N, R) — true when P | N, or U ∈ {1, P}, or whenever the group
//               token counts match (checked exactly; otherwise refused).
//   zigzag      rank r holds chunks r and 2P−1−r of N/2P tokens, so group g holds chunks
//               g and 2R−1−g of N/2R: zigzag over R groups, causally balanced ring steps.
//   striped     refused: a group's tokens (positions ≡ g·U … g·U+U−1 mod P) are no
//               striped block over R.
// Heads: the kernel maps a member's local query head h to local KV head h/(c_u/g_u), so
// every member's KV heads must serve equally many of its query heads (one run of
// `HeadPartition.kernelSegments`); otherwise the degree is refused. Uneven H over U is fine.
//
// Traffic (ledger convention; b = 4 bytes; n_j tokens on rank j, N = Σ n_j; group g holds
// M_g = Σ_{m<U} n_{g·U+m} tokens; c_m query heads and g_m KV heads on member m of HeadPartition
// over U, G' = Σ_m g_m; rank r = g·U + u; the ring's K/V and dK/dV blocks are [M, g_u, D]):
//   forward   messages 2(U−1) + (R−1)
//     q k v   to each member m ≠ u of g: n_r·(c_m + 2·g_m)·D·b
//     ring    Σ_{s=0}^{R−2} 2·M_{(g−s) mod R}·g_u·D·b = 2·(N − M_{(g+1) mod R})·g_u·D·b
//     o lse   to each member m ≠ u:      n_{g·U+m}·c_u·(D + 1)·b
//     total   b·[n_r·D·((H − c_u) + 2·(G' − g_u)) + 2·(N − M_{(g+1) mod R})·g_u·D
//                + (M_g − n_r)·c_u·(D + 1)]
//   backward  messages 2(U−1) + (2R−1 when R > 1, else 0)
//     q o do lse k v  to each m ≠ u:    n_r·(c_m·(3D + 1) + 2·g_m·D)·b
//     ring    K/V as forward, plus R accumulators carrying every group's dK, dV once:
//             2·(N − M_{(g+1) mod R})·g_u·D·b + 2·N·g_u·D·b
//     dq dk dv        to each m ≠ u:    n_{g·U+m}·(c_u + 2·g_u)·D·b
//     total   b·[n_r·((H − c_u)·(3D + 1) + 2·D·(G' − g_u)) + 2·(2N − M_{(g+1) mod R})·g_u·D
//                + (M_g − n_r)·D·(c_u + 2·g_u)]
// When P | N, U | H, U | G (n = N/P, no replication): forward
//   (U−1)/U · n·b·(2HD + 2GD + H) + (R−1)·2·U·n·(G/U)·D·b.
import Kernels
import MPI

/// USP: Ulysses inside groups of U consecutive ranks, ring attention across the R = P/U groups.
public final class USPAttention: AttentionStrategy {
    public static let descriptor = StrategyDescriptor(
        name: "usp", attention: .softmax, layouts: [.contiguous, .zigzag], colour: "#E69F00", marker: .triangleDown,
        options: [.ulyssesDegree], aliases: ["a2a+p2p"],
        summary: "Ulysses all-to-all inside groups of U ranks, ring attention across the P/U groups (USP, --ulysses-degree U)")

    public static func unsupportedReason(_ problem: AttentionProblem, layout: LayoutKind, ranks: Int) -> String? {
        if layout == .striped {
            return "--strategy usp supports --layout contiguous|zigzag, not striped: the tokens of a Ulysses group of U ranks "
                + "are not one striped block of the ring over the P/U groups"
        }
        return layoutReason(layout) ?? reason(problem, layout: layout, ranks: ranks, degree: degree(problem, layout: layout, ranks: ranks))
    }

    public static func resolvedOptions(_ problem: AttentionProblem, layout: LayoutKind, ranks: Int) -> [StrategyOption: Int] {
        [.ulyssesDegree: degree(problem, layout: layout, ranks: ranks)]
    }

    /// The Ulysses degree U this problem runs with on `ranks` ranks: `--ulysses-degree`
    /// when given, else the largest supported U with U | P, U² ≤ P and U ≤ H (at least 1).
    public static func degree(_ problem: AttentionProblem, layout: LayoutKind, ranks p: Int) -> Int {
        if let u = problem.ulyssesDegree { return u }
        let candidates = (1...max(1, p)).filter { p % $0 == 0 && $0 * $0 <= p && $0 <= problem.heads }
        return candidates.last { reason(problem, layout: layout, ranks: p, degree: $0) == nil } ?? 1
    }

    /// Why degree `u` cannot run `problem` on `p` ranks with `layout`, or nil.
    static func reason(_ problem: AttentionProblem, layout: LayoutKind, ranks p: Int, degree u: Int) -> String? {
        let h = problem.heads, gkv = problem.kvHeads
        guard u >= 1 else { return "--ulysses-degree must be at least 1 (got \(u))" }
        guard p % u == 0 else {
            return "--ulysses-degree U = \(u) must divide the P = \(p) ranks (USP runs P = U × R: groups of U ranks, a ring of R groups)"
        }
        guard u <= h else {
            return "--ulysses-degree U = \(u) splits the H = \(h) query heads over each group of U ranks and needs U ≤ H; use a smaller --ulysses-degree"
        }
        guard h % gkv == 0 else { return nil }  // the shape check reports it
        let partition = HeadPartition(heads: h, kvHeads: gkv, ranks: u)
        if let m = (0..<u).first(where: { partition.kernelSegments(rank: $0).count > 1 }) {
            return "--ulysses-degree U = \(u) gives rank \(m) of each group query heads \(partition.queryHeads(rank: m)) that use "
                + "KV heads \(partition.kvHeads(rank: m)) unequally (H = \(h), G = \(gkv)), which the ring's kernel cannot take; "
                + "choose U so that H/U is a multiple or a divisor of H/G"
        }
        if layout == .contiguous, u > 1, u < p,
           case .success(let global) = SequenceLayout.make(.contiguous, tokens: problem.seqLen, ranks: p),
           case .success(let ring) = SequenceLayout.make(.contiguous, tokens: problem.seqLen, ranks: p / u) {
            let groups = (0..<(p / u)).map { g in (0..<u).reduce(0) { $0 + global.count(rank: g * u + $1) } }
            if groups != ring.counts {
                return "--strategy usp with --layout contiguous needs each group of U = \(u) ranks to hold one contiguous block of the "
                    + "ring over R = \(p / u) groups, but --seq-len \(problem.seqLen) gives the groups \(groups) tokens, not \(ring.counts); "
                    + "use a multiple of P = \(p), or --ulysses-degree 1 or \(p)"
            }
        }
        return nil
    }

    private let problem: AttentionProblem
    private let context: RankContext
    private let partition: HeadPartition
    /// This rank's group's communicator (U ranks, ordered by member index).
    private let group: Communicator
    /// Ring attention across the groups, on this member's heads.
    private let ring: RingAttention
    /// Head-layout row of each local token of each member of the group.
    private let rows: [[Int]]

    public init(problem: AttentionProblem, context: RankContext) throws {
        if let reason = Self.unsupportedReason(problem, layout: context.layout.kind, ranks: context.size) {
            throw InputError(reason)
        }
        let p = context.size, u = Self.degree(problem, layout: context.layout.kind, ranks: p)
        let g = context.rank / u, member = context.rank % u
        guard let group = try context.communicator.split(color: g, key: member),
              let across = try context.communicator.split(color: member, key: g) else {
            preconditionFailure("USP: MPI_Comm_split with a non-negative color returned no communicator")
        }
        self.problem = problem
        self.context = context
        self.group = group
        partition = HeadPartition(heads: problem.heads, kvHeads: problem.kvHeads, ranks: u)
        // The ring runs over the same layout kind on R ranks; group g's rows are block g's positions.
        let ringLayout = try SequenceLayout.make(context.layout.kind, tokens: problem.seqLen, ranks: p / u).get()
        var rowOf = [Int: Int]()
        for (row, position) in ringLayout.positions(rank: g).enumerated() { rowOf[position] = row }
        rows = (0..<u).map { m in context.layout.positions(rank: g * u + m).map { rowOf[$0]! } }
        let heads = AttentionProblem(seqLen: problem.seqLen, heads: partition.queryHeadCount(rank: member),
                                     kvHeads: partition.kvHeads(rank: member).count, headDim: problem.headDim,
                                     isCausal: problem.isCausal)
        ring = RingAttention(problem: heads, context: context.with(communicator: across, layout: ringLayout))
    }

    public func forward(q: Tensor32, k: Tensor32, v: Tensor32) throws -> AttentionOutput {
        let d = problem.headDim
        let toHeads = exchange([queryHeads(d), kvHeads(d), kvHeads(d)])
        let qkv = try toHeads.sequenceToHeads([q, k, v], context: context, over: group, name: "q k v")
        let local = try ring.forward(q: qkv[0], k: qkv[1], v: qkv[2])
        let toSequence = exchange([queryHeads(d), queryHeads(1)])
        let out = try toSequence.headsToSequence([local.o, local.lse], context: context, over: group, name: "o lse")
        return AttentionOutput(o: out[0], lse: out[1])
    }

    public func backward(q: Tensor32, k: Tensor32, v: Tensor32, o: Tensor32, lse: Tensor32, dO: Tensor32) throws
        -> AttentionGradients {
        let d = problem.headDim
        let toHeads = exchange([queryHeads(d), queryHeads(d), queryHeads(d), queryHeads(1), kvHeads(d), kvHeads(d)])
        let t = try toHeads.sequenceToHeads([q, o, dO, lse, k, v], context: context, over: group, name: "q o do lse k v")
        let local = try ring.backward(q: t[0], k: t[4], v: t[5], o: t[1], lse: t[3], dO: t[2])
        let toSequence = exchange([queryHeads(d), kvHeads(d), kvHeads(d)])
        let grads = try toSequence.headsToSequence([local.dq, local.dk, local.dv], context: context, over: group,
                                                   name: "dq dk dv")
        return AttentionGradients(dq: grads[0], dk: grads[1], dv: grads[2])
    }

    // MARK: Head layout inside the group

    private func exchange(_ parts: [HeadExchange.Part]) -> HeadExchange {
        HeadExchange(rows: rows, parts: parts)
    }

    private func queryHeads(_ dim: Int) -> HeadExchange.Part {
        HeadExchange.Part(heads: problem.heads, dim: dim, ranges: partition.queryHeadRanges)
    }

    private func kvHeads(_ dim: Int) -> HeadExchange.Part {
        HeadExchange.Part(heads: problem.kvHeads, dim: dim, ranges: partition.kvHeadRanges)
    }
}
