/// One phase (forward or backward) as the model predicts it, per rank.
///
/// Times are seconds on the topology:
/// - `commSeconds[r]`: the α-β time of the messages and collectives rank r takes part in,
///   as if nothing overlapped them (wire time).
/// - `computeSeconds[r]`: rank r's FLOPs at the device's attention throughput.
/// - `exposedCommSeconds[r]`: the part of the communication that rank r's own compute does
///   not hide (equal to `commSeconds` for schedules without overlap).
/// - `seconds[r]`: when rank r finishes the phase, counting waits for slower ranks.
public struct PhasePrediction: Sendable, Equatable, Codable {
    /// Bytes each rank sends, counted as the ledger counts them.
    public var bytesSent: [Int]
    /// Messages each rank sends, counted as the ledger counts them.
    public var messagesSent: [Int]
    /// Wire time per rank.
    public var commSeconds: [Double]
    /// Compute time per rank.
    public var computeSeconds: [Double]
    /// Communication not hidden by the rank's own compute, per rank.
    public var exposedCommSeconds: [Double]
    /// Finishing time per rank.
    public var seconds: [Double]

    /// An empty phase on `ranks` ranks.
    public init(ranks: Int) {
        bytesSent = Array(repeating: 0, count: ranks)
        messagesSent = Array(repeating: 0, count: ranks)
        commSeconds = Array(repeating: 0, count: ranks)
        computeSeconds = Array(repeating: 0, count: ranks)
        exposedCommSeconds = Array(repeating: 0, count: ranks)
        seconds = Array(repeating: 0, count: ranks)
    }

    /// The phase's time: the slowest rank.
    public var maxSeconds: Double { seconds.max() ?? 0 }
    /// The largest exposed communication of any rank.
    public var maxExposedCommSeconds: Double { exposedCommSeconds.max() ?? 0 }
    /// The largest wire time of any rank.
    public var maxCommSeconds: Double { commSeconds.max() ?? 0 }
    /// The largest compute time of any rank.
    public var maxComputeSeconds: Double { computeSeconds.max() ?? 0 }
}

/// The model's prediction for one strategy on one workload, rank count and topology.
public struct Prediction: Sendable, Equatable, Codable {
    /// The strategy's `--strategy` name.
    public var strategy: String
    /// The topology's name.
    public var topology: String
    /// Ranks P.
    public var ranks: Int
    /// The workload.
    public var workload: Workload
    /// The forward pass.
    public var forward: PhasePrediction
    /// The backward pass.
    public var backward: PhasePrediction
    /// Peak activation memory per rank in bytes: inputs, outputs, gradients and the
    /// strategy's buffers alive at once (no attention matrix: kernels are tiled).
    public var memoryBytes: [Int]
    /// ZeCO's pipeline blocks K used (nil for other strategies).
    public var scanBlocks: Int?

    /// Forward plus backward wire time per rank.
    public var commSeconds: [Double] { zip(forward.commSeconds, backward.commSeconds).map(+) }
    /// Forward plus backward compute per rank.
    public var computeSeconds: [Double] { zip(forward.computeSeconds, backward.computeSeconds).map(+) }
    /// Forward plus backward exposed communication per rank.
    public var exposedCommSeconds: [Double] { zip(forward.exposedCommSeconds, backward.exposedCommSeconds).map(+) }
    /// Forward plus backward finishing time per rank.
    public var stepSeconds: [Double] { zip(forward.seconds, backward.seconds).map(+) }
    /// The step's time: forward and backward of the slowest rank.
    public var maxStepSeconds: Double { forward.maxSeconds + backward.maxSeconds }

    private enum CodingKeys: String, CodingKey {
        case strategy, topology, ranks, workload, forward, backward, memoryBytes, scanBlocks
        case commSeconds, computeSeconds, exposedCommSeconds, stepSeconds
    }

    /// Encodes the stored fields and the per-rank totals (`step_seconds`, …).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(strategy, forKey: .strategy)
        try c.encode(topology, forKey: .topology)
        try c.encode(ranks, forKey: .ranks)
        try c.encode(workload, forKey: .workload)
        try c.encode(forward, forKey: .forward)
        try c.encode(backward, forKey: .backward)
        try c.encode(memoryBytes, forKey: .memoryBytes)
        try c.encodeIfPresent(scanBlocks, forKey: .scanBlocks)
        try c.encode(commSeconds, forKey: .commSeconds)
        try c.encode(computeSeconds, forKey: .computeSeconds)
        try c.encode(exposedCommSeconds, forKey: .exposedCommSeconds)
        try c.encode(stepSeconds, forKey: .stepSeconds)
    }

    /// Decodes the stored fields (the totals are derived).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        strategy = try c.decode(String.self, forKey: .strategy)
        topology = try c.decode(String.self, forKey: .topology)
        ranks = try c.decode(Int.self, forKey: .ranks)
        workload = try c.decode(Workload.self, forKey: .workload)
        forward = try c.decode(PhasePrediction.self, forKey: .forward)
        backward = try c.decode(PhasePrediction.self, forKey: .backward)
        memoryBytes = try c.decode([Int].self, forKey: .memoryBytes)
        scanBlocks = try c.decodeIfPresent(Int.self, forKey: .scanBlocks)
    }

    /// A prediction from its parts.
    public init(strategy: String, topology: String, ranks: Int, workload: Workload, forward: PhasePrediction,
                backward: PhasePrediction, memoryBytes: [Int], scanBlocks: Int? = nil) {
        self.strategy = strategy
        self.topology = topology
        self.ranks = ranks
        self.workload = workload
        self.forward = forward
        self.backward = backward
        self.memoryBytes = memoryBytes
        self.scanBlocks = scanBlocks
    }
}
