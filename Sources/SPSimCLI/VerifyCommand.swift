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
            Shapes scale with the rank count P: MHA and GQA (8 heads) with N = 16·P, and an uneven N = 16·P + 3 \
            with 7 heads sharing one KV head (uneven head splits for head-parallel strategies). Every layout a \
            strategy supports, causal and not, forward and backward.

            Gated linear attention strategies over N = 16·P, an uneven N = 16·P + 3 (with --scan-blocks K = 3 for \
            the strategies that take it), and fast-decay gates (g down to −50).

            Data are float32 (4 bytes per element), seeded; head dims 16 and 8. The matrix is fixed: there are no \
            shape options. Exits 1 on any mismatch.

            Example: mpirun -np 3 spsim verify
            """)

    @Option(help: "Comma-separated strategies to check, or 'all'.")
    var strategy: String = "all"

    @Flag(help: "Print one JSON object on stdout (rank 0).")
    var json = false

    @Flag(help: "Run even when the memory estimate exceeds this host's available memory per rank.")
    var force = false

    /// One row of the matrix.
    struct Case: Encodable {
        var strategy, shape, layout: String
        var causal: Bool
        var errors: [String: Double]?
        var skipped: String?
        var passed: Bool
    }

    func validate() throws { _ = try selectedStrategies() }

    func run() throws {
        try withMPI(validate: { world in
            let types = try selectedStrategies()
            try requireMemory(memoryEstimate(types, world: world), rank: world.rank, worldSize: world.size, force: force)
            return types
        }) { world, types in
            var cases = [Case]()
            for type in types {
                for entry in Self.matrix(type.descriptor, ranks: world.size) {
                    cases.append(try check(type, entry, world: world))
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

    /// The strategies `--strategy` names, from the registry.
    /// - Throws: `ValidationError` for an unknown name (with a did-you-mean).
    func selectedStrategies() throws -> [any SequenceParallelStrategy.Type] {
        if strategy == "all" { return Strategies.all }
        return try StrategyName.list(strategy)
    }

    /// One row of the matrix before it runs.
    struct Entry {
        var shape: String
        var problem: RunProblem
        var layout: LayoutKind
        /// Factor on the generated GLA log-gates (100: gates down to −50, whose products underflow in float32).
        var gateScale: Float = 1
    }

    /// The matrix of a strategy on `ranks` ranks: its attention kind's shapes, every layout it
    /// lists, and for softmax attention causal and not.
    static func matrix(_ strategy: StrategyDescriptor, ranks p: Int) -> [Entry] {
        switch strategy.attention {
        case .softmax:
            let shapes = [
                ("mha N=\(16 * p) H=8 D=16", AttentionProblem(seqLen: 16 * p, heads: 8, kvHeads: 8, headDim: 16, isCausal: false)),
                ("gqa N=\(16 * p) H=8 G=2 D=16", AttentionProblem(seqLen: 16 * p, heads: 8, kvHeads: 2, headDim: 16, isCausal: false)),
                ("uneven N=\(16 * p + 3) H=7 G=1 D=8", AttentionProblem(seqLen: 16 * p + 3, heads: 7, kvHeads: 1, headDim: 8, isCausal: false)),
            ]
            return shapes.flatMap { name, problem in
                strategy.layouts.flatMap { layout in
                    [false, true].map { causal in
                        var q = problem
                        q.isCausal = causal
                        return Entry(shape: name, problem: .softmax(q), layout: layout)
                    }
                }
            }
        case .gla:
            let blocks = strategy.options.contains(.scanBlocks) ? 3 : nil
            let shapes: [(String, LinearAttentionProblem, Float)] = [
                ("gla N=\(16 * p) H=2 Dk=8 Dv=6", LinearAttentionProblem(seqLen: 16 * p, heads: 2, keyDim: 8, valueDim: 6), 1),
                ("gla uneven N=\(16 * p + 3) H=3 Dk=4 Dv=8" + (blocks.map { " (scan-blocks K=\($0))" } ?? ""),
                 LinearAttentionProblem(seqLen: 16 * p + 3, heads: 3, keyDim: 4, valueDim: 8, scanBlocks: blocks), 1),
                ("gla fast-decay N=\(16 * p) H=2 Dk=8 Dv=6 g×100",
                 LinearAttentionProblem(seqLen: 16 * p, heads: 2, keyDim: 8, valueDim: 6), 100),
            ]
            return shapes.flatMap { name, problem, scale in
                strategy.layouts.map { Entry(shape: name, problem: .gla(problem), layout: $0, gateScale: scale) }
            }
        }
    }

    /// The largest estimate over the matrix's cases for this rank (forward, backward and the
    /// float64 reference on rank 0), before any case allocates.
    func memoryEstimate(_ types: [any SequenceParallelStrategy.Type], world: Communicator) -> MemoryEstimate {
        var estimates = [MemoryEstimate]()
        for type in types {
            for entry in Self.matrix(type.descriptor, ranks: world.size) {
                guard case .success(let layout) = SequenceLayout.make(entry.layout, tokens: entry.problem.seqLen,
                                                                      ranks: world.size) else { continue }
                let workload = entry.problem.workload(layout: entry.layout, options: [:])
                let bytes = modelMemoryBytes(strategy: type.name, workload: workload, ranks: world.size, rank: world.rank)
                estimates.append(entry.problem.memoryEstimate(localTokens: layout.count(rank: world.rank), rank: world.rank,
                                                              modelBytes: bytes, backward: true, verify: true,
                                                              inputFiles: false))
            }
        }
        return estimates.max { $0.bytes < $1.bytes } ?? MemoryEstimate()
    }

    /// One row: the strategy forward and backward against the float64 reference, or n/a
    /// when the layout or the strategy refuses the case.
    func check(_ type: any SequenceParallelStrategy.Type, _ entry: Entry, world: Communicator) throws -> Case {
        let causal: Bool
        if case .softmax(let p) = entry.problem { causal = p.isCausal } else { causal = true }
        var row = Case(strategy: type.name, shape: entry.shape, layout: entry.layout.rawValue, causal: causal,
                       errors: nil, skipped: nil, passed: true)
        let problem = entry.problem
        let layout: SequenceLayout
        switch SequenceLayout.make(entry.layout, tokens: problem.seqLen, ranks: world.size) {
        case .failure(let error): row.skipped = error.commandLineMessage; return row
        case .success(let l): layout = l
        }
        if let reason = problem.unsupportedReason(type, layout: entry.layout, ranks: world.size) {
            row.skipped = reason
            return row
        }
        let seed: UInt64 = 7
        let local = problem.generated(seed: seed, positions: layout.positions(rank: world.rank), gateScale: entry.gateScale)
        let result = try runStrategy(type, problem: problem, layout: layout, inputs: local, backward: true,
                                     repeats: 1, world: world)
        let errors = try problem.verificationErrors(result, layout: layout, backward: true, world: world) {
            positions, names in
            problem.generated(seed: seed, positions: positions, gateScale: entry.gateScale, names: names)
        }
        if let errors {
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
