import ArgumentParser
import Foundation
import Kernels
import MPI
import Reports
import SequenceParallel

/// `spsim verify`: every strategy × shape × layout × causal, forward and backward, against the reference.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every strategy against the float64 reference over a built-in matrix of problems.",
        discussion: """
            Shapes scale with the rank count P: MHA and GQA (8 heads) with N = 16·P, and an uneven N = 16·P + 3
            with 7 heads sharing one KV head (uneven head splits for head-parallel strategies). Every layout a strategy supports, causal and not, forward and backward.
            Exits 1 on any mismatch. Example: mpirun -np 3 spsim verify
            """)

    @Option(help: "Comma-separated strategies to check, or 'all'.")
    var strategy: String = "all"

    @Flag(help: "Print one JSON object on stdout (rank 0).")
    var json = false

    /// One row of the matrix.
    struct Case: Encodable {
        var strategy: String
        var shape: String
        var layout: String
        var causal: Bool
        var errors: [String: Double]?
        var skipped: String?
        var passed: Bool
    }

    func run() throws {
        try withMPI(validate: { _ in try selectedStrategies() }) { world, types in
            var cases = [Case]()
            for type in types {
                for (shapeName, problem) in Self.shapes(ranks: world.size) {
                    for layout in type.layouts {
                        for causal in [false, true] {
                            var p = problem
                            p.isCausal = causal
                            cases.append(try check(type, shapeName, p, layout, world: world))
                        }
                    }
                }
            }
            guard world.rank == 0 else { return try world.bcast([0], count: 1, root: 0)[0] }
            let failures = cases.filter { !$0.passed }.count
            if json {
                struct Summary: Encodable { var ranks: Int; var cases: [Case]; var failures: Int }
                print(try jsonLine(Summary(ranks: world.size, cases: cases, failures: failures)))
            } else {
                print(Self.table(cases), terminator: "")
                print("\(cases.count - failures) passed, \(failures) failed (\(cases.filter { $0.skipped != nil }.count) not applicable) on \(world.size) rank\(world.size == 1 ? "" : "s")")
            }
            return try world.bcast([failures == 0 ? 0 : 1], count: 1, root: 0)[0]
        }
    }

    func selectedStrategies() throws -> [any AttentionStrategy.Type] {
        if strategy == "all" { return AttentionStrategies.all }
        return try strategy.split(separator: ",").map { name in
            guard let type = AttentionStrategies.named(String(name)) else {
                throw InputError("unknown --strategy \(name); known: \(AttentionStrategies.names)")
            }
            return type
        }
    }

    /// The built-in shapes for `ranks` ranks.
    static func shapes(ranks p: Int) -> [(String, AttentionProblem)] {
        [("mha N=\(16 * p) H=8 D=16", AttentionProblem(seqLen: 16 * p, heads: 8, kvHeads: 8, headDim: 16, isCausal: false)),
         ("gqa N=\(16 * p) H=8 G=2 D=16", AttentionProblem(seqLen: 16 * p, heads: 8, kvHeads: 2, headDim: 16, isCausal: false)),
         ("uneven N=\(16 * p + 3) H=7 G=1 D=8", AttentionProblem(seqLen: 16 * p + 3, heads: 7, kvHeads: 1, headDim: 8, isCausal: false))]
    }

    func check(_ type: any AttentionStrategy.Type, _ shape: String, _ problem: AttentionProblem, _ kind: LayoutKind,
               world: Communicator) throws -> Case {
        var row = Case(strategy: type.name, shape: shape, layout: kind.rawValue, causal: problem.isCausal,
                       errors: nil, skipped: nil, passed: true)
        let layout: SequenceLayout
        switch SequenceLayout.make(kind, tokens: problem.seqLen, ranks: world.size) {
        case .failure(let error): row.skipped = error.message; return row
        case .success(let l): layout = l
        }
        if let reason = type.unsupportedReason(problem, layout: kind, ranks: world.size) {
            row.skipped = reason
            return row
        }
        let seed: UInt64 = 7
        let local = AttentionInputs.generated(problem, seed: seed, positions: layout.positions(rank: world.rank))
        let result = try runAttention(type, problem: problem, layout: layout, inputs: local, backward: true,
                                      repeats: 1, world: world)
        if world.rank == 0 {
            let whole = AttentionInputs.generated(problem, seed: seed, positions: Array(0..<problem.seqLen))
            let errors = relativeErrors(result.outputs, against: attentionReferenceOutputs(problem, inputs: whole, backward: true))
            row.errors = errors
            row.passed = errors.count == 5 && errors.allSatisfy { $0.value <= Tolerance.limit(for: $0.key) }
        }
        return row
    }

    static func table(_ cases: [Case]) -> String {
        var table = TextTable(columns: ["strategy", "shape", "layout", "causal", "o", "lse", "dq", "dk", "dv", "result"])
        for c in cases {
            let e = { (name: String) in c.errors?[name].map { String(format: "%.1e", $0) } ?? "-" }
            table.append([c.strategy, c.shape, c.layout, c.causal ? "yes" : "no", e("o"), e("lse"), e("dq"), e("dk"), e("dv"),
                          c.skipped != nil ? "n/a" : (c.passed ? "ok" : "FAIL")])
        }
        return table.render()
    }
}

/// `spsim bench`: micro-benchmarks.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Micro-benchmarks: the attention kernel against OpenBLAS sgemm on this machine.")

    @Flag(help: "Benchmark the attention block kernel beside cblas_sgemm (one process, no MPI).")
    var kernels = false

    @Option(help: "Tokens of the kernel benchmark.")
    var tokens: Int = 2048

    @Option(help: "Heads of the kernel benchmark.")
    var heads: Int = 8

    @Option(help: "Head dimension of the kernel benchmark.")
    var headDim: Int = 64

    @Option(name: .customLong("repeat"), help: "Repetitions; the median is reported.")
    var repeats: Int = 5

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func validate() throws {
        guard kernels else { throw ValidationError("choose a benchmark: --kernels") }
        guard tokens >= 1, heads >= 1, headDim >= 1, repeats >= 1 else {
            throw ValidationError("--tokens, --heads, --head-dim and --repeat must be at least 1")
        }
    }

    func run() throws {
        let r = benchmarkKernels(tokens: tokens, heads: heads, dim: headDim, repeats: repeats)
        struct Report: Encodable {
            var tokens, heads, headDim: Int
            var sgemmGflops, attentionForwardGflops, attentionBackwardGflops, ratio: Double
        }
        let report = Report(tokens: tokens, heads: heads, headDim: headDim, sgemmGflops: r.sgemmGFLOPs,
                            attentionForwardGflops: r.attentionForwardGFLOPs,
                            attentionBackwardGflops: r.attentionBackwardGFLOPs, ratio: r.ratio)
        if json { print(try jsonLine(report)); return }
        var table = TextTable(columns: ["kernel", "GFLOP/s"])
        table.append(["cblas_sgemm", format3(r.sgemmGFLOPs)])
        table.append(["attention forward N=\(tokens) H=\(heads) D=\(headDim)", format3(r.attentionForwardGFLOPs)])
        table.append(["attention backward", format3(r.attentionBackwardGFLOPs)])
        print(table.render(), terminator: "")
        print("attention forward / sgemm = \(String(format: "%.2f", r.ratio))")
    }
}
