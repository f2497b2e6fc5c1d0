// The all-to-all between sequence layout (each rank: its tokens, every head) and head
// layout (each rank: every token, its heads), several tensors packed into one
// `MPI_Alltoallv`. Packing and unpacking are pure functions of the layout and the head
// ranges, so tests can route the blocks by hand and check every element.
//
// Sequence → heads, rank r sends rank j, for each tensor in turn, its n_r tokens (local
// order) restricted to the heads j holds. The receiver writes the block from source s to
// the global positions s holds: head-layout tensors are in global token order whatever the
// sequence layout. Heads → sequence is the inverse: rank j sends rank s the rows of s's
// positions; rank s adds each block into the heads j held, so heads held by several
// ranks (replicated KV heads) come back summed, and heads held once are written once.
// More generally the head-layout row of each local token is given explicitly (`rows`), and
// the all-to-all may run over a sub-communicator: USP exchanges inside groups of U ranks,
// each group's tokens in the order of its ring block.
import Kernels
import MPI

/// An all-to-all between sequence layout and head layout for a fixed list of tensors.
public struct HeadExchange: Sendable {
    /// One tensor of the exchange.
    public struct Part: Sendable, Equatable {
        /// Heads of the tensor in sequence layout.
        public var heads: Int
        /// Channels per head.
        public var dim: Int
        /// The heads each rank holds in head layout (ranges may overlap: replicated heads).
        public var ranges: [Range<Int>]

        /// A part whose heads `ranges[j]` live on rank j in head layout.
        public init(heads: Int, dim: Int, ranges: [Range<Int>]) {
            precondition(ranges.allSatisfy { $0.lowerBound >= 0 && $0.upperBound <= heads }, "head ranges out of bounds")
            self.heads = heads
            self.dim = dim
            self.ranges = ranges
        }

        /// Floats per token that rank j holds in head layout.
        func width(_ j: Int) -> Int { ranges[j].count * dim }
    }

    /// Rows of the head-layout tensors: every token of the exchange.
    public let tokens: Int
    /// The tensors exchanged together, in packing order.
    public let parts: [Part]
    /// Tokens each rank holds in sequence layout.
    public let counts: [Int]
    private let source: RowSource

    /// Where the head-layout rows come from: a layout's global positions, made when a pack
    /// or unpack needs them (N of them, which the counts and a phantom run never need), or
    /// given explicitly.
    private enum RowSource: Sendable {
        case positions(SequenceLayout)
        case given([[Int]])
    }

    /// For each rank, the head-layout row of each of its local tokens (local order).
    public var rows: [[Int]] {
        switch source {
        case .positions(let layout): return (0..<layout.ranks).map { layout.positions(rank: $0) }
        case .given(let rows): return rows
        }
    }

    /// An exchange of `parts` over `layout` (one range per rank in each part): head-layout
    /// rows are global positions, so head-layout tensors are in global token order.
    public init(layout: SequenceLayout, parts: [Part]) {
        precondition(parts.allSatisfy { $0.ranges.count == layout.ranks }, "one head range per rank")
        tokens = layout.tokens
        self.parts = parts
        counts = layout.counts
        source = .positions(layout)
    }

    /// An exchange among `rows.count` ranks where rank j's local token i becomes row
    /// `rows[j][i]` of the head-layout tensors; the rows of all ranks must be a permutation
    /// of `0 ..< Σ rows[j].count` (USP: the tokens of one Ulysses group, in ring order).
    public init(rows: [[Int]], parts: [Part]) {
        precondition(parts.allSatisfy { $0.ranges.count == rows.count }, "one head range per rank")
        let tokens = rows.reduce(0) { $0 + $1.count }
        var seen = [Bool](repeating: false, count: tokens)  // N rows: a bitmap, not two sets of N
        for row in rows.joined() {
            precondition(row >= 0 && row < tokens && !seen[row], "rows must be a permutation of the tokens")
            seen[row] = true
        }
        self.tokens = tokens
        self.parts = parts
        counts = rows.map(\.count)
        source = .given(rows)
    }

    /// Ranks taking part.
    public var ranks: Int { counts.count }
    private func count(rank r: Int) -> Int { counts[r] }

    private func perToken(_ j: Int) -> Int { parts.reduce(0) { $0 + $1.width(j) } }

    // MARK: Sequence → heads

    /// Floats rank `r` sends to each rank, and receives from each, going sequence → heads.
    public func sequenceToHeadsCounts(rank r: Int) -> (send: [Int], receive: [Int]) {
        let p = ranks, mine = perToken(r)
        return ((0..<p).map { count(rank: r) * perToken($0) }, (0..<p).map { count(rank: $0) * mine })
    }

    /// Rank `r`'s send buffer: for each destination j, each tensor's local tokens
    /// restricted to the heads j holds. `tensors[i]` is `[n_r, parts[i].heads, parts[i].dim]`.
    public func packSequenceToHeads(_ tensors: [Tensor32], rank r: Int) -> [Float] {
        let n = count(rank: r)
        precondition(tensors.count == parts.count && zip(tensors, parts).allSatisfy {
            $0.shape == [n, $1.heads, $1.dim]
        }, "packSequenceToHeads: tensors do not match the parts")
        var out = [Float]()
        out.reserveCapacity(sequenceToHeadsCounts(rank: r).send.reduce(0, +))
        for j in 0..<ranks {
            for (t, part) in zip(tensors, parts) {
                let width = part.width(j), first = part.ranges[j].lowerBound * part.dim, stride = t.tokenStride
                t.storage.withUnsafeBufferPointer { src in
                    for token in 0..<n {
                        let start = token &* stride &+ first
                        out.append(contentsOf: UnsafeBufferPointer(rebasing: src[start ..< start &+ width]))
                    }
                }
            }
        }
        return out
    }

    /// Rank `r`'s head-layout tensors from its receive buffer (blocks in source order):
    /// tensor i is `[N, parts[i].ranges[r].count, parts[i].dim]` in global token order.
    public func unpackSequenceToHeads(_ data: [Float], rank r: Int) -> [Tensor32] {
        var out = parts.map { Tensor32(tokens: tokens, heads: $0.ranges[r].count, dim: $0.dim) }
        precondition(data.count == sequenceToHeadsCounts(rank: r).receive.reduce(0, +), "unpackSequenceToHeads: wrong size")
        let rows = self.rows
        var offset = 0
        data.withUnsafeBufferPointer { src in
            for s in 0..<ranks {
                for i in parts.indices {
                    let width = parts[i].width(r)
                    out[i].storage.withUnsafeMutableBufferPointer { dst in
                        for position in rows[s] {
                            (dst.baseAddress! + position &* width).update(from: src.baseAddress! + offset, count: width)
                            offset &+= width
                        }
                    }
                }
            }
        }
        return out
    }

    // MARK: Heads → sequence

    /// Floats rank `r` sends to each rank, and receives from each, going heads → sequence.
    public func headsToSequenceCounts(rank r: Int) -> (send: [Int], receive: [Int]) {
        let p = ranks, mine = perToken(r), n = count(rank: r)
        return ((0..<p).map { count(rank: $0) * mine }, (0..<p).map { n * perToken($0) })
    }

    /// Rank `r`'s send buffer: for each destination s, each head-layout tensor's rows at
    /// the global positions s holds, in s's local order. `tensors[i]` is
    /// `[N, parts[i].ranges[r].count, parts[i].dim]` in global token order.
    public func packHeadsToSequence(_ tensors: [Tensor32], rank r: Int) -> [Float] {
        precondition(tensors.count == parts.count && zip(tensors, parts).allSatisfy {
            $0.shape == [tokens, $1.ranges[r].count, $1.dim]
        }, "packHeadsToSequence: tensors do not match the parts")
        var out = [Float]()
        out.reserveCapacity(headsToSequenceCounts(rank: r).send.reduce(0, +))
        let rows = self.rows
        for s in 0..<ranks {
            for (t, part) in zip(tensors, parts) {
                let width = part.width(r)
                t.storage.withUnsafeBufferPointer { src in
                    for position in rows[s] {
                        let start = position &* width
                        out.append(contentsOf: UnsafeBufferPointer(rebasing: src[start ..< start &+ width]))
                    }
                }
            }
        }
        return out
    }

    /// Rank `r`'s sequence-layout tensors `[n_r, parts[i].heads, parts[i].dim]` (local
    /// order) from its receive buffer: each source's block is added into the heads that
    /// source held, so replicated heads are summed over their holders.
    public func unpackHeadsToSequence(_ data: [Float], rank r: Int) -> [Tensor32] {
        let n = count(rank: r)
        var out = parts.map { Tensor32(tokens: n, heads: $0.heads, dim: $0.dim) }
        precondition(data.count == headsToSequenceCounts(rank: r).receive.reduce(0, +), "unpackHeadsToSequence: wrong size")
        var offset = 0
        data.withUnsafeBufferPointer { src in
            for j in 0..<ranks {
                for i in parts.indices {
                    let width = parts[i].width(j), first = parts[i].ranges[j].lowerBound * parts[i].dim
                    let stride = parts[i].heads * parts[i].dim
                    out[i].storage.withUnsafeMutableBufferPointer { dst in
                        for token in 0..<n {
                            let target = dst.baseAddress! + (token &* stride &+ first), source = src.baseAddress! + offset
                            for c in 0..<width { target[c] += source[c] }
                            offset &+= width
                        }
                    }
                }
            }
        }
        return out
    }

    // MARK: Over MPI

    /// Sequence → heads for this rank: one `MPI_Alltoallv` carrying every part.
    /// `communicator` (default: the context's) must have the exchange's ranks, in order.
    public func sequenceToHeads(_ tensors: [Tensor32], context: RankContext, over communicator: Communicator? = nil,
                                name: String) throws -> [Tensor32] {
        try allToAll(tensors, context: context, over: communicator, name: name, counts: sequenceToHeadsCounts(rank:),
                     pack: packSequenceToHeads(_:rank:), unpack: unpackSequenceToHeads(_:rank:)) { r in
            parts.map { context.zeros(tokens: tokens, heads: $0.ranges[r].count, dim: $0.dim) }
        }
    }

    /// Heads → sequence for this rank: one `MPI_Alltoallv` carrying every part.
    /// `communicator` (default: the context's) must have the exchange's ranks, in order.
    public func headsToSequence(_ tensors: [Tensor32], context: RankContext, over communicator: Communicator? = nil,
                                name: String) throws -> [Tensor32] {
        try allToAll(tensors, context: context, over: communicator, name: name, counts: headsToSequenceCounts(rank:),
                     pack: packHeadsToSequence(_:rank:), unpack: unpackHeadsToSequence(_:rank:)) { r in
            parts.map { context.zeros(tokens: count(rank: r), heads: $0.heads, dim: $0.dim) }
        }
    }

    /// One direction of the exchange for rank r of `communicator` (default: the context's):
    /// pack with r's `counts`, one `MPI_Alltoallv`, unpack; in phantom mode the same messages
    /// between phantom buffers and `phantomResult(r)`, of the unpacked shapes.
    private func allToAll(_ tensors: [Tensor32], context: RankContext, over communicator: Communicator?, name: String,
                          counts: (Int) -> (send: [Int], receive: [Int]), pack: ([Tensor32], Int) -> [Float],
                          unpack: ([Float], Int) -> [Tensor32], phantomResult: (Int) -> [Tensor32]) throws -> [Tensor32] {
        let communicator = communicator ?? context.communicator
        let r = communicator.rank, counts = counts(r)
        if context.isPhantom {
            try phantomAllToAll(counts, context: context, over: communicator, name: name)
            return phantomResult(r)
        }
        let packed = context.compute("pack \(name)") { pack(tensors, r) }
        let received = try context.communicate("all-to-all \(name)") {
            try communicator.alltoallv(packed, sendCounts: counts.send, receiveCounts: counts.receive)
        }
        return context.compute("unpack \(name)") { unpack(received, r) }
    }

    /// The all-to-all of phantom mode: the same messages between this rank's phantom
    /// buffers (`RankContext.phantomBuffer`), nothing packed or unpacked.
    private func phantomAllToAll(_ counts: (send: [Int], receive: [Int]), context: RankContext,
                                 over communicator: Communicator, name: String) throws {
        try context.communicate("all-to-all \(name)") {
            try communicator.phantomAlltoallv(context.phantomBuffer(count: counts.send.reduce(0, +)), sendCounts: counts.send,
                                              into: context.phantomBuffer(count: counts.receive.reduce(0, +)),
                                              receiveCounts: counts.receive)
        }
    }
}
