import Foundation
import SPCore

/// A log-log line plot rendered as SVG: labelled axes with units, tick marks with grid
/// lines, one line with markers per series in its strategy's `StrategyStyle`, an "×" on the
/// x axis where a series cannot run, notes under the axis, and a legend.
public struct SVGPlot {
    /// One line: a name for the legend and its (x, y) points (non-positive values are skipped).
    public struct Series {
        /// The legend entry.
        public var name: String
        /// The points, drawn in order.
        public var points: [(x: Double, y: Double)]
        /// Colour, marker and dash.
        public var style: StrategyStyle
        /// x values where the series has no point because it cannot run there: an "×" on the axis.
        public var unsupported: [Double]
        /// Why it cannot run there, for the legend (e.g. "P > H").
        public var unsupportedNote: String?

        /// A series; the style defaults to one hashed from its name (`StrategyStyle(hashing:)`).
        public init(name: String, points: [(x: Double, y: Double)], style: StrategyStyle? = nil,
                    unsupported: [Double] = [], unsupportedNote: String? = nil) {
            self.name = name
            self.points = points
            self.style = style ?? StrategyStyle(hashing: name)
            self.unsupported = unsupported
            self.unsupportedNote = unsupportedNote
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
    /// Lines of small text under the x axis label (what coincides, what a value means).
    public var notes: [String]
    /// Tick labels of the x axis.
    public var formatX: (Double) -> String
    /// Tick labels of the y axis.
    public var formatY: (Double) -> String
    /// Ticks on the x axis at powers of two (rank counts, token counts) instead of ten.
    public var xPowersOfTwo: Bool

    /// A plot; tick labels default to `%g`.
    public init(title: String, xLabel: String, yLabel: String, series: [Series], notes: [String] = [],
                xPowersOfTwo: Bool = false,
                formatX: @escaping (Double) -> String = { String(format: "%g", $0) },
                formatY: @escaping (Double) -> String = { String(format: "%g", $0) }) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.notes = notes
        self.xPowersOfTwo = xPowersOfTwo
        self.formatX = formatX
        self.formatY = formatY
    }

    /// A standalone SVG document of this plot with its legend.
    /// The height defaults to room for a 300-pixel plot above the notes and the legend.
    public func render(width: Double = 640, height: Double? = nil) -> String {
        let extra: Double = 14 * Double(wrappedNotes(width: width).count) + 16 * Double(series.count)
        let height = height ?? 400 + extra
        return svgDocument(width: width, height: height,
                           body: group(x: 0, y: 0, width: width, height: height, legend: true))
    }

    /// The legend text of a series: its name, and where it cannot run.
    func legendText(_ s: Series) -> String {
        guard !s.unsupported.isEmpty else { return s.name }
        let xs = s.unsupported.sorted()
        let at = s.points.isEmpty ? "anywhere shown"
            : xs.count <= 3 ? "at " + xs.map(formatX).joined(separator: ", ") : "at \(formatX(xs[0])) … \(formatX(xs[xs.count - 1]))"
        return s.name + " — × cannot run " + at + (s.unsupportedNote.map { " (\($0))" } ?? "")
    }

    /// The plot as an SVG group placed at (x, y) with the given size; the legend under the
    /// notes when `legend`, else left to the figure.
    /// `noteRows` reserves room for that many note lines (panels of a figure share one plot height).
    func group(x originX: Double, y originY: Double, width: Double, height: Double, legend: Bool,
               noteRows: Int? = nil) -> String {
        let left = 78.0, right = 16.0, top = 34.0
        let notes = wrappedNotes(width: width)
        let bottom = 52.0 + 14 * Double(max(noteRows ?? 0, notes.count)) + (legend ? 16 * Double(series.count) + 8 : 4)
        let plotW = width - left - right, plotH = height - top - bottom
        let xs = series.flatMap { $0.points.map(\.x) + $0.unsupported }.filter { $0 > 0 && $0.isFinite }
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
        for (i, note) in notes.enumerated() {
            out += "<text x=\"\(f(left))\" y=\"\(f(top + plotH + 56 + 14 * Double(i)))\" font-size=\"11\" font-style=\"italic\" fill=\"#444\">\(escape(note))</text>\n"
        }

        // Lines with markers, then "×" on the axis where a series cannot run.
        for s in series {
            let pts = s.points.filter { $0.x > 0 && $0.y > 0 && $0.x.isFinite && $0.y.isFinite }
            if !pts.isEmpty {
                let path = pts.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
                out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(s.style.colour)\" stroke-width=\"2\"\(dashAttribute(s.style))/>\n"
                for p in pts { out += markerSVG(s.style, x: px(p.x), y: py(p.y)) }
            }
            for x in s.unsupported where x > 0 && x.isFinite {
                out += crossSVG(colour: s.style.colour, x: px(x), y: top + plotH - 8)
            }
        }
        if legend {
            let y0 = top + plotH + 58 + 14 * Double(notes.count)
            for (i, s) in series.enumerated() {
                out += legendEntrySVG(s.style, text: legendText(s), x: left, y: y0 + 16 * Double(i))
            }
        }
        return out + "</g>\n"
    }

    /// The notes broken into lines that fit under a panel `width` pixels wide (11-pixel text).
    func wrappedNotes(width: Double) -> [String] {
        let limit = max(20, Int((width - 94) / 6))
        var lines = [String]()
        for note in notes {
            var line = ""
            for word in note.split(separator: " ") {
                if !line.isEmpty && line.count + 1 + word.count > limit {
                    lines.append(line)
                    line = ""
                }
                line += (line.isEmpty ? "" : " ") + word
            }
            if !line.isEmpty { lines.append(line) }
        }
        return lines
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

/// Several plots side by side in one SVG document, under `title` (one line per element:
/// the problem, the topology), with one legend for all panels below them — the series of
/// every panel, each name once (a strategy's style is the same in every panel) — and
/// `footnotes` under the legend.
/// The height defaults to room for a 300-pixel plot, the notes and the legend.
public func svgFigure(_ plots: [SVGPlot], title: [String] = [], footnotes: [String] = [], panelWidth: Double = 560,
                      panelHeight: Double? = nil) -> String {
    var seen = Set<String>(), entries = [(style: StrategyStyle, text: String)]()
    for plot in plots {
        for s in plot.series where seen.insert(s.name).inserted { entries.append((s.style, plot.legendText(s))) }
    }
    let width = panelWidth * Double(max(1, plots.count))
    let columns = max(1, min(3, Int(width / 420)))
    let legendRows = (entries.count + columns - 1) / columns
    let top = title.isEmpty ? 0 : 14 + 20 * Double(title.count)
    let noteLines = plots.map { $0.wrappedNotes(width: panelWidth).count }.max() ?? 0
    let panelHeight = panelHeight ?? 360 + 14 * Double(noteLines)
    let height = top + panelHeight + 16 * Double(legendRows) + 16 * Double(footnotes.count) + 12
    var body = ""
    for (i, line) in title.enumerated() {
        body += "<text x=\"\(f(width / 2))\" y=\"\(f(22 + 20 * Double(i)))\" text-anchor=\"middle\" font-size=\"\(i == 0 ? 17 : 13)\"\(i == 0 ? " font-weight=\"bold\"" : "")>\(escape(line))</text>\n"
    }
    for (i, plot) in plots.enumerated() {
        body += plot.group(x: Double(i) * panelWidth, y: top, width: panelWidth, height: panelHeight, legend: false,
                           noteRows: noteLines)
    }
    let columnWidth = (width - 78) / Double(columns)
    for (i, e) in entries.enumerated() {
        body += legendEntrySVG(e.style, text: e.text, x: 78 + columnWidth * Double(i / legendRows),
                               y: top + panelHeight + 4 + 16 * Double(i % legendRows))
    }
    for (i, note) in footnotes.enumerated() {
        body += "<text x=\"78\" y=\"\(f(top + panelHeight + 8 + 16 * Double(legendRows + i)))\" font-size=\"11\" fill=\"#444\">\(escape(note))</text>\n"
    }
    return svgDocument(width: width, height: height, body: body)
}

func svgDocument(width: Double, height: Double, body: String) -> String {
    """
    <?xml version="1.0" encoding="UTF-8"?>
    <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" viewBox="0 0 \(f(width)) \(f(height))" font-family="Helvetica, Arial, sans-serif">
    <rect width="100%" height="100%" fill="white"/>
    \(body)</svg>

    """
}

/// A legend row: a line sample with the marker, then the text.
private func legendEntrySVG(_ style: StrategyStyle, text: String, x: Double, y: Double) -> String {
    "<line x1=\"\(f(x))\" y1=\"\(f(y - 4))\" x2=\"\(f(x + 28))\" y2=\"\(f(y - 4))\" stroke=\"\(style.colour)\" stroke-width=\"2\"\(dashAttribute(style))/>\n"
        + markerSVG(style, x: x + 14, y: y - 4)
        + "<text x=\"\(f(x + 34))\" y=\"\(f(y))\" font-size=\"12\">\(escape(text))</text>\n"
}

private func dashAttribute(_ style: StrategyStyle) -> String {
    style.dash.isEmpty ? "" : " stroke-dasharray=\"\(style.dash)\""
}

/// The style's marker centred at (x, y).
private func markerSVG(_ style: StrategyStyle, x: Double, y: Double) -> String {
    let paint = style.filled ? "fill=\"\(style.colour)\"" : "fill=\"white\" stroke=\"\(style.colour)\" stroke-width=\"1.5\""
    func polygon(_ points: [(Double, Double)]) -> String {
        "<polygon points=\"\(points.map { "\(f(x + $0.0)),\(f(y + $0.1))" }.joined(separator: " "))\" \(paint)/>\n"
    }
    func ring(_ n: Int, _ radius: (Int) -> Double, phase: Double) -> [(Double, Double)] {
        (0..<n).map { i in
            let a = phase + 2 * Double.pi * Double(i) / Double(n)
            return (radius(i) * cos(a), radius(i) * sin(a))
        }
    }
    switch style.marker {
    case .circle: return "<circle cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"3.8\" \(paint)/>\n"
    case .square: return "<rect x=\"\(f(x - 3.5))\" y=\"\(f(y - 3.5))\" width=\"7\" height=\"7\" \(paint)/>\n"
    case .triangle: return polygon([(0, -5), (4.5, 3.5), (-4.5, 3.5)])
    case .triangleDown: return polygon([(0, 5), (4.5, -3.5), (-4.5, -3.5)])
    case .diamond: return polygon([(0, -5), (4.5, 0), (0, 5), (-4.5, 0)])
    case .star: return polygon(ring(10, { $0 % 2 == 0 ? 5.5 : 2.4 }, phase: -Double.pi / 2))
    case .hexagon: return polygon(ring(6, { _ in 4.5 }, phase: 0))
    }
}

/// "×" at (x, y): where a series cannot run.
private func crossSVG(colour: String, x: Double, y: Double) -> String {
    let d = 5.0
    return "<path d=\"M\(f(x - d)),\(f(y - d)) L\(f(x + d)),\(f(y + d)) M\(f(x - d)),\(f(y + d)) L\(f(x + d)),\(f(y - d))\" stroke=\"\(colour)\" stroke-width=\"2.5\" class=\"unsupported\"/>\n"
}

func f(_ v: Double) -> String { String(format: "%.1f", v) }

func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
