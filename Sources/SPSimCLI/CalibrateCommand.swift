import ArgumentParser
import CostModel
import Foundation
import Kernels
import MPI
import Reports
import SequenceParallel

/// `spsim calibrate`: measures this machine and writes a topology file for it.
struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Measure latency, bandwidth and kernel throughput here and write a topology file (run under mpirun -np 2).",
        discussion: """
            Ping-pong between ranks 0 and 1 and all-to-all over message sizes from 0 B to --max-bytes, a \
            Hockney fit t = α + m/B (piecewise when the eager/rendezvous switch shows), the collective launch \
            latency from the all-to-all's intercept, and the attention kernel against sgemm for the device.

            Example: mpirun -np 2 spsim calibrate   then   mpirun -np 4 spsim run --topology localhost
            """)

    @Option(help: "Where to write the topology (default: NAME.json in $XDG_CONFIG_HOME/spsim/topologies, else ~/.config/spsim/topologies; `spsim topology list` shows it).")
    var output: String?

    @Option(help: "The topology's name.")
    var name: String = "localhost"

    @Option(help: ArgumentHelp("Largest message in bytes (a size, e.g. 16M).", valueName: "size"), transform: parseSize)
    var maxBytes: Int = 16 << 20

    @Option(help: "Ranks the written topology can place on this host.")
    var ranksPerHost: Int = 256

    @Flag(help: "Print one JSON object on stdout (rank 0) instead of the table.")
    var json = false

    struct Prepared { var path: String }

    /// A worst relative residual above this is reported as a poor fit.
    static let poorFit = 0.5

    func run() throws {
        try withMPI(validate: prepare) { world, prepared in
            let cores = ProcessInfo.processInfo.activeProcessorCount
            if world.rank == 0 && world.size > cores {
                printNote("warning: \(world.size) ranks on \(cores) cores: ranks share cores, so latencies and the kernel's "
                          + "throughput measure time slicing, not this machine; calibrate with mpirun -np \(min(2, cores))")
            }
            let pingPong = try measurePingPong(world)
            let allToAll = try measureAllToAll(world)
            var kernel: KernelBenchmarkResult?
            if world.rank == 0 { kernel = benchmarkKernels(tokens: 512, heads: 4, dim: 64, repeats: 3) }
            try world.barrier()
            guard world.rank == 0, let kernel else { return 0 }
            return try report(pingPong: pingPong, allToAll: allToAll, kernel: kernel, ranks: world.size,
                              path: prepared.path)
        }
    }

    func prepare(_ world: Communicator) throws -> Prepared {
        guard world.size >= 2 else {
            throw InputError("spsim calibrate measures messages between ranks: run it under mpirun -np 2")
        }
        guard maxBytes >= 1 << 16 else { throw InputError("--max-bytes must be at least 65536 (got \(maxBytes))") }
        try SizeLimits.require("--max-bytes", maxBytes, atMost: 1 << 32)
        try SizeLimits.require("--ranks-per-host", ranksPerHost, atMost: SizeLimits.maxRanks)
        guard ranksPerHost >= world.size else {
            throw InputError("--ranks-per-host \(ranksPerHost) is smaller than the \(world.size) ranks measuring")
        }
        let path = output ?? TopologyCatalog.userDirectory() + "/\(name).json"
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw InputError("--output \(path) is a directory; give a file name")
        }
        return Prepared(path: path)
    }

    /// Message sizes: 0, then powers of four from 4 bytes to `maxBytes`.
    var sizes: [Int] {
        var out = [0], s = 4
        while s <= maxBytes { out.append(s); s *= 4 }
        return out
    }

    /// Repetitions for a size: enough for about a millisecond of small messages, at least 5.
    func repetitions(_ bytes: Int) -> Int { max(5, min(400, (1 << 22) / max(bytes, 1 << 12))) }

    /// One-way seconds per size between ranks 0 and 1 (median of `repetitions` round trips / 2).
    func measurePingPong(_ world: Communicator) throws -> [(bytes: Int, seconds: Double)] {
        var out = [(bytes: Int, seconds: Double)]()
        for size in sizes {
            let payload = [UInt8](repeating: 7, count: size)
            var times = [Double]()
            try world.barrier()
            for _ in 0..<(repetitions(size) + 2) {
                let start = MPIEnvironment.wallTime()
                if world.rank == 0 {
                    try world.send(payload, to: 1)
                    _ = try world.recv(count: size, from: 1, as: UInt8.self)
                } else if world.rank == 1 {
                    _ = try world.recv(count: size, from: 0, as: UInt8.self)
                    try world.send(payload, to: 0)
                }
                times.append((MPIEnvironment.wallTime() - start) / 2)
            }
            out.append((size, median(Array(times.dropFirst(2)))))
        }
        return out
    }

    /// Seconds of an all-to-all with `size` bytes to each peer, per size (slowest rank, median).
    func measureAllToAll(_ world: Communicator) throws -> [(bytes: Int, seconds: Double)] {
        var out = [(bytes: Int, seconds: Double)]()
        for size in sizes where size * world.size <= 4 * maxBytes {
            let payload = [UInt8](repeating: 3, count: size * world.size)
            var times = [Double]()
            for _ in 0..<(repetitions(size * world.size) + 2) {
                try world.barrier()
                let start = MPIEnvironment.wallTime()
                _ = try world.alltoall(payload, countPerRank: size)
                times.append(MPIEnvironment.wallTime() - start)
            }
            let slowest = try world.allreduce(Array(times.dropFirst(2)), .max)
            out.append((size, median(slowest)))
        }
        return out
    }

    func report(pingPong: [(bytes: Int, seconds: Double)], allToAll: [(bytes: Int, seconds: Double)],
                kernel: KernelBenchmarkResult, ranks: Int, path: String) throws -> Int32 {
        guard let fit = Calibration.piecewiseFit(pingPong), let a2a = Calibration.fit(allToAll) else {
            printError("calibration failed: the ping-pong times do not determine a positive bandwidth")
            return 1
        }
        let host = ProcessInfo.processInfo.hostName
        let date = ISO8601DateFormatter().string(from: Date())
        let how = "measured by spsim calibrate on \(host), \(date)"
        // An all-to-all on P ranks is P−1 pairwise steps: its intercept beyond those is the launch cost.
        let launch = max(0, a2a.latencySeconds - Double(ranks - 1) * fit.small.latencySeconds)
        var level = NetworkLevel(
            name: "shared memory (MPI on one host)", scope: .node,
            bandwidthGBps: Sourced(fit.small.bytesPerSecond / 1e9, source: "\(how): ping-pong fit t = α + m/B below \(fit.thresholdBytes.map { "\($0) B" } ?? "all sizes")"),
            efficiency: Sourced(1, source: "a measured bandwidth is already the achieved one"),
            latencyMicroseconds: Sourced(fit.small.latencySeconds * 1e6, source: "\(how): ping-pong fit intercept"))
        if let large = fit.large, let threshold = fit.thresholdBytes {
            level.rendezvous = .init(
                thresholdBytes: Sourced(Double(threshold), source: "\(how): where a second fit lowers the relative error most (eager → rendezvous)"),
                bandwidthGBps: Sourced(large.bytesPerSecond / 1e9, source: "\(how): ping-pong fit from \(threshold) B"),
                latencyMicroseconds: Sourced(large.latencySeconds * 1e6, source: "\(how): ping-pong fit intercept from \(threshold) B"))
        }
        let topology = Topology(
            name: name, description: "this host (\(host)): MPI ranks on CPU cores, calibrated \(date)",
            nodes: Sourced(1, source: "one host"),
            gpusPerNode: Sourced(Double(ranksPerHost), source: "ranks mpirun may place on this host (--oversubscribe); set by --ranks-per-host"),
            placement: .block, levels: [level],
            device: Device(
                name: "CPU core (OpenBLAS sgemm, core \(kernel.blas.core))",
                peakTFLOPs: Sourced(kernel.sgemmGFLOPs / 1e3, source: "\(how): cblas_sgemm on one attention block's products, one thread"),
                attentionEfficiency: Sourced(min(1, kernel.ratio), source: "\(how): attention forward GFLOP/s / sgemm GFLOP/s (N=512, H=4, D=64)")),
            collectiveLaunchMicroseconds: Sourced(launch * 1e6, source: "\(how): all-to-all fit intercept on \(ranks) ranks minus \(ranks - 1) ping-pong latencies"))
        do {
            _ = try Topology.decode(Data(topology.encodedJSON().utf8), file: path)
        } catch {
            printError("calibration produced an invalid topology: \(error)")
            return 1
        }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try topology.encodedJSON().write(toFile: path, atomically: true, encoding: .utf8)
        let pingPongWorst = Calibration.worstRelativeResidual(pingPong) { level.seconds(forMessageOf: Double($0)) }
        let allToAllWorst = Calibration.worstRelativeResidual(allToAll) { a2a.seconds(Double($0)) }

        if json {
            struct Point: Encodable { var bytes: Int; var seconds: Double; var fitSeconds: Double }
            struct Report: Encodable {
                var path: String; var pingPong: [Point]; var allToAll: [Point]
                var latencySeconds: Double; var bandwidthGBps: Double; var thresholdBytes: Int?
                var largeLatencySeconds: Double?; var largeBandwidthGBps: Double?; var launchSeconds: Double
                var sgemmGflops: Double; var attentionEfficiency: Double; var blas: BLASCore
                var pingPongWorstRelativeResidual: Double; var allToAllWorstRelativeResidual: Double
            }
            let model = { (b: Int) -> Double in level.seconds(forMessageOf: Double(b)) }
            print(try jsonLine(Report(
                path: path, pingPong: pingPong.map { Point(bytes: $0.bytes, seconds: $0.seconds, fitSeconds: model($0.bytes)) },
                allToAll: allToAll.map { Point(bytes: $0.bytes, seconds: $0.seconds, fitSeconds: a2a.seconds(Double($0.bytes))) },
                latencySeconds: fit.small.latencySeconds, bandwidthGBps: fit.small.bytesPerSecond / 1e9,
                thresholdBytes: fit.thresholdBytes, largeLatencySeconds: fit.large?.latencySeconds,
                largeBandwidthGBps: fit.large.map { $0.bytesPerSecond / 1e9 }, launchSeconds: launch,
                sgemmGflops: kernel.sgemmGFLOPs, attentionEfficiency: min(1, kernel.ratio), blas: kernel.blas,
                pingPongWorstRelativeResidual: pingPongWorst, allToAllWorstRelativeResidual: allToAllWorst)))
        } else {
            var table = TextTable(columns: ["bytes", "ping-pong one way", "fit", "all-to-all", "fit"])
            for (i, p) in pingPong.enumerated() {
                let a = i < allToAll.count ? allToAll[i] : nil
                table.append(["\(p.bytes)", formatSeconds(p.seconds), formatSeconds(level.seconds(forMessageOf: Double(p.bytes))),
                              a.map { formatSeconds($0.seconds) } ?? "-", a.map { formatSeconds(a2a.seconds(Double($0.bytes))) } ?? "-"])
            }
            print(table.render(), terminator: "")
            print("latency \(formatSeconds(fit.small.latencySeconds)), bandwidth \(format3(fit.small.bytesPerSecond / 1e9)) GB/s"
                  + (fit.large.map { ", from \(fit.thresholdBytes!) B: latency \(formatSeconds($0.latencySeconds)), bandwidth \(format3($0.bytesPerSecond / 1e9)) GB/s" } ?? "")
                  + "; collective launch \(formatSeconds(launch)); sgemm \(format3(kernel.sgemmGFLOPs)) GFLOP/s, attention at \(format3(min(1, kernel.ratio))) of it")
            print("fit quality: worst relative residual \(format3(pingPongWorst)) ping-pong, \(format3(allToAllWorst)) all-to-all"
                  + (max(pingPongWorst, allToAllWorst) > Self.poorFit ? " — a poor fit: repeat on an idle machine" : ""))
            print("BLAS: \(kernel.blas.summary)")
            print("wrote \(path)")
        }
        return 0
    }
}
