// Which part of one rank's queries against another rank's keys has anything to compute,
// for ring-style strategies (docs/algorithms.md, Ring attention). Non-causal: everything.
// Causal, with q = the query rank and k = the key rank:
//
//   contiguous  k < q: every pair visible        k = q: causal diagonal     k > q: skip (future)
//   zigzag      k < q: all queries × first key chunk           (half a block, no mask)
//               k > q: second query chunk × all keys            (half a block, no mask)
//               k = q: causal over both chunks
//   striped     k ≤ q: causal with the diagonal (key j ≤ query i in local index)
//               k > q: strictly lower: q[1:] × k[:-1], causal in local index
//
// Masks always use the blocks' real global positions, so a plan only narrows the work;
// `BlockWorkTests` checks that no visible pair falls outside it and that unmasked regions
// hold visible pairs only.

/// The rectangle of a (query block, key block) pair that holds every visible pair.
public struct BlockWork: Sendable, Equatable {
    /// Rows of the query rank's local tokens.
    public var queries: Range<Int>
    /// Rows of the key rank's local tokens.
    public var keys: Range<Int>
    /// Whether a causal mask (from global positions) is needed inside; false: every pair is visible.
    public var isMasked: Bool

    /// A rectangle of work.
    public init(queries: Range<Int>, keys: Range<Int>, isMasked: Bool) {
        self.queries = queries
        self.keys = keys
        self.isMasked = isMasked
    }

    /// The work of `queryRank`'s queries against `keyRank`'s keys, or nil when no query sees any key.
    public static func plan(_ layout: SequenceLayout, isCausal: Bool, queryRank q: Int, keyRank k: Int) -> BlockWork? {
        let nq = layout.count(rank: q), nk = layout.count(rank: k)
        let everything = BlockWork(queries: 0..<nq, keys: 0..<nk, isMasked: false)
        guard isCausal else { return everything }
        if k == q { return BlockWork(queries: 0..<nq, keys: 0..<nk, isMasked: true) }
        switch layout.kind {
        case .contiguous:
            return k < q ? everything : nil
        case .zigzag:
            return k < q ? BlockWork(queries: 0..<nq, keys: 0..<nk / 2, isMasked: false)
                : BlockWork(queries: nq / 2 ..< nq, keys: 0..<nk, isMasked: false)
        case .striped:
            if k < q { return BlockWork(queries: 0..<nq, keys: 0..<nk, isMasked: true) }
            return nq > 1 ? BlockWork(queries: 1..<nq, keys: 0..<nk - 1, isMasked: true) : nil
        }
    }

    /// Query–key pairs this work evaluates in the model's convention: every pair of an
    /// unmasked rectangle, the visible ones of a masked one (a causal diagonal counts about half).
    public func pairs(_ layout: SequenceLayout, queryRank q: Int, keyRank k: Int) -> Int {
        guard isMasked else { return queries.count * keys.count }
        return KernelFLOPs.visiblePairs(queryPositions: Array(layout.positions(rank: q)[queries]),
                                        keyPositions: Array(layout.positions(rank: k)[keys]))
    }

    /// Query–key pairs rank `r` evaluates over a whole ring pass (its queries against every
    /// rank's keys): the work that sets its compute time, per head.
    public static func ringPairs(_ layout: SequenceLayout, isCausal: Bool, rank r: Int) -> Int {
        (0..<layout.ranks).reduce(0) { total, k in
            total + (plan(layout, isCausal: isCausal, queryRank: r, keyRank: k)?.pairs(layout, queryRank: r, keyRank: k) ?? 0)
        }
    }
}
