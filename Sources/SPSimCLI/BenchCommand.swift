import ArgumentParser
import Foundation
import Kernels
import MPI
import Reports
import SequenceParallel

/// `spsim bench`: micro-benchmarks.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Micro-benchmarks: the scan collectives of linear attention side by side, or the attention kernel.",
        discussion: """
            By default, under mpirun: the exclusive scan of GLA states alone, every variant in one run and one \
            table — ZeCO's All-Scan at each --blocks K, MPI_Exscan with the scan operator as a user op, \
            all-gather + local prefix combine (LASP-2), and the blocking chain (LASP-1) — over state sizes \
            from --min-bytes to --max-bytes (×--factor). Each cell is the median over --repeat of the slowest \
            rank's time, and the achieved bandwidth, state bytes / time (1 GB = 1e9 B). Every result is checked \
            exactly; exit 1 if any element is wrong.
            Example: mpirun -np 4 spsim bench --max-bytes 1048576 --json
            With --kernels (one process, no MPI): the attention block kernel beside cblas_sgemm.
            """)

    @Flag(help: "Benchmark the attention block kernel beside cblas_sgemm (one process, no MPI).")
    var kernels = false

    @Option(help: "Tokens of the kernel benchmark.")
    var tokens: Int = 2048

    @Option(help: "Heads of the kernel benchmark.")
    var heads: Int = 8

    @Option(help: "Head dimension of the kernel benchmark.")
    var headDim: Int = 64

    @Option(help: "Scan benchmark: smallest state, bytes.")
    var minBytes: Int = 4 << 10

    @Option(help: "Scan benchmark: largest state, bytes.")
    var maxBytes: Int = 64 << 20

    @Option(help: "Scan benchmark: each state size is this factor times the previous.")
    var factor: Int = 4

    @Option(help: "Scan benchmark: comma-separated All-Scan block counts K.")
    var blocks: String = "1,4,16,64"

    @Option(help: "Scan benchmark: floats per state row Dv (the state is [1, bytes/(4·Dv), Dv]).")
    var valueDim: Int = 16

    @Option(help: "Scan benchmark: untimed runs of each variant and size before the timed ones.")
    var warmup: Int = 1

    @Option(name: .customLong("repeat"), help: "Timed repetitions; the median is reported.")
    var repeats: Int = 5

    @Flag(help: "Print one JSON object on stdout (rank 0).")
    var json = false

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeat must be at least 1") }
        if kernels {
            try SizeLimits.require("--tokens", tokens, atMost: SizeLimits.maxSeqLen)
            try SizeLimits.require("--heads", heads, atMost: SizeLimits.maxHeads)
            try SizeLimits.require("--head-dim", headDim, atMost: SizeLimits.maxHeadDim)
            try SizeLimits.requireProduct([("--tokens", tokens), ("--heads", heads), ("--head-dim", headDim)],
                                          atMost: SizeLimits.maxTensorElements, of: "elements per tensor")
            try SizeLimits.requireProduct([("--tokens", tokens), ("--tokens", tokens)],
                                          atMost: SizeLimits.maxTensorElements, of: "elements of the score matrix")
            return
        }
        let ks = try blockCounts()
        try SizeLimits.require("--value-dim", valueDim, atMost: SizeLimits.maxHeadDim)
        try SizeLimits.require("--max-bytes", maxBytes, atMost: 4 * SizeLimits.maxStateElements)
        guard factor >= 2 else { throw ValidationError("--factor must be at least 2") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        let rowBytes = 4 * valueDim
        guard minBytes >= rowBytes, minBytes % rowBytes == 0 else {
            throw ValidationError("--min-bytes \(minBytes) must be a positive multiple of a state row, 4·Dv = \(rowBytes) bytes")
        }
        guard maxBytes >= minBytes else { throw ValidationError("--max-bytes \(maxBytes) is below --min-bytes \(minBytes)") }
        let rows = minBytes / rowBytes, largest = ks.max()!
        guard largest <= rows else {
            throw ValidationError("--blocks \(largest) exceeds the \(rows) rows of the smallest state; raise --min-bytes or lower --value-dim")
        }
    }

    /// The All-Scan block counts of `--blocks`.
    func blockCounts() throws -> [Int] {
        let values = blocks.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--blocks must be a comma-separated list of positive integers (got \(blocks))")
        }
        return values.map { $0! }
    }

    /// The state sizes, bytes: `minBytes · factor^i` up to `maxBytes`.
    var sizes: [Int] {
        var out = [Int](), size = minBytes
        while size <= maxBytes {
            out.append(size)
            if size > maxBytes / factor { break }
            size *= factor
        }
        return out
    }

    func run() throws {
        if kernels { return try runKernels() }
        try runScans()
    }

    // MARK: The scan collectives

    /// One measured cell: a variant at a state size.
    struct ScanResult: Encodable {
        var variant: String
        var collective: String
        /// All-Scan's K (nil for the other collectives).
        var blocks: Int?
        var stateBytes: Int
        /// Median over repeats of the slowest rank's seconds.
        var seconds: Double
        /// State bytes / seconds, 1e9 bytes per GB.
        var gbPerSecond: Double
        /// Elements of any rank's S_in that differ from the exact result.
        var wrongElements: Int
    }

    struct ScanReport: Encodable {
        var ranks: Int
        var valueDim: Int
        var `repeat`: Int
        var warmup: Int
        var variants: [String]
        var stateBytes: [Int]
        var results: [ScanResult]
        var wrongElements: Int
    }

    func runScans() throws {
        let collectives = try blockCounts().map { ScanCollective.allScan(blocks: $0) } + [.exscan, .allgather, .chain]
        try withMPI(validate: { world in
            // The largest state a few times over (element, result, buffers) plus every rank's (all-gather).
            var memory = MemoryEstimate()
            memory.add("scan states", Double(sizes.max() ?? 0) * Double(world.size + 4))
            memory.add("process", MemoryEstimate.processBytes)
            try requireMemory(memory, rank: world.rank, worldSize: world.size, force: false, forceOption: nil)
        }) { world, _ in
            let communicator = try world.dup()
            var results = [ScanResult]()
            for size in sizes {
                let rows = size / (4 * valueDim)
                let element = ScanBenchmarkInput.element(rank: world.rank, rows: rows, valueDim: valueDim)
                for collective in collectives {
                    for _ in 0..<warmup { _ = try collective.incomingState(element, on: communicator) }
                    var elapsed = [Double]()
                    var incoming: GLAState?
                    for _ in 0..<repeats {
                        try world.barrier()
                        let start = MPIEnvironment.wallTime()
                        incoming = try collective.incomingState(element, on: communicator)
                        elapsed.append(MPIEnvironment.wallTime() - start)
                    }
                    let slowest = try world.allreduce(elapsed, .max)
                    let wrong = Int(try world.allreduce([Int64(ScanBenchmarkInput.wrongElements(incoming!, rank: world.rank))], .sum)[0])
                    let seconds = median(slowest)
                    var scanBlocks: Int?
                    if case .allScan(let k) = collective { scanBlocks = k }
                    results.append(ScanResult(variant: collective.description, collective: collective.family, blocks: scanBlocks,
                                              stateBytes: size, seconds: seconds, gbPerSecond: Double(size) / seconds / 1e9,
                                              wrongElements: wrong))
                }
            }
            let wrong = results.reduce(0) { $0 + $1.wrongElements }
            if world.rank == 0 {
                let report = ScanReport(ranks: world.size, valueDim: valueDim, repeat: repeats, warmup: warmup,
                                        variants: collectives.map(\.description), stateBytes: sizes, results: results,
                                        wrongElements: wrong)
                if json { print(try jsonLine(report)) } else { print(Self.table(report), terminator: "") }
            }
            return wrong == 0 ? 0 : 1
        }
    }

    static func table(_ report: ScanReport) -> String {
        var table = TextTable(columns: ["state"] + report.variants)
        for size in report.stateBytes {
            let cells = report.variants.map { variant -> String in
                guard let r = report.results.first(where: { $0.variant == variant && $0.stateBytes == size }) else { return "-" }
                return "\(formatSeconds(r.seconds)) \(String(format: "%.2f", r.gbPerSecond)) GB/s"
                    + (r.wrongElements > 0 ? " WRONG" : "")
            }
            table.append([formatBytes(Double(size))] + cells)
        }
        return "exclusive scan of GLA states on \(report.ranks) ranks, [1, bytes/\(4 * report.valueDim), \(report.valueDim)] "
            + "float32, median of \(report.repeat) (slowest rank); GB/s = state bytes / time\n" + table.render()
            + (report.wrongElements > 0 ? "\(report.wrongElements) wrong elements\n" : "every result exact\n")
    }

    // MARK: The attention kernel

    func runKernels() throws {
        // q, k, v, do, o, dq, dk, dv and copies, and the N×N score matrix, float32.
        var memory = MemoryEstimate()
        memory.add("kernel benchmark", 4 * (Double(tokens) * Double(tokens) + 12 * Double(tokens * heads * headDim)))
        memory.add("process", MemoryEstimate.processBytes)
        try requireMemory(memory, rank: 0, worldSize: 1, force: false, forceOption: nil)
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
