import SPCore

/// Parses lists of sizes for sweeps: `8,16,64`, `8..256` (doubling), `8..256*4`
/// (multiplying by 4), `1024..4096+1024` (adding 1024), each number a size as
/// `SizeList.number` reads it: `8M` is 8 388 608 tokens.
public enum SizeList {
    /// The rule every size on spsim's command line follows, for help texts.
    public static let rule = "sizes are whole numbers with an optional binary suffix: k, K or Ki = 1024, M or Mi = 1024², G or Gi = 1024³ (8k = 8192 tokens, 1M = 1048576 bytes)"

    /// The most values one list may hold (a sweep multiplies the lists' lengths).
    public static let maxValues = 4096

    /// The sizes `text` describes, in order, or why it cannot be read. Ranges step with
    /// overflow-checked arithmetic and stop at `TO` or where the next value would overflow.
    public static func parse(_ text: String, option: String) -> Result<[Int], CostModelError> {
        var out = [Int]()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let item = part.trimmingCharacters(in: .whitespaces)
            guard !item.isEmpty else { return .failure(CostModelError("\(option) \(text): empty item")) }
            if let dots = item.range(of: "..") {
                let from = String(item[..<dots.lowerBound])
                var rest = String(item[dots.upperBound...])
                // Steps report overflow (nil) instead of trapping: a range may end near Int.max.
                var step: (Int) -> Int? = { x in let (y, o) = x.multipliedReportingOverflow(by: 2); return o ? nil : y }
                var stepText = ""
                if let star = rest.firstIndex(of: "*") {
                    stepText = String(rest[rest.index(after: star)...])
                    rest = String(rest[..<star])
                    guard let f = number(stepText), f >= 2 else {
                        return .failure(CostModelError("\(option) \(item): the factor after * must be at least 2"))
                    }
                    step = { x in let (y, o) = x.multipliedReportingOverflow(by: f); return o ? nil : y }
                } else if let plus = rest.firstIndex(of: "+") {
                    stepText = String(rest[rest.index(after: plus)...])
                    rest = String(rest[..<plus])
                    guard let s = number(stepText), s >= 1 else {
                        return .failure(CostModelError("\(option) \(item): the step after + must be at least 1"))
                    }
                    step = { x in let (y, o) = x.addingReportingOverflow(s); return o ? nil : y }
                }
                guard let a = number(from), let b = number(rest), a >= 1, b >= a else {
                    return .failure(CostModelError("\(option) \(item): a range is FROM..TO with 1 ≤ FROM ≤ TO (e.g. 8..256)"))
                }
                var next: Int? = a
                while let x = next, x <= b {
                    out.append(x)
                    if out.count > maxValues {
                        return .failure(CostModelError("\(option) \(item): more than \(maxValues) values (spsim's limit per list)"))
                    }
                    next = step(x)
                }
            } else {
                guard let x = number(item), x >= 1 else {
                    return .failure(CostModelError("\(option) \(item): expected a positive whole number, a k/M/G suffix allowed (e.g. 8M)"))
                }
                out.append(x)
            }
        }
        if out.count > maxValues {
            return .failure(CostModelError("\(option) \(text): \(out.count) values, more than \(maxValues) (spsim's limit per list)"))
        }
        return .success(out)
    }

    /// A non-negative whole number with an optional binary suffix (`rule`): `8k` = 8192,
    /// `2Mi` = 2 097 152; nil for anything else, a negative number, or a product beyond `Int`.
    public static func number(_ text: String) -> Int? {
        var t = text.trimmingCharacters(in: .whitespaces)
        var scale = 1
        for (suffixes, s) in [(["Ki", "k", "K"], 1 << 10), (["Mi", "M"], 1 << 20), (["Gi", "G"], 1 << 30)] {
            if let suffix = suffixes.first(where: t.hasSuffix) {
                scale = s
                t.removeLast(suffix.count)
                break
            }
        }
        guard t.first?.isNumber == true, let v = Int(t), v >= 0 else { return nil }
        let (product, overflow) = v.multipliedReportingOverflow(by: scale)
        return overflow ? nil : product
    }
}

/// One row of a sweep: a configuration and its prediction, or why it has none.
public struct SweepPoint: Sendable {
    /// The strategy's name.
    public var strategy: String
    /// The layout used.
    public var layout: LayoutKind
    /// Ranks P.
    public var ranks: Int
    /// Global tokens N.
    public var seqLen: Int
    /// The prediction, or the reason the configuration is impossible.
    public var result: Result<Prediction, CostModelError>
}

/// A sweep over strategies, layouts, sequence lengths and rank counts on one topology.
public struct Sweep {
    /// The workload every point shares (its `seqLen`, `layout` and attention kind are set per point).
    public var workload: Workload
    /// The topology.
    public var topology: Topology
    /// Strategies with the layouts to try for each.
    public var strategies: [(model: any StrategyModel.Type, layouts: [LayoutKind])]
    /// Sequence lengths N.
    public var seqLens: [Int]
    /// Rank counts P.
    public var ranks: [Int]

    /// A sweep.
    public init(workload: Workload, topology: Topology, strategies: [(model: any StrategyModel.Type, layouts: [LayoutKind])],
                seqLens: [Int], ranks: [Int]) {
        self.workload = workload
        self.topology = topology
        self.strategies = strategies
        self.seqLens = seqLens
        self.ranks = ranks
    }

    /// Number of configurations.
    public var count: Int { strategies.reduce(0) { $0 + $1.layouts.count } * seqLens.count * ranks.count }

    /// Every point, strategy-major, then layout, sequence length, rank count.
    public func run() -> [SweepPoint] {
        var points = [SweepPoint]()
        points.reserveCapacity(count)
        for (model, layouts) in strategies {
            for layout in layouts {
                for n in seqLens {
                    for p in ranks {
                        var w = workload
                        w.seqLen = n
                        w.layout = layout
                        w.attention = model.attention
                        if model.attention == .gla { w.isCausal = true }
                        points.append(SweepPoint(strategy: model.name, layout: layout, ranks: p, seqLen: n,
                                                 result: CostModel.predict(model, w, ranks: p, topology: topology)))
                    }
                }
            }
        }
        return points
    }
}

/// The layout a strategy runs best for a workload: for causal attention the balanced
/// `zigzag` when the strategy supports it, else its first layout.
public func preferredLayout(_ model: any StrategyModel.Type, causal: Bool) -> LayoutKind {
    if causal && model.layouts.contains(.zigzag) { return .zigzag }
    return model.layouts.contains(.contiguous) ? .contiguous : model.layouts[0]
}
