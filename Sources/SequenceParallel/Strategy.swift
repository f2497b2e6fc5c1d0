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

    public init(communicator: Communicator, layout: SequenceLayout, timeline: Timeline) {
        self.communicator = communicator
        self.layout = layout
        self.timeline = timeline
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

    /// Runs an MPI call (or a wait) as a communication span.
    public func communicate<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        try timeline.measure(name, .communication, body)
    }
}

/// A sequence-parallel softmax attention schedule, forward and backward.
///
/// Inputs and outputs are this rank's slice in the layout's local order: `q [n, H, D]`,
/// `k`, `v [n, G, D]`, `o [n, H, D]`, `lse [n, H, 1]`.
public protocol AttentionStrategy: AnyObject {
    /// The `--strategy` name.
    static var name: String { get }
    /// One line for help and tables.
    static var summary: String { get }
    /// Layouts the strategy accepts.
    static var layouts: [LayoutKind] { get }
    /// Why the strategy cannot run `problem` on `ranks` ranks with `layout`, or nil.
    static func unsupportedReason(_ problem: AttentionProblem, layout: LayoutKind, ranks: Int) -> String?

    init(problem: AttentionProblem, context: RankContext) throws

    /// This rank's output rows and their log-sum-exp.
    func forward(q: Tensor32, k: Tensor32, v: Tensor32) throws -> AttentionOutput
    /// This rank's gradients, given the forward's final `o` and `lse` and the output gradient.
    func backward(q: Tensor32, k: Tensor32, v: Tensor32, o: Tensor32, lse: Tensor32, dO: Tensor32) throws
        -> AttentionGradients
}

extension AttentionStrategy {
    /// The layout check shared by every strategy: listed layouts only.
    public static func layoutReason(_ layout: LayoutKind) -> String? {
        layouts.contains(layout) ? nil
            : "--strategy \(name) supports --layout \(layouts.map(\.rawValue).joined(separator: "|")), not \(layout.rawValue)"
    }
}

extension AttentionProblem {
    /// The mask for queries at `queries` against keys at `keys` (global positions).
    public func mask(queries: [Int], keys: [Int]) -> AttentionMask {
        isCausal ? .causal(queryPositions: queries, keyPositions: keys) : .none
    }
}

/// Every softmax attention strategy spsim knows, by `--strategy` name.
public enum AttentionStrategies {
    /// All strategies, in the order tables list them.
    public static var all: [any AttentionStrategy.Type] {
        [AllGatherAttention.self, UlyssesAttention.self, RingAttention.self, TokenRingAttention.self, USPAttention.self]
    }

    /// Every strategy's name, comma-separated, for help and error messages.
    public static var names: String { all.map { $0.name }.joined(separator: ", ") }

    /// The strategy called `name`, or nil.
    public static func named(_ name: String) -> (any AttentionStrategy.Type)? {
        all.first { $0.name == name }
    }
}
