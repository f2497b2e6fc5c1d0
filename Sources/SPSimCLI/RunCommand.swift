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
            Example: mpirun -np 4 spsim run --strategy \(Strategies.defaultStrategy(.softmax).name) --seq-len 4096 --causal --backward --verify

            With --json, rank 0 prints one JSON object on stdout; everything else goes to stderr.

            Defaults (a small problem a laptop verifies in seconds): --seq-len 1024, --heads 8, --kv-heads = --heads, \
            --head-dim 64, float32 data (4 bytes per element moved), --layout contiguous, --seed 1, --strategy \(Strategies.defaultStrategy(.softmax).name) \
            (\(Strategies.defaultStrategy(.gla).name) with --attention gla); with --inputs, the shape comes from the files. `spsim model` defaults differ (H 32, D 128, bf16): pass the same shape and \
            --bytes-per-element 4 there to compare. \(SizeList.rule.prefix(1).uppercased() + SizeList.rule.dropFirst()).
            """)

    @OptionGroup var problemOptions: ProblemOptions

    @OptionGroup var strategyOptions: StrategyOptions

    @Flag(help: "Also run the backward pass (dq, dk, dv; and dg for GLA).")
    var backward = false

    @Option(help: "Read q.npy k.npy v.npy (and g.npy for GLA, do.npy) from this directory instead of generating inputs.")
    var inputs: String?

    @Option(help: "Write o.npy lse.npy (GLA: o.npy) and with --backward dq.npy dk.npy dv.npy (GLA: and dg.npy) here, in global token order; the directory is replaced as a whole at the end.")
    var save: String?

    @Flag(help: "Run even when the memory estimate exceeds this host's available memory per rank.")
    var force = false

    @Flag(help: "Compare every output with the float64 reference; exit 1 beyond tolerance.")
    var verify = false

    @Flag(help: "Phantom run: no arithmetic (kernels skipped, their FLOPs charged to the simulated clock under SMPI), payloads never filled (shared by every rank under SMPI); the same messages, sizes and ledger as a real run, in bounded memory. Not with --verify, --save, --inputs.")
    var phantom = false

    @Option(name: .customLong("repeat"), help: "Timed repetitions of each pass; the median is reported.")
    var repeats: Int = 1

    @OptionGroup var traceOptions: TraceOptions

    @Flag(help: "Print one JSON object on stdout (rank 0).")
    var json = false

    @Option(help: "Topology of the model's prediction shown beside the measurement (default: localhost if calibrated, else toy).")
    var topology: String?

    func validate() throws {
        _ = try strategyOptions.resolve(attention: problemOptions.attention)
    }

    /// Everything checked before the first message.
    struct Prepared {
        var problem: RunProblem
        var layout: SequenceLayout
        var strategy: any SequenceParallelStrategy.Type
        /// The strategy's options with defaults resolved (U, K).
        var options: [StrategyOption: Int]
        var local: NamedTensors
        var global: NamedTensors?
        var model: Prediction?
        /// This rank's memory estimate (checked against the host before any allocation).
        var memory: MemoryEstimate
    }

    func run() throws {
        try withMPI(validate: prepare) { world, prepared in
            if world.rank == 0 {
                printNote("\(prepared.strategy.name) on \(world.size) rank\(world.size == 1 ? "" : "s"), N = \(prepared.problem.seqLen): "
                          + "forward\(backward ? " and backward" : ""), \(repeats) repeat\(repeats == 1 ? "" : "s")…")
            }
            let result = try runStrategy(prepared.strategy, problem: prepared.problem, layout: prepared.layout,
                                         inputs: prepared.local, backward: backward, repeats: repeats, phantom: phantom,
                                         world: world)
            try traceOptions.write(forward: result.forward, backward: result.backward, model: prepared.model, world: world)
            let p = prepared.problem
            var errors: [String: Double]?, verifySeconds: Double?
            if verify {
                if world.rank == 0 { printNote("verifying against the float64 reference…") }
                // The host's own clock: under SMPI the simulated clock does not see the reference.
                let start = Date()
                errors = try p.verificationErrors(result, layout: prepared.layout, backward: backward, world: world) {
                    positions, names in
                    prepared.global.map { global in global.filter { names.contains($0.key) }.slice(positions) }
                        ?? p.generated(seed: problemOptions.seed, positions: positions, names: names)
                }
                let seconds = try world.allreduce([Date().timeIntervalSince(start)], .max)[0]
                if world.rank == 0 { printNote("verified in \(formatSeconds(seconds)) (host time)") }
                verifySeconds = seconds
            }
            // After the check, so that the peak includes the float64 reference.
            try reportMemoryUse(prepared.memory, world: world)
            var status: Int32 = 0
            if world.rank == 0 {
                status = try report(result, strategy: prepared.strategy.name, shape: p.shape(options: prepared.options),
                                    layout: prepared.layout, model: prepared.model, errors: errors,
                                    verifySeconds: verifySeconds)
            }
            return try world.bcast([status], count: 1, root: 0)[0]
        }
    }

    /// Checks everything a run needs before the first message: the problem (from the
    /// options and `--inputs`), the layout, the strategy's refusal rules, the output paths,
    /// and the model's topology.
    /// - Throws: `InputError` for any of them.
    func prepare(_ world: Communicator) throws -> Prepared {
        guard repeats >= 1 else { throw InputError("--repeat must be at least 1 (got \(repeats))") }
        if phantom, let other = [("--verify", verify), ("--save", save != nil), ("--inputs", inputs != nil)].first(where: { $0.1 }) {
            throw InputError("--phantom computes no values: it cannot be combined with \(other.0)")
        }
        let attention = problemOptions.attention
        let type = try strategyOptions.resolve(attention: attention)
        let files = try inputs.map { try InputFiles.read($0, attention: attention) }
        let problem = try problemOptions.problem(options: strategyOptions.given, inputShapes: files?.shapes)
        let layout = try SequenceLayout.make(problemOptions.layout, tokens: problem.seqLen, ranks: world.size).get()
        if let reason = problem.unsupportedReason(type, layout: layout.kind, ranks: world.size) {
            throw InputError(reason)
        }
        if world.rank == 0 {
            try checkRunOutputs(save: save, trace: traceOptions.trace, outputs: problem.outputElements(backward: backward),
                                ranks: world.size, backward: backward)
        }
        let options = problem.resolvedOptions(type, layout: layout.kind, ranks: world.size)
        let workload = problem.workload(layout: layout.kind, options: options)
        let model = try predictRun(strategy: type.name, workload: workload, ranks: world.size, topology: topology,
                                   rank: world.rank)
        let modelBytes = modelMemoryBytes(strategy: type.name, workload: workload, ranks: world.size, rank: world.rank)
        let memory = problem.memoryEstimate(localTokens: layout.count(rank: world.rank), rank: world.rank,
                                            modelBytes: modelBytes, backward: backward, verify: verify,
                                            inputFiles: files != nil)
        // A phantom run touches no payload memory: the estimate of a real run does not apply.
        if !phantom { try requireMemory(memory, rank: world.rank, worldSize: world.size, force: force) }
        let positions = layout.positions(rank: world.rank)
        let global = try files?.tensors(for: problem, seed: problemOptions.seed)
        let local = phantom ? problem.phantomInputs(count: positions.count)
            : global?.slice(positions) ?? problem.generated(seed: problemOptions.seed, positions: positions)
        return Prepared(problem: problem, layout: layout, strategy: type, options: options, local: local, global: global,
                        model: model, memory: memory)
    }

    /// Saves (`--save`) and prints the report with the `--verify` errors, on rank 0; returns the exit status.
    func report(_ result: RunResult, strategy: String, shape: any RunShape, layout: SequenceLayout,
                model: Prediction?, errors: [String: Double]?, verifySeconds: Double?) throws -> Int32 {
        let passed = errors.map { $0.allSatisfy { $0.value <= Tolerance.limit(for: $0.key) } }
        if let save { try saveOutputs(result.outputs, to: save) }
        let summary = RunReport(
            strategy: strategy, shape: shape, ranks: layout.ranks, layout: layout.kind.rawValue, seed: problemOptions.seed,
            repeat: repeats, forwardSeconds: result.forward.seconds, backwardSeconds: result.backward?.seconds,
            computeSeconds: result.forward.computeSeconds, backwardComputeSeconds: result.backward?.computeSeconds,
            errors: errors, tolerance: verify ? ["output": Tolerance.output, "gradient": Tolerance.gradient] : nil,
            passed: passed, verifySeconds: verifySeconds,
            traffic: TrafficReport(forward: result.forward.traffic, backward: result.backward?.traffic),
            model: model, simulation: .current(forward: result.forward, backward: result.backward), phantom: phantom)
        if json { print(try jsonLine(summary)) } else { print(summary.text, terminator: "") }
        return passed == false ? 1 : 0
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
        out += passed == true ? "  — passed\n" : "  — FAILED (tolerance \(Tolerance.text))\n"
    }
    return out
}
