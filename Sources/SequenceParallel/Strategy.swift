import Kernels
import MPI

/// What one rank knows while it runs a strategy: its communicator (which records the
/// strategy's traffic), the layout, and a timeline for compute and communication spans.
public final class RankContext {
    /// The strategy's communicator; its traffic goes to the run's ledger.
    public let communicator: Communicator
    /// How tokens are spread over the ranks.
    public let layout: SequenceLayout
    /// Where compute and communication spans are recorded.
    public let timeline: Timeline
    /// Phantom mode (`spsim run --phantom`): kernels are skipped (only their FLOPs are
    /// charged), payloads are never filled, so a run sends exactly a real run's messages and
    /// bytes in the same order while memory stays bounded. Outputs are meaningless.
    public let isPhantom: Bool
    /// Phantom payloads by element count, allocated once per rank and reused (phantom mode).
    private var phantomBuffers: [Int: MessageBuffer<Float>] = [:]

    public init(communicator: Communicator, layout: SequenceLayout, timeline: Timeline, isPhantom: Bool = false) {
        (self.communicator, self.layout, self.timeline, self.isPhantom) = (communicator, layout, timeline, isPhantom)
    }

    /// A context over another communicator and layout (a sub-group of this run), in the
    /// same timeline and mode.
    public func with(communicator: Communicator, layout: SequenceLayout) -> RankContext {
        RankContext(communicator: communicator, layout: layout, timeline: timeline, isPhantom: isPhantom)
    }

    /// This rank.
    public var rank: Int { communicator.rank }
    /// Number of ranks P.
    public var size: Int { communicator.size }
    /// Global positions of this rank's tokens.
    public var positions: [Int] { layout.positions(rank: rank) }

    /// Runs local work as a compute span.
    public func compute<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        try timeline.measure(name, .compute, body)
    }

    /// Charges `flops` (counted by `KernelFLOPs`) to the device this rank simulates: under
    /// SMPI the simulated clock advances by `flops` ÷ the host's speed (the topology's
    /// peak × attention efficiency), so a compute span lasts as long as on that device; on
    /// a real MPI nothing happens. Call it inside the `compute` span of the kernel it counts.
    public func charge(flops: Double) {
        MPIEnvironment.executeFLOPs(flops)
    }

    /// Runs a kernel as a compute span and charges its `flops`; in phantom mode the kernel
    /// does not run: the span charges the FLOPs and returns `phantom` (shaped placeholders).
    public func kernel<T>(_ name: String, flops: @autoclosure () -> Double, phantom: @autoclosure () -> T,
                          _ body: () throws -> T) rethrows -> T {
        try timeline.measure(name, .compute) {
            defer { charge(flops: flops()) }
            return isPhantom ? phantom() : try body()
        }
    }

    /// Local work that only moves or combines payload values (packing, accumulating): a
    /// compute span, skipped in phantom mode.
    public func arithmetic(_ name: String, _ body: () throws -> Void) rethrows {
        if !isPhantom { try compute(name, body) }
    }

    /// A tensor of zeros, or in phantom mode a phantom one (`Tensor(phantomTokens:)`).
    public func zeros(tokens: Int, heads: Int, dim: Int) -> Tensor32 {
        isPhantom ? Tensor32(phantomTokens: tokens, heads: heads, dim: dim) : Tensor32(tokens: tokens, heads: heads, dim: dim)
    }

    /// An attention output to merge blocks into (`emptyAttentionOutput`), phantom in phantom mode.
    public func emptyOutput(tokens: Int, heads: Int, dim: Int) -> AttentionOutput {
        guard isPhantom else { return emptyAttentionOutput(tokens: tokens, heads: heads, dim: dim) }
        return AttentionOutput(o: zeros(tokens: tokens, heads: heads, dim: dim), lse: zeros(tokens: tokens, heads: heads, dim: 1))
    }

    /// A message payload of `count` floats: `fill()`, or in phantom mode this rank's phantom
    /// buffer of that size (shared by every rank under SMPI; never written by spsim).
    public func payload(count: Int, _ fill: () -> MessageBuffer<Float>) -> MessageBuffer<Float> {
        isPhantom ? phantomBuffer(count: count) : fill()
    }

    /// This rank's phantom buffer of `count` floats (phantom mode only): allocated once and
    /// reused for every payload of that size, sent from and received into alike.
    public func phantomBuffer(count: Int) -> MessageBuffer<Float> {
        precondition(isPhantom, "phantom buffers exist in phantom mode only")
        if let buffer = phantomBuffers[count] { return buffer }
        let buffer = MessageBuffer<Float>(phantomCount: count)
        phantomBuffers[count] = buffer
        return buffer
    }

    /// A receive buffer of `count` floats (zeros; phantom in phantom mode).
    public func receiveBuffer(count: Int) -> MessageBuffer<Float> {
        payload(count: count) { MessageBuffer(count: count, repeating: 0) }
    }

    /// Runs an MPI call (or a wait) as a communication span.
    public func communicate<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        try timeline.measure(name, .communication, body)
    }
}

/// A sequence-parallel softmax attention schedule, forward and backward.
///
/// Inputs and outputs are this rank's slice in the layout's local order: `q [n, H, D]`,
/// `k`, `v [n, G, D]`, `o [n, H, D]`, `lse [n, H, 1]`.
public protocol AttentionStrategy: SequenceParallelStrategy {
    /// Why the strategy cannot run `problem` on `ranks` ranks with `layout`, or nil.
    static func unsupportedReason(_ problem: AttentionProblem, layout: LayoutKind, ranks: Int) -> String?
    /// The values of the descriptor's `options` this strategy runs `problem` with (defaults
    /// resolved); empty for a strategy without options.
    static func resolvedOptions(_ problem: AttentionProblem, layout: LayoutKind, ranks: Int) -> [StrategyOption: Int]

    /// This rank's instance (it may create communicators: collective over the context's).
    /// - Throws: `InputError` when the strategy refuses the problem; `MPIError` when MPI fails.
    init(problem: AttentionProblem, context: RankContext) throws

    /// This rank's output rows and their log-sum-exp.
    /// - Throws: `MPIError` when communication fails.
    func forward(q: Tensor32, k: Tensor32, v: Tensor32) throws -> AttentionOutput
    /// This rank's gradients, given the forward's final `o` and `lse` and the output gradient.
    /// - Throws: `MPIError` when communication fails.
    func backward(q: Tensor32, k: Tensor32, v: Tensor32, o: Tensor32, lse: Tensor32, dO: Tensor32) throws
        -> AttentionGradients
}

/// What a strategy instance starts from: its problem and this rank's context. A strategy
/// that needs nothing else inherits its initializer from it.
public class StrategyInstance<Problem> {
    let problem: Problem
    let context: RankContext

    /// Keeps the problem and the context.
    /// - Throws: nothing here; subclasses that set up communicators may throw MPI errors.
    public required init(problem: Problem, context: RankContext) throws {
        (self.problem, self.context) = (problem, context)
    }
}

/// What both strategy protocols share: the descriptor the registry (`Strategies`) lists.
public protocol SequenceParallelStrategy: AnyObject {
    /// Name, attention kind, layouts, options and summary. Every strategy also honours
    /// `RankContext.isPhantom` (skips its kernels, leaves payloads unfilled, sends the same
    /// messages): `PhantomTests` compares each one's phantom ledger with its real one.
    static var descriptor: StrategyDescriptor { get }
}

extension SequenceParallelStrategy {
    /// The `--strategy` name.
    public static var name: String { descriptor.name }
    /// One line for help and tables.
    public static var summary: String { descriptor.summary }
    /// Layouts the strategy accepts.
    public static var layouts: [LayoutKind] { descriptor.layouts }
    /// The layout check shared by every strategy: listed layouts only.
    public static func layoutReason(_ layout: LayoutKind) -> String? { descriptor.layoutReason(layout) }
}

extension AttentionStrategy {
    /// The default refusal rule: the descriptor's layouts only.
    public static func unsupportedReason(_ problem: AttentionProblem, layout: LayoutKind, ranks: Int) -> String? {
        layoutReason(layout)
    }

    /// No options by default.
    public static func resolvedOptions(_ problem: AttentionProblem, layout: LayoutKind, ranks: Int) -> [StrategyOption: Int] {
        [:]
    }
}

extension AttentionProblem {
    /// The mask for queries at `queries` against keys at `keys` (global positions).
    public func mask(queries: [Int], keys: [Int]) -> AttentionMask {
        isCausal ? .causal(queryPositions: queries, keyPositions: keys) : .none
    }
}

/// The registry: every strategy spsim knows, softmax and GLA, in the order tables list them.
/// Everything that enumerates strategies reads it (the command line, `spsim strategies`,
/// `spsim verify`, the tests); a new strategy is one file here plus one line in `all`.
public enum Strategies {
    /// Every strategy type.
    public static var all: [any SequenceParallelStrategy.Type] {
        [AllGatherAttention.self, UlyssesAttention.self, RingAttention.self, TokenRingAttention.self, USPAttention.self,
         ZeCOAttention.self, LASP1Attention.self, LASP2Attention.self, ExscanAttention.self]
    }

    /// Every strategy's descriptor.
    public static var descriptors: [StrategyDescriptor] { all.map { $0.descriptor } }

    /// The strategies computing `attention`.
    public static func all(_ attention: AttentionKind) -> [any SequenceParallelStrategy.Type] {
        all.filter { $0.descriptor.attention == attention }
    }

    /// The strategy called `name`, or nil.
    public static func named(_ name: String) -> (any SequenceParallelStrategy.Type)? {
        all.first { $0.name == name || $0.descriptor.aliases.contains(name) }
    }

    /// The softmax strategies other than `name` that accept `problem` on `ranks` ranks with
    /// `layout`: the way out a refusal names.
    public static func alternatives(to name: String, _ problem: AttentionProblem, layout: LayoutKind,
                                    ranks: Int) -> [String] {
        all.compactMap { type in
            guard let softmax = type as? any AttentionStrategy.Type, softmax.name != name,
                  softmax.unsupportedReason(problem, layout: layout, ranks: ranks) == nil else { return nil }
            return softmax.name
        }
    }

    /// The default strategy for `attention`: the first one registered.
    public static func defaultStrategy(_ attention: AttentionKind) -> any SequenceParallelStrategy.Type {
        all(attention)[0]
    }
}
