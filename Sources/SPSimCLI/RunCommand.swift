import ArgumentParser
import Foundation
import CostModel
import Kernels
import MPI
import Reports
import SequenceParallel

/// `spsim run`: one strategy on one problem.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one strategy on one problem: timings, traffic, verification, saved outputs.",
        discussion: """
            Example: mpirun -np 4 spsim run --strategy allgather --seq-len 4096 --causal --backward --verify
            With --json, rank 0 prints one JSON object on stdout; everything else goes to stderr.
            """)

    @OptionGroup var problemOptions: ProblemOptions

    @OptionGroup var linearOptions: LinearAttentionOptions

    @Option(help: "The strategy (see `spsim strategies`): softmax \(AttentionStrategies.names) (default allgather); with --attention gla \(LinearAttentionStrategies.names) (default zeco).")
    var strategy: String?

    @Flag(help: "Also run the backward pass (dq, dk, dv; and dg for GLA).")
    var backward = false

    @Option(help: "Read q.npy k.npy v.npy (and g.npy for GLA, do.npy) from this directory instead of generating inputs.")
    var inputs: String?

    @Option(help: "Write o.npy lse.npy (GLA: o.npy) and with --backward dq.npy dk.npy dv.npy (GLA: and dg.npy) here, in global token order.")
    var save: String?

    @Flag(help: "Compare every output with the float64 reference; exit 1 beyond tolerance.")
    var verify = false

    @Option(name: .customLong("repeat"), help: "Timed repetitions of each pass; the median is reported.")
    var repeats: Int = 1

    @Option(help: "Write a Chrome/Perfetto trace (chrome://tracing, ui.perfetto.dev) of the last repeat: one row per rank.")
    var trace: String?

    @Flag(help: "Print one JSON object on stdout (rank 0).")
    var json = false

    @Option(help: "Topology of the model's prediction shown beside the measurement (default: localhost if calibrated, else toy).")
    var topology: String?

    @Option(help: "--strategy usp: ranks per Ulysses group U, U | P and U ≤ H (default: the largest U ≤ sqrt(P) that fits).")
    var ulyssesDegree: Int?

    func validate() throws {
        if ulyssesDegree != nil && linearOptions.attention == .gla {
            throw ValidationError("--ulysses-degree applies to --strategy usp (softmax attention) only")
        }
    }

    /// Everything checked before the first message.
    struct Prepared {
        var problem: AttentionProblem
        var layout: SequenceLayout
        var strategy: any AttentionStrategy.Type
        var local: AttentionInputs
        var global: AttentionInputs?
        var model: Prediction?
    }

    func run() throws {
        if linearOptions.attention == .gla { return try runLinear() }
        try withMPI(validate: prepare) { world, prepared in
            let result = try runAttention(prepared.strategy, problem: prepared.problem, layout: prepared.layout,
                                          inputs: prepared.local, backward: backward, repeats: repeats, world: world)
            try writeTrace(forward: result.forward, backward: result.backward, world: world)
            var status: Int32 = 0
            if world.rank == 0 {
                let p = prepared.problem
                let degree = prepared.strategy == USPAttention.self
                    ? USPAttention.degree(p, layout: prepared.layout.kind, ranks: world.size) : nil
                status = try report(result, strategy: prepared.strategy.name, shape: SoftmaxShape(p, ulyssesDegree: degree),
                                    layout: prepared.layout,
                                    model: prepared.model) {
                    let whole = prepared.global
                        ?? AttentionInputs.generated(p, seed: problemOptions.seed, positions: Array(0..<p.seqLen))
                    return attentionReferenceOutputs(p, inputs: whole, backward: backward)
                }
            }
            return try world.bcast([status], count: 1, root: 0)[0]
        }
    }

    /// With `--trace`, gathers every rank's spans (collective) and writes the file on rank 0.
    func writeTrace(forward: PhaseMeasurement, backward: PhaseMeasurement?, world: Communicator) throws {
        guard let trace else { return }
        let phases = [("forward", forward.spans)] + (backward.map { [("backward", $0.spans)] } ?? [])
        if let events = try gatherTrace(phases, world: world) {
            try chromeTraceJSON(events, ranks: world.size).write(to: URL(fileURLWithPath: trace), options: .atomic)
        }
    }

    func prepare(_ world: Communicator) throws -> Prepared {
        guard repeats >= 1 else { throw InputError("--repeat must be at least 1 (got \(repeats))") }
        let files = try inputs.map(InputFiles.read)
        var problem = try problemOptions.problem(inputShapes: files.map { ($0.q.shape, $0.k.shape) })
        let name = strategy ?? AllGatherAttention.name
        guard let type = AttentionStrategies.named(name) else {
            let linear = LinearAttentionStrategies.named(name) == nil ? "" : " (\(name) is a GLA strategy: add --attention gla)"
            throw InputError("unknown --strategy \(name); known: \(AttentionStrategies.names)\(linear)")
        }
        if let ulyssesDegree {
            guard type == USPAttention.self else {
                throw InputError("--ulysses-degree sets USP's Ulysses group size; --strategy \(name) has none")
            }
            problem.ulyssesDegree = ulyssesDegree
        }
        let layout = try SequenceLayout.make(problemOptions.layout, tokens: problem.seqLen, ranks: world.size).get()
        if let reason = type.unsupportedReason(problem, layout: layout.kind, ranks: world.size) {
            throw InputError(reason)
        }
        try validateSaveDirectory(save)
        try validateTracePath(trace)
        let positions = layout.positions(rank: world.rank)
        let global = try files?.tensors(for: problem, seed: problemOptions.seed)
        let local = global?.slice(positions)
            ?? AttentionInputs.generated(problem, seed: problemOptions.seed, positions: positions)
        var workload = Workload(problem, layout: layout.kind)
        if type == USPAttention.self {
            workload.ulyssesDegree = USPAttention.degree(problem, layout: layout.kind, ranks: world.size)
        }
        let model = try predictRun(strategy: name, workload: workload, ranks: world.size, topology: topology)
        return Prepared(problem: problem, layout: layout, strategy: type, local: local, global: global, model: model)
    }

    /// Verifies (`--verify`), saves (`--save`) and prints the report, on rank 0; returns the exit status.
    func report<Shape: RunShape>(_ result: RunResult, strategy: String, shape: Shape, layout: SequenceLayout,
                                 model: Prediction?, reference: () -> [String: Tensor64]) throws -> Int32 {
        let errors = verify ? relativeErrors(result.outputs, against: reference()) : nil
        let passed = errors.map { $0.allSatisfy { $0.value <= Tolerance.limit(for: $0.key) } }
        if let save { try saveOutputs(result.outputs, to: save) }
        let summary = RunReport(
            strategy: strategy, shape: shape, ranks: layout.ranks, layout: layout.kind.rawValue, seed: problemOptions.seed,
            repeat: repeats, forwardSeconds: result.forward.seconds, backwardSeconds: result.backward?.seconds,
            computeSeconds: result.forward.computeSeconds, backwardComputeSeconds: result.backward?.computeSeconds,
            errors: errors, tolerance: verify ? ["output": Tolerance.output, "gradient": Tolerance.gradient] : nil,
            passed: passed, traffic: TrafficReport(forward: result.forward.traffic, backward: result.backward?.traffic),
            model: model, simulation: .current(forward: result.forward, backward: result.backward))
        if json { print(try jsonLine(summary)) } else { print(summary.text, terminator: "") }
        return passed == false ? 1 : 0
    }
}

/// Writes each output as `<name>.npy` in `directory` (created if missing), global order.
func saveOutputs(_ outputs: [String: Tensor32], to directory: String) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for (name, t) in outputs {
        let shape = name == "lse" ? [t.tokens, t.heads] : t.shape
        try NPY.write(t.storage, shape: shape, to: (directory as NSString).appendingPathComponent("\(name).npy"))
    }
}

/// Traffic of both phases, with per-rank totals in front.
struct TrafficReport: Encodable {
    var bytesSent: [Int]
    var messagesSent: [Int]
    var forward: PhaseTraffic
    var backward: PhaseTraffic?

    init(forward: PhaseTraffic, backward: PhaseTraffic?) {
        self.forward = forward
        self.backward = backward
        bytesSent = zip(forward.bytesSent, backward?.bytesSent ?? forward.bytesSent.map { _ in 0 }).map(+)
        messagesSent = zip(forward.messagesSent, backward?.messagesSent ?? forward.messagesSent.map { _ in 0 }).map(+)
    }
}

/// The text `spsim run` prints for people: a title, the phases' times, per-rank compute and
/// traffic, and the verification line.
func runSummaryText(title: String, computeSeconds: [Double], backwardComputeSeconds: [Double]?, forwardSeconds: Double,
                    backwardSeconds: Double?, repeats: Int, traffic: TrafficReport, errors: [String: Double]?,
                    passed: Bool?) -> String {
    var lines = [title]
    var table = TextTable(columns: ["rank", "fwd compute", "bwd compute", "fwd sent", "fwd msgs", "bwd sent", "bwd msgs"])
    for r in computeSeconds.indices {
        table.append([
            "\(r)", formatSeconds(computeSeconds[r]), backwardComputeSeconds.map { formatSeconds($0[r]) } ?? "-",
            formatBytes(Double(traffic.forward.bytesSent[r])), "\(traffic.forward.messagesSent[r])",
            traffic.backward.map { formatBytes(Double($0.bytesSent[r])) } ?? "-",
            traffic.backward.map { "\($0.messagesSent[r])" } ?? "-",
        ])
    }
    lines.append("forward \(formatSeconds(forwardSeconds))" + (backwardSeconds.map { ", backward \(formatSeconds($0))" } ?? "")
        + " (median of \(repeats), slowest rank)")
    var out = lines.joined(separator: "\n") + "\n" + table.render()
    if let errors {
        out += "verify: " + errors.keys.sorted().map { "\($0) \(String(format: "%.2e", errors[$0]!))" }.joined(separator: ", ")
        out += passed == true ? "  — passed\n" : "  — FAILED (tolerance 1e-4 outputs, 1e-3 gradients)\n"
    }
    return out
}
