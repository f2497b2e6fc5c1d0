// One whole training step of a model on P GPUs: per-GPU memory with every term named, and
// step time from the attention strategy models plus the matmuls, ZeRO and offload traffic.
// The README's `spsim plan` section states the same rules for users.
//
// Memory per GPU (b = 2 bytes bf16, s = 4 bytes float32, Ψ parameters, P = data × sequence
// ranks sharing the ZeRO group, n = tokens per rank = ⌈N / SP⌉, T = tile = min(n, d)):
//   parameters        2Ψ, ZeRO-3: 2Ψ/P
//   gradients         2Ψ, ZeRO-2/3: 2Ψ/P
//   optimizer states  12Ψ (fp32 master, momentum, variance), ZeRO-1/2/3: 12Ψ/P, offloaded: 0
//                     (mixed-precision AdamW, 16 bytes per parameter in all: ZeRO §3.1, arXiv 1910.02054)
//   gathered (ZeRO-3) 3·2·max(Ψ_layer, V·d): the layer in use, the prefetched one, its gradients
//   stored activations  checkpointing: L·n·d·b (the layer inputs; offloaded: 2·n·d·b in flight)
//                       none:          L·n·a, a = 4·d·b + attention saved + 4·f·b (untiled MLP)
//   working set       the layer in backward: its activations when recomputed (n·a), the
//                     residual gradients 2·n·d·b, the MLP's gradients (2·n·f·b, tiled: 6·T·f·b)
//   attention buffers the strategy model's peak memory minus the saved q, k, v, o, lse
//   logits and loss   n·V·(2 + 4 + 4): bf16 logits, their fp32 copy, the fp32 gradient; tiled: T·V·10
//   peak = states + gathered + stored + max(logits and loss, working set + attention buffers)
// Per-token attention saved: softmax (2·H·D + 2·G·D)·b + H·s (q, k, v, o, lse; FlashAttention
// keeps no N² scores); GLA (3·H·Dk + 2·H·Dv)·b. The layer's other saved tensors, SwiGLU + RMSNorm
// recounted tensor by tensor after Korthikanti et al. §4 (arXiv 2205.05198): two norm inputs
// and outputs 4·d·b; gate, up, silu(gate), product 4·f·b.
//
// Time (the slowest rank; peak F FLOP/s, matmul efficiency e_m):
//   matmuls      forward 2·Ψ_mm·n / (F·e_m), backward twice that (Ψ_mm: projections, MLP, LM head)
//   attention    L × the strategy model's forward and backward (compute and exposed communication)
//   recompute    with checkpointing: the layers' forward matmuls + L × the attention forward
//   ZeRO         stages 0–2: reduce-scatter + all-gather of 2Ψ bytes over P (= one all-reduce);
//                stage 3: per layer an all-gather forward, an all-gather and a reduce-scatter backward
//   offload      optimizer: gradients down and parameters up, 2·Ψ_part bytes each way on the host link;
//                checkpoints: L·n·d·b down in forward and up in backward
//   Overlap rule: ZeRO and offload transfers run beside the compute of the phase they belong to
//   (forward, backward + recompute) and only their excess is exposed; the parameter upload after
//   the CPU optimizer step is exposed whole. The strategy's own communication is exposed as its
//   model says. The optimizer step itself and the CPU's Adam are not priced.
//   step = matmuls + attention compute + attention exposed comm + recompute + exposed ZeRO + exposed offload
// MFU (PaLM, arXiv 2204.02311, App. B): (6·Ψ_mm + 6·L·H·D·(N + 1)) per token — the causal half
// of the attention term, the FLOPs actually done — × tokens per GPU / (step × F). GLA:
// 6·Ψ_mm + 3·L·(GLA forward FLOPs per token).
import SPCore

/// What CPU offload moves off the GPU (ALST, arXiv 2506.13996; ZeRO-Offload, arXiv 2101.06840).
public enum Offload: String, Sendable, CaseIterable, Codable {
    /// Nothing offloaded.
    case none
    /// The optimizer states (and the optimizer step) live on the CPU.
    case optimizer
    /// The optimizer states and the activation checkpoints (needs checkpointing).
    case all
}

/// One way to train: the strategy and its degree and options, ZeRO, checkpointing, offload, tiling.
public struct TrainingConfiguration: Sendable, Equatable, Hashable, Codable {
    /// The attention strategy's `--strategy` name.
    public var strategy: String
    /// GPUs P = data-parallel × sequence-parallel ranks.
    public var gpus: Int
    /// Sequence-parallel degree (ranks that share one sequence); divides `gpus`.
    public var sequenceParallel: Int
    /// How the sequence is laid out over the sequence-parallel ranks.
    public var layout: LayoutKind
    /// USP's Ulysses degree U (nil for other strategies).
    public var ulyssesDegree: Int?
    /// Full activation checkpointing: keep each layer's input, recompute the layer in backward.
    public var checkpointing: Bool
    /// ZeRO stage 0–3 over all `gpus` ranks.
    public var zeroStage: Int
    /// CPU offload.
    public var offload: Offload
    /// ALST's sequence tiling of the MLP and the loss (tiles of d tokens).
    public var tiling: Bool

    /// A configuration.
    public init(strategy: String, gpus: Int, sequenceParallel: Int, layout: LayoutKind, ulyssesDegree: Int? = nil,
                checkpointing: Bool, zeroStage: Int, offload: Offload, tiling: Bool) {
        self.strategy = strategy
        self.gpus = gpus
        self.sequenceParallel = sequenceParallel
        self.layout = layout
        self.ulyssesDegree = ulyssesDegree
        self.checkpointing = checkpointing
        self.zeroStage = zeroStage
        self.offload = offload
        self.tiling = tiling
    }

    /// Data-parallel degree P / SP.
    public var dataParallel: Int { gpus / sequenceParallel }
}

/// Per-GPU bytes of a training step, every term named (see the file's header for formulas).
public struct TrainingMemory: Sendable, Equatable, Codable {
    /// bf16 weights held.
    public var parameters: Double
    /// bf16 gradients held.
    public var gradients: Double
    /// fp32 master weights, momentum and variance held on the GPU.
    public var optimizerStates: Double
    /// ZeRO-3's gathered layer weights and unreduced gradients.
    public var gatheredParameters: Double
    /// Activations kept across the step (checkpoints, or every layer's saved tensors).
    public var storedActivations: Double
    /// The layer in backward: recomputed activations, residual and MLP gradients.
    public var layerWorkingSet: Double
    /// The attention strategy's buffers and gradients beyond the saved q, k, v, o, lse.
    public var attentionBuffers: Double
    /// Logits, their fp32 copy and gradient (whole, or one tile).
    public var logitsAndLoss: Double

    /// The peak: states, gathered weights and stored activations, plus the larger of the
    /// loss and the backward of a layer.
    public var peak: Double {
        parameters + gradients + optimizerStates + gatheredParameters + storedActivations
            + max(logitsAndLoss, layerWorkingSet + attentionBuffers)
    }
}

/// Seconds of a training step, by part (see the file's header for the overlap rule).
public struct TrainingTime: Sendable, Equatable, Codable {
    /// Projections, MLP and LM head, forward and backward.
    public var matmulSeconds: Double
    /// Attention kernels, forward and backward, all layers.
    public var attentionComputeSeconds: Double
    /// The strategy's communication not hidden by its compute, all layers.
    public var attentionCommSeconds: Double
    /// The forward rerun in backward (checkpointing), attention communication included.
    public var recomputeSeconds: Double
    /// ZeRO gathers / reduce-scatters or the data-parallel all-reduce not hidden by compute.
    public var zeroCommSeconds: Double
    /// Offload transfers not hidden by compute.
    public var offloadSeconds: Double

    /// The step.
    public var stepSeconds: Double {
        matmulSeconds + attentionComputeSeconds + attentionCommSeconds + recomputeSeconds + zeroCommSeconds + offloadSeconds
    }
}

/// A configuration's memory, time and throughput.
public struct TrainingEstimate: Sendable, Equatable, Codable {
    /// What was estimated.
    public var configuration: TrainingConfiguration
    /// Global tokens N of one sequence.
    public var seqLen: Int
    /// Memory per GPU.
    public var memory: TrainingMemory
    /// Step time.
    public var time: TrainingTime
    /// ZeCO's K used (nil for other strategies).
    public var scanBlocks: Int?
    /// Model FLOPs per token (PaLM App. B, causal half of attention).
    public var modelFLOPsPerToken: Double
    /// Tokens each GPU trains per step: N / SP.
    public var tokensPerGPU: Double
    /// Device peak FLOP/s.
    public var peakFLOPs: Double

    /// Tokens per second per GPU.
    public var tokensPerSecond: Double { tokensPerGPU / time.stepSeconds }
    /// Model FLOPs utilization.
    public var mfu: Double { modelFLOPsPerToken * tokensPerGPU / (time.stepSeconds * peakFLOPs) }
}

/// Why a topology cannot be planned on (no device memory or matmul efficiency), or nil.
public func trainingTopologyReason(_ topology: Topology) -> String? {
    var missing = [String]()
    if topology.device.hbmGiB == nil { missing.append("device.hbm_GiB") }
    if topology.device.matmulEfficiency == nil { missing.append("device.matmul_efficiency") }
    return missing.isEmpty ? nil : "topology \(topology.name) has no \(missing.joined(separator: " or ")); the planner needs both"
}

extension TransformerModel {
    /// Bytes one token's q, k, v, o (and lse) take in a layer's saved activations.
    func attentionSavedBytesPerToken(_ w: Workload) -> Double {
        switch w.attention {
        case .softmax: return Double(w.softmaxForwardBytes(1))
        case .gla: return Double((3 * w.heads * w.headDim + 2 * w.heads * w.valueDim) * w.elementBytes)
        }
    }

    /// Per-GPU memory of `c` with the attention strategy's prediction for one layer.
    /// - Parameters:
    ///   - attention: the strategy model's prediction on `c.sequenceParallel` ranks (bf16 workload).
    public func trainingMemory(_ c: TrainingConfiguration, attention: Prediction) -> TrainingMemory {
        let w = attention.workload
        let b = Double(w.elementBytes), p = Double(c.gpus), psi = Double(parameters)
        let d = Double(hidden), f = Double(ffn), v = Double(vocab), l = Double(layerCount)
        let n = Double((w.seqLen + c.sequenceParallel - 1) / c.sequenceParallel)
        let tile = min(n, d)
        let zero3 = c.zeroStage >= 3
        let layerBytesPerToken = 4 * d * b + attentionSavedBytesPerToken(w) + (c.tiling ? 0 : 4 * f * b)
        let stored: Double
        if c.checkpointing { stored = c.offload == .all ? 2 * n * d * b : l * n * d * b } else { stored = l * n * layerBytesPerToken }
        let strategyPeak = Double(attention.memoryBytes.max() ?? 0)
        return TrainingMemory(
            parameters: zero3 ? 2 * psi / p : 2 * psi,
            gradients: c.zeroStage >= 2 ? 2 * psi / p : 2 * psi,
            optimizerStates: c.offload != .none ? 0 : (c.zeroStage >= 1 ? 12 * psi / p : 12 * psi),
            gatheredParameters: zero3 && c.gpus > 1 ? 3 * b * Double(max(parametersPerLayer, embeddingParameters)) : 0,
            storedActivations: stored,
            layerWorkingSet: (c.checkpointing ? n * layerBytesPerToken : 0) + 2 * n * d * b
                + (c.tiling ? 6 * tile * f * b : 2 * n * f * b),
            attentionBuffers: max(0, strategyPeak - n * attentionSavedBytesPerToken(w)),
            logitsAndLoss: (c.tiling ? tile : n) * v * 10)
    }

    /// Step time of `c` on `topology` with the strategy's prediction for one layer.
    /// The topology must have a matmul efficiency and place `c.gpus` ranks (`trainingTopologyReason`).
    public func trainingTime(_ c: TrainingConfiguration, attention: Prediction, topology: Topology) -> TrainingTime {
        let w = attention.workload, device = topology.device
        let b = Double(w.elementBytes), l = Double(layerCount), p = Double(c.gpus), psi = Double(parameters)
        let n = Double((w.seqLen + c.sequenceParallel - 1) / c.sequenceParallel)
        let matmulRate = device.peakTFLOPs.value * 1e12 * (device.matmulEfficiency?.value ?? 1)
        let matmulForward = 2 * Double(matmulParameters) * n / matmulRate
        let layersForward = 2 * l * Double(attentionParametersPerLayer + mlpParametersPerLayer) * n / matmulRate
        let f = attention.forward, bw = attention.backward
        let attentionForwardCompute = l * f.maxComputeSeconds, attentionBackwardCompute = l * bw.maxComputeSeconds
        let attentionExposed = l * (max(0, f.maxSeconds - f.maxComputeSeconds) + max(0, bw.maxSeconds - bw.maxComputeSeconds))
        let recompute = c.checkpointing ? layersForward + l * f.maxSeconds : 0
        let forwardCompute = matmulForward + attentionForwardCompute
        let backwardCompute = 2 * matmulForward + attentionBackwardCompute + recompute

        var zero = 0.0
        if c.gpus > 1, case .success(let placement) = Placement.make(topology, ranks: c.gpus) {
            if c.zeroStage >= 3 {
                let layer = placement.allGatherSeconds(bytesPerRank: b * Double(parametersPerLayer) / p)
                let embedding = placement.allGatherSeconds(bytesPerRank: b * Double(embeddingParameters) / p)
                let gathers = l * layer + (isTied ? 1 : 2) * embedding
                zero = max(0, gathers - forwardCompute) + max(0, 2 * gathers - backwardCompute)
            } else {
                let allReduce = 2 * placement.allGatherSeconds(bytesPerRank: b * psi / p)
                zero = max(0, allReduce - backwardCompute)
            }
        }

        var offload = 0.0
        if c.offload != .none, let link = device.hostLinkGBps?.value {
            let bytesPerSecond = link * 1e9
            let part = b * (c.zeroStage >= 1 ? psi / p : psi)
            offload += max(0, part / bytesPerSecond - backwardCompute) + part / bytesPerSecond
            if c.offload == .all && c.checkpointing {
                let checkpoints = l * n * Double(hidden) * b / bytesPerSecond
                offload += max(0, checkpoints - forwardCompute) + max(0, checkpoints - backwardCompute)
            }
        }
        return TrainingTime(matmulSeconds: 3 * matmulForward,
                            attentionComputeSeconds: attentionForwardCompute + attentionBackwardCompute,
                            attentionCommSeconds: attentionExposed, recomputeSeconds: recompute, zeroCommSeconds: zero,
                            offloadSeconds: offload)
    }

    /// Model FLOPs per token of a sequence of `seqLen` tokens (PaLM App. B): `6·Ψ_mm` plus the
    /// attention FLOPs actually done — causal softmax `6·L·H·D·(N + 1)` (half the full-matrix
    /// `12·L·H·D·N`), GLA `3·L·(forward FLOPs per token)`.
    public func modelFLOPsPerToken(seqLen: Int) -> Double {
        let base = 6 * Double(matmulParameters)
        switch attention {
        case .softmax: return base + 6 * Double(layerCount * headCount * queryDim) * Double(seqLen + 1)
        case .gla: return base + 3 * Double(layerCount) * glaFLOPsPerToken(workload(seqLen: seqLen))
        }
    }

    /// Memory, time and throughput of `c` on `topology` given the strategy's one-layer prediction.
    public func estimate(_ c: TrainingConfiguration, attention: Prediction, topology: Topology) -> TrainingEstimate {
        TrainingEstimate(configuration: c, seqLen: attention.workload.seqLen, memory: trainingMemory(c, attention: attention),
                         time: trainingTime(c, attention: attention, topology: topology), scanBlocks: attention.scanBlocks,
                         modelFLOPsPerToken: modelFLOPsPerToken(seqLen: attention.workload.seqLen),
                         tokensPerGPU: Double(attention.workload.seqLen) / Double(c.sequenceParallel),
                         peakFLOPs: topology.device.peakTFLOPs.value * 1e12)
    }
}
