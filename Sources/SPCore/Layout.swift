/// How the N tokens of a sequence are spread over P ranks (docs/design.md, exact semantics).
public enum LayoutKind: String, CaseIterable, Sendable, Codable {
    /// Rank r holds `[r·N/P, (r+1)·N/P)`; the first `N mod P` ranks hold one extra token.
    case contiguous
    /// 2P equal chunks; rank r holds chunks r and 2P−1−r (needs 2P | N): balanced causal work.
    case zigzag
    /// Rank r holds tokens r, r+P, r+2P, … (needs P | N).
    case striped
}

/// A concrete layout: which global token positions each rank holds.
public struct SequenceLayout: Sendable, Equatable {
    public let kind: LayoutKind
    /// Global tokens N.
    public let tokens: Int
    /// Ranks P.
    public let ranks: Int

    /// A layout, or nil with the reason when `kind` cannot split `tokens` over `ranks`.
    public static func make(_ kind: LayoutKind, tokens: Int, ranks: Int) -> Result<SequenceLayout, InputError> {
        if let reason = unsupportedReason(kind, tokens: tokens, ranks: ranks) { return .failure(InputError(reason)) }
        return .success(SequenceLayout(kind: kind, tokens: tokens, ranks: ranks))
    }

    /// Why `kind` cannot lay out `tokens` over `ranks`, or nil when it can.
    public static func unsupportedReason(_ kind: LayoutKind, tokens: Int, ranks: Int) -> String? {
        guard ranks >= 1 else { return "need at least one rank" }
        switch kind {
        case .contiguous:
            return tokens >= ranks ? nil
                : "--seq-len \(tokens) is smaller than the \(ranks) ranks: every rank needs at least one token"
        case .zigzag:
            return tokens % (2 * ranks) == 0 ? nil
                : "--layout zigzag cuts the sequence into 2P = \(2 * ranks) equal chunks, but --seq-len \(tokens) is not divisible by \(2 * ranks); use a multiple of \(2 * ranks) or --layout contiguous"
        case .striped:
            return tokens % ranks == 0 ? nil
                : "--layout striped needs P = \(ranks) to divide --seq-len \(tokens); use a multiple of \(ranks) or --layout contiguous"
        }
    }

    init(kind: LayoutKind, tokens: Int, ranks: Int) {
        self.kind = kind
        self.tokens = tokens
        self.ranks = ranks
    }

    /// Number of tokens rank `r` holds.
    public func count(rank r: Int) -> Int {
        switch kind {
        case .contiguous: tokens / ranks + (r < tokens % ranks ? 1 : 0)
        case .zigzag, .striped: tokens / ranks
        }
    }

    /// Token counts of every rank.
    public var counts: [Int] { (0..<ranks).map { count(rank: $0) } }

    /// The global positions rank `r` holds, in its local order.
    public func positions(rank r: Int) -> [Int] {
        switch kind {
        case .contiguous:
            let base = tokens / ranks, extra = tokens % ranks
            let start = r * base + min(r, extra)
            return Array(start ..< start + count(rank: r))
        case .zigzag:
            let c = tokens / (2 * ranks)
            return Array(r * c ..< (r + 1) * c) + Array((2 * ranks - 1 - r) * c ..< (2 * ranks - r) * c)
        case .striped:
            return Array(stride(from: r, to: tokens, by: ranks))
        }
    }

    /// Every rank's positions, concatenated in rank order: the global position of each
    /// row of a rank-ordered gather.
    public var gatheredPositions: [Int] { (0..<ranks).flatMap { positions(rank: $0) } }
}
