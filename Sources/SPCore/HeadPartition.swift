// How head-parallel strategies (Ulysses, and Ulysses inside USP) split attention heads
// over ranks, uneven head counts and grouped-query attention included.
//
// Query heads: rank j holds a contiguous range; the first `H mod P` ranks hold one more
// (DeepSpeed PR #6392: 7 heads on 4 ranks → [2, 2, 2, 1]). KV heads: rank j receives
// exactly the KV heads its query heads use, query head h using KV head h / (H/G). When
// G < P, or when a rank's query heads straddle a group boundary, a KV head is held by
// several ranks (replicated before the exchange); its gradients are then summed.
// Example H = 8, G = 2 (groups of 4) on 3 ranks: query heads [0,3) [3,6) [6,8) use KV
// heads [0,1) [0,2) [1,2).

/// The split of H query heads and G KV heads over P ranks for head-parallel attention.
public struct HeadPartition: Sendable, Equatable {
    /// Query heads H.
    public let heads: Int
    /// Key/value heads G (G divides H).
    public let kvHeads: Int
    /// Ranks P.
    public let ranks: Int

    /// The partition; `heads` must be at least `ranks` (see `unsupportedReason`) and a multiple of `kvHeads`.
    public init(heads: Int, kvHeads: Int, ranks: Int) {
        precondition(ranks >= 1 && heads >= ranks, "HeadPartition: every rank needs at least one query head")
        precondition(kvHeads >= 1 && heads % kvHeads == 0, "HeadPartition: G must divide H")
        self.heads = heads
        self.kvHeads = kvHeads
        self.ranks = ranks
    }

    /// Why `heads` query heads cannot be split over `ranks` ranks by `strategy`, or nil.
    public static func unsupportedReason(heads: Int, ranks: Int, strategy: String) -> String? {
        guard ranks > heads else { return nil }
        return "--strategy \(strategy) splits the \(heads) query heads over the ranks and needs P ≤ H, but P = \(ranks) > H = \(heads)"
    }

    /// Query heads per KV head (H/G).
    public var group: Int { heads / kvHeads }

    /// Number of query heads rank `r` holds.
    public func queryHeadCount(rank r: Int) -> Int { heads / ranks + (r < heads % ranks ? 1 : 0) }

    /// The query heads rank `r` holds in head layout.
    public func queryHeads(rank r: Int) -> Range<Int> {
        let start = r * (heads / ranks) + min(r, heads % ranks)
        return start ..< start + queryHeadCount(rank: r)
    }

    /// The KV heads rank `r` needs: exactly those its query heads use.
    public func kvHeads(rank r: Int) -> Range<Int> {
        let q = queryHeads(rank: r)
        return q.lowerBound / group ..< (q.upperBound - 1) / group + 1
    }

    /// Query head ranges of every rank.
    public var queryHeadRanges: [Range<Int>] { (0..<ranks).map { queryHeads(rank: $0) } }
    /// KV head ranges of every rank (they overlap where KV heads are replicated).
    public var kvHeadRanges: [Range<Int>] { (0..<ranks).map { kvHeads(rank: $0) } }

    /// KV heads summed over ranks: G when no KV head is replicated, more otherwise
    /// (the G' of the traffic formulas).
    public var replicatedKVHeads: Int { kvHeadRanges.reduce(0) { $0 + $1.count } }

    /// Rank `r`'s local heads cut into runs the attention kernel can take in one call.
    ///
    /// The kernel maps local query head h to local KV head h / (Hl/Gl), which needs every
    /// KV head of a call to serve the same number of consecutive query heads. A rank whose
    /// query heads straddle group boundaries gets up to three runs (a partial group, whole
    /// groups, a partial group); otherwise one run covers everything. Ranges are local
    /// indices: query heads into `queryHeads(rank:)`, KV heads into `kvHeads(rank:)`.
    public func kernelSegments(rank r: Int) -> [(queries: Range<Int>, kv: Range<Int>)] {
        let q = queryHeads(rank: r), kv = kvHeads(rank: r)
        var segments = [(queries: Range<Int>, kv: Range<Int>)]()
        var servedBy = [Int]()  // query heads each local KV head serves, in order
        for g in kv {
            servedBy.append(min(q.upperBound, (g + 1) * group) - max(q.lowerBound, g * group))
        }
        var firstKV = 0, firstQuery = 0
        while firstKV < servedBy.count {
            var lastKV = firstKV
            while lastKV + 1 < servedBy.count && servedBy[lastKV + 1] == servedBy[firstKV] { lastKV += 1 }
            let count = (lastKV - firstKV + 1) * servedBy[firstKV]
            segments.append((queries: firstQuery ..< firstQuery + count, kv: firstKV ..< lastKV + 1))
            firstQuery += count
            firstKV = lastKV + 1
        }
        return segments
    }
}
