import ArgumentParser
import CostModel
import Foundation
import Reports
import SequenceParallel

/// `spsim report`: measured against predicted, from the JSON files `spsim run --json` writes.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Compare measured runs with the model's predictions, from `spsim run --json` files (no MPI).",
        discussion: """
            Each FILE holds the JSON object one `spsim run --json` printed (its `forward_seconds`, \
            `backward_seconds` and `model`). Prints one row per run: measured and predicted forward, backward \
            and step (forward + backward, or forward alone for runs without --backward), and measured ÷ predicted. \
            Runs of the same strategy, layout, N, P and topology make one row, their median (the runs column counts them).

            Example: for p in 2 4 8; do mpirun -np $p spsim run --seq-len 4k --backward --json > runs/run-$p.json; done
                     spsim report runs/*.json --plot measured.svg
            """)

    @Argument(help: "JSON files written by `spsim run --json`.")
    var files: [String]

    @Option(help: "Also draw measured (solid) and predicted (dashed) step time and their ratio per strategy to this SVG file.")
    var plot: String?

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one `spsim run --json` file") }
    }

    func run() throws {
        if let plot { try AtomicOutput.checkFile(plot, option: "--plot", expectedBytes: 1 << 20) }
        let runs = try files.map(RunRecord.read)
        var table = TextTable(columns: ["strategy", "layout", "P", "N", "runs", "fwd measured", "fwd predicted", "bwd measured",
                                        "bwd predicted", "step measured", "step predicted", "measured ÷ predicted", "topology"])
        // Runs of the same configuration are one row: the median of their measured times.
        let groups = Dictionary(grouping: runs) { r in
            "\(r.strategy) \(r.layout) \(r.ranks) \(r.seqLen) \(r.backwardSeconds != nil) \(r.model?.topology ?? "")"
        }
        let rows = groups.values.map { g -> (RunRecord, Int) in
            var r = g[0]
            r.forwardSeconds = median(g.map(\.forwardSeconds))
            r.backwardSeconds = r.backwardSeconds == nil ? nil : median(g.compactMap(\.backwardSeconds))
            return (r, g.count)
        }
        for (r, count) in rows.sorted(by: { ($0.0.strategy, $0.0.ranks, $0.0.seqLen) < ($1.0.strategy, $1.0.ranks, $1.0.seqLen) }) {
            table.append([r.strategy, r.layout, "\(r.ranks)", tokens(r.seqLen), "\(count)", formatSeconds(r.forwardSeconds),
                          r.model.map { formatSeconds($0.forward.maxSeconds) } ?? "-",
                          r.backwardSeconds.map(formatSeconds) ?? "-",
                          r.backwardSeconds == nil ? "-" : r.model.map { formatSeconds($0.backward.maxSeconds) } ?? "-",
                          formatSeconds(r.measuredStep), r.predictedStep.map(formatSeconds) ?? "-",
                          r.predictedStep.map { format3(r.measuredStep / $0) } ?? "-", r.model?.topology ?? "-"])
        }
        print(table.render(), terminator: "")
        if let plot {
            try AtomicOutput.writeFile(Data(measuredFigure(runs).utf8), to: plot, option: "--plot")
            printNote("wrote \(plot)")
        }
    }
}

/// The fields of one `spsim run --json` object the report reads.
struct RunRecord: Decodable {
    var strategy: String
    var ranks: Int
    var layout: String
    var seqLen: Int
    var forwardSeconds: Double
    var backwardSeconds: Double?
    var model: Prediction?

    /// Measured forward + backward (forward alone without a backward pass).
    var measuredStep: Double { forwardSeconds + (backwardSeconds ?? 0) }
    /// The model's time for the same phases.
    var predictedStep: Double? {
        model.map { $0.forward.maxSeconds + (backwardSeconds == nil ? 0 : $0.backward.maxSeconds) }
    }

    /// The run in `path`: the file's JSON object, or its last line that is one.
    /// - Throws: `InputError` naming the file when it cannot be read or holds no run object.
    static func read(_ path: String) throws -> RunRecord {
        let data = try inputFileContents(path, named: path, expected: "`spsim run --json` files")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf",
                                                                        nan: "nan")
        var lastError: Error?
        let candidates = [data] + String(decoding: data, as: UTF8.self).split(separator: "\n").reversed()
            .filter { $0.hasPrefix("{") }.map { Data($0.utf8) }
        for candidate in candidates {
            do { return try decoder.decode(RunRecord.self, from: candidate) } catch { lastError = error }
        }
        let why = (lastError as? DecodingError).map(describe) ?? "no JSON object"
        throw InputError("\(path): not the output of `spsim run --json` (\(why))")
    }

    /// The key as the file spells it (`forward_seconds`, not the property `forwardSeconds`).
    private static func jsonKey(_ key: any CodingKey) -> String {
        key.stringValue.reduce(into: "") { out, c in out += c.isUppercase ? "_" + c.lowercased() : String(c) }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): "no \(jsonKey(key))"
        case .typeMismatch(_, let c), .valueNotFound(_, let c): "bad \(c.codingPath.map(jsonKey).joined(separator: "."))"
        case .dataCorrupted: "not JSON"
        @unknown default: "unreadable"
        }
    }
}

/// `spsim report --plot`: measured (solid, filled markers) and predicted (dashed, hollow)
/// step time per strategy against P (or N when P does not vary), and measured ÷ predicted.
func measuredFigure(_ runs: [RunRecord]) -> String {
    let byRanks = Set(runs.map(\.ranks)).count > 1 || Set(runs.map(\.seqLen)).count == 1
    let otherVaries = byRanks ? Set(runs.map(\.seqLen)).count > 1 : Set(runs.map(\.ranks)).count > 1
    func x(_ r: RunRecord) -> Double { Double(byRanks ? r.ranks : r.seqLen) }
    func name(_ r: RunRecord) -> String {
        r.strategy + (otherVaries ? (byRanks ? " N=\(tokens(r.seqLen))" : " P=\(r.ranks)") : "")
    }
    /// Median per x of `value` over the runs of one line.
    func line(_ runs: [RunRecord], _ value: (RunRecord) -> Double?) -> [(x: Double, y: Double)] {
        Dictionary(grouping: runs.compactMap { r in value(r).map { (x: x(r), y: $0) } }, by: \.x)
            .map { (x: $0.key, y: median($0.value.map(\.y))) }.sorted { $0.x < $1.x }
    }
    var order = [String]()
    for r in runs where !order.contains(name(r)) { order.append(name(r)) }
    let groups = Dictionary(grouping: runs, by: name)
    let topologies = Set(runs.compactMap { $0.model?.topology }).sorted()
    var timeSeries = [SVGPlot.Series](), ratioSeries = [SVGPlot.Series]()
    for n in order {
        let g = groups[n]!, style = strategyStyle(g[0].strategy)
        timeSeries.append(.init(name: "\(n) measured", points: line(g) { $0.measuredStep }, style: style.dashed("")))
        let predicted = line(g) { $0.predictedStep }
        if !predicted.isEmpty {
            timeSeries.append(.init(name: "\(n) predicted", points: predicted, style: style.dashed("6,3").hollow))
            // Named as the measured line: one legend entry, the same style.
            ratioSeries.append(.init(name: "\(n) measured", points: line(g) { r in
                r.predictedStep.map { r.measuredStep / $0 }
            }, style: style.dashed("")))
        }
    }
    let xLabel = byRanks ? "ranks P" : "sequence length N (tokens)"
    let formatX: (Double) -> String = byRanks ? { String(Int($0)) } : { tokens(Int($0)) }
    let phases = runs.allSatisfy { $0.backwardSeconds != nil } ? "forward + backward"
        : runs.allSatisfy { $0.backwardSeconds == nil } ? "forward" : "forward (+ backward where run)"
    let panels = [
        SVGPlot(title: "Measured and predicted", xLabel: xLabel, yLabel: "\(phases) (s, slowest rank)", series: timeSeries,
                notes: ["measured: solid, filled; predicted: dashed, hollow; median of runs at the same point"]
                    + coincidenceNotes(timeSeries),
                xPowersOfTwo: true, formatX: formatX, formatY: formatSeconds),
        SVGPlot(title: "Measured ÷ predicted", xLabel: xLabel, yLabel: "ratio", series: ratioSeries,
                notes: ["1 = the model is exact; above 1 the run is slower than predicted"],
                xPowersOfTwo: true, formatX: formatX, formatY: { format3($0) }),
    ]
    let problems = runs.compactMap { $0.model?.workload }
    return svgFigure(panels, title: [
        "spsim runs against the model" + (topologies.isEmpty ? " (no predictions in the files)"
            : " on \(topologies.joined(separator: ", "))"),
        problemLine(problems, seqLens: runs.map(\.seqLen)) + " · \(runs.count) run\(runs.count == 1 ? "" : "s")",
    ], footnotes: ["One colour and marker per strategy in every spsim plot. Predictions come from each file's `model` (the topology it ran with)."],
       panelWidth: 560)
}

/// The bytes of the input file `path`, read whole; `name` is how errors call it (the path, or
/// the option and the path) and `expected` what to give instead of a directory.
/// - Throws: `InputError` when there is no such file, it is a directory, or it cannot be read.
func inputFileContents(_ path: String, named name: String, expected: String) throws -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw InputError("\(name): no such file") }
    if isDirectory.boolValue { throw InputError("\(name) is a directory; give \(expected)") }
    guard let data = FileManager.default.contents(atPath: path) else { throw InputError("\(name): cannot be read") }
    return data
}
