import Reports
import SPCore
import XCTest

/// The log-log plot: labelled axes, ticks at powers, one line and legend entry per series.
final class SVGPlotTests: XCTestCase {
    func testAxesTicksLinesAndLegend() {
        let plot = SVGPlot(title: "T", xLabel: "ranks P", yLabel: "time (s)",
                           series: [.init(name: "first", points: [(8, 1e-3), (16, 2e-3), (32, 4e-3)],
                                          style: .init(colour: "#000000", marker: .circle)),
                                    .init(name: "a<b", points: [(8, 5e-4), (32, 0), (16, 1e-4)],
                                          style: .init(colour: "#111111", marker: .circle))],
                           xPowersOfTwo: true, formatX: { String(Int($0)) })
        let svg = plot.render()
        XCTAssertTrue(svg.hasPrefix("<?xml"))
        XCTAssertTrue(svg.contains(">ranks P<") && svg.contains(">time (s)<"))
        for tick in [">8<", ">16<", ">32<"] { XCTAssertTrue(svg.contains(tick), tick) }
        // y from 1e-4 to 1e-2: decade ticks.
        for tick in [">0.0001<", ">0.001<", ">0.01<"] { XCTAssertTrue(svg.contains(tick), tick) }
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 2)
        XCTAssertTrue(svg.contains(">a&lt;b<"), "legend text is escaped")
        // The zero y point is skipped: 3 + 2 markers on the lines, one in each legend entry.
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 5 + 2)
    }

    func testAnUnstyledSeriesHasTheSameStyleInEveryPlot() {
        XCTAssertEqual(StrategyStyle(hashing: "some-new-curve"), StrategyStyle(hashing: "some-new-curve"),
                       "names get a style from a stable hash")
        XCTAssertFalse(StrategyStyle(hashing: "some-new-curve").dash.isEmpty, "hashed styles are dotted")
        // Position in a plot does not change the colour.
        let one = SVGPlot(title: "", xLabel: "", yLabel: "", series: [.init(name: "b", points: [(1, 1), (2, 2)])]).render()
        let two = SVGPlot(title: "", xLabel: "", yLabel: "", series: [.init(name: "a", points: [(1, 1), (2, 2)]),
                                                                      .init(name: "b", points: [(1, 2), (2, 3)])]).render()
        let b = StrategyStyle(hashing: "b").colour
        XCTAssertTrue(one.contains("stroke=\"\(b)\"") && two.contains("stroke=\"\(b)\""))
    }

    func testUnsupportedPointsAreCrossesOnTheAxisWithALegendNote() {
        let plot = SVGPlot(title: "T", xLabel: "P", yLabel: "s",
                           series: [.init(name: "heads-split", points: [(8, 1), (16, 2)], unsupported: [32, 64],
                                          unsupportedNote: "P > H")],
                           xPowersOfTwo: true, formatX: { String(Int($0)) })
        let svg = plot.render()
        XCTAssertEqual(svg.components(separatedBy: "class=\"unsupported\"").count - 1, 2)
        XCTAssertTrue(svg.contains(">heads-split — × cannot run at 32, 64 (P &gt; H)<"))
        XCTAssertTrue(svg.contains(">64<"), "the axis reaches the unsupported points")
    }

    func testFigurePlacesPanelsSideBySide() {
        let p = SVGPlot(title: "A", xLabel: "x", yLabel: "y", series: [.init(name: "s", points: [(1, 1), (10, 10)])])
        let svg = svgFigure([p, p], panelWidth: 300)
        XCTAssertTrue(svg.contains("width=\"600.0\""))
        XCTAssertTrue(svg.contains("translate(300.0,0.0)"))
    }
}
