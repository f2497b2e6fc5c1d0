import CostModel
import Kernels
import SequenceParallel

/// The problem's own fields of a `spsim run` report, flattened into the same JSON object.
protocol RunShape: Encodable {
    /// The report's first line for people.
    func title(strategy: String, ranks: Int, layout: String) -> String
}

/// Softmax attention: `attention`, `seq_len`, `heads`, `kv_heads`, `head_dim`, `causal`,
/// and for USP the Ulysses degree it ran with, `ulysses_degree`.
struct SoftmaxShape: RunShape {
    let attention = "softmax"
    var seqLen, heads, kvHeads, headDim: Int
    var causal: Bool
    var ulyssesDegree: Int?

    init(_ p: AttentionProblem, ulyssesDegree: Int? = nil) {
        (seqLen, heads, kvHeads, headDim, causal) = (p.seqLen, p.heads, p.kvHeads, p.headDim, p.isCausal)
        self.ulyssesDegree = ulyssesDegree
    }

    func title(strategy: String, ranks: Int, layout: String) -> String {
        "\(strategy) on \(ranks) rank\(ranks == 1 ? "" : "s"): N=\(seqLen) H=\(heads) G=\(kvHeads) D=\(headDim) \(causal ? "causal" : "non-causal")"
            + (ulyssesDegree.map { " U=\($0)" } ?? "") + " \(layout)"
    }
}

/// Gated linear attention: `attention`, `seq_len`, `heads`, `head_dim` (Dk), `value_dim` (Dv),
/// `scan_blocks` (ZeCO's K), `state_bytes` (one state, H·Dk·Dv·4).
struct GLAShape: RunShape {
    let attention = "gla"
    var seqLen, heads, headDim, valueDim: Int
    var scanBlocks: Int?
    var stateBytes: Int

    init(_ p: LinearAttentionProblem, scanBlocks: Int?) {
        (seqLen, heads, headDim, valueDim, stateBytes) = (p.seqLen, p.heads, p.keyDim, p.valueDim, p.stateBytes)
        self.scanBlocks = scanBlocks
    }

    func title(strategy: String, ranks: Int, layout: String) -> String {
        "\(strategy) on \(ranks) rank\(ranks == 1 ? "" : "s"): GLA N=\(seqLen) H=\(heads) Dk=\(headDim) Dv=\(valueDim)"
            + (scanBlocks.map { " K=\($0)" } ?? "") + " \(layout)"
    }
}

/// The `--json` object of `spsim run` (field names carry units): the shape's fields, then
/// timings, per-rank compute, verification, traffic and the model's prediction.
struct RunReport: Encodable {
    var strategy: String
    var shape: any RunShape
    var ranks: Int
    var layout: String
    var seed: UInt64
    var `repeat`: Int
    var forwardSeconds: Double
    var backwardSeconds: Double?
    var computeSeconds: [Double]
    var backwardComputeSeconds: [Double]?
    var errors: [String: Double]?
    var tolerance: [String: Double]?
    var passed: Bool?
    /// With `--verify`: host seconds of the float64 reference and the comparison (slowest
    /// rank), to set beside `forwardSeconds + backwardSeconds`.
    var verifySeconds: Double?
    var traffic: TrafficReport
    /// The cost model's prediction for the same configuration (float32, as the run moves).
    var model: Prediction?
    /// Under SMPI: the simulation's platform and collectives (`"simulated": true` beside it);
    /// the times above are then simulated seconds. Absent on a real MPI.
    var simulation: SimulationInfo?
    /// A phantom run (`--phantom`): no arithmetic, the real run's messages; times and traffic only.
    var phantom = false

    enum CodingKeys: String, CodingKey {
        case strategy, ranks, layout, seed, `repeat`, forwardSeconds, backwardSeconds, computeSeconds
        case backwardComputeSeconds, errors, tolerance, passed, verifySeconds, traffic, model, blas, simulated, simulation
        case phantom
    }

    func encode(to encoder: Encoder) throws {
        try shape.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(strategy, forKey: .strategy)
        try c.encode(ranks, forKey: .ranks)
        try c.encode(layout, forKey: .layout)
        try c.encode(seed, forKey: .seed)
        try c.encode(`repeat`, forKey: .repeat)
        try c.encode(forwardSeconds, forKey: .forwardSeconds)
        try c.encodeIfPresent(backwardSeconds, forKey: .backwardSeconds)
        try c.encode(computeSeconds, forKey: .computeSeconds)
        try c.encodeIfPresent(backwardComputeSeconds, forKey: .backwardComputeSeconds)
        try c.encodeIfPresent(errors, forKey: .errors)
        try c.encodeIfPresent(tolerance, forKey: .tolerance)
        try c.encodeIfPresent(passed, forKey: .passed)
        try c.encodeIfPresent(verifySeconds, forKey: .verifySeconds)
        try c.encode(traffic, forKey: .traffic)
        try c.encodeIfPresent(model, forKey: .model)
        try c.encode(BLASCore.current, forKey: .blas)  // the BLAS and kernel core of the compute times
        if phantom { try c.encode(true, forKey: .phantom) }
        if let simulation {
            try c.encode(true, forKey: .simulated)
            try c.encode(simulation, forKey: .simulation)
        }
    }

    /// The same facts for people.
    var text: String {
        runSummaryText(
            title: shape.title(strategy: strategy, ranks: ranks, layout: layout), computeSeconds: computeSeconds,
            backwardComputeSeconds: backwardComputeSeconds, forwardSeconds: forwardSeconds,
            backwardSeconds: backwardSeconds, repeats: `repeat`, traffic: traffic, errors: errors, passed: passed)
            + (model.map { modelComparison($0, measuredForward: forwardSeconds, measuredBackward: backwardSeconds) } ?? "")
            + (simulation.map { s in
                "simulated (SimGrid SMPI) on \(s.topology ?? "a platform spsim did not write"); collectives: "
                    + s.collectives.keys.sorted().map { "\($0) \(s.collectives[$0]!)" }.joined(separator: ", ") + "\n"
            } ?? "")
            + (phantom ? "phantom: kernels skipped (their FLOPs charged), payloads unfilled; the messages are a real run's\n" : "")
    }
}
