// The search of `spsim plan`: every strategy of the model's attention kind × sequence-parallel
// degree (every divisor of P; the rest is data parallelism) × layout × USP's U × checkpointing
// × ZeRO stage × offload × tiling. ZeCO's K is the model's time-optimal K* (K changes no byte
// of memory and K* is the fastest). A configuration fits when its peak memory is at most
// (1 − headroom) of the device's HBM.
import SPCore

/// What a plan searches, and the memory headroom.
public struct PlanSearch: Sendable {
    /// Strategy names (nil: every strategy of the model's attention kind).
    public var strategies: [String]?
    /// Sequence-parallel degrees (nil: every divisor of the GPU count; `[0]` stands for "all GPUs").
    public var sequenceParallel: [Int]?
    /// Checkpointing off and/or on.
    public var checkpointing: [Bool] = [false, true]
    /// ZeRO stages.
    public var zeroStages: [Int] = [0, 1, 2, 3]
    /// Offload choices (`all` only with checkpointing; none but `none` without a host link).
    public var offloads: [Offload] = Offload.allCases
    /// ALST tiling off and/or on.
    public var tiling: [Bool] = [false, true]
    /// Fraction of the HBM kept free for the CUDA context, communication buffers and
    /// allocator fragmentation.
    public var headroom: Double = 0.1

    /// Everything searched, 10% headroom.
    public init() {}
}

/// The best a strategy does on a GPU count at one sequence-parallel degree.
public struct PlanRow: Sendable {
    /// The fastest configuration that fits, else the one needing the least memory.
    public var estimate: TrainingEstimate
    /// Whether it fits.
    public var feasible: Bool
}

/// Why a strategy has no configuration that fits on a GPU count.
public struct PlanFailure: Sendable, Equatable {
    /// The strategy.
    public var strategy: String
    /// GPUs.
    public var gpus: Int
    /// Distinct reasons: unsupported degrees (P > H, divisibility) and memory.
    public var reasons: [InputError.Message]
}

/// Searches configurations of one model on one topology.
public struct Planner: Sendable {
    /// The model trained.
    public let model: TransformerModel
    /// The cluster.
    public let topology: Topology
    /// What is searched.
    public let search: PlanSearch

    /// A planner, or why the topology or search cannot be planned on.
    /// - Throws: `CostModelError` when the topology lacks HBM or matmul efficiency, a strategy
    ///   is unknown or runs the other attention kind, or the headroom is not in [0, 1).
    public init(model: TransformerModel, topology: Topology, search: PlanSearch = PlanSearch()) throws(CostModelError) {
        if let reason = trainingTopologyReason(topology) { throw CostModelError(reason) }
        if !(search.headroom >= 0 && search.headroom < 1) {
            throw CostModelError("--headroom \(search.headroom) must be at least 0 and below 1")
        }
        if let bad = search.zeroStages.first(where: { !(0...3).contains($0) }) {
            throw CostModelError("--zero-stage \(bad): ZeRO stages are 0, 1, 2 and 3")
        }
        for name in search.strategies ?? [] {
            guard let s = CostModel.strategy(named: name) else {
                throw CostModelError("unknown --strategy \(name); known: \(CostModel.names)")
            }
            if s.attention != model.attention {
                throw CostModelError("--strategy \(name) runs \(s.attention.rawValue) attention; model \(model.name) has \(model.attention.rawValue)")
            }
        }
        self.model = model
        self.topology = topology
        self.search = search
    }

    /// HBM per GPU in bytes.
    public var deviceBytes: Double { topology.device.memoryBytes ?? 0 }
    /// Bytes a configuration may use: HBM × (1 − headroom).
    public var usableBytes: Double { deviceBytes * (1 - search.headroom) }

    /// The strategy models searched, in table order.
    public var strategies: [any StrategyModel.Type] {
        let all = CostModel.strategies.filter { $0.attention == model.attention }
        guard let names = search.strategies else { return all }
        return all.filter { names.contains($0.name) }
    }

    /// (checkpointing, ZeRO stage, offload, tiling) combinations searched.
    var options: [(checkpointing: Bool, zero: Int, offload: Offload, tiling: Bool)] {
        var out = [(checkpointing: Bool, zero: Int, offload: Offload, tiling: Bool)]()
        for ckpt in search.checkpointing {
            for zero in search.zeroStages {
                for offload in search.offloads where (offload != .all || ckpt)
                    && (offload == .none || topology.device.hostLinkGBps != nil) {
                    for tiling in search.tiling { out.append((ckpt, zero, offload, tiling)) }
                }
            }
        }
        return out
    }

    /// One attention layer's prediction for every (SP degree, layout, U) of `strategy` at N on P GPUs.
    func variants(_ strategy: any StrategyModel.Type, gpus p: Int, seqLen n: Int)
        -> [(sp: Int, layout: LayoutKind, ulysses: Int?, result: Result<Prediction, CostModelError>)] {
        let degrees = (search.sequenceParallel ?? (1...p).filter { p % $0 == 0 }).map { $0 == 0 ? p : $0 }
            .filter { $0 >= 1 && p % $0 == 0 }
        var out = [(sp: Int, layout: LayoutKind, ulysses: Int?, result: Result<Prediction, CostModelError>)]()
        for sp in degrees {
            for layout in strategy.layouts {
                let us: [Int?] = strategy.name == USPModel.name ? (1...min(sp, model.headCount)).filter { sp % $0 == 0 } : [nil]
                for u in us {
                    let w = model.workload(seqLen: n, layout: layout, ulyssesDegree: u)
                    out.append((sp, layout, u, CostModel.predict(strategy, w, ranks: sp, topology: topology)))
                }
            }
        }
        return out
    }

    /// The search at `seqLen` on `gpus`: per strategy and SP degree the best row, and why
    /// strategies with no row that fits fail.
    public func plan(gpus: Int, seqLen: Int) -> (rows: [PlanRow], failures: [PlanFailure]) {
        var rows = [PlanRow](), failures = [PlanFailure]()
        for strategy in strategies {
            var unsupported = [InputError.Message](), anyFits = false, smallest: TrainingEstimate?
            var bySP = [Int: PlanRow]()
            for v in variants(strategy, gpus: gpus, seqLen: seqLen) {
                guard case .success(let prediction) = v.result else {
                    if case .failure(let e) = v.result, !unsupported.contains(e.words) { unsupported.append(e.words) }
                    continue
                }
                for o in options {
                    let c = TrainingConfiguration(strategy: strategy.name, gpus: gpus, sequenceParallel: v.sp, layout: v.layout,
                                                  ulyssesDegree: v.ulysses, checkpointing: o.checkpointing, zeroStage: o.zero,
                                                  offload: o.offload, tiling: o.tiling)
                    let e = model.estimate(c, attention: prediction, topology: topology)
                    let fits = e.memory.peak <= usableBytes
                    anyFits = anyFits || fits
                    if smallest.map({ e.memory.peak < $0.memory.peak }) ?? true { smallest = e }
                    if let old = bySP[v.sp] {
                        if fits ? (!old.feasible || e.time.stepSeconds < old.estimate.time.stepSeconds)
                            : (!old.feasible && e.memory.peak < old.estimate.memory.peak) {
                            bySP[v.sp] = PlanRow(estimate: e, feasible: fits)
                        }
                    } else {
                        bySP[v.sp] = PlanRow(estimate: e, feasible: fits)
                    }
                }
            }
            rows += bySP.keys.sorted().map { bySP[$0]! }
            if !anyFits {
                var reasons = unsupported
                if let smallest {
                    reasons.append(InputError.Message(parts: [.text(
                        "memory: the smallest configuration needs \(gib(smallest.memory.peak)) per GPU, "
                        + "\(gib(usableBytes)) usable (\(gib(deviceBytes)) HBM less \(Int((search.headroom * 100).rounded()))% headroom)")]))
                }
                failures.append(PlanFailure(strategy: strategy.name, gpus: gpus, reasons: reasons))
            }
        }
        return (rows, failures)
    }

    /// The least peak memory of any configuration at `seqLen` on `gpus` (nil when nothing is supported).
    public func smallestMemory(gpus: Int, seqLen: Int) -> Double? {
        var best: Double?
        for strategy in strategies {
            if let m = smallestMemory(strategy, gpus: gpus, seqLen: seqLen) { best = min(best ?? m, m) }
        }
        return best
    }

    /// The least peak memory of any configuration of `strategy` (nil when none is supported).
    func smallestMemory(_ strategy: any StrategyModel.Type, gpus: Int, seqLen: Int) -> Double? {
        var best: Double?
        for v in variants(strategy, gpus: gpus, seqLen: seqLen) {
            guard case .success(let prediction) = v.result else { continue }
            for o in options {
                let c = TrainingConfiguration(strategy: strategy.name, gpus: gpus, sequenceParallel: v.sp, layout: v.layout,
                                              ulyssesDegree: v.ulysses, checkpointing: o.checkpointing, zeroStage: o.zero,
                                              offload: o.offload, tiling: o.tiling)
                let m = model.trainingMemory(c, attention: prediction).peak
                best = min(best ?? m, m)
            }
        }
        return best
    }

    /// The longest sequence (a multiple of 1024 tokens) `strategy` trains on `gpus` within the
    /// usable memory, by bisection (memory grows with N), or nil with the reason at 1024 tokens.
    public func maxSeqLen(_ strategy: any StrategyModel.Type, gpus: Int) -> (tokens: Int?, reason: InputError.Message?) {
        let unit = 1024
        func fits(_ k: Int) -> Bool { (smallestMemory(strategy, gpus: gpus, seqLen: k * unit) ?? .infinity) <= usableBytes }
        guard fits(1) else {
            let outcome = plan(gpus: gpus, seqLen: unit)
            let reasons = outcome.failures.first { $0.strategy == strategy.name }?.reasons
            return (nil, reasons.map { InputError.Message(joining: $0, separator: "; ") })
        }
        var lo = 1, hi = 2
        while fits(hi) {
            lo = hi
            hi *= 2
            if hi > 1 << 32 { return (lo * unit, nil) }
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if fits(mid) { lo = mid } else { hi = mid }
        }
        return (lo * unit, nil)
    }
}

/// Bytes as GiB with two decimals.
func gib(_ bytes: Double) -> String { String(format: "%.2f GiB", bytes / 1_073_741_824) }
