import ArgumentParser
import CostModel
import Foundation
import Kernels
import Reports
import SequenceParallel

/// `spsim model`: closed-form predictions over a topology, no MPI.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Predict each strategy's traffic, communication, compute and step time on a topology (no MPI).",
        discussion: """
            Sweeps strategies × sequence lengths × rank counts. Lists are comma-separated; ranges are FROM..TO \
            (doubling), FROM..TO*F (multiplying) or FROM..TO+S (adding); k = 1024, M = 1024².

            Softmax strategies use H, G, D; GLA strategies use H heads with a [D, Dv] state per head.

            Times are the slowest rank's; bytes and messages the largest per rank.

            Example: spsim model --topology h100x32-ndr --seq-len 8M --ranks 8..256 --causal --plot scaling.svg

            Defaults (a training-sized layer): --topology hgx-h100, --seq-len 1M, --ranks 8, --heads 32, --kv-heads = --heads, \
            --head-dim 128, --bytes-per-element 2 (bf16), non-causal, --layout auto. `spsim run` defaults differ \
            (N 1024, H 8, D 64, float32 = 4 bytes): its --json carries the model for its own shape.
            """)

    @OptionGroup var topology: TopologyOption

    @Option(help: "Comma-separated strategies, or 'all'.")
    var strategy: String = "all"

    @Option(help: "Restrict 'all' to softmax or gla strategies.")
    var attention: AttentionFamily?

    @Option(help: "Global sequence lengths N: a list or range (e.g. 1M or 128k..8M).")
    var seqLen: String = "1M"

    @Option(help: "Rank counts P: a list or range (e.g. 8..256 doubles).")
    var ranks: String = "8"

    @OptionGroup var shape: ShapeOptions

    @Option(help: "GLA chunk size C (compute model only).")
    var chunkSize: Int = 64

    @Flag(help: "Causal softmax attention (GLA is always causal).")
    var causal = false

    @Option(help: "Layouts: 'auto' (zigzag for causal when supported, else contiguous) or a list of contiguous, zigzag, striped.")
    var layout: String = "auto"

    @Option(help: "Bytes per element moved and stored (2 = bf16; spsim run moves float32 = 4).")
    var bytesPerElement: Int = 2

    @Option(help: "\(StrategyOption.scanBlocks.takers): All-Scan pipeline blocks K (default: the time-optimal K*).")
    var scanBlocks: Int?

    @Option(help: "Output: table, csv or json.")
    var format: OutputFormat = .table

    @Option(help: "Also draw exposed communication, step time and time beyond compute against P (or N) per strategy to this SVG file.")
    var plot: String?

    @Option(help: "The plot's x axis: ranks or seq-len (default: whichever the sweep varies more).")
    var plotX: PlotAxis?

    @OptionGroup var time: TimeOption

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case table, csv, json }
    enum PlotAxis: String, ExpressibleByArgument, CaseIterable { case ranks, seqLen = "seq-len" }

    func run() throws {
        let sweep = try makeSweep()
        let start = ContinuousClock.now
        let points = sweep.run()
        let seconds = time.note("swept \(points.count) configurations", since: start) { seconds in
            " (\(format3(Double(points.count) / max(seconds, 1e-12))) per second)"
        }
        if points.allSatisfy({ if case .failure = $0.result { true } else { false } }), case .failure(let e) = points[0].result {
            throw InputError("no configuration can run: \(e.commandLineMessage)")
        }
        switch format {
        case .table: print(Self.table(points, topology: sweep.topology), terminator: "")
        case .csv: print(Self.csv(points), terminator: "")
        case .json:
            struct Report: Encodable {
                var topology: String
                var sweepSeconds: Double
                var predictions: [Prediction]
                var unsupported: [Unsupported]
            }
            struct Unsupported: Encodable { var strategy, layout: String; var ranks, seqLen: Int; var reason: String }
            var predictions = [Prediction](), unsupported = [Unsupported]()
            for p in points {
                switch p.result {
                case .success(let prediction): predictions.append(prediction)
                case .failure(let e):
                    unsupported.append(Unsupported(strategy: p.strategy, layout: p.layout.rawValue, ranks: p.ranks,
                                                   seqLen: p.seqLen, reason: e.commandLineMessage))
                }
            }
            print(try jsonLine(Report(topology: sweep.topology.name, sweepSeconds: seconds, predictions: predictions,
                                      unsupported: unsupported)))
        }
        if let plot {
            let axis = plotX ?? (Set(points.map(\.seqLen)).count > Set(points.map(\.ranks)).count ? .seqLen : .ranks)
            try AtomicOutput.writeFile(Data(scalingFigure(points, axis: axis, topology: sweep.topology).utf8), to: plot,
                                       option: "--plot")
            if format != .json { printNote("wrote \(plot)") }
        }
    }

    /// Everything checked before the sweep.
    func makeSweep() throws -> Sweep {
        let topo = try topology.load()
        var models: [any StrategyModel.Type]
        if strategy == "all" {
            models = CostModel.strategies.filter { attention == nil || $0.attention == attention }
        } else {
            models = try StrategyName.list(strategy).map { type in
                guard let m = CostModel.strategy(named: type.name) else {
                    throw InputError("--strategy \(type.name) has no cost model; modelled: \(CostModel.names)")
                }
                return m
            }
        }
        let layouts: [LayoutKind]?
        if layout == "auto" { layouts = nil } else {
            layouts = try layout.split(separator: ",").map { text in
                guard let l = LayoutKind(rawValue: String(text)) else {
                    throw InputError("--layout \(text): expected auto or a list of contiguous, zigzag, striped")
                }
                return l
            }
        }
        let pairs = models.compactMap { m -> (model: any StrategyModel.Type, layouts: [LayoutKind])? in
            let chosen = layouts.map { $0.filter(m.layouts.contains) } ?? [preferredLayout(m, causal: causal)]
            return chosen.isEmpty ? nil : (m, chosen)
        }
        guard !pairs.isEmpty else { throw InputError("no strategy among \(models.map { $0.name }) supports --layout \(layout)") }
        let seqLens = try SizeList.parse(seqLen, option: "--seq-len").mapError { InputError($0.message) }.get()
        let rankCounts = try SizeList.parse(ranks, option: "--ranks").mapError { InputError($0.message) }.get()
        let workload = Workload(seqLen: seqLens[0], heads: shape.heads ?? 32, kvHeads: shape.kvHeads,
                                headDim: shape.headDim ?? 128, valueDim: shape.valueDim,
                                chunkSize: chunkSize, isCausal: causal, elementBytes: bytesPerElement,
                                scanBlocks: scanBlocks)
        try requireSweepSizes(workload, families: Set(pairs.map { $0.model.attention }), seqLens: seqLens, ranks: rankCounts,
                              configurations: pairs.reduce(0) { $0 + $1.layouts.count })
        if let bad = rankCounts.first(where: { topo.placementReason(ranks: $0) != nil }) {
            throw InputError(topo.placementReason(ranks: bad)!)
        }
        if let plot { try AtomicOutput.checkFile(plot, option: "--plot", expectedBytes: 1 << 20) }
        return Sweep(workload: workload, topology: topo, strategies: pairs, seqLens: seqLens, ranks: rankCounts)
    }

    /// The readable table: one row per configuration, the slowest rank's times.
    static func table(_ points: [SweepPoint], topology: Topology) -> String {
        var t = TextTable(columns: ["strategy", "layout", "P", "N", "fwd sent", "fwd msgs", "bwd sent", "bwd msgs",
                                    "comm", "exposed", "compute", "step", "memory"])
        var notes = [String]()
        for p in points {
            switch p.result {
            case .success(let m):
                t.append([p.strategy, p.layout.rawValue, "\(p.ranks)", tokens(p.seqLen),
                          formatBytes(Double(m.forward.bytesSent.max() ?? 0)), "\(m.forward.messagesSent.max() ?? 0)",
                          formatBytes(Double(m.backward.bytesSent.max() ?? 0)), "\(m.backward.messagesSent.max() ?? 0)",
                          formatSeconds(m.commSeconds.max() ?? 0), formatSeconds(m.exposedCommSeconds.max() ?? 0),
                          formatSeconds(m.computeSeconds.max() ?? 0), formatSeconds(m.maxStepSeconds),
                          formatBytes(Double(m.memoryBytes.max() ?? 0))])
            case .failure(let e):
                t.append([p.strategy, p.layout.rawValue, "\(p.ranks)", tokens(p.seqLen), "n/a", "", "", "", "", "", "", "", ""])
                notes.append("\(p.strategy) P=\(p.ranks) N=\(p.seqLen): \(e.commandLineMessage)")
            }
        }
        let w = points.compactMap { try? $0.result.get() }.first?.workload
        var head = "topology \(topology.name): \(topology.description)\n"
        if let w {
            head += "H=\(w.heads) G=\(w.kvHeads) D=\(w.headDim)\(w.valueDim != w.headDim ? " Dv=\(w.valueDim)" : "") \(w.isCausal ? "causal" : "non-causal") (GLA: causal, C=\(w.chunkSize)), \(w.elementBytes) bytes per element; per rank, slowest rank's times, forward + backward\n"
        }
        return head + t.render() + notes.map { "n/a: \($0)\n" }.joined()
    }

    /// One CSV row per configuration (times in seconds, sizes in bytes; maxima over ranks).
    static func csv(_ points: [SweepPoint]) -> String {
        var out = "strategy,layout,ranks,seq_len,forward_bytes_sent,forward_messages_sent,backward_bytes_sent,backward_messages_sent,comm_seconds,exposed_comm_seconds,compute_seconds,forward_seconds,backward_seconds,step_seconds,memory_bytes,scan_blocks,unsupported\n"
        for p in points {
            switch p.result {
            case .success(let m):
                let cells: [String] = [
                    p.strategy, p.layout.rawValue, "\(p.ranks)", "\(p.seqLen)",
                    "\(m.forward.bytesSent.max() ?? 0)", "\(m.forward.messagesSent.max() ?? 0)",
                    "\(m.backward.bytesSent.max() ?? 0)", "\(m.backward.messagesSent.max() ?? 0)",
                    "\(m.commSeconds.max() ?? 0)", "\(m.exposedCommSeconds.max() ?? 0)", "\(m.computeSeconds.max() ?? 0)",
                    "\(m.forward.maxSeconds)", "\(m.backward.maxSeconds)", "\(m.maxStepSeconds)",
                    "\(m.memoryBytes.max() ?? 0)", m.scanBlocks.map { "\($0)" } ?? "", ""]
                out += cells.joined(separator: ",") + "\n"
            case .failure(let e):
                out += "\(p.strategy),\(p.layout.rawValue),\(p.ranks),\(p.seqLen),,,,,,,,,,,,,\"\(e.commandLineMessage.replacingOccurrences(of: "\"", with: "'"))\"\n"
            }
        }
        return out
    }
}

/// Tokens for people: 8M, 128k, or the plain number.
func tokens(_ n: Int) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20)M" }
    if n >= 1 << 10 && n % (1 << 10) == 0 { return "\(n >> 10)k" }
    return "\(n)"
}

extension AttentionFamily: ExpressibleByArgument {}

/// The most configurations one `spsim model` sweep predicts (strategies·layouts × N × P).
let maxSweepConfigurations = 100_000

/// Checks every size of a sweep before any prediction: the workload of each attention
/// family in the sweep at each N within `SizeLimits`, each P at most `SizeLimits.maxRanks`,
/// and the configuration count (overflow-checked) at most `maxSweepConfigurations`.
/// - Throws: `InputError` naming the option and the limit.
func requireSweepSizes(_ workload: Workload, families: Set<AttentionFamily>, seqLens: [Int], ranks: [Int],
                       configurations perSize: Int) throws(InputError) {
    for family in AttentionFamily.allCases where families.contains(family) {
        for n in seqLens {
            var w = workload
            w.seqLen = n
            w.attention = family
            if let error = w.shapeError() { throw error }
        }
    }
    for p in ranks { try SizeLimits.require("--ranks", p, atMost: SizeLimits.maxRanks) }
    try SizeLimits.requireProduct([("strategies·layouts", perSize), ("--seq-len values", seqLens.count),
                                   ("--ranks values", ranks.count)],
                                  atMost: maxSweepConfigurations, of: "configurations")
}
