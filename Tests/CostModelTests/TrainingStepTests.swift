import CostModel
import Foundation
import SPCore
import XCTest

/// The whole-step memory and time arithmetic on a small model, by hand; the train-ledger seam.
/// The model (`Fixtures/hand-d16.json`: 2 layers, d 64, GQA 4/2 heads of 16, SwiGLU 128,
/// vocabulary 256) is the shape `spsim train`'s tiny model had before its head dimension
/// became 64; the numbers below were worked out on it.
final class TrainingStepTests: XCTestCase {
    let tiny = try! ModelCatalog(directories: [repositoryRoot + "/Tests/CostModelTests/Fixtures"], noun: "model")
        .loadModel("hand-d16")

    func ringPrediction(seqLen: Int, ranks: Int) throws -> Prediction {
        try CostModel.predict(try XCTUnwrap(CostModel.strategy(named: "ring")), tiny.workload(seqLen: seqLen),
                              ranks: ranks, topology: .toy).get()
    }

    func testMemoryTermsByHand() throws {
        // tiny, ring on P = 2, N = 1024, ZeRO-2, checkpointing, no offload, tiled; bf16 b = 2.
        let ring = try ringPrediction(seqLen: 1024, ranks: 2)
        // Ring's own peak: backward tensors of n = 512 tokens (q, k, v, o, lse, do, dq, dk, dv)
        // plus two K/V blocks and two float32 accumulators.
        expect("ring peak bytes", expected: [401_408 + 131_072 + 262_144], actual: [ring.memoryBytes.max()!])
        let c = TrainingConfiguration(strategy: "ring", gpus: 2, sequenceParallel: 2, layout: .contiguous, checkpointing: true,
                                      zeroStage: 2, offload: .none, tiling: true)
        let m = tiny.trainingMemory(c, attention: ring)
        let psi = 106_816.0
        expect("parameters 2Ψ", expected: 2 * psi, actual: m.parameters)
        expect("gradients 2Ψ/P", expected: psi, actual: m.gradients)
        expect("optimizer 12Ψ/P", expected: 6 * psi, actual: m.optimizerStates)
        expect("gathered (ZeRO-2: none)", expected: 0, actual: m.gatheredParameters)
        expect("checkpoints L·n·d·b", expected: 2 * 512 * 64 * 2, actual: m.storedActivations)
        // One layer recomputed: n·(4db + attention 400 B) + residual gradients 2·n·d·b + one tile (64 tokens) of MLP.
        expect("layer working set", expected: 512 * 912 + 2 * 512 * 64 * 2 + 6 * 64 * 128 * 2, actual: m.layerWorkingSet)
        expect("attention buffers = ring peak − saved q k v o lse", expected: 794_624 - 512 * 400, actual: m.attentionBuffers)
        expect("logits, one tile of d tokens", expected: 64 * 256 * 10, actual: m.logitsAndLoss)
        expect("peak", expected: 2 * psi + psi + 6 * psi + 131_072 + max(163_840, 696_320 + 589_824), actual: m.peak)

        // Without checkpointing and tiling, ZeRO-3 on 2 GPUs, optimizer offloaded.
        var d = c
        d.checkpointing = false
        d.tiling = false
        d.zeroStage = 3
        d.offload = .optimizer
        let u = tiny.trainingMemory(d, attention: ring)
        expect("ZeRO-3 parameters 2Ψ/P", expected: psi, actual: u.parameters)
        expect("offloaded optimizer", expected: 0, actual: u.optimizerStates)
        expect("ZeRO-3 gathered 3·b·max(layer, V·d)", expected: 3 * 2 * 36_992, actual: u.gatheredParameters)
        expect("every layer's activations", expected: 2 * 512 * (912 + 4 * 128 * 2), actual: u.storedActivations)
        expect("logits whole", expected: 512 * 256 * 10, actual: u.logitsAndLoss)
    }

    func testTimeAndMFUByHand() throws {
        let ring = try ringPrediction(seqLen: 1024, ranks: 2)
        let c = TrainingConfiguration(strategy: "ring", gpus: 2, sequenceParallel: 2, layout: .contiguous, checkpointing: true,
                                      zeroStage: 2, offload: .none, tiling: true)
        let t = tiny.trainingTime(c, attention: ring, topology: .toy)
        // Toy: 1 TFLOP/s at efficiency 1; Ψ_mm = 2·(12288 + 24576) + 256·64 = 90112.
        let forward = 2 * 90_112.0 * 512 / 1e12
        expect("matmuls: forward + twice that backward", expected: 3 * forward, actual: t.matmulSeconds, relative: 1e-12)
        expect("attention compute", expected: 2 * (ring.forward.maxComputeSeconds + ring.backward.maxComputeSeconds),
               actual: t.attentionComputeSeconds)
        let recompute = 2 * 2 * 36_864.0 * 512 / 1e12 + 2 * ring.forward.maxSeconds
        expect("recompute", expected: recompute, actual: t.recomputeSeconds)
        // ZeRO-2 on 2 ranks: reduce-scatter + all-gather of 2Ψ/P bytes per rank, α = 1 µs, 1 GB/s.
        let allReduce = 2 * (1e-6 + 106_816e-9)
        let backward = 2 * forward + 2 * ring.backward.maxComputeSeconds + recompute
        expect("exposed all-reduce", expected: max(0, allReduce - backward), actual: t.zeroCommSeconds)
        let e = tiny.estimate(c, attention: ring, topology: .toy)
        // PaLM: 6·Ψ_mm + 6·L·H·D·(N + 1) per token (the causal half).
        expect("model FLOPs per token", expected: 6 * 90_112 + 6 * 2 * 4 * 16 * 1025, actual: e.modelFLOPsPerToken)
        expect("MFU", expected: e.modelFLOPsPerToken * 512 / (t.stepSeconds * 1e12), actual: e.mfu)
        expect("tokens/s per GPU", expected: 512 / t.stepSeconds, actual: e.tokensPerSecond)
    }

    func testTrainStepTrafficArithmetic() throws {
        let psi = 106_816
        for p in [2, 3, 4] {
            let n = 48
            let t = try tiny.trainStepTraffic(strategy: "ring", layout: .contiguous, ranks: p, seqLen: n, checkpointing: true).get()
            // Ring per layer: 2·(N − n/P)·G·D·4 bytes in P − 1 messages forward; backward adds
            // 2·N·G·D·4 of accumulators and P messages. Two layers.
            let forward = 2 * (n - n / p) * 2 * 16 * 4
            expect("ring forward P=\(p)", expected: Array(repeating: 2 * forward, count: p), actual: t.attentionForward.bytes)
            expect("ring forward messages P=\(p)", expected: Array(repeating: 2 * (p - 1), count: p), actual: t.attentionForward.messages)
            expect("ring backward P=\(p)", expected: Array(repeating: 2 * (forward + 2 * n * 2 * 16 * 4), count: p),
                   actual: t.attentionBackward.bytes)
            expect("ring backward messages P=\(p)", expected: Array(repeating: 2 * (2 * p - 1), count: p),
                   actual: t.attentionBackward.messages)
            XCTAssertEqual(t.attentionRecompute, t.attentionForward, "checkpointing reruns the forward")
            expect("all-reduce P=\(p)", expected: Array(repeating: (p - 1) * 4 * psi, count: p), actual: t.gradientAllreduce.bytes)
            expect("all-reduce messages P=\(p)", expected: Array(repeating: p - 1, count: p), actual: t.gradientAllreduce.messages)
        }
        // Ulysses, P = 2: c = 2 query heads and g = 1 KV head per rank, G' = 2, n = 24:
        // n·D·4·((H − c) + 2(G' − g)) + (N − n)·c·(D·4 + 4) per layer, 2(P − 1) messages.
        let u = try tiny.trainStepTraffic(strategy: "ulysses", layout: .contiguous, ranks: 2, seqLen: 48, checkpointing: false).get()
        expect("ulysses forward", expected: [2 * 9408, 2 * 9408], actual: u.attentionForward.bytes)
        expect("ulysses forward messages", expected: [4, 4], actual: u.attentionForward.messages)
        expect("no recompute without checkpointing", expected: [0, 0], actual: u.attentionRecompute.bytes)
        // ZeCO on this shape as GLA (4 heads, Dk = Dv = 16), P = 2 (K = 1): rank 0 sends one
        // float32 state 4·16·16·4 bytes per layer forward; rank 1 nothing.
        let z = try tiny.trainStepTraffic(strategy: "zeco", layout: .contiguous, ranks: 2, seqLen: 48, checkpointing: false).get()
        expect("zeco forward", expected: [2 * 4096, 0], actual: z.attentionForward.bytes)
        expect("zeco forward messages", expected: [2, 0], actual: z.attentionForward.messages)
        // One rank: nothing at all.
        let one = try tiny.trainStepTraffic(strategy: "ring", layout: .contiguous, ranks: 1, seqLen: 48, checkpointing: true).get()
        expect("P = 1 all-reduce", expected: [0], actual: one.gradientAllreduce.bytes)
        XCTAssertThrowsError(try tiny.trainStepTraffic(strategy: "nope", layout: .contiguous, ranks: 2, seqLen: 48,
                                                       checkpointing: false).get())
    }
}
