import ArgumentParser
import CostModel
import Foundation
import Reports
import SequenceParallel

/// `spsim plan`: which scheme, how many GPUs, does it fit — a whole training step per configuration.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Plan whole-model training: search strategies, degrees and memory options; rank what fits (no MPI).",
        discussion: """
            Searches every strategy of the model's attention kind × sequence-parallel degree (divisors of the GPU \
            count; the rest is data parallelism) × layout × USP's U × activation checkpointing × ZeRO stage × CPU \
            offload × ALST tiling, keeps what fits in the HBM less --headroom, and ranks by tokens per second per GPU. \
            ZeCO uses the model's time-optimal K. Sizes take k = 1024 and M = 1024² suffixes; --gpus takes a list or \
            a range (8..1024 doubles).

            Example: spsim plan --model llama3-70b --topology h100x32-ndr --gpus 64 --seq-len 1M
            """)

    @Option(help: "Model name (see `spsim models list`) or a model JSON file.")
    var model: String = "llama3-8b"

    @OptionGroup var topology: TopologyOption

    @Option(help: "GPU counts: a list or range (e.g. 8..1024).")
    var gpus: String = "8"

    @Option(help: "Global sequence length N of one sequence (e.g. 1M; default 1M).")
    var seqLen: String?

    @Flag(help: "Search the longest sequence (a multiple of 1024) each strategy trains on each GPU count.")
    var maxSeqLen = false

    @Option(help: "Comma-separated strategies, or 'all' (of the model's attention kind).")
    var strategy: String = "all"

    @Option(help: "Sequence-parallel degrees: 'all' (every divisor of the GPU count), 'gpus' (all GPUs) or a list.")
    var sequenceParallel: String = "all"

    @Option(help: "ZeRO stages searched, comma-separated.")
    var zeroStage: String = "0,1,2,3"

    @Option(help: "Activation checkpointing: on, off or both.")
    var checkpointing: Choice = .both

    @Option(help: "CPU offload searched: comma-separated none, optimizer, all (optimizer and checkpoints).")
    var offload: String = "none,optimizer,all"

    @Option(help: "ALST tiling of the MLP and the loss: on, off or both.")
    var tiling: Choice = .both

    @Option(help: "Fraction of HBM kept free (CUDA context, communication buffers, fragmentation).")
    var headroom: Double = 0.1

    @Option(help: "Rows of the ranked table.")
    var top: Int = 15

    @Option(help: "Output: table, csv or json.")
    var format: ModelCommand.OutputFormat = .table

    @Option(help: "Also draw an SVG: the longest sequence against GPUs (--max-seq-len), else the best step's breakdown per strategy.")
    var plot: String?

    @OptionGroup var time: TimeOption

    enum Choice: String, ExpressibleByArgument, CaseIterable {
        case on, off, both
        var values: [Bool] { self == .both ? [false, true] : [self == .on] }
    }

    func run() throws {
        if let plot { try AtomicOutput.checkFile(plot, option: "--plot", expectedBytes: 1 << 20) }
        let (planner, gpuCounts) = try makePlanner()
        let start = ContinuousClock.now
        if maxSeqLen {
            var results = [(strategy: String, gpus: Int, tokens: Int?, reason: String?)]()
            for p in gpuCounts {
                for s in planner.strategies {
                    let r = planner.maxSeqLen(s, gpus: p)
                    results.append((s.name, p, r.tokens, r.reason?.commandLine))
                }
            }
            // The best configuration at each strategy's longest sequence.
            var rows = [PlanRow]()
            for r in results {
                guard let n = r.tokens, let s = CostModel.strategy(named: r.strategy) else { continue }
                var search = planner.search
                search.strategies = [s.name]
                let one = try Planner(model: planner.model, topology: planner.topology, search: search)
                if let best = Self.ranked(one.plan(gpus: r.gpus, seqLen: n).rows).first(where: \.feasible) { rows.append(best) }
            }
            time.note("planned \(results.count) longest-sequence searches", since: start)
            switch format {
            case .json:
                print(try jsonLine(PlanReport(planner, seqLen: nil, rows: rows, failures: [],
                                              maxSeqLen: results.map { .init(strategy: $0.strategy, gpus: $0.gpus, tokens: $0.tokens, reason: $0.reason) })))
            case .csv:
                print("strategy,gpus,tokens,reason")
                for r in results { print("\(r.strategy),\(r.gpus),\(r.tokens.map(String.init) ?? ""),\(csvText(r.reason ?? ""))") }
            case .table:
                print(header(planner, seqLen: nil), terminator: "")
                var t = TextTable(columns: ["strategy"] + gpuCounts.map { Self.gpus($0) })
                for s in planner.strategies {
                    t.append([s.name] + gpuCounts.map { p in
                        results.first { $0.strategy == s.name && $0.gpus == p }?.tokens.map { tokens($0) } ?? "-"
                    })
                }
                print("longest trainable sequence (tokens, multiples of 1k):\n" + t.render(), terminator: "")
                print("configuration at the longest sequence:\n" + Self.table(rows, limit: rows.count), terminator: "")
                for r in results where r.tokens == nil { print("- \(r.strategy) on \(Self.gpus(r.gpus)): \(r.reason ?? "does not fit")") }
            }
            if let plot {
                let series = planner.strategies.map { s in
                    SVGPlot.Series(name: s.name, points: results.filter { $0.strategy == s.name }.compactMap { r in
                        r.tokens.map { (Double(r.gpus), Double($0)) }
                    }, style: strategyStyle(s.name))
                }
                let svg = SVGPlot(title: "Longest trainable sequence: \(planner.model.name) on \(planner.topology.name)",
                                  xLabel: "GPUs", yLabel: "longest sequence (tokens; k = 1024, M = 1024², as in the table)",
                                  series: series, xPowersOfTwo: true, formatX: { String(Int($0)) },
                                  formatY: { $0 >= 1_048_576 ? "\(format3($0 / 1_048_576))M" : "\(format3($0 / 1024))k" }).render()
                try writePlot(svg, to: plot)
            }
            return
        }

        let n = try Self.size(seqLen ?? "1M", option: "--seq-len")
        var rows = [PlanRow](), failures = [PlanFailure]()
        for p in gpuCounts {
            let outcome = planner.plan(gpus: p, seqLen: n)
            rows += outcome.rows
            failures += outcome.failures
        }
        time.note("planned \(rows.count) best-per-degree rows over \(gpuCounts.count) GPU counts", since: start)
        rows = Self.ranked(rows)
        guard rows.contains(where: \.feasible) else {
            let smallest = rows.map(\.estimate.memory.peak).min()
            let why = failures.flatMap(\.reasons).map(\.commandLine).filter { !$0.hasPrefix("memory") }
            let gpus = gpuCounts.count == 1 ? Self.gpus(gpuCounts[0])
                                            : gpuCounts.map(String.init).joined(separator: ",") + " GPUs"
            throw InputError("nothing can train \(planner.model.name) at --seq-len \(n) on \(gpus) of \(planner.topology.name): "
                             + (smallest.map { "the smallest configuration needs \(formatBytes($0)) per GPU, "
                                               + "\(formatBytes(planner.usableBytes)) usable" }
                                ?? (why.first ?? "no strategy supports it")))
        }
        switch format {
        case .json: print(try jsonLine(PlanReport(planner, seqLen: n, rows: rows, failures: failures, maxSeqLen: nil)))
        case .csv: print(Self.csv(rows), terminator: "")
        case .table:
            print(header(planner, seqLen: n), terminator: "")
            print(Self.table(rows.filter(\.feasible), limit: top), terminator: "")
            let best = rows.first!.estimate
            print("best: " + Self.describe(best.configuration) + ", " + Self.breakdown(best))
            for f in failures {
                print("- \(f.strategy) on \(Self.gpus(f.gpus)) fits nowhere: " + f.reasons.map(\.commandLine).joined(separator: "; "))
            }
        }
        if let plot {
            let largest = gpuCounts.max()!
            let best = planner.strategies.compactMap { s in rows.first { $0.feasible && $0.estimate.configuration.strategy == s.name && $0.estimate.configuration.gpus == largest } }
            let parts: [(String, (TrainingTime) -> Double)] = [
                ("matmuls (projections, MLP, LM head)", \.matmulSeconds), ("attention compute", \.attentionComputeSeconds),
                ("exposed attention communication", \.attentionCommSeconds), ("recomputation", \.recomputeSeconds),
                ("exposed ZeRO / data-parallel communication", \.zeroCommSeconds), ("exposed offload", \.offloadSeconds),
            ]
            let chart = SVGStackedBars(
                title: "Step time of the best configuration per strategy: \(planner.model.name), N = \(tokens(n)), \(Self.gpus(largest))",
                yLabel: "step time (s)", categories: best.map { $0.estimate.configuration.strategy },
                parts: parts.map { part in (part.0, best.map { part.1($0.estimate.time) }) },
                formatY: { String(format: "%.4g", $0) })
            try writePlot(chart.render(), to: plot)
        }
    }

    /// Model, topology, GPU counts and options, all checked.
    func makePlanner() throws -> (Planner, [Int]) {
        let m: TransformerModel
        do { m = try ModelCatalog.models().loadModel(model) } catch { throw InputError("--model: \(error)") }
        let topo = try topology.load()
        if maxSeqLen, let seqLen {
            throw InputError("--max-seq-len searches the sequence length: drop --seq-len \(seqLen), or drop --max-seq-len")
        }
        var seen = Set<Int>()
        let counts = try SizeList.parse(gpus, option: "--gpus").mapError { InputError($0.message) }.get()
            .filter { seen.insert($0).inserted }
        if let bad = counts.first(where: { topo.placementReason(ranks: $0) != nil }) {
            throw InputError("--gpus: " + topo.placementReason(ranks: bad)!)
        }
        if top < 1 { throw InputError("--top \(top) must be at least 1") }
        var search = PlanSearch()
        if strategy != "all" { search.strategies = try StrategyName.list(strategy).map { $0.name } }
        switch sequenceParallel {
        case "all": break
        case "gpus": search.sequenceParallel = [0]
        default:
            let degrees = try SizeList.parse(sequenceParallel, option: "--sequence-parallel").mapError { InputError($0.message) }.get()
            if let bad = degrees.first(where: { d in !counts.contains { $0 % d == 0 } }) {
                throw InputError("--sequence-parallel \(bad) divides none of the GPU counts (\(counts.map(String.init).joined(separator: ", "))): "
                                 + "the sequence-parallel degree times the data-parallel degree is the GPU count")
            }
            search.sequenceParallel = degrees
        }
        search.zeroStages = try zeroStage.split(separator: ",").map { text in
            guard let z = Int(text), (0...3).contains(z) else { throw InputError("--zero-stage \(text): ZeRO stages are 0, 1, 2 and 3") }
            return z
        }
        search.offloads = try offload.split(separator: ",").map { text in
            guard let o = Offload(rawValue: String(text)) else { throw InputError("--offload \(text): expected none, optimizer or all") }
            return o
        }
        search.checkpointing = checkpointing.values
        search.tiling = tiling.values
        search.headroom = headroom
        do { return (try Planner(model: m, topology: topo, search: search), counts) } catch { throw InputError(error.commandLineMessage) }
    }

    static func size(_ text: String, option: String) throws -> Int {
        let list = try SizeList.parse(text, option: option).mapError { InputError($0.message) }.get()
        guard list.count == 1 else { throw InputError("\(option) \(text): one size, not a list") }
        return list[0]
    }

    /// Feasible first, fastest (tokens per second per GPU) first — within 0.5% the shorter
    /// step first (a smaller global batch for the same throughput), then less memory; the
    /// rest by memory.
    static func ranked(_ rows: [PlanRow]) -> [PlanRow] {
        rows.sorted { a, b in
            if a.feasible != b.feasible { return a.feasible }
            let x = a.estimate, y = b.estimate
            guard a.feasible else { return x.memory.peak < y.memory.peak }
            if abs(x.tokensPerSecond - y.tokensPerSecond) > 0.005 * max(x.tokensPerSecond, y.tokensPerSecond) {
                return x.tokensPerSecond > y.tokensPerSecond
            }
            if x.time.stepSeconds != y.time.stepSeconds { return x.time.stepSeconds < y.time.stepSeconds }
            return x.memory.peak < y.memory.peak
        }
    }


    func header(_ planner: Planner, seqLen: Int?) -> String {
        let d = planner.topology.device
        return "model \(planner.model.name) (\(parameterCount(planner.model.parameters)) parameters) on \(planner.topology.name): "
            + "\(d.name), \(format3(d.hbmGiB?.value ?? 0)) GiB HBM, \(format3(planner.usableBytes / 1_073_741_824)) GiB usable "
            + "(\(format3(planner.search.headroom * 100))% headroom)" + (seqLen.map { ", N = \(tokens($0)) tokens per sequence" } ?? "") + "\n"
    }

    static func describe(_ c: TrainingConfiguration) -> String {
        "\(c.strategy) on \(Self.gpus(c.gpus)) (SP \(c.sequenceParallel) × DP \(c.dataParallel), \(c.layout.rawValue)"
            + (c.ulyssesDegree.map { ", U=\($0)" } ?? "") + "), ZeRO-\(c.zeroStage), checkpointing \(c.checkpointing ? "on" : "off"), "
            + "offload \(c.offload.rawValue), tiling \(c.tiling ? "on" : "off")"
    }

    /// Every memory and time term of an estimate, named.
    static func breakdown(_ e: TrainingEstimate) -> String {
        let m = e.memory, t = e.time
        func b(_ v: Double) -> String { formatBytes(v) }
        return "memory \(b(m.peak)) = parameters \(b(m.parameters)) + gradients \(b(m.gradients)) + optimizer states \(b(m.optimizerStates))"
            + " + ZeRO-3 gathered \(b(m.gatheredParameters)) + stored activations \(b(m.storedActivations))"
            + " + max(logits and loss \(b(m.logitsAndLoss)), layer working set \(b(m.layerWorkingSet)) + attention buffers \(b(m.attentionBuffers)));"
            + " step \(formatSeconds(t.stepSeconds)) = matmuls \(formatSeconds(t.matmulSeconds)) + attention \(formatSeconds(t.attentionComputeSeconds))"
            + " + exposed attention comm \(formatSeconds(t.attentionCommSeconds)) + recompute \(formatSeconds(t.recomputeSeconds))"
            + " + exposed ZeRO/DP comm \(formatSeconds(t.zeroCommSeconds)) + exposed offload \(formatSeconds(t.offloadSeconds));"
            + " \(format3(e.tokensPerSecond)) tokens/s per GPU, MFU \(String(format: "%.1f%%", e.mfu * 100))"
    }

    /// "1 GPU", "8 GPUs".
    static func gpus(_ n: Int) -> String { n == 1 ? "1 GPU" : "\(n) GPUs" }

    static func table(_ rows: [PlanRow], limit: Int) -> String {
        var t = TextTable(columns: ["rank", "strategy", "GPUs", "SP", "DP", "layout", "U/K", "ckpt", "ZeRO", "offload", "tiled",
                                    "memory", "step", "tokens/s/GPU", "MFU"])
        for (i, row) in rows.prefix(limit).enumerated() {
            let e = row.estimate, c = e.configuration
            t.append(["\(i + 1)", c.strategy, "\(c.gpus)", "\(c.sequenceParallel)", "\(c.dataParallel)", c.layout.rawValue,
                      c.ulyssesDegree.map { "U=\($0)" } ?? e.scanBlocks.map { "K=\($0)" } ?? "", c.checkpointing ? "on" : "off",
                      "\(c.zeroStage)", c.offload.rawValue, c.tiling ? "on" : "off", formatBytes(e.memory.peak),
                      formatSeconds(e.time.stepSeconds), format3(e.tokensPerSecond), String(format: "%.1f%%", e.mfu * 100)])
        }
        return t.render()
    }

    static func csv(_ rows: [PlanRow]) -> String {
        var out = "strategy,gpus,sequence_parallel,data_parallel,layout,ulysses_degree,scan_blocks,checkpointing,zero_stage,offload,tiling,feasible,memory_bytes,step_seconds,tokens_per_second,mfu\n"
        for row in rows {
            let e = row.estimate, c = e.configuration
            out += [c.strategy, "\(c.gpus)", "\(c.sequenceParallel)", "\(c.dataParallel)", c.layout.rawValue,
                    c.ulyssesDegree.map(String.init) ?? "", e.scanBlocks.map(String.init) ?? "", "\(c.checkpointing)",
                    "\(c.zeroStage)", c.offload.rawValue, "\(c.tiling)", "\(row.feasible)", "\(Int(e.memory.peak.rounded(.up)))",
                    "\(e.time.stepSeconds)", "\(e.tokensPerSecond)", "\(e.mfu)"].joined(separator: ",") + "\n"
        }
        return out
    }


    func writePlot(_ svg: String, to path: String) throws {
        try AtomicOutput.writeFile(Data(svg.utf8), to: path, option: "--plot")
        if format != .json { printNote("wrote \(path)") }
    }
}

private func csvText(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "'") + "\"" }

/// The JSON of `spsim plan`.
struct PlanReport: Encodable {
    struct Configuration: Encodable {
        var strategy: String
        var gpus, sequenceParallel, dataParallel: Int
        var layout: String
        var ulyssesDegree, scanBlocks: Int?
        var checkpointing: Bool
        var zeroStage: Int
        var offload: String
        var tiling, feasible: Bool
        var seqLen: Int
        var memoryBytes: Double
        var memory: TrainingMemory
        var stepSeconds: Double
        var time: TrainingTime
        var tokensPerSecond, mfu: Double
    }
    struct Failure: Encodable { var strategy: String; var gpus: Int; var reasons: [String] }
    struct Longest: Encodable {
        var strategy: String
        var gpus: Int
        var tokens: Int?
        var reason: String?

        enum CodingKeys: String, CodingKey { case strategy, gpus, tokens, reason }

        /// `tokens` is always present: null when nothing fits.
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(strategy, forKey: .strategy)
            try c.encode(gpus, forKey: .gpus)
            try c.encode(tokens, forKey: .tokens)
            try c.encodeIfPresent(reason, forKey: .reason)
        }
    }

    var model, topology: String
    var seqLen: Int?
    var deviceMemoryBytes, usableMemoryBytes, headroom: Double
    var configurations: [Configuration]
    var best: Configuration?
    var failures: [Failure]
    var maxSeqLen: [Longest]?

    init(_ planner: Planner, seqLen: Int?, rows: [PlanRow], failures: [PlanFailure], maxSeqLen: [Longest]?) {
        model = planner.model.name
        topology = planner.topology.name
        self.seqLen = seqLen
        deviceMemoryBytes = planner.deviceBytes
        usableMemoryBytes = planner.usableBytes
        headroom = planner.search.headroom
        configurations = rows.map { row in
            let e = row.estimate, c = e.configuration
            return Configuration(strategy: c.strategy, gpus: c.gpus, sequenceParallel: c.sequenceParallel, dataParallel: c.dataParallel,
                                 layout: c.layout.rawValue, ulyssesDegree: c.ulyssesDegree, scanBlocks: e.scanBlocks,
                                 checkpointing: c.checkpointing, zeroStage: c.zeroStage, offload: c.offload.rawValue,
                                 tiling: c.tiling, feasible: row.feasible, seqLen: e.seqLen, memoryBytes: e.memory.peak,
                                 memory: e.memory, stepSeconds: e.time.stepSeconds, time: e.time,
                                 tokensPerSecond: e.tokensPerSecond, mfu: e.mfu)
        }
        best = seqLen == nil ? nil : configurations.first { $0.feasible }
        self.failures = failures.map { Failure(strategy: $0.strategy, gpus: $0.gpus, reasons: $0.reasons.map(\.commandLine)) }
        self.maxSeqLen = maxSeqLen
    }
}
