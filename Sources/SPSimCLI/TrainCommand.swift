import ArgumentParser
import CostModel
import Foundation
import MPI
import Reports
import SequenceParallel
import Training

/// `spsim train`: a small decoder-only language model trained under one sequence-parallel strategy.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a small decoder-only language model with one sequence-parallel strategy: loss, speed, traffic per phase.",
        discussion: """
            Example: mpirun -np 4 spsim train --strategy \(Strategies.defaultStrategy(.softmax).name) --layout zigzag --steps 20

            Every rank holds the same weights (from --seed) and its slice of each window of --seq-len + 1 tokens in \
            the layout; the strategy runs attention (always causal); one all-reduce sums the weight gradients; AdamW \
            (betas 0.9, 0.95, weight decay 0.1, eps 1e-8) updates. The loss is the mean next-token cross-entropy over \
            all N tokens, in nats; it equals the one-rank loss whatever the strategy, layout and rank count.

            With --json, rank 0 prints one JSON object on stdout: per-step losses, tokens/s and per-rank times, and the \
            last step's traffic per phase (attention_forward, attention_backward, attention_recompute, gradient_allreduce).

            A loss that becomes NaN or inf stops the run with exit status 1.

            --layers, --hidden, --heads, --kv-heads, --head-dim, --value-dim and --ffn override the model's numbers; \
            --kv-heads defaults to the model's, or to --heads when --heads is given.
            """)

    @Option(help: "The model: a Models/ file by name or path (`spsim models list`); default tiny (2 layers, hidden 128, 4 heads, 2 KV heads of 64, FFN 448, bytes: vocabulary 256).")
    var model = "tiny"

    @Option(help: "softmax (causal, RoPE, GQA) or gla (gated linear attention).")
    var attention: AttentionKind = .softmax

    @OptionGroup(title: "Strategy") var strategyOptions: StrategyOptions

    @Option(help: "How tokens are spread over ranks: contiguous, zigzag or striped.")
    var layout: LayoutKind = .contiguous

    @Option(help: ArgumentHelp("Tokens per step N, a size such as 4k (each step reads N+1: inputs and next-token labels; default 256).",
                               valueName: "size"), transform: parseSize)
    var seqLen = 256

    @Option(help: "Training steps.")
    var steps = 20

    @Option(help: "AdamW learning rate (constant).")
    var lr = 3e-3

    @Option(help: "Seed of the initial weights.")
    var seed: UInt64 = 1

    @Option(help: "Override the model's blocks.") var layers: Int?
    @Option(help: "Override the model's hidden size.") var hidden: Int?
    @OptionGroup(title: "Override the model's attention shape") var shape: ShapeOptions
    @Option(help: "Override the model's SwiGLU width.") var ffn: Int?

    @Flag(help: "Activation checkpointing: keep only each block's input and recompute its activations in the backward.")
    var checkpoint = false

    @Option(help: "Training text, read as bytes; or token ids as a numpy .npy of integers or a flat uint16 .bin.")
    var data = "/usr/share/common-licenses/GPL-3"

    @Option(help: "Write a Chrome/Perfetto trace of the last step: one row per rank.")
    var trace: String?

    @Option(help: "Write losses.npy and the final weights (one .npy per tensor) to this directory.")
    var save: String?

    @Option(help: "Write an SVG plot of the loss against the step (log-log) to this file.")
    var plot: String?

    @Option(parsing: .singleValue, help: "With --plot: also draw the curve of this earlier `spsim train --json` output (repeatable).")
    var plotAlso: [String] = []

    @Flag(help: "Print one JSON object on stdout (rank 0).")
    var json = false

    @Flag(help: "Train even when the memory estimate says a rank does not fit in this host's available memory.")
    var force = false

    /// Everything checked before the first message.
    struct Prepared {
        var config: TrainingModelConfig
        var strategy: StrategyChoice
        var layout: SequenceLayout
        var data: TokenData
        /// The curves of `--plot-also`, named.
        var otherCurves: [SVGPlot.Series]
        /// This rank's memory estimate (checked against the host before the model is built).
        var memory: MemoryEstimate
    }

    /// What one rank allocates, estimated before anything is: weights, gradients, the
    /// all-reduce's copy and AdamW's two moments (5 × 4 bytes per parameter); stored
    /// activations, about `10·d + 8·H·max(D, Dv) + 4·f` floats per token per block (every block,
    /// or with checkpointing one block plus every block's input); logits, softmax and their
    /// gradient (`3·V` floats per token); the strategy's buffers, at most q, k, v, o of the whole
    /// sequence for one layer; the token data; the process itself.
    static func memoryEstimate(_ c: TrainingModelConfig, seqLen: Int, localTokens n: Int, dataTokens: Int,
                               checkpoint: Bool) -> MemoryEstimate {
        let float = 4.0, tokens = Double(n), width = Double(max(c.headDim, c.valueDim))
        let perTokenBlock = 10 * Double(c.hidden) + 8 * Double(c.heads) * width + 4 * Double(c.ffn)
        var m = MemoryEstimate()
        m.add("weights, gradients and AdamW moments", 5 * float * Double(c.parameterCount))
        m.add("activations", float * tokens * (checkpoint ? perTokenBlock + Double(c.layers * c.hidden)
                                                           : perTokenBlock * Double(c.layers)))
        m.add("logits and loss", 3 * float * tokens * Double(c.vocabulary))
        m.add("attention buffers", 4 * float * Double(seqLen) * Double(c.heads) * width)
        m.add("token data", 4 * Double(dataTokens))
        m.add("process", MemoryEstimate.processBytes)
        return m
    }

    func run() throws {
        try withMPI(validate: prepare, body: train)
    }

    func prepare(_ world: Communicator) throws -> Prepared {
        let kind = attention
        var config = try Self.trainingConfig(model, attention: kind)
        if let mismatch = shape.mismatch(kind) { throw InputError(mismatch) }
        config.layers = layers ?? config.layers
        config.hidden = hidden ?? config.hidden
        config.heads = shape.heads ?? config.heads
        config.kvHeads = shape.kvHeads ?? (shape.heads == nil ? config.kvHeads : config.heads)
        config.headDim = shape.headDim ?? config.headDim
        config.valueDim = shape.valueDim ?? (shape.headDim ?? config.valueDim)
        config.ffn = ffn ?? config.ffn
        try config.validate()
        guard steps >= 1 else { throw InputError("--steps must be at least 1 (got \(steps))") }
        guard seqLen >= 1 else { throw InputError("--seq-len must be at least 1 (got \(seqLen))") }
        guard seqLen < 1 << 31 else { throw InputError("--seq-len \(seqLen) is too long: at most 2³¹ − 1 tokens") }
        guard lr.isFinite && lr > 0 else { throw InputError("--lr must be a positive number (got \(lr))") }
        let choice = try strategyChoice(kind)
        let layout = try SequenceLayout.make(self.layout, tokens: seqLen, ranks: world.size).get()
        if let reason = Trainer.unsupportedReason(choice, options: strategyOptions.given, config: config, seqLen: seqLen,
                                                  layout: layout.kind, ranks: world.size) {
            throw InputError(reason)
        }
        if let save {
            try AtomicOutput.checkDirectory(save, option: "--save", expectedBytes: 4 * config.parameterCount + 8 * steps + 4096)
        }
        if let trace {
            try AtomicOutput.checkFile(trace, option: "--trace", expectedBytes: traceBytesEstimate(ranks: world.size, phases: 2 * config.layers))
        }
        let data = try TokenData.load(self.data, vocabulary: config.vocabulary, minimumTokens: seqLen + 1)
        if !plotAlso.isEmpty && plot == nil { throw InputError("--plot-also needs --plot FILE") }
        if let plot { try AtomicOutput.checkFile(plot, option: "--plot", expectedBytes: 1 << 16) }
        let memory = Self.memoryEstimate(config, seqLen: seqLen, localTokens: layout.count(rank: world.rank),
                                         dataTokens: data.tokens.count, checkpoint: checkpoint)
        try requireMemory(memory, rank: world.rank, worldSize: world.size, force: force)
        return Prepared(config: config, strategy: choice, layout: layout, data: data,
                        otherCurves: try plotAlso.map(lossCurve), memory: memory)
    }

    /// The model `--model` names (a `Models/` file, `spsim models list`) as the Training
    /// module's configuration for `kind` attention; a softmax model trained with GLA gets H
    /// heads with Dk = Dv = D (`TransformerModel.withAttention`, as the planner counts it).
    /// - Throws: `InputError` for an unknown or malformed model file, a GLA model without
    ///   `--attention gla`, or what `spsim train` does not build (low-rank gates).
    static func trainingConfig(_ name: String, attention kind: AttentionKind) throws -> TrainingModelConfig {
        let file: TransformerModel
        do { file = try ModelCatalog.models().loadModel(name) } catch {
            throw InputError("unknown --model \(name): \(error.description)")
        }
        if file.gateLowRank != nil {
            throw InputError("--model \(name) has low-rank gates (gate_low_rank), which spsim train does not build "
                             + "(its GLA layers project full-rank gates); spsim plan takes the model")
        }
        if file.attention == .gla && kind == .softmax {
            throw InputError("--model \(name) has gated linear attention: add --attention gla")
        }
        let m = file.withAttention(kind)
        return TrainingModelConfig(layers: m.layerCount, hidden: m.hidden, heads: m.headCount, kvHeads: m.kvHeadCount,
                                   headDim: m.queryDim, valueDim: m.valueChannels, ffn: m.ffn, vocabulary: m.vocab,
                                   tiedEmbeddings: m.isTied, attention: kind)
    }

    /// The strategy by name from the registry (the only place `train` reads it).
    /// - Throws: `ValidationError` for an unknown name, one of the other attention kind, or an
    ///   option (`--ulysses-degree`, `--scan-blocks`) the strategy does not take.
    func strategyChoice(_ kind: AttentionKind) throws -> StrategyChoice {
        let type = try strategyOptions.resolve(attention: kind)
        if let softmax = type as? any AttentionStrategy.Type { return .softmax(softmax) }
        return .linear(type as! any LinearAttentionStrategy.Type)
    }

    func train(world: Communicator, prepared p: Prepared) throws -> Int32 {
        let model = LanguageModel(p.config)
        let trainer = try Trainer(model: model, strategy: p.strategy, options: strategyOptions.given, layout: p.layout,
                                  data: p.data, learningRate: lr, seed: seed, checkpoint: checkpoint, world: world)
        var history = TrainHistory()
        for step in 0..<steps {
            let m = try trainer.step(step)
            let times = try world.allgather([m.attentionComputeSeconds, m.attentionCommunicationSeconds,
                                             m.otherComputeSeconds, m.gradientAllreduceSeconds, m.seconds])
            let byRank = (0..<world.size).map { Array(times[$0 * 5 ..< $0 * 5 + 5]) }
            history.append(loss: m.loss, tokens: p.layout.tokens, byRank: byRank)
            if world.rank == 0 {
                printNote(String(format: "step %d/%d  loss %.4f  %.0f tokens/s", step + 1, steps, m.loss,
                                 history.tokensPerSecond.last!))
            }
            guard m.loss.isFinite else {
                if world.rank == 0 { printError("the loss became \(m.loss.isNaN ? "NaN" : "\(m.loss)") at step \(step + 1); training stopped") }
                return 1
            }
        }
        var traffic = [String: PhaseTraffic]()
        for phase in TrainingPhase.allCases where phase != .attentionRecompute || checkpoint {
            traffic[phase.rawValue] = try PhaseTraffic.gather(trainer.ledgers[phase]!, world: world)
        }
        if let trace {
            try writeTraceFile(trace, phases: [("step \(steps)", trainer.timeline.spans + trainer.stepTimeline.spans)],
                               model: nil, world: world)
        }
        try reportMemoryUse(p.memory, world: world)
        guard world.rank == 0 else { return 0 }
        if let save { try saveTraining(to: save, losses: history.losses, model: model, weights: trainer.weights) }
        if let plot {
            let mine = SVGPlot.Series(name: "\(p.strategy.name) \(p.layout.kind.rawValue), P=\(world.size), "
                                          + p.config.attention.rawValue,
                                      points: history.losses.enumerated().map { (Double($0.offset + 1), $0.element) })
            let figure = SVGPlot(title: "Training loss, N=\(p.layout.tokens)",
                                 xLabel: "step", yLabel: "loss (nats per token)", series: [mine] + p.otherCurves)
            try AtomicOutput.writeFile(Data(figure.render().utf8), to: plot, option: "--plot")
        }
        let report = TrainReport(run: .init(
            strategy: p.strategy.name, attention: p.config.attention.rawValue, layout: p.layout.kind.rawValue,
            ulyssesDegree: trainer.strategyOptions[.ulyssesDegree], scanBlocks: trainer.strategyOptions[.scanBlocks],
            ranks: world.size, model: model.config, parameters: model.parameters.count, seqLen: p.layout.tokens,
            steps: steps, lr: lr, seed: seed, checkpoint: checkpoint, data: p.data.path,
            unigramEntropy: p.data.unigramEntropy, traffic: traffic), history: history)
        if json { print(try jsonLine(report)) } else { print(report.text, terminator: "") }
        return 0
    }
}

/// A loss curve from an earlier `spsim train --json` output, named by its strategy, layout,
/// ranks and attention.
/// - Throws: `InputError` when the file is unreadable or holds no `losses`.
func lossCurve(_ path: String) throws -> SVGPlot.Series {
    let data = try inputFileContents(path, named: "--plot-also \(path)", expected: "a `spsim train --json` output")
    guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          let losses = object["losses"] as? [Double] else {
        throw InputError("--plot-also \(path) is not the JSON output of spsim train --json (no \"losses\")")
    }
    let name = "\(object["strategy"] as? String ?? path) \(object["layout"] as? String ?? ""), P=\(object["ranks"] as? Int ?? 0)"
        + ((object["attention"] as? String).map { ", \($0)" } ?? "")
    return SVGPlot.Series(name: name, points: losses.enumerated().map { (Double($0.offset + 1), $0.element) })
}

/// Per-step measurements on every rank.
struct TrainHistory: Encodable {
    var losses = [Double]()
    var tokensPerSecond = [Double]()
    /// `[step][rank]` seconds.
    var attentionComputeSeconds = [[Double]](), attentionCommunicationSeconds = [[Double]]()
    var otherComputeSeconds = [[Double]](), gradientAllreduceSeconds = [[Double]]()

    /// One step: `byRank[r]` is rank r's (attention compute, attention communication, other, all-reduce, step) seconds.
    mutating func append(loss: Double, tokens: Int, byRank: [[Double]]) {
        losses.append(loss)
        tokensPerSecond.append(Double(tokens) / (byRank.map { $0[4] }.max() ?? .nan))
        attentionComputeSeconds.append(byRank.map { $0[0] })
        attentionCommunicationSeconds.append(byRank.map { $0[1] })
        otherComputeSeconds.append(byRank.map { $0[2] })
        gradientAllreduceSeconds.append(byRank.map { $0[3] })
    }
}

/// What `spsim train` reports: the run's settings, per-step arrays, and the last step's traffic per phase.
struct TrainReport: Encodable {
    /// The settings and totals, one JSON key each.
    struct Run: Encodable {
        var strategy, attention, layout: String
        /// USP's Ulysses degree U and ZeCO's All-Scan row blocks K as run (absent for the others).
        var ulyssesDegree, scanBlocks: Int?
        var ranks: Int
        var model: TrainingModelConfig
        var parameters: Int
        var seqLen, steps: Int
        var lr: Double
        var seed: UInt64
        var checkpoint: Bool
        var data: String
        /// The unigram entropy of the data in nats: the loss of the best context-free predictor.
        var unigramEntropy: Double
        /// By phase: every rank's traffic in the last step (every step sends the same).
        var traffic: [String: PhaseTraffic]
    }

    var run: Run
    var history: TrainHistory

    /// One flat object: the run's keys and the history's per-step arrays side by side.
    func encode(to encoder: Encoder) throws {
        try run.encode(to: encoder)
        try history.encode(to: encoder)
    }

    /// The report for people: a table per step and the last step's traffic per phase.
    var text: String {
        let options = (run.ulyssesDegree.map { " U=\($0)" } ?? "") + (run.scanBlocks.map { " K=\($0)" } ?? "")
        var out = "\(run.strategy)\(options) on \(run.ranks) rank\(run.ranks == 1 ? "" : "s"), \(run.attention) \(run.layout): "
            + "\(run.parameters) parameters, "
            + "N=\(run.seqLen), \(run.steps) step\(run.steps == 1 ? "" : "s"), lr \(run.lr)\(run.checkpoint ? ", checkpointing" : "")\n"
        var table = TextTable(columns: ["step", "loss", "tokens/s", "attn compute", "attn comm", "other compute", "grad allreduce"])
        for s in history.losses.indices {
            table.append([
                "\(s + 1)", String(format: "%.4f", history.losses[s]), String(format: "%.0f", history.tokensPerSecond[s]),
                formatSeconds(history.attentionComputeSeconds[s].max() ?? 0),
                formatSeconds(history.attentionCommunicationSeconds[s].max() ?? 0),
                formatSeconds(history.otherComputeSeconds[s].max() ?? 0),
                formatSeconds(history.gradientAllreduceSeconds[s].max() ?? 0),
            ])
        }
        out += table.render()
        out += "(times: slowest rank)  unigram entropy of the data: \(String(format: "%.4f", run.unigramEntropy)) nats\n"
        var traffic = TextTable(columns: ["phase (last step)", "rank", "sent", "msgs", "received", "msgs"])
        for phase in TrainingPhase.allCases.map(\.rawValue) {
            guard let t = run.traffic[phase] else { continue }
            for r in t.bytesSent.indices {
                traffic.append([r == 0 ? phase : "", "\(r)", formatBytes(Double(t.bytesSent[r])), "\(t.messagesSent[r])",
                                formatBytes(Double(t.bytesReceived[r])), "\(t.messagesReceived[r])"])
            }
        }
        return out + traffic.render()
    }
}

/// Writes `losses.npy` (float64) and one float32 `.npy` per weight tensor into `directory`,
/// all-or-nothing (`AtomicOutputDirectory`): it replaces, never merges with, what was there.
/// - Throws: `OutputPathError` when writing or renaming fails (nothing is left behind).
func saveTraining(to directory: String, losses: [Double], model: LanguageModel, weights: [Float]) throws {
    try AtomicOutputDirectory(directory, option: "--save").write { out in
        try NPY.write(losses, shape: [losses.count], to: out.path("losses.npy"), dtype: .float64)
        for spec in model.parameters.specs {
            try NPY.write(Array(weights[spec.range]), shape: spec.shape, to: out.path("\(spec.name).npy"))
        }
    }
}
