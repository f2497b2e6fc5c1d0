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
        abstract: "Micro-benchmarks: the scan collectives of linear attention side by side, the kernels, or a training step.",
        discussion: """
            By default, under mpirun: the exclusive scan of GLA states alone, every variant in one run and one \
            table — ZeCO's All-Scan at each --blocks K, MPI_Exscan with the scan operator as a user op, \
            all-gather + local prefix combine (LASP-2), and the blocking chain (LASP-1) — over state sizes \
            from --min-bytes to --max-bytes (×--factor). Each cell is the median (min–max) over --repeat of the \
            slowest rank's time, the achieved bandwidth, state bytes / time (1 GB = 1e9 B), and the fraction of \
            the wire: (ping-pong one way + one memcpy of the same bytes, both measured in the run) / time. Every result is checked \
            exactly; exit 1 if any element is wrong.

            Example: mpirun -np 4 spsim bench --max-bytes 1M --json

            Defaults: states 4k to 64M bytes (×4), --value-dim 16, --repeat 5 after --warmup 1; kernels N 2048, H 8, D 64, float32.

            With --kernels (no MPI: under mpirun every process runs it alone): the attention block kernel, \
            forward and backward, and the GLA chunk kernel beside cblas_sgemm. With --train: training steps of \
            the tiny model on this job's ranks beside the best single-thread sgemm.
            """)

    @Flag(help: "Benchmark the attention and GLA kernels beside cblas_sgemm (no MPI: under mpirun every process runs it alone).")
    var kernels = false

    @Flag(help: "Benchmark one training step of the tiny model at --tokens (default 4096 here) beside the best single-thread sgemm.")
    var train = false

    @Option(help: ArgumentHelp("Tokens of the kernel benchmark (a size, e.g. 2k; default 2048, --train 4096).", valueName: "size"),
            transform: parseSize)
    var tokens: Int?

    @Option(help: "Heads of the kernel benchmark (default 8).")
    var heads: Int?

    @Option(help: "Head dimension of the kernel benchmark (default 64).")
    var headDim: Int?

    @Option(help: "Kernel benchmark: another sgemm's GFLOP/s on the same products (Scripts/bench.sh passes numpy's, one thread), printed beside the kernels as a ratio.")
    var referenceSgemmGflops: Double?

    @Option(help: ArgumentHelp("Scan benchmark: smallest state, bytes (a size, e.g. 4k).", valueName: "size"), transform: parseSize)
    var minBytes: Int = 4 << 10

    @Option(help: ArgumentHelp("Scan benchmark: largest state, bytes (a size, e.g. 64M).", valueName: "size"), transform: parseSize)
    var maxBytes: Int = 64 << 20

    @Option(help: "Scan benchmark: each state size is this factor times the previous.")
    var factor: Int = 4

    @Option(help: "Scan benchmark: comma-separated All-Scan block counts K.")
    var blocks: String = "1,4,16,64"

    @Option(help: "Scan benchmark: floats per state row Dv (the state is [1, bytes/(4·Dv), Dv]).")
    var valueDim: Int = 16

    @Option(help: "Scan benchmark: untimed runs of each variant and size before the timed ones.")
    var warmup: Int = 1

    @Option(name: .customLong("repeat"), help: "Timed repetitions; the median (and min, max) is reported.")
    var repeats: Int = 5

    @Flag(help: "Print one JSON object on stdout (rank 0).")
    var json = false

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeat must be at least 1") }
        if kernels && train { throw ValidationError("--kernels and --train are separate benchmarks: give one") }
        if train {
            if let unused = [("--heads", heads != nil), ("--head-dim", headDim != nil),
                             ("--reference-sgemm-gflops", referenceSgemmGflops != nil)].first(where: { $0.1 }) {
                throw ValidationError("\(unused.0) is an option of --kernels; --train times the tiny model, whose shape is fixed")
            }
            // As `spsim train` takes --seq-len.
            guard (tokens ?? 1) >= 1 else { throw ValidationError("--tokens must be at least 1") }
            guard (tokens ?? 1) < 1 << 31 else { throw ValidationError("--tokens \(tokens!) is too long: at most 2³¹ − 1 tokens") }
            return
        }
        if kernels {
            if let referenceSgemmGflops, !(referenceSgemmGflops > 0) {
                throw ValidationError("--reference-sgemm-gflops must be positive (got \(referenceSgemmGflops))")
            }
            let heads = heads ?? 8, headDim = headDim ?? 64
            try SizeLimits.require("--tokens", tokens ?? 2048, atMost: SizeLimits.maxSeqLen)
            try SizeLimits.require("--heads", heads, atMost: SizeLimits.maxHeads)
            try SizeLimits.require("--head-dim", headDim, atMost: SizeLimits.maxHeadDim)
            try SizeLimits.requireProduct([("--tokens", tokens ?? 2048), ("--heads", heads), ("--head-dim", headDim)],
                                          atMost: SizeLimits.maxTensorElements, of: "elements per tensor")
            try SizeLimits.requireProduct([("--tokens", tokens ?? 2048), ("--tokens", tokens ?? 2048)],
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
        if train { return try runTrainBenchmark(tokens: tokens ?? 4096, repeats: repeats, json: json) }
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
        /// Fastest and slowest repeat (slowest rank's seconds).
        var minSeconds: Double
        var maxSeconds: Double
        /// State bytes / seconds, 1e9 bytes per GB.
        var gbPerSecond: Double
        /// (one-way ping-pong of the state's bytes + one memcpy pass over it) / seconds: 1 is
        /// the transport's limit for one hop.
        var wireFraction: Double
        /// The same from the fastest repeats: (fastest ping-pong + fastest memcpy) / minSeconds
        /// (on a loaded machine the medians carry the load; the fastest runs show the code).
        var wireFractionBest: Double
        /// Elements of any rank's S_in that differ from the exact result.
        var wrongElements: Int
    }

    /// The transport's own cost for a state size, measured in the same run.
    struct WireResult: Encodable {
        var stateBytes: Int
        /// One-way time of a ping-pong of the state's bytes between ranks 0 and 1 (median over
        /// repeats of half a round trip; min and max beside it).
        var pingPongSeconds: Double
        var pingPongMinSeconds: Double
        var pingPongMaxSeconds: Double
        /// One memcpy of the state's bytes (median and fastest, slowest rank).
        var memcpySeconds: Double
        var memcpyMinSeconds: Double
    }

    struct ScanReport: Encodable {
        var ranks: Int
        var valueDim: Int
        var `repeat`: Int
        var warmup: Int
        var variants: [String]
        var stateBytes: [Int]
        var wire: [WireResult]
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
            var results = [ScanResult](), wire = [WireResult]()
            for size in sizes {
                let rows = size / (4 * valueDim)
                let element = ScanBenchmarkInput.element(rank: world.rank, rows: rows, valueDim: valueDim)
                let link = try measureWire(bytes: size, on: communicator)
                wire.append(link)
                for collective in collectives {
                    let prepared = try PreparedScan(collective, element: element, on: communicator)
                    for _ in 0..<warmup { try prepared.run() }
                    var elapsed = [Double]()
                    for _ in 0..<repeats {
                        try world.barrier()
                        let start = MPIEnvironment.wallTime()
                        try prepared.run()
                        elapsed.append(MPIEnvironment.wallTime() - start)
                    }
                    let slowest = try world.allreduce(elapsed, .max)
                    let wrong = Int(try world.allreduce(
                        [Int64(ScanBenchmarkInput.wrongElements(prepared.incomingState, rank: world.rank))], .sum)[0])
                    let seconds = median(slowest)
                    var scanBlocks: Int?
                    if case .allScan(let k) = collective { scanBlocks = k }
                    results.append(ScanResult(variant: collective.description, collective: collective.family, blocks: scanBlocks,
                                              stateBytes: size, seconds: seconds, minSeconds: slowest.min()!,
                                              maxSeconds: slowest.max()!, gbPerSecond: Double(size) / seconds / 1e9,
                                              wireFraction: (link.pingPongSeconds + link.memcpySeconds) / seconds,
                                              wireFractionBest: (link.pingPongMinSeconds + link.memcpyMinSeconds) / slowest.min()!,
                                              wrongElements: wrong))
                }
            }
            let wrong = results.reduce(0) { $0 + $1.wrongElements }
            if world.rank == 0 {
                let report = ScanReport(ranks: world.size, valueDim: valueDim, repeat: repeats, warmup: warmup,
                                        variants: collectives.map(\.description), stateBytes: sizes, wire: wire,
                                        results: results, wrongElements: wrong)
                if json { print(try jsonLine(report)) } else { print(Self.table(report), terminator: "") }
            }
            return wrong == 0 ? 0 : 1
        }
    }

    /// The transport's cost for `bytes`: a ping-pong between ranks 0 and 1 in buffers allocated
    /// once (`warmup` untimed round trips, then `repeats` timed), and one memcpy of the same bytes.
    func measureWire(bytes: Int, on communicator: Communicator) throws -> WireResult {
        let outgoing = MessageBuffer<UInt8>(count: bytes, repeating: 1), incoming = MessageBuffer<UInt8>(count: bytes, repeating: 0)
        let rank = communicator.rank
        var times = [Double]()
        try communicator.barrier()
        for run in 0..<(max(warmup, 1) + repeats) {
            let start = MPIEnvironment.wallTime()
            if communicator.size < 2 {
                break  // one rank: no wire
            } else if rank == 0 {
                try communicator.isend(outgoing, to: 1, tag: 7).wait()
                try communicator.irecv(into: incoming, from: 1, tag: 7).wait()
            } else if rank == 1 {
                try communicator.irecv(into: incoming, from: 0, tag: 7).wait()
                try communicator.isend(outgoing, to: 0, tag: 7).wait()
            }
            if run >= max(warmup, 1) { times.append((MPIEnvironment.wallTime() - start) / 2) }
        }
        if times.isEmpty { times = [0] }
        let pingPong = try communicator.allreduce([median(times), times.min()!, times.max()!], .max)
        var copies = [Double]()
        for run in 0..<(1 + repeats) {
            let start = MPIEnvironment.wallTime()
            incoming.baseAddress.update(from: outgoing.baseAddress, count: bytes)
            if run > 0 { copies.append(MPIEnvironment.wallTime() - start) }
        }
        let copy = try communicator.allreduce([median(copies), copies.min()!], .max)
        return WireResult(stateBytes: bytes, pingPongSeconds: pingPong[0], pingPongMinSeconds: pingPong[1],
                          pingPongMaxSeconds: pingPong[2], memcpySeconds: copy[0], memcpyMinSeconds: copy[1])
    }

    static func table(_ report: ScanReport) -> String {
        var table = TextTable(columns: ["state", "ping-pong one way", "memcpy"] + report.variants)
        for (size, link) in zip(report.stateBytes, report.wire) {
            let cells = report.variants.map { variant -> String in
                guard let r = report.results.first(where: { $0.variant == variant && $0.stateBytes == size }) else { return "-" }
                return "\(formatSeconds(r.seconds)) (\(formatSeconds(r.minSeconds))–\(formatSeconds(r.maxSeconds))) "
                    + "\(String(format: "%.2f", r.gbPerSecond)) GB/s wire \(String(format: "%.2f", r.wireFraction))"
                    + " (best \(String(format: "%.2f", r.wireFractionBest)))"
                    + (r.wrongElements > 0 ? " WRONG" : "")
            }
            table.append([formatBytes(Double(size)),
                          "\(formatSeconds(link.pingPongSeconds)) (\(formatSeconds(link.pingPongMinSeconds))–\(formatSeconds(link.pingPongMaxSeconds)))",
                          formatSeconds(link.memcpySeconds)] + cells)
        }
        return "exclusive scan of GLA states on \(report.ranks) ranks, [1, bytes/\(4 * report.valueDim), \(report.valueDim)] "
            + "float32; each cell: median (min–max) over \(report.repeat) repeats of the slowest rank, state bytes / median, "
            + "and the fraction of the wire = (ping-pong one way + memcpy of the same bytes) / median "
            + "(best: the same from the fastest repeats)\n" + table.render()
            + (report.wrongElements > 0 ? "\(report.wrongElements) wrong elements\n" : "every result exact\n")
    }

    // MARK: The attention kernel

    func runKernels() throws {
        let tokens = self.tokens ?? 2048, heads = self.heads ?? 8, headDim = self.headDim ?? 64
        // q, k, v, do, o, dq, dk, dv and copies, and the N×N score matrix, float32.
        var memory = MemoryEstimate()
        memory.add("kernel benchmark", 4 * (Double(tokens) * Double(tokens) + 12 * Double(tokens * heads * headDim)))
        memory.add("process", MemoryEstimate.processBytes)
        try requireMemory(memory, rank: 0, worldSize: 1, force: false, forceOption: nil)
        let r = benchmarkKernels(tokens: tokens, heads: heads, dim: headDim, repeats: repeats)
        struct Report: Encodable {
            var tokens, heads, headDim: Int
            var blas: BLASCore
            var sgemmGflops, attentionForwardGflops, attentionBackwardGflops, glaForwardGflops, ratio: Double
            var referenceSgemmGflops: Double?
            var forwardOverReference, backwardOverReference, glaOverReference: Double?
        }
        let reference = referenceSgemmGflops
        let over = { (x: Double) in reference.map { x / $0 } }
        let report = Report(tokens: tokens, heads: heads, headDim: headDim, blas: r.blas, sgemmGflops: r.sgemmGFLOPs,
                            attentionForwardGflops: r.attentionForwardGFLOPs,
                            attentionBackwardGflops: r.attentionBackwardGFLOPs, glaForwardGflops: r.glaForwardGFLOPs,
                            ratio: r.ratio, referenceSgemmGflops: reference,
                            forwardOverReference: over(r.attentionForwardGFLOPs),
                            backwardOverReference: over(r.attentionBackwardGFLOPs), glaOverReference: over(r.glaForwardGFLOPs))
        if json { print(try jsonLine(report)); return }
        print("BLAS: \(r.blas.summary)")
        var table = TextTable(columns: ["kernel", "GFLOP/s", "/ cblas_sgemm"] + (reference == nil ? [] : ["/ reference sgemm"]))
        func row(_ name: String, _ x: Double) {
            table.append([name, format3(x), String(format: "%.2f", x / r.sgemmGFLOPs)]
                         + (reference.map { [String(format: "%.2f", x / $0)] } ?? []))
        }
        if let reference { table.append(["reference sgemm (--reference-sgemm-gflops)", format3(reference), "-", "1.00"]) }
        row("cblas_sgemm", r.sgemmGFLOPs)
        row("attention forward N=\(tokens) H=\(heads) D=\(headDim)", r.attentionForwardGFLOPs)
        row("attention backward (2.5x forward FLOPs)", r.attentionBackwardGFLOPs)
        row("GLA chunk forward C=64 Dk=Dv=\(headDim)", r.glaForwardGFLOPs)
        print(table.render(), terminator: "")
        print("FLOPs: attention forward 4·N²·H·D, backward 10·N²·H·D; GLA forward N·H·(4·Dk·Dv + C·(Dk+Dv))")
    }
}
