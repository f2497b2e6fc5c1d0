/// Softmax attention or gated linear attention: which problem, inputs, kernels and reference
/// a strategy works on.
public enum AttentionKind: String, Sendable, CaseIterable, Codable {
    /// `softmax(q kᵀ / sqrt(D)) v`, H query heads over G KV heads of dim D.
    case softmax
    /// Gated linear attention: per head a `[Dk, Dv]` state carried along the sequence.
    case gla
}

/// A setting that only some strategies take (`StrategyDescriptor.options`).
public enum StrategyOption: String, Sendable, CaseIterable, Codable {
    /// USP's Ulysses degree U: ranks per Ulysses group (`AttentionProblem.ulyssesDegree`).
    case ulyssesDegree = "ulysses_degree"
    /// ZeCO's All-Scan row blocks K (`LinearAttentionProblem.scanBlocks`).
    case scanBlocks = "scan_blocks"
}

/// What every consumer needs to know about a strategy without running it: the command
/// line's choices and help, `spsim strategies`, `spsim verify`'s matrix, the cost model's
/// pairing (by `name`) and the tests' strategy lists all read it from the registry
/// (`Strategies.all` in SequenceParallel). Refusal rules beyond the layouts are the
/// strategy type's `unsupportedReason`.
public struct StrategyDescriptor: Sendable, Equatable {
    /// The `--strategy` name.
    public let name: String
    /// Which attention it computes.
    public let attention: AttentionKind
    /// Layouts it accepts.
    public let layouts: [LayoutKind]
    /// Settings it takes beyond the problem's shape.
    public let options: [StrategyOption]
    /// One line for help and tables, naming the paper.
    public let summary: String
    /// Other names `--strategy` accepts: what other frameworks call the same schedule
    /// (Megatron-Core's `cp_comm_type`: `p2p`, `all_gather`, `a2a`, `a2a+p2p`).
    public let aliases: [String]
    /// How every plot draws it: the descriptor's colour and marker; a solid line for
    /// softmax attention, dashed for GLA.
    public let style: StrategyStyle

    /// A descriptor; `layouts` must not be empty; `colour` (`#rrggbb`) and `marker` are the
    /// strategy's own in every plot (no two strategies share a colour).
    public init(name: String, attention: AttentionKind, layouts: [LayoutKind], colour: String, marker: StrategyStyle.Marker,
                options: [StrategyOption] = [], aliases: [String] = [], summary: String) {
        precondition(!layouts.isEmpty, "a strategy accepts at least one layout")
        self.name = name
        self.attention = attention
        self.layouts = layouts
        self.options = options
        self.aliases = aliases
        self.summary = summary
        style = StrategyStyle(colour: colour, marker: marker, dash: attention == .gla ? "7,3" : "")
    }

    /// Why the strategy cannot take `layout`, or nil: the layout rule every strategy shares.
    public func layoutReason(_ layout: LayoutKind) -> String? {
        guard !layouts.contains(layout) else { return nil }
        if attention == .gla && layouts == [.contiguous] {
            return "--strategy \(name) scans states in rank order and needs --layout contiguous, not \(layout.rawValue)"
        }
        return "--strategy \(name) supports --layout \(layouts.map(\.rawValue).joined(separator: "|")), not \(layout.rawValue)"
    }
}
