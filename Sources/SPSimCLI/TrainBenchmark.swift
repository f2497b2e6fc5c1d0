import Foundation
import Kernels
import MPI
import Reports
import SequenceParallel
import Training

/// FLOPs of one training step of `config` on `tokens` tokens, as the planner's MFU counts them
/// (PaLM, Chowdhery et al. 2022, appendix B, with the attention term halved for the causal
/// mask): `6 · P_matmul · N` for the weight matrices (forward 2, backward 4 per weight and
/// token; `P_matmul` counts every projection, MLP and LM-head weight, not the embedding lookup
/// or the norm gains) plus, per softmax layer, causal attention `6 · N² · H · D` (forward `QKᵀ`
/// and `PV` at `2·N²·H·D` each over the visible half, backward twice the forward; PaLM's
/// `12 · N² · H · D` counts every pair). The backward's recomputation of the scores is not
/// counted. GLA layers are counted by their weights alone.
func trainingStepFLOPs(_ model: LanguageModel, tokens: Int) -> Double {
    let matmul = model.parameters.specs.filter { $0.shape.count == 2 && $0.name != "embedding" }.reduce(0) { $0 + $1.count }
    let c = model.config, n = Double(tokens)
    let attention = c.attention == .softmax ? 6 * n * n * Double(c.heads * c.headDim) * Double(c.layers) : 0
    return 6 * Double(matmul) * n + attention
}

/// The best single-thread `sgemm` rate of a few square sizes (GFLOP/s, median of `repeats` each).
func bestSgemmGFLOPs(repeats: Int) -> Double {
    var best = 0.0
    for size in [256, 512, 1024] {
        let a = (0..<size * size).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 }
        var c = [Float](repeating: 0, count: size * size)
        var times = [Double]()
        for _ in 0..<max(repeats, 3) {
            let start = MPIEnvironment.wallTime()
            a.withUnsafeBufferPointer { pa in
                c.withUnsafeMutableBufferPointer { pc in
                    Float.gemm(transposeA: false, transposeB: false, m: size, n: size, k: size, alpha: 1,
                               a: pa.baseAddress!, lda: size, b: pa.baseAddress!, ldb: size, beta: 0,
                               c: pc.baseAddress!, ldc: size)
                }
            }
            times.append(MPIEnvironment.wallTime() - start)
        }
        precondition(c[size + 1].isFinite)
        best = max(best, 2 * pow(Double(size), 3) / median(times) / 1e9)
    }
    return best
}

extension BenchCommand {
    /// `spsim bench --train`: training steps of the tiny model (softmax, allgather, contiguous) at
    /// `tokens` on this job's ranks beside the best single-thread sgemm measured in the same run.
    func runTrainBenchmark(tokens: Int, repeats: Int, json: Bool) throws {
        let config = TrainingModelConfig.tiny()
        try withMPI(validate: { world in
            try config.validate()
            let layout = try SequenceLayout.make(.contiguous, tokens: tokens, ranks: world.size).get()
            let memory = TrainCommand.memoryEstimate(config, seqLen: tokens, localTokens: layout.count(rank: world.rank),
                                                     dataTokens: tokens + 1, checkpoint: false)
            try requireMemory(memory, rank: world.rank, worldSize: world.size, force: false, forceOption: nil)
        }) { world, _ in
            if world.rank == 0 {
                printNote("timing \(repeats + 1) training steps of the tiny model at N = \(tokens) on \(world.size) "
                          + "rank\(world.size == 1 ? "" : "s") (the first untimed)…")
            }
            let sgemm = bestSgemmGFLOPs(repeats: repeats)
            let model = LanguageModel(config)
            // Random bytes: the speed does not depend on the text.
            let data = TokenData(tokens: (0...tokens).map { Int32(($0 &* 2_654_435_761) >> 7 & 255) })
            let trainer = try Trainer(model: model, strategy: .softmax(AllGatherAttention.self),
                                      layout: try SequenceLayout.make(.contiguous, tokens: tokens, ranks: world.size).get(),
                                      data: data, learningRate: 3e-3, seed: 1, checkpoint: false, world: world)
            _ = try trainer.step(0)  // warm-up
            var seconds = [Double]()
            for step in 1...repeats { seconds.append(try world.allreduce([try trainer.step(step).seconds], .max)[0]) }
            let flops = trainingStepFLOPs(model, tokens: tokens)
            let step = median(seconds), rate = flops / step / 1e9
            struct Report: Encodable {
                var ranks, tokens: Int
                var stepSeconds, stepFlops, trainGflops, sgemmGflops, ratio: Double
                var flopCount: String
            }
            let report = Report(ranks: world.size, tokens: tokens, stepSeconds: step, stepFlops: flops, trainGflops: rate,
                                sgemmGflops: sgemm, ratio: rate / sgemm,
                                flopCount: "6·P_matmul·N + layers·6·N²·H·D (causal attention)")
            if world.rank == 0 {
                if json {
                    print(try jsonLine(report))
                } else {
                    print("one training step of the tiny model, N=\(tokens) on \(world.size) rank\(world.size == 1 ? "" : "s"): "
                        + "\(formatSeconds(step)) (median of \(repeats)), \(String(format: "%.2f", flops / 1e9)) GFLOP "
                        + "(6·P_matmul·N + layers·6·N²·H·D) → \(format3(rate)) GFLOP/s")
                    print("best single-thread sgemm (256…1024 square): \(format3(sgemm)) GFLOP/s; step / sgemm = "
                        + String(format: "%.2f", rate / sgemm)
                        + (world.size > 1 ? " (the step's rate is all \(world.size) ranks')" : ""))
                }
            }
            return 0
        }
    }
}
