import Reports
import XCTest

/// The log-log plot: labelled axes, ticks at powers, one line and legend entry per series.
final class SVGPlotTests: XCTestCase {
    func testAxesTicksLinesAndLegend() {
        let plot = SVGPlot(title: "T", xLabel: "ranks P", yLabel: "time (s)",
                           series: [.init(name: "ring", points: [(8, 1e-3), (16, 2e-3), (32, 4e-3)]),
                                    .init(name: "a<b", points: [(8, 5e-4), (32, 0), (16, 1e-4)])],
                           xPowersOfTwo: true, formatX: { String(Int($0)) })
        let svg = plot.render()
        XCTAssertTrue(svg.hasPrefix("<?xml"))
        XCTAssertTrue(svg.contains(">ranks P<") && svg.contains(">time (s)<"))
        for tick in [">8<", ">16<", ">32<"] { XCTAssertTrue(svg.contains(tick), tick) }
        // y from 1e-4 to 1e-2: decade ticks.
        for tick in [">0.0001<", ">0.001<", ">0.01<"] { XCTAssertTrue(svg.contains(tick), tick) }
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 2)
        XCTAssertTrue(svg.contains(">a&lt;b<"), "legend text is escaped")
        // The zero y point is skipped: 3 + 2 markers.
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 5)
    }

    func testFigurePlacesPanelsSideBySide() {
        let p = SVGPlot(title: "A", xLabel: "x", yLabel: "y", series: [.init(name: "s", points: [(1, 1), (10, 10)])])
        let svg = svgFigure([p, p], panelWidth: 300)
        XCTAssertTrue(svg.contains("width=\"600.0\""))
        XCTAssertTrue(svg.contains("translate(300.0,0.0)"))
    }
}
