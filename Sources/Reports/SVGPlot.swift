import Foundation

/// A log-log line plot rendered as SVG: labelled axes with units, tick marks with grid
/// lines, one coloured line with markers per series, and a legend.
public struct SVGPlot {
    /// One line: a name for the legend and its (x, y) points (non-positive values are skipped).
    public struct Series {
        /// The legend entry.
        public var name: String
        /// The points, drawn in order.
        public var points: [(x: Double, y: Double)]
        /// The palette entry to draw with (a stable colour per strategy); nil: the series' position.
        public var colorIndex: Int?

        /// A series.
        public init(name: String, points: [(x: Double, y: Double)], colorIndex: Int? = nil) {
            self.name = name
            self.points = points
            self.colorIndex = colorIndex
        }
    }

    /// The plot's title.
    public var title: String
    /// The x axis label, with its unit.
    public var xLabel: String
    /// The y axis label, with its unit.
    public var yLabel: String
    /// The lines.
    public var series: [Series]
    /// Tick labels of the x axis.
    public var formatX: (Double) -> String
    /// Tick labels of the y axis.
    public var formatY: (Double) -> String
    /// Ticks on the x axis at powers of two (rank counts, token counts) instead of ten.
    public var xPowersOfTwo: Bool

    /// A plot; tick labels default to `%g`.
    public init(title: String, xLabel: String, yLabel: String, series: [Series], xPowersOfTwo: Bool = false,
                formatX: @escaping (Double) -> String = { String(format: "%g", $0) },
                formatY: @escaping (Double) -> String = { String(format: "%g", $0) }) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.xPowersOfTwo = xPowersOfTwo
        self.formatX = formatX
        self.formatY = formatY
    }

    /// Colours of the series, in order (Okabe–Ito, readable by colour-blind people), then repeated.
    static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#882255",
                          "#7F7F7F", "#8C564B"]
    /// Dash patterns cycled after the palette is used up.
    static let dashes = ["", "6,3", "2,3", "8,3,2,3"]

    /// A standalone SVG document of this plot.
    /// The height defaults to room for a 300-pixel plot above the legend.
    public func render(width: Double = 640, height: Double? = nil) -> String {
        let height = height ?? 400 + 16 * Double(series.count)
        return svgDocument(width: width, height: height, body: group(x: 0, y: 0, width: width, height: height))
    }

    /// The plot as an SVG group placed at (x, y) with the given size.
    func group(x originX: Double, y originY: Double, width: Double, height: Double) -> String {
        let left = 78.0, right = 16.0, top = 34.0, legendRows = Double(series.count)
        let bottom = 52.0 + 16 * legendRows + 8
        let plotW = width - left - right, plotH = height - top - bottom
        let xs = series.flatMap { $0.points.map(\.x) }.filter { $0 > 0 && $0.isFinite }
        let ys = series.flatMap { $0.points.map(\.y) }.filter { $0 > 0 && $0.isFinite }
        var out = "<g transform=\"translate(\(f(originX)),\(f(originY)))\">\n"
        out += "<text x=\"\(f(width / 2))\" y=\"20\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(escape(title))</text>\n"
        guard let xMin = xs.min(), let xMax = xs.max(), let yMin = ys.min(), let yMax = ys.max() else {
            return out + "<text x=\"\(f(width / 2))\" y=\"\(f(height / 2))\" text-anchor=\"middle\">no data</text>\n</g>\n"
        }
        let xr = logRange(xMin, xMax, base: xPowersOfTwo ? 2 : 10)
        let yr = logRange(yMin, yMax, base: 10)
        func px(_ v: Double) -> Double { left + (log(v) - log(xr.lo)) / (log(xr.hi) - log(xr.lo)) * plotW }
        func py(_ v: Double) -> Double { top + plotH - (log(v) - log(yr.lo)) / (log(yr.hi) - log(yr.lo)) * plotH }

        // Frame, grid and ticks.
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
        for t in ticks(xr, base: xPowersOfTwo ? 2 : 10) {
            let x = px(t)
            out += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(top + plotH))\" stroke=\"#ddd\"/>\n"
            out += "<line x1=\"\(f(x))\" y1=\"\(f(top + plotH))\" x2=\"\(f(x))\" y2=\"\(f(top + plotH + 5))\" stroke=\"#333\"/>\n"
            out += "<text x=\"\(f(x))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\" font-size=\"11\">\(escape(formatX(t)))</text>\n"
        }
        for t in ticks(yr, base: 10) {
            let y = py(t)
            out += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y))\" stroke=\"#ddd\"/>\n"
            out += "<line x1=\"\(f(left - 5))\" y1=\"\(f(y))\" x2=\"\(f(left))\" y2=\"\(f(y))\" stroke=\"#333\"/>\n"
            out += "<text x=\"\(f(left - 8))\" y=\"\(f(y + 4))\" text-anchor=\"end\" font-size=\"11\">\(escape(formatY(t)))</text>\n"
        }
        out += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(top + plotH + 38))\" text-anchor=\"middle\" font-size=\"13\">\(escape(xLabel))</text>\n"
        out += "<text transform=\"translate(16,\(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">\(escape(yLabel))</text>\n"

        // Lines with markers, then the legend under the axis label.
        for (i, s) in series.enumerated() {
            let c = s.colorIndex ?? i
            let colour = Self.palette[c % Self.palette.count]
            let dash = Self.dashes[(c / Self.palette.count) % Self.dashes.count]
            let pts = s.points.filter { $0.x > 0 && $0.y > 0 && $0.x.isFinite && $0.y.isFinite }
            guard !pts.isEmpty else { continue }
            let path = pts.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"")/>\n"
            for p in pts {
                out += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3\" fill=\"\(colour)\"/>\n"
            }
            let ly = top + plotH + 58 + 16 * Double(i)
            out += "<line x1=\"\(f(left))\" y1=\"\(f(ly - 4))\" x2=\"\(f(left + 24))\" y2=\"\(f(ly - 4))\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"")/>\n"
            out += "<text x=\"\(f(left + 30))\" y=\"\(f(ly))\" font-size=\"12\">\(escape(s.name))</text>\n"
        }
        return out + "</g>\n"
    }

    /// The axis range: the data widened to whole powers of `base` (at least one step).
    private func logRange(_ lo: Double, _ hi: Double, base: Double) -> (lo: Double, hi: Double) {
        var a = pow(base, floor(log(lo) / log(base) + 1e-9)), b = pow(base, ceil(log(hi) / log(base) - 1e-9))
        if b <= a { b = a * base }
        if base == 10 && b / a > 1e12 { a = b / 1e12 }
        return (a, b)
    }

    /// Tick positions: every power of `base` in range; 2× and 5× too when the range is one decade.
    private func ticks(_ r: (lo: Double, hi: Double), base: Double) -> [Double] {
        var out = [Double](), t = r.lo
        let decades = log(r.hi / r.lo) / log(base)
        while t <= r.hi * (1 + 1e-9) {
            out.append(t)
            if base == 10 && decades <= 1.5 {
                for m in [2.0, 5.0] where t * m < r.hi * (1 - 1e-9) { out.append(t * m) }
            }
            t *= base
        }
        // Thin dense power-of-two ticks to at most about 12.
        if out.count > 13 {
            let every = (out.count + 11) / 12
            out = out.enumerated().filter { $0.offset % every == 0 }.map(\.element)
        }
        return out.sorted()
    }
}

/// Several plots side by side in one SVG document.
/// The height defaults to room for a 300-pixel plot above the longest legend.
public func svgFigure(_ plots: [SVGPlot], panelWidth: Double = 560, panelHeight: Double? = nil) -> String {
    let panelHeight = panelHeight ?? 400 + 16 * Double(plots.map(\.series.count).max() ?? 0)
    var body = ""
    for (i, plot) in plots.enumerated() {
        body += plot.group(x: Double(i) * panelWidth, y: 0, width: panelWidth, height: panelHeight)
    }
    return svgDocument(width: panelWidth * Double(max(1, plots.count)), height: panelHeight, body: body)
}

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
                out += "<rect x=\"\(f(x))\" y=\"\(f(py(base + v)))\" width=\"\(f(barW))\" height=\"\(f(py(base) - py(base + v)))\" fill=\"\(SVGPlot.palette[i % SVGPlot.palette.count])\"/>\n"
                base += v
            }
            out += "<text x=\"\(f(x + barW / 2))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\" font-size=\"11\">\(escape(name))</text>\n"
        }
        for (i, part) in parts.enumerated() {
            let ly = top + plotH + 42 + 16 * Double(i)
            out += "<rect x=\"\(f(left))\" y=\"\(f(ly - 10))\" width=\"24\" height=\"10\" fill=\"\(SVGPlot.palette[i % SVGPlot.palette.count])\"/>\n"
            out += "<text x=\"\(f(left + 30))\" y=\"\(f(ly))\" font-size=\"12\">\(escape(part.name))</text>\n"
        }
        return svgDocument(width: width, height: height, body: out)
    }
}

private func svgDocument(width: Double, height: Double, body: String) -> String {
    """
    <?xml version="1.0" encoding="UTF-8"?>
    <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" viewBox="0 0 \(f(width)) \(f(height))" font-family="Helvetica, Arial, sans-serif">
    <rect width="100%" height="100%" fill="white"/>
    \(body)</svg>

    """
}

private func f(_ v: Double) -> String { String(format: "%.1f", v) }

private func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
