import ArgumentParser
import CostModel
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
            with 7 heads sharing one KV head (uneven head splits for head-parallel strategies). Every layout a
            strategy supports, causal and not, forward and backward.
            Gated linear attention strategies (zeco, lasp1, lasp2, exscan) over N = 16·P, an uneven
            N = 16·P + 3 (zeco with K = 3), and fast-decay gates (g down to −50).
            Exits 1 on any mismatch. Example: mpirun -np 3 spsim verify
            """)

    @Option(help: "Comma-separated strategies to check, or 'all'.")
    var strategy: String = "all"

    @Flag(help: "Print one JSON object on stdout (rank 0).")
    var json = false

    @Flag(help: "Run even when the memory estimate exceeds this host's available memory per rank.")
    var force = false

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
        try withMPI(validate: { world in
            let selection = try selectedStrategies()
            try requireMemory(memoryEstimate(selection, world: world), rank: world.rank, worldSize: world.size, force: force)
            return selection
        }) { world, selection in
            let (types, linearTypes) = selection
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
            for type in linearTypes {
                for (shapeName, problem, gateScale) in Self.linearShapes(ranks: world.size) {
                    cases.append(try checkLinear(type, shapeName, problem, gateScale: gateScale, world: world))
                }
            }
            guard world.rank == 0 else { return try world.bcast([0], count: 1, root: 0)[0] }
            let failures = cases.filter { !$0.passed }.count
            if json {
                struct Summary: Encodable { var ranks: Int; var cases: [Case]; var failures: Int }
                print(try jsonLine(Summary(ranks: world.size, cases: cases, failures: failures)))
            } else {
                print(Self.table(cases), terminator: "")
                let skipped = cases.filter { $0.skipped != nil }.count
                print("\(cases.count - failures - skipped) passed, \(failures) failed, \(skipped) not applicable on \(world.size) rank\(world.size == 1 ? "" : "s")")
            }
            return try world.bcast([failures == 0 ? 0 : 1], count: 1, root: 0)[0]
        }
    }

    func selectedStrategies() throws -> ([any AttentionStrategy.Type], [any LinearAttentionStrategy.Type]) {
        if strategy == "all" { return (AttentionStrategies.all, LinearAttentionStrategies.all) }
        var softmax = [any AttentionStrategy.Type](), linear = [any LinearAttentionStrategy.Type]()
        for name in strategy.split(separator: ",").map(String.init) {
            if let type = AttentionStrategies.named(name) {
                softmax.append(type)
            } else if let type = LinearAttentionStrategies.named(name) {
                linear.append(type)
            } else {
                throw InputError("unknown --strategy \(name); known: \(AttentionStrategies.names), \(LinearAttentionStrategies.names)")
            }
        }
        return (softmax, linear)
    }

    /// The largest estimate over the matrix's cases for this rank (forward, backward and the
    /// float64 reference on rank 0), before any case allocates.
    func memoryEstimate(_ selection: ([any AttentionStrategy.Type], [any LinearAttentionStrategy.Type]),
                        world: Communicator) -> MemoryEstimate {
        var estimates = [MemoryEstimate]()
        for type in selection.0 {
            for (_, problem) in Self.shapes(ranks: world.size) {
                for kind in type.layouts {
                    guard case .success(let layout) = SequenceLayout.make(kind, tokens: problem.seqLen, ranks: world.size)
                    else { continue }
                    let bytes = modelMemoryBytes(strategy: type.name, workload: Workload(problem, layout: kind),
                                                 ranks: world.size, rank: world.rank)
                    estimates.append(.softmaxRun(problem, localTokens: layout.count(rank: world.rank), rank: world.rank,
                                                 modelBytes: bytes, backward: true, verify: true, inputFiles: false))
                }
            }
        }
        for type in selection.1 {
            for (_, problem, _) in Self.linearShapes(ranks: world.size) {
                guard case .success(let layout) = SequenceLayout.make(.contiguous, tokens: problem.seqLen, ranks: world.size)
                else { continue }
                let workload = Workload(attention: .gla, seqLen: problem.seqLen, heads: problem.heads,
                                        headDim: problem.keyDim, valueDim: problem.valueDim, isCausal: true)
                let bytes = modelMemoryBytes(strategy: type.name, workload: workload, ranks: world.size, rank: world.rank)
                estimates.append(.linearRun(problem, localTokens: layout.count(rank: world.rank), rank: world.rank,
                                            modelBytes: bytes, backward: true, verify: true, inputFiles: false))
            }
        }
        return estimates.max { $0.bytes < $1.bytes } ?? MemoryEstimate()
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
        var table = TextTable(columns: ["strategy", "shape", "layout", "causal", "o", "lse", "dq", "dk", "dv", "dg", "result"])
        for c in cases {
            let e = { (name: String) in c.errors?[name].map { String(format: "%.1e", $0) } ?? "-" }
            table.append([c.strategy, c.shape, c.layout, c.causal ? "yes" : "no", e("o"), e("lse"), e("dq"), e("dk"), e("dv"), e("dg"),
                          c.skipped != nil ? "n/a" : (c.passed ? "ok" : "FAIL")])
        }
        return table.render()
    }
}
