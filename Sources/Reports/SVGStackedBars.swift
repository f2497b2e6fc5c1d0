import Foundation

/// A stacked bar chart on a linear y axis: one bar per category, one coloured segment per
/// part (a step-time breakdown per strategy), a legend of the parts.
public struct SVGStackedBars {
    /// The chart's title.
    public var title: String
    /// The y axis label, with its unit.
    public var yLabel: String
    /// The bars' names, left to right.
    public var categories: [String]
    /// The parts, bottom to top: a legend name and one value per category.
    public var parts: [(name: String, values: [Double])]
    /// Tick labels of the y axis.
    public var formatY: (Double) -> String

    /// A chart; every part needs one value per category.
    public init(title: String, yLabel: String, categories: [String], parts: [(name: String, values: [Double])],
                formatY: @escaping (Double) -> String = { String(format: "%g", $0) }) {
        self.title = title
        self.yLabel = yLabel
        self.categories = categories
        self.parts = parts
        self.formatY = formatY
    }

    /// Colours of the parts, bottom to top (parts are phases, not strategies, so they do not
    /// take `StrategyStyle`'s colours).
    static let partColours = ["#4C72B0", "#DD8452", "#C44E52", "#8172B3", "#937860", "#8C8C8C"]

    /// A standalone SVG document of the chart.
    public func render(width: Double = 720, height: Double = 440) -> String {
        let left = 78.0, right = 16.0, top = 34.0, bottom = 60.0 + 16 * Double(parts.count)
        let plotW = width - left - right, plotH = height - top - bottom
        let totals = categories.indices.map { c in parts.reduce(0) { $0 + max(0, $1.values[c]) } }
        var out = "<text x=\"\(f(width / 2))\" y=\"20\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(escape(title))</text>\n"
        let top10 = pow(10, ceil(log10(max(totals.max() ?? 1, 1e-300))))
        let yMax = [0.2, 0.5, 1].map { $0 * top10 }.first { $0 >= (totals.max() ?? 0) } ?? top10
        func py(_ v: Double) -> Double { top + plotH - v / yMax * plotH }
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
        for i in 0...5 {
            let v = yMax * Double(i) / 5, y = py(v)
            out += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y))\" stroke=\"#ddd\"/>\n"
            out += "<text x=\"\(f(left - 8))\" y=\"\(f(y + 4))\" text-anchor=\"end\" font-size=\"11\">\(escape(formatY(v)))</text>\n"
        }
        out += "<text transform=\"translate(16,\(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">\(escape(yLabel))</text>\n"
        let slot = plotW / Double(max(1, categories.count)), barW = slot * 0.6
        for (c, name) in categories.enumerated() {
            let x = left + slot * Double(c) + (slot - barW) / 2
            var base = 0.0
            for (i, part) in parts.enumerated() where part.values[c] > 0 {
                let v = part.values[c]
                out += "<rect x=\"\(f(x))\" y=\"\(f(py(base + v)))\" width=\"\(f(barW))\" height=\"\(f(py(base) - py(base + v)))\" fill=\"\(Self.partColours[i % Self.partColours.count])\"/>\n"
                base += v
            }
            out += "<text x=\"\(f(x + barW / 2))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\" font-size=\"11\">\(escape(name))</text>\n"
        }
        for (i, part) in parts.enumerated() {
            let ly = top + plotH + 42 + 16 * Double(i)
            out += "<rect x=\"\(f(left))\" y=\"\(f(ly - 10))\" width=\"24\" height=\"10\" fill=\"\(Self.partColours[i % Self.partColours.count])\"/>\n"
            out += "<text x=\"\(f(left + 30))\" y=\"\(f(ly))\" font-size=\"12\">\(escape(part.name))</text>\n"
        }
        return svgDocument(width: width, height: height, body: out)
    }
}
