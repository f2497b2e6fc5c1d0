import Reports
import XCTest

/// The log-log plot: labelled axes, ticks at powers, one line and legend entry per series.
final class SVGPlotTests: XCTestCase {
    func testAxesTicksLinesAndLegend() {
        let plot = SVGPlot(title: "T", xLabel: "ranks P", yLabel: "time (s)",
                           series: [.init(name: "ring", points: [(8, 1e-3), (16, 2e-3), (32, 4e-3)],
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

    func testEveryStrategyHasItsOwnStyleTheSameEverywhere() {
        let names = ["allgather", "ulysses", "ring", "token-ring", "usp", "zeco", "lasp1", "lasp2", "exscan"]
        let styles = names.map { StrategyStyle.for(name: $0) }
        XCTAssertEqual(Set(styles.map(\.colour)).count, names.count, "one colour per strategy")
        XCTAssertEqual(StrategyStyle.for(name: "ring"), StrategyStyle.for(name: "ring"))
        XCTAssertEqual(StrategyStyle.for(name: "some-new-strategy"), StrategyStyle.for(name: "some-new-strategy"),
                       "unknown names get a style from a stable hash")
        // GLA strategies dashed, softmax solid.
        XCTAssertTrue(["zeco", "lasp1", "lasp2", "exscan"].allSatisfy { !StrategyStyle.for(name: $0).dash.isEmpty })
        XCTAssertTrue(["allgather", "ulysses", "ring", "token-ring", "usp"].allSatisfy { StrategyStyle.for(name: $0).dash.isEmpty })
        // Position in a plot does not change the colour.
        let one = SVGPlot(title: "", xLabel: "", yLabel: "", series: [.init(name: "usp", points: [(1, 1), (2, 2)])]).render()
        let two = SVGPlot(title: "", xLabel: "", yLabel: "", series: [.init(name: "ring", points: [(1, 1), (2, 2)]),
                                                                      .init(name: "usp", points: [(1, 2), (2, 3)])]).render()
        let usp = StrategyStyle.for(name: "usp").colour
        XCTAssertTrue(one.contains("stroke=\"\(usp)\"") && two.contains("stroke=\"\(usp)\""))
    }

    func testUnsupportedPointsAreCrossesOnTheAxisWithALegendNote() {
        let plot = SVGPlot(title: "T", xLabel: "P", yLabel: "s",
                           series: [.init(name: "ulysses", points: [(8, 1), (16, 2)], unsupported: [32, 64],
                                          unsupportedNote: "P > H")],
                           xPowersOfTwo: true, formatX: { String(Int($0)) })
        let svg = plot.render()
        XCTAssertEqual(svg.components(separatedBy: "class=\"unsupported\"").count - 1, 2)
        XCTAssertTrue(svg.contains(">ulysses — × cannot run at 32, 64 (P &gt; H)<"))
        XCTAssertTrue(svg.contains(">64<"), "the axis reaches the unsupported points")
    }

    func testFigurePlacesPanelsSideBySide() {
        let p = SVGPlot(title: "A", xLabel: "x", yLabel: "y", series: [.init(name: "s", points: [(1, 1), (10, 10)])])
        let svg = svgFigure([p, p], panelWidth: 300)
        XCTAssertTrue(svg.contains("width=\"600.0\""))
        XCTAssertTrue(svg.contains("translate(300.0,0.0)"))
    }
}
