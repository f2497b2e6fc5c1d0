import Kernels
import MPI
import SequenceParallel

/// The attention strategy a training run uses (from the strategy registries).
public enum StrategyChoice {
    case softmax(any AttentionStrategy.Type)
    case linear(any LinearAttentionStrategy.Type)

    /// The `--strategy` name.
    public var name: String {
        switch self {
        case .softmax(let s): s.name
        case .linear(let s): s.name
        }
    }
}

/// The ledger phases of one training step.
public enum TrainingPhase: String, CaseIterable, Sendable {
    /// The strategy's forward traffic, summed over the layers.
    case attentionForward = "attention_forward"
    /// The strategy's backward traffic, summed over the layers.
    case attentionBackward = "attention_backward"
    /// With activation checkpointing: the forward rerun inside the backward.
    case attentionRecompute = "attention_recompute"
    /// The one all-reduce of every weight gradient (one flat float32 vector).
    case gradientAllreduce = "gradient_allreduce"
}

/// One step's measurements on this rank.
public struct StepMeasurement: Sendable {
    /// The mean next-token cross-entropy over all N tokens (the same on every rank), in nats.
    public var loss: Double
    /// Wall seconds of the step on this rank.
    public var seconds: Double
    /// Seconds inside the strategy's compute spans (every layer, forward, backward, recompute).
    public var attentionComputeSeconds: Double
    /// Seconds inside the strategy's communication spans.
    public var attentionCommunicationSeconds: Double
    /// Seconds in the gradient all-reduce.
    public var gradientAllreduceSeconds: Double
    /// The rest: embedding, norms, projections, MLP, head, loss, optimizer.
    public var otherComputeSeconds: Double { seconds - attentionComputeSeconds - attentionCommunicationSeconds - gradientAllreduceSeconds }
}

/// Training on one rank of a sequence-parallel group: every rank holds the
/// same weights (from the seed) and its slice of each window in the strategy's layout; the
/// strategy runs attention; the weight gradients are summed by one all-reduce; AdamW updates.
///
/// Four communicators record into four ledgers, one per `TrainingPhase`; the loss reduction
/// and barriers use `world`, which records nothing.
public final class Trainer {
    public let model: LanguageModel
    public private(set) var weights: [Float]
    public let layout: SequenceLayout
    /// Each phase's traffic on this rank during the last step.
    public let ledgers: [TrainingPhase: TrafficLedger]
    /// The strategy's compute and communication spans of the last step.
    public let timeline: Timeline
    /// The last step's own spans: the model's compute and the gradient all-reduce.
    public let stepTimeline = Timeline(clock: MPIEnvironment.wallTime)
    private var optimizer: AdamW
    private let data: TokenData
    private let world: Communicator
    private let gradientCommunicator: Communicator
    private let core: AttentionCore<Float>
    private let checkpoint: Bool
    /// The strategy's options as it runs them, defaults resolved (USP's U, ZeCO's K).
    public let strategyOptions: [StrategyOption: Int]

    /// A trainer on `world`'s ranks. Collective: every rank calls it.
    ///
    /// - Throws: `InputError` when the strategy refuses the problem, layout or rank count;
    ///   MPI errors from duplicating communicators.
    public init(model: LanguageModel, strategy: StrategyChoice, options: [StrategyOption: Int] = [:],
                layout: SequenceLayout, data: TokenData,
                learningRate: Double, seed: UInt64, checkpoint: Bool, world: Communicator) throws {
        self.model = model
        self.layout = layout
        self.data = data
        self.world = world
        self.checkpoint = checkpoint
        weights = model.initialWeights(seed: seed)
        optimizer = AdamW(parameters: model.parameters, learningRate: learningRate)
        let timeline = Timeline(clock: MPIEnvironment.wallTime)
        self.timeline = timeline
        var ledgers = [TrainingPhase: TrafficLedger]()
        for phase in TrainingPhase.allCases { ledgers[phase] = TrafficLedger() }
        self.ledgers = ledgers
        gradientCommunicator = try world.dup(recordingInto: ledgers[.gradientAllreduce])
        func context(_ phase: TrainingPhase) throws -> RankContext {
            // Locals only: `self` is not fully initialized yet.
            RankContext(communicator: try world.dup(recordingInto: ledgers[phase]), layout: layout, timeline: timeline)
        }
        let contexts = (forward: try context(.attentionForward), backward: try context(.attentionBackward),
                        recompute: try context(.attentionRecompute))
        switch strategy {
        case .softmax(let type):
            let problem = Self.softmaxProblem(model.config, seqLen: layout.tokens, options: options)
            strategyOptions = type.resolvedOptions(problem, layout: layout.kind, ranks: world.size)
            core = .softmax(try Self.softmaxCore(type, problem: problem, contexts: contexts))
        case .linear(let type):
            let problem = Self.linearProblem(model.config, seqLen: layout.tokens, options: options)
            strategyOptions = type.resolvedOptions(problem, layout: layout.kind, ranks: world.size)
            core = .linear(try Self.linearCore(type, problem: problem, contexts: contexts))
        }
    }

    /// The attention problem of every layer of `c` (causal), with USP's Ulysses degree when given.
    static func softmaxProblem(_ c: TrainingModelConfig, seqLen: Int, options: [StrategyOption: Int]) -> AttentionProblem {
        AttentionProblem(seqLen: seqLen, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, isCausal: true,
                         ulyssesDegree: options[.ulyssesDegree])
    }

    /// The GLA problem of every layer of `c`, with the All-Scan's row blocks when given.
    static func linearProblem(_ c: TrainingModelConfig, seqLen: Int, options: [StrategyOption: Int]) -> LinearAttentionProblem {
        LinearAttentionProblem(seqLen: seqLen, heads: c.heads, keyDim: c.headDim, valueDim: c.valueDim,
                               scanBlocks: options[.scanBlocks])
    }

    /// Why `strategy` (with `options`, e.g. USP's `--ulysses-degree`) cannot train `config` on
    /// `ranks` ranks with `layout`, or nil.
    public static func unsupportedReason(_ strategy: StrategyChoice, options: [StrategyOption: Int] = [:],
                                         config c: TrainingModelConfig, seqLen: Int,
                                         layout: LayoutKind, ranks: Int) -> String? {
        switch strategy {
        case .softmax(let type):
            if c.attention != .softmax { return "--strategy \(type.name) is softmax attention; drop --attention gla" }
            return type.unsupportedReason(softmaxProblem(c, seqLen: seqLen, options: options), layout: layout, ranks: ranks)
        case .linear(let type):
            if c.attention != .gla { return "--strategy \(type.name) is a GLA strategy: add --attention gla" }
            return type.unsupportedReason(linearProblem(c, seqLen: seqLen, options: options), layout: layout, ranks: ranks)
        }
    }

    private typealias Contexts = (forward: RankContext, backward: RankContext, recompute: RankContext)

    private static func softmaxCore(_ type: any AttentionStrategy.Type, problem: AttentionProblem,
                                    contexts: Contexts) throws -> SoftmaxAttentionCore<Float> {
        let forward = try type.init(problem: problem, context: contexts.forward)
        let recompute = try type.init(problem: problem, context: contexts.recompute)
        let backward = try type.init(problem: problem, context: contexts.backward)
        return SoftmaxAttentionCore(
            forward: { q, k, v, pass in
                let out = try (pass == .forward ? forward : recompute).forward(q: q, k: k, v: v)
                return (out.o, out.lse)
            },
            backward: { q, k, v, o, lse, dO in
                let g = try backward.backward(q: q, k: k, v: v, o: o, lse: lse, dO: dO)
                return (g.dq, g.dk, g.dv)
            })
    }

    private static func linearCore<S: LinearAttentionStrategy>(_ type: S.Type, problem: LinearAttentionProblem,
                                                               contexts: Contexts) throws -> LinearAttentionCore<Float> {
        let forward = try S(problem: problem, context: contexts.forward)
        let recompute = try S(problem: problem, context: contexts.recompute)
        let backward = try S(problem: problem, context: contexts.backward)
        return LinearAttentionCore(
            forward: { q, k, v, g, pass in
                let out = try (pass == .forward ? forward : recompute).forward(q: q, k: k, v: v, g: g)
                return (out.o, out.saved)
            },
            backward: { q, k, v, g, saved, dO in
                let r = try backward.backward(q: q, k: k, v: v, g: g, saved: saved as! S.Saved, dO: dO)
                return (r.dq, r.dk, r.dv, r.dg)
            })
    }

    /// Runs training step `step` (0-based): reads its window, forward and backward on this
    /// rank's slice, all-reduces the gradient, reduces the loss, and (when it is finite)
    /// updates the weights. Collective. The ledgers and timeline hold this step alone.
    public func step(_ step: Int) throws -> StepMeasurement {
        for ledger in ledgers.values { ledger.reset() }
        timeline.reset()
        stepTimeline.reset()
        try world.barrier()
        let start = MPIEnvironment.wallTime()
        let n = layout.tokens
        let window = data.window(step: step, length: n + 1)
        let positions = layout.positions(rank: world.rank)
        let result = try stepTimeline.measure("forward and backward", .compute) {
            try model.lossAndGradient(weights: weights, tokens: positions.map { window[$0] },
                                      labels: positions.map { window[$0 + 1] }, positions: positions,
                                      normalizer: n, core: core, checkpoint: checkpoint)
        }
        let reduceStart = MPIEnvironment.wallTime()
        let gradient = try stepTimeline.measure("gradient allreduce", .communication) {
            try gradientCommunicator.allreduce(result.gradient, .sum)
        }
        let reduceSeconds = MPIEnvironment.wallTime() - reduceStart
        let loss = try world.allreduce([result.lossSum], .sum)[0] / Double(n)
        if loss.isFinite { stepTimeline.measure("AdamW", .compute) { optimizer.update(&weights, gradient: gradient) } }
        return StepMeasurement(loss: loss, seconds: MPIEnvironment.wallTime() - start,
                               attentionComputeSeconds: timeline.seconds(in: .compute),
                               attentionCommunicationSeconds: timeline.seconds(in: .communication),
                               gradientAllreduceSeconds: reduceSeconds)
    }
}
