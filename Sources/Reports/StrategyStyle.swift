/// How one strategy is drawn in every spsim plot — colour, marker and dash fixed by its
/// name, so ring is the same green triangle in `model --plot`, `report --plot` and the
/// planner's plots, whatever else a plot shows.
///
/// Colours are Okabe–Ito (readable with colour-blindness); softmax strategies draw solid
/// lines, gated linear attention ones dashed.
public struct StrategyStyle: Sendable, Equatable {
    /// A marker shape at each point.
    public enum Marker: String, Sendable, CaseIterable {
        case circle, square, triangle, diamond, triangleDown, star, hexagon
    }

    /// SVG colour, `#rrggbb`.
    public var colour: String
    /// The marker at each point.
    public var marker: Marker
    /// SVG `stroke-dasharray` of the line; empty for solid.
    public var dash: String
    /// Filled markers; hollow ones mark a second series of the same strategy (e.g. predicted beside measured).
    public var filled: Bool

    public init(colour: String, marker: Marker, dash: String = "", filled: Bool = true) {
        self.colour = colour
        self.marker = marker
        self.dash = dash
        self.filled = filled
    }

    /// The style of the strategy called `name` (`ring`, `usp`, `zeco`, …): a fixed entry for
    /// every strategy spsim knows, and for other names one chosen by a hash of the name, so
    /// it too is the same in every plot.
    public static func `for`(name: String) -> StrategyStyle {
        if let known = known[name] { return known }
        // FNV-1a: stable across runs and platforms (Swift's hashValue is seeded per process).
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let markers = Marker.allCases
        return StrategyStyle(colour: extraColours[Int(hash % UInt64(extraColours.count))],
                             marker: markers[Int((hash >> 8) % UInt64(markers.count))], dash: "2,3")
    }

    /// The same style with another dash (a second series of one strategy, e.g. another N).
    public func dashed(_ dash: String) -> StrategyStyle { var s = self; s.dash = dash; return s }

    /// The same style with hollow markers.
    public var hollow: StrategyStyle { var s = self; s.filled = false; return s }

    private static let known: [String: StrategyStyle] = [
        "ulysses": .init(colour: "#0072B2", marker: .circle),
        "ring": .init(colour: "#009E73", marker: .triangle),
        "token-ring": .init(colour: "#CC79A7", marker: .diamond),
        "allgather": .init(colour: "#D55E00", marker: .square),
        "usp": .init(colour: "#E69F00", marker: .triangleDown),
        "zeco": .init(colour: "#56B4E9", marker: .star, dash: "7,3"),
        "lasp1": .init(colour: "#000000", marker: .square, dash: "7,3"),
        "lasp2": .init(colour: "#882255", marker: .diamond, dash: "7,3"),
        "exscan": .init(colour: "#7F7F7F", marker: .hexagon, dash: "7,3"),
    ]

    private static let extraColours = ["#8C564B", "#117733", "#332288", "#999933", "#44AA99", "#AA4499"]
}
