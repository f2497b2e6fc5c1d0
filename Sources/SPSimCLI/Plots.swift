import CostModel
import Foundation
import Reports
import SequenceParallel

/// How plots draw the strategy called `name`: its registered style (`StrategyDescriptor.style`),
/// or for a name the registry does not know one hashed from the name.
func strategyStyle(_ name: String) -> StrategyStyle {
    Strategies.named(name)?.descriptor.style ?? StrategyStyle(hashing: name)
}

/// `spsim model --plot`: three panels against P (or N), one line per strategy in its
/// `StrategyStyle` — exposed communication, step time, and step time beyond compute — an
/// "×" on the axis where a strategy cannot run, the problem and topology in the title.
func scalingFigure(_ points: [SweepPoint], axis: ModelCommand.PlotAxis, topology: Topology) -> String {
    struct Line {
        var strategy: String
        var name: String
        var exposed: [(x: Double, y: Double)] = [], step: [(x: Double, y: Double)] = [], beyond: [(x: Double, y: Double)] = []
        var unsupported: [Double] = []
        var reason: String?
    }
    var lines = [Line]()
    let otherVaries = axis == .ranks ? Set(points.map(\.seqLen)).count > 1 : Set(points.map(\.ranks)).count > 1
    let layoutsVary = Dictionary(grouping: points, by: \.strategy).mapValues { Set($0.map(\.layout)).count > 1 }
    let gla = Set(CostModel.strategies.filter { $0.attention == .gla }.map { $0.name })
    for p in points {
        var name = p.strategy + (layoutsVary[p.strategy] == true ? " (\(p.layout.rawValue))" : "")
            + (gla.contains(p.strategy) ? " (GLA)" : "")
        if otherVaries { name += axis == .ranks ? " N=\(tokens(p.seqLen))" : " P=\(p.ranks)" }
        let x = Double(axis == .ranks ? p.ranks : p.seqLen)
        let i = lines.firstIndex { $0.name == name } ?? lines.count
        if i == lines.count { lines.append(Line(strategy: p.strategy, name: name)) }
        switch p.result {
        case .success(let m):
            lines[i].exposed.append((x, m.exposedCommSeconds.max() ?? 0))
            lines[i].step.append((x, m.maxStepSeconds))
            lines[i].beyond.append((x, m.maxStepSeconds - (m.computeSeconds.max() ?? 0)))
        case .failure(let e):
            lines[i].unsupported.append(x)
            if lines[i].reason == nil { lines[i].reason = shortReason(e.commandLineMessage) }
        }
    }
    // A strategy drawn more than once (several N, layouts) keeps its colour and marker; the
    // variants differ by dash and hollow markers.
    var variant = [String: Int]()
    func series(_ keyPath: KeyPath<Line, [(x: Double, y: Double)]>) -> [SVGPlot.Series] {
        variant = [:]
        return lines.map { line in
            let k = variant[line.strategy, default: 0]
            variant[line.strategy] = k + 1
            var style = strategyStyle(line.strategy)
            if k > 0 { style = style.dashed(["", "2,3", "9,3,2,3", "12,4"][k % 4]) }
            if k % 2 == 1 { style = style.hollow }
            return .init(name: line.name, points: line[keyPath: keyPath], style: style, unsupported: line.unsupported,
                         unsupportedNote: line.reason)
        }
    }
    let xLabel = axis == .ranks ? "ranks P (GPUs)" : "sequence length N (tokens)"
    let formatX: (Double) -> String = axis == .ranks ? { String(Int($0)) } : { tokens(Int($0)) }
    let formatY: (Double) -> String = { $0 >= 1 && $0 == $0.rounded() ? "\(Int($0)) s" : formatSeconds($0) }
    let stepSeries = series(\.step)
    let panels = [
        SVGPlot(title: "Exposed communication", xLabel: xLabel,
                yLabel: "communication not hidden by compute (s)", series: series(\.exposed),
                notes: ["per step (forward + backward), slowest rank"], xPowersOfTwo: true, formatX: formatX, formatY: formatY),
        SVGPlot(title: "Step time", xLabel: xLabel, yLabel: "forward + backward (s, slowest rank)", series: stepSeries,
                notes: coincidenceNotes(stepSeries), xPowersOfTwo: true, formatX: formatX, formatY: formatY),
        SVGPlot(title: "Step time beyond compute", xLabel: xLabel, yLabel: "step − compute (s)", series: series(\.beyond),
                notes: ["exposed communication + waiting for other ranks", "(separates strategies whose step times coincide)"],
                xPowersOfTwo: true, formatX: formatX, formatY: formatY),
    ]
    let workloads = points.compactMap { try? $0.result.get().workload }
    return svgFigure(panels, title: [
        "spsim model on \(topology.name): \(topology.description)",
        problemLine(workloads, seqLens: points.map(\.seqLen)),
    ], footnotes: [
        "Softmax strategies solid, gated linear attention (GLA) dashed; one colour and marker per strategy in every spsim plot.",
        "× on the x axis: the strategy cannot run there. Times are one layer of one sequence, the cost model's closed forms.",
    ], panelWidth: 500)
}

/// Notes for a step-time panel naming series that coincide (every shared x within 3%):
/// on a log axis spanning seconds to milliseconds they draw as one line.
func coincidenceNotes(_ series: [SVGPlot.Series]) -> [String] {
    var groups = [[Int]]()
    func spread(_ a: SVGPlot.Series, _ b: SVGPlot.Series) -> Double? {
        var worst = 0.0, shared = 0
        for p in a.points {
            guard let q = b.points.first(where: { $0.x == p.x }), p.y > 0, q.y > 0 else { continue }
            shared += 1
            worst = max(worst, max(p.y, q.y) / min(p.y, q.y) - 1)
        }
        return shared > 0 ? worst : nil
    }
    for i in series.indices {
        if let g = groups.firstIndex(where: { g in g.allSatisfy { (spread(series[$0], series[i]) ?? 1) <= 0.03 } }) {
            groups[g].append(i)
        } else {
            groups.append([i])
        }
    }
    return groups.filter { $0.count > 1 }.map { g in
        var worst = 0.0
        for a in g { for b in g where a < b { worst = max(worst, spread(series[a], series[b]) ?? 0) } }
        let names = g.map { series[$0].name }.joined(separator: ", ")
        return "\(names): within \(String(format: "%.1f", worst * 100))% of each other (overlapping lines)"
    }
}

/// The problem in one line: softmax H, G, D, causal; GLA H, Dk, Dv, chunk; N; dtype.
func problemLine(_ workloads: [Workload], seqLens: [Int]) -> String {
    let n = Set(seqLens).sorted()
    var parts = ["N = " + (n.count == 1 ? tokens(n[0]) : "\(tokens(n.first ?? 0)) … \(tokens(n.last ?? 0))")]
    if let w = workloads.first(where: { $0.attention == .softmax }) {
        parts.append("softmax H = \(w.heads), G = \(w.kvHeads), D = \(w.headDim), \(w.isCausal ? "causal" : "non-causal")")
    }
    if let w = workloads.first(where: { $0.attention == .gla }) {
        parts.append("GLA H = \(w.heads), Dk = \(w.headDim), Dv = \(w.valueDim), chunk \(w.chunkSize)")
    }
    if let w = workloads.first { parts.append(dtypeName(w.elementBytes)) }
    return parts.joined(separator: " · ")
}

/// The element type for people: bf16 for 2 bytes, float32 for 4.
func dtypeName(_ bytes: Int) -> String {
    switch bytes {
    case 1: "fp8 (1 byte per element)"
    case 2: "bf16 (2 bytes per element)"
    case 4: "float32 (4 bytes per element)"
    case 8: "float64 (8 bytes per element)"
    default: "\(bytes) bytes per element"
    }
}

/// The cost model's reason a configuration cannot run, shortened for a legend: the part
/// after "but" ("P = 128 > H = 64") when there is one.
func shortReason(_ message: String) -> String {
    guard let but = message.range(of: "but ", options: .backwards) else {
        return message.count <= 40 ? message : String(message.prefix(37)) + "…"
    }
    return String(message[but.upperBound...])
}
