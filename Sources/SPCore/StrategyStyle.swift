/// How one strategy is drawn in every spsim plot — colour and marker set in the strategy's
/// descriptor (`StrategyDescriptor.style`), so a strategy is the same colour and marker in
/// `model --plot`, `report --plot` and the planner's plots, whatever else a plot shows.
///
/// Strategies take Okabe–Ito colours (readable with colour-blindness); softmax strategies
/// draw solid lines, gated linear attention ones dashed.
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

    /// A style for a series that is not a registered strategy (a named curve, say), chosen by
    /// a stable hash of `name` so that it too is the same in every plot; dotted, so it does
    /// not pass for a strategy.
    public init(hashing name: String) {
        // FNV-1a: stable across runs and platforms (Swift's hashValue is seeded per process).
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let markers = Marker.allCases
        self.init(colour: Self.extraColours[Int(hash % UInt64(Self.extraColours.count))],
                  marker: markers[Int((hash >> 8) % UInt64(markers.count))], dash: "2,3")
    }

    /// The same style with another dash (a second series of one strategy, e.g. another N).
    public func dashed(_ dash: String) -> StrategyStyle { var s = self; s.dash = dash; return s }

    /// The same style with hollow markers.
    public var hollow: StrategyStyle { var s = self; s.filled = false; return s }

    private static let extraColours = ["#8C564B", "#117733", "#332288", "#999933", "#44AA99", "#AA4499"]
}
