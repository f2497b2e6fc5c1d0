import Foundation
import Kernels
import MPI
import Reports
import SequenceParallel

/// One phase's traffic on every rank, as the ledger counted it.
struct PhaseTraffic: Codable, Equatable {
    var bytesSent: [Int]
    var messagesSent: [Int]
    var bytesReceived: [Int]
    var messagesReceived: [Int]
    /// `bytesSentTo[r][j]`: bytes rank r sent to rank j.
    var bytesSentTo: [[Int]]
    /// Per rank: bytes sent to rank (r+1) mod P, the ring's next rank (0 with one rank).
    var bytesSentToNext: [Int]
    /// Per rank: bytes sent to every rank but (r+1) mod P (with P = 2 the next rank is the only other one).
    var bytesSentToOthers: [Int]

    /// Gathers every rank's ledger on rank 0 (over the harness's own, unrecorded
    /// communicator): each rank sends its own row of P + 4 counts, so no rank but the root
    /// holds more than O(P). Other ranks get an empty `PhaseTraffic` (no rows).
    static func gather(_ ledger: TrafficLedger, world: Communicator) throws -> PhaseTraffic {
        let sent = ledger.sent, received = ledger.received
        let mine = [sent.bytes, sent.messages, received.bytes, received.messages]
            + (0..<world.size).map { ledger.sentTo[$0]?.bytes ?? 0 }
        let width = mine.count
        guard let all = try world.gatherv(mine.map(Int64.init), counts: Array(repeating: width, count: world.size),
                                          root: 0)?.map(Int.init) else { return PhaseTraffic(rows: []) }
        return PhaseTraffic(rows: (0..<world.size).map { Array(all[$0 * width ..< ($0 + 1) * width]) })
    }
}

extension PhaseTraffic {
    /// The traffic of rows `[bytes sent, messages sent, bytes received, messages received,
    /// bytes sent to rank 0, …, bytes sent to rank P−1]`, one per rank.
    fileprivate init(rows: [[Int]]) {
        let sentTo = rows.map { Array($0[4...]) }, size = rows.count
        let toNext = sentTo.indices.map { size > 1 ? sentTo[$0][($0 + 1) % size] : 0 }
        self.init(bytesSent: rows.map { $0[0] }, messagesSent: rows.map { $0[1] },
                  bytesReceived: rows.map { $0[2] }, messagesReceived: rows.map { $0[3] },
                  bytesSentTo: sentTo, bytesSentToNext: toNext,
                  bytesSentToOthers: sentTo.indices.map { sentTo[$0].reduce(0, +) - toNext[$0] })
    }
}

/// What one measured phase (forward or backward) produced, over every repeat.
struct PhaseMeasurement {
    /// Median over repeats of the slowest rank's seconds.
    var seconds: Double
    /// Per rank: median over repeats of the seconds spent in compute spans.
    var computeSeconds: [Double]
    /// The last repeat's traffic (rank 0; empty on the other ranks).
    var traffic: PhaseTraffic
    /// Per rank: median over repeats of the rank's own seconds (rank 0; empty elsewhere).
    var rankSeconds: [Double]
    /// The last repeat's spans on this rank.
    var spans: [Span]
}

/// Runs `body` `repeats` times as one phase: ranks start together, the ledger and the
/// timeline are cleared before each repeat; times reach every rank, the traffic rank 0 only.
func measurePhase<T>(repeats: Int, world: Communicator, ledger: TrafficLedger, timeline: Timeline,
                     _ body: () throws -> T) throws -> (T, PhaseMeasurement) {
    var elapsed = [Double](), compute = [Double]()
    var result: T?
    for _ in 0..<repeats {
        try world.barrier()
        ledger.reset()
        timeline.reset()
        let start = MPIEnvironment.wallTime()
        result = try body()
        elapsed.append(MPIEnvironment.wallTime() - start)
        compute.append(timeline.seconds(in: .compute))
    }
    let slowest = try world.allreduce(elapsed, .max)
    let computeByRank = try world.allgather([median(compute)])
    let secondsByRank = try world.gatherv([median(elapsed)], counts: Array(repeating: 1, count: world.size), root: 0)
    return (result!, PhaseMeasurement(seconds: median(slowest), computeSeconds: computeByRank,
                                      traffic: try PhaseTraffic.gather(ledger, world: world),
                                      rankSeconds: secondsByRank ?? [], spans: timeline.spans))
}

/// The middle value (mean of the two middle ones for an even count).
func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Gathers every rank's rows of `local` on rank 0, in global token order (nil elsewhere).
func gatherGlobal(_ local: Tensor32, layout: SequenceLayout, world: Communicator) throws -> Tensor32? {
    let row = local.tokenStride
    guard let rows = try world.gatherv(local.storage, counts: layout.counts.map { $0 * row }, root: 0) else { return nil }
    var global = Tensor32(tokens: layout.tokens, heads: local.heads, dim: local.dim)
    global.scatterTokens(Tensor32(tokens: layout.tokens, heads: local.heads, dim: local.dim, storage: rows),
                         to: layout.gatheredPositions)
    return global
}

/// The outcome of a run, gathered on every rank (tensors on rank 0 only).
struct RunResult {
    var forward: PhaseMeasurement
    var backward: PhaseMeasurement?
    /// Global outputs and gradients by name (`o`, `lse`, `dq`, … ; GLA: `o`, `dq`, …, `dg`), rank 0 only.
    var outputs: [String: Tensor32]
    /// This rank's outputs and gradients by name, rows in the order of `layout.positions(rank:)`.
    var locals: [String: Tensor32]
}

/// Runs `strategy` on this rank's `inputs`, forward and optionally backward, `repeats` times
/// each: one harness for both attention kinds (the problem binds the strategy). A `phantom`
/// run (`RankContext.isPhantom`) gathers no outputs.
/// - Throws: an MPI failure, or what the strategy throws.
func runStrategy(_ strategy: any SequenceParallelStrategy.Type, problem: RunProblem, layout: SequenceLayout,
                 inputs: NamedTensors, backward: Bool, repeats: Int, phantom: Bool = false,
                 world: Communicator) throws -> RunResult {
    let (context, ledger, timeline) = try strategyContext(world: world, layout: layout, phantom: phantom)
    let instance = try problem.bind(strategy, context: context)
    var (locals, forward) = try measurePhase(repeats: repeats, world: world, ledger: ledger, timeline: timeline) {
        try instance.forward(inputs)
    }
    var backwardMeasurement: PhaseMeasurement?
    if backward {
        let (grads, measured) = try measurePhase(repeats: repeats, world: world, ledger: ledger, timeline: timeline) {
            try instance.backward(inputs)
        }
        backwardMeasurement = measured
        locals.merge(grads) { a, _ in a }
    }
    return RunResult(forward: forward, backward: backwardMeasurement,
                     outputs: phantom ? [:] : try gatherOutputs(locals, layout: layout, world: world), locals: locals)
}

/// A strategy's rank context: a duplicate of `world` recording into a fresh ledger, and a timeline.
func strategyContext(world: Communicator, layout: SequenceLayout,
                     phantom: Bool = false) throws -> (RankContext, TrafficLedger, Timeline) {
    let ledger = TrafficLedger()
    let timeline = Timeline(clock: MPIEnvironment.wallTime)
    timeline.observe(ledger)
    let context = RankContext(communicator: try world.dup(recordingInto: ledger), layout: layout, timeline: timeline,
                              isPhantom: phantom)
    return (context, ledger, timeline)
}

/// Every rank's `locals`, gathered on rank 0 in global token order, by name (empty elsewhere).
func gatherOutputs(_ locals: [String: Tensor32], layout: SequenceLayout, world: Communicator) throws -> [String: Tensor32] {
    var outputs = [String: Tensor32]()
    for name in locals.keys.sorted() {
        if let global = try gatherGlobal(locals[name]!, layout: layout, world: world) { outputs[name] = global }
    }
    return outputs
}

/// Max relative error per output name.
func relativeErrors(_ outputs: NamedTensors, against reference: [String: Tensor64]) -> [String: Double] {
    var errors = [String: Double]()
    for (name, ref) in reference {
        if let got = outputs[name] { errors[name] = got.maxRelativeError(against: ref) }
    }
    return errors
}
