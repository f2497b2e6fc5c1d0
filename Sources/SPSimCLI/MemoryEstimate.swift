import CostModel
import Foundation
import Kernels
import MPI
import Reports
import SequenceParallel

/// The bytes one rank is expected to hold at its peak, by part, estimated before anything
/// is allocated (sizes already checked by `SizeLimits`; sums in Double, so nothing overflows).
struct MemoryEstimate {
    /// Named parts: the strategy's tensors and buffers (the cost model's `memoryBytes` in
    /// float32), the harness's index arrays, gathered outputs, inputs read from files, the
    /// float64 reference of `--verify`, the process itself.
    var parts: [(name: String, bytes: Double)] = []

    /// The process before any tensor: Swift and MPI runtimes, OpenBLAS buffers, code.
    /// Measured here: 40–60 MiB resident for a run of 64 tokens.
    static let processBytes = 64.0 * 1024 * 1024

    /// Bytes of all parts.
    var bytes: Double { parts.reduce(0) { $0 + $1.bytes } }

    /// `part 1.2 GiB + part 3 MiB …`, omitting empty parts.
    var breakdown: String {
        parts.filter { $0.bytes > 0 }.map { "\($0.name) \(formatBytes($0.bytes))" }.joined(separator: " + ")
    }

    mutating func add(_ name: String, _ bytes: Double) { parts.append((name, bytes)) }
}

extension MemoryEstimate {
    /// What rank `rank` of a softmax `spsim run` holds: the strategy's peak (`modelBytes`,
    /// the cost model's per-rank memory for float32), index arrays (this rank's positions and
    /// every rank's, 8 bytes a token each, and a mask's worth more), on rank 0 the gathered
    /// global outputs plus one in flight; with `--inputs` the whole inputs every rank reads
    /// (float32 kept, float64 and the raw file while reading); with `--verify` on every rank
    /// its part of the float64 reference (whole k and v, its rows of q and do, of the outputs
    /// and gradients, every key's dk and dv and their sum; positions, mask, score rows).
    static func softmaxRun(_ p: AttentionProblem, localTokens n: Int, rank: Int, modelBytes: Int?, backward: Bool,
                           verify: Bool, inputFiles: Bool) -> MemoryEstimate {
        let tokens = Double(p.seqLen), share = Double(n) / max(tokens, 1)
        let query = tokens * Double(p.heads * p.headDim), key = tokens * Double(p.kvHeads * p.headDim)
        let outputs = RunProblem.softmax(p).outputElements(backward: backward).map(Double.init)
        let inputs = [query, key, key, query]  // q, k, v, do (do is generated when absent)
        var reference = [Double]()
        if verify {
            reference = [key, key] + [share * query * (backward ? 2 : 1)]  // converted inputs
            reference += outputs.map { share * $0 } + (backward ? [4 * key] : []) + [5 * tokens]
        }
        return run(tokens: tokens, localTokens: n, rank: rank, modelBytes: modelBytes, outputs: outputs,
                   inputs: inputs, inputFiles: inputFiles, verify: verify, reference: reference)
    }

    /// What rank `rank` of a GLA `spsim run` holds, as `softmaxRun` does; the float64
    /// reference's backward keeps every ⌈√N⌉-th state and one stretch of them
    /// (`(⌈N / ⌈√N⌉⌉ + ⌈√N⌉ + 1)·H·Dk·Dv` doubles).
    static func linearRun(_ p: LinearAttentionProblem, localTokens n: Int, rank: Int, modelBytes: Int?, backward: Bool,
                          verify: Bool, inputFiles: Bool) -> MemoryEstimate {
        let tokens = Double(p.seqLen)
        let key = tokens * Double(p.heads * p.keyDim), value = tokens * Double(p.heads * p.valueDim)
        let state = Double(p.heads * p.keyDim * p.valueDim)
        let outputs = RunProblem.gla(p).outputElements(backward: backward).map(Double.init)
        let inputs = [key, key, value, key, value]  // q, k, v, g, do
        var reference = [Double]()
        if verify && rank == 0 {
            reference = [key, key, value, key] + (backward ? [value] : []) + outputs + [2 * state]
            if backward {
                let stretch = Double(glaReferenceStretch(tokens: p.seqLen))
                reference.append(((tokens / stretch).rounded(.up) + stretch + 1) * state)
            }
        }
        return run(tokens: tokens, localTokens: n, rank: rank, modelBytes: modelBytes, outputs: outputs,
                   inputs: inputs, inputFiles: inputFiles, verify: verify, reference: reference)
    }

    /// The parts both attention kinds share; `outputs`, `inputs` and `reference` are element
    /// counts of whole (global) tensors, float32 except `reference` (float64). Without a
    /// model (`modelBytes` nil) the strategy is taken to hold twice its share of the tensors.
    private static func run(tokens: Double, localTokens n: Int, rank: Int, modelBytes: Int?, outputs: [Double],
                            inputs: [Double], inputFiles: Bool, verify: Bool, reference: [Double]) -> MemoryEstimate {
        let float = 4.0, double = 8.0, index = 8.0
        var e = MemoryEstimate()
        if let modelBytes {
            e.add("strategy (cost model)", Double(modelBytes))
        } else {
            e.add("strategy (twice its tensors)", 2 * float * (inputs + outputs).reduce(0, +) * Double(n) / tokens)
        }
        e.add("index arrays", index * (Double(n) + 2 * tokens))
        if rank == 0 {
            e.add("gathered outputs", float * (outputs.reduce(0, +) + (outputs.max() ?? 0)))
        }
        let wholeInputs = float * inputs.reduce(0, +)
        if inputFiles {
            // Every rank keeps the whole inputs in float32; while reading, float64 values and one raw file.
            e.add("--inputs", wholeInputs + double * inputs.reduce(0, +) + double * (inputs.max() ?? 0))
        } else if !reference.isEmpty {
            e.add("generated whole inputs", wholeInputs)
        }
        e.add("--verify reference", double * reference.reduce(0, +))
        e.add("process", processBytes)
        return e
    }
}

/// The cost model's peak memory of rank `rank` for `strategy` on `workload` over `ranks`
/// ranks (memory does not depend on the network, so the toy topology widened to `ranks`
/// GPUs places them), or nil when the strategy has no model or cannot run it.
func modelMemoryBytes(strategy: String, workload: Workload, ranks: Int, rank: Int) -> Int? {
    guard let model = CostModel.strategy(named: strategy) else { return nil }
    var topology = Topology.toy
    topology.gpusPerNode = Sourced(Double(max(ranks, topology.gpusPerNodeCount)), source: "memory estimate: any placement")
    return (try? CostModel.predict(model, workload, ranks: ranks, topology: topology).get())?.memoryBytes[rank]
}

/// The memory this host can give a rank.
enum HostMemory {
    /// Bytes available to new allocations: `MemAvailable` from /proc/meminfo, lowered to the
    /// control group's remaining allowance (limit − usage, cgroup v2 or v1) when there is one.
    /// Nil when /proc/meminfo cannot be read (not Linux).
    static func availableBytes() -> Double? {
        guard let meminfo = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
              let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
              let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        var available = kib * 1024
        for (limitFile, usageFile) in [("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                       ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")] {
            if let limit = number(limitFile), let usage = number(usageFile), limit < 1e18 {
                available = min(available, max(0, limit - usage))
            }
        }
        return available
    }

    /// Ranks of this job on this host: the launcher's local size (Open MPI, MPICH, Slurm),
    /// else all `worldSize` ranks (right for one host and for SMPI, which runs every rank in
    /// one process).
    static func ranksOnThisNode(worldSize: Int) -> Int {
        let environment = ProcessInfo.processInfo.environment
        for key in ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"] {
            if let text = environment[key], let count = Int(text), count >= 1 { return min(count, worldSize) }
        }
        return worldSize
    }

    private static func number(_ path: String) -> Double? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}

/// Refuses a run whose estimate does not fit: rank `rank`'s `estimate` against this host's
/// available memory divided by the ranks on it. With `force`, or when the host's memory is
/// unknown, lets it run; `forceOption` names the flag that overrides (nil: none).
/// - Throws: `InputError` with the estimate, its parts, and the memory per rank.
func requireMemory(_ estimate: MemoryEstimate, rank: Int, worldSize: Int, force: Bool, forceOption: String? = "--force",
                   available: Double? = HostMemory.availableBytes()) throws(InputError) {
    guard !force, let available else { return }
    let ranks = HostMemory.ranksOnThisNode(worldSize: worldSize)
    let perRank = available / Double(ranks)
    guard estimate.bytes > perRank else { return }
    throw InputError("rank \(rank) would need about \(formatBytes(estimate.bytes)) (\(estimate.breakdown)) but this host has \(formatBytes(perRank)) available per rank (\(formatBytes(available)) available ÷ \(ranks) rank\(ranks == 1 ? "" : "s") here); use smaller sizes\(forceOption.map { ", more hosts, or \($0) to try anyway" } ?? " or more hosts")")
}

/// This process's peak resident memory in bytes (`VmHWM` of /proc/self/status), or nil.
func peakResidentBytes() -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
    return kib * 1024
}

/// Prints on rank 0 (stderr) every rank's memory estimate beside its measured peak resident
/// memory, so the estimate can be judged on every run. Collective.
func reportMemoryUse(_ estimate: MemoryEstimate, world: Communicator) throws {
    let all = try world.allgather([estimate.bytes, peakResidentBytes() ?? .nan])
    guard world.rank == 0 else { return }
    let estimated = stride(from: 0, to: all.count, by: 2).map { all[$0] }
    let measured = stride(from: 1, to: all.count, by: 2).map { all[$0] }
    /// Every rank's value up to 8 ranks, else the smallest and largest.
    func listed(_ values: [Double]) -> String {
        let text = values.map { $0.isNaN ? "?" : formatBytes($0) }
        guard values.count > 8, let lo = values.min(), let hi = values.max() else { return text.joined(separator: ", ") }
        return "\(formatBytes(lo)) to \(formatBytes(hi)) over \(values.count) ranks"
    }
    // Under SMPI every simulated rank lives in one process: its peak is the whole simulation's.
    let resident = MPIEnvironment.isSimulated
        ? "peak resident of the SMPI process (all \(world.size) simulated ranks) \(listed([measured.max() ?? .nan]))"
        : "peak resident \(listed(measured))"
    printNote("memory per rank: estimated \(listed(estimated)); \(resident)")
}
