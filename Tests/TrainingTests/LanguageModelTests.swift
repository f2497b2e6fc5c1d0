import SPCore
import XCTest
import Kernels
@testable import Training

/// The whole model's backward against finite differences, checkpointing, and the tiny model's shape.
final class LanguageModelTests: XCTestCase {
    func config(_ attention: AttentionKind) -> TrainingModelConfig {
        TrainingModelConfig(layers: 2, hidden: 8, heads: 2, kvHeads: attention == .softmax ? 1 : 2, headDim: 4,
                            valueDim: 3, ffn: 12, vocabulary: 11, attention: attention)
    }

    func testWholeModelGradientMatchesFiniteDifferences() throws {
        for attention in AttentionKind.allCases {
            let model = LanguageModel(config(attention))
            let weights: [Double] = model.initialWeights(seed: 3)
            let tokens = [1, 4, 4, 10, 0, 7], labels = [4, 4, 10, 0, 7, 2], positions = Array(0..<6)
            let core = AttentionCore<Double>.reference(attention, positions: positions)
            func loss(_ w: [Double]) throws -> Double {
                try model.lossAndGradient(weights: w, tokens: tokens, labels: labels, positions: positions,
                                          normalizer: 6, core: core).lossSum / 6
            }
            let result = try model.lossAndGradient(weights: weights, tokens: tokens, labels: labels, positions: positions,
                                                   normalizer: 6, core: core)
            try assertGradient("\(attention) model", analytic: result.gradient, at: weights, samples: 400, loss)
            let checkpointed = try model.lossAndGradient(weights: weights, tokens: tokens, labels: labels,
                                                         positions: positions, normalizer: 6, core: core, checkpoint: true)
            XCTAssertEqual(checkpointed.lossSum, result.lossSum, "\(attention): checkpointing changes the loss")
            XCTAssertEqual(checkpointed.gradient, result.gradient, "\(attention): checkpointing changes the gradient")
        }
    }

    /// A rank's slice gives the same token losses as the whole sequence: only the labels'
    /// global order and the positions tie the rows together (softmax, zigzag-like rows).
    func testSlicesInAnyOrderSumToTheWhole() throws {
        let model = LanguageModel(config(.softmax))
        let weights: [Double] = model.initialWeights(seed: 5)
        let window = [3, 1, 4, 1, 5, 9, 2, 6, 5]
        let all = Array(0..<8)
        let whole = try model.lossAndGradient(weights: weights, tokens: all.map { window[$0] },
                                              labels: all.map { window[$0 + 1] }, positions: all, normalizer: 8,
                                              core: .reference(.softmax, positions: all))
        // Permuting the rows (as a layout does) changes nothing when attention sees the permutation.
        let order = [0, 7, 1, 6, 2, 5, 3, 4]
        let permuted = try model.lossAndGradient(weights: weights, tokens: order.map { window[$0] },
                                                 labels: order.map { window[$0 + 1] }, positions: order, normalizer: 8,
                                                 core: .reference(.softmax, positions: order))
        XCTAssertEqual(permuted.lossSum, whole.lossSum, accuracy: 1e-12)
        for (a, b) in zip(permuted.gradient, whole.gradient) { XCTAssertEqual(a, b, accuracy: 1e-12) }
    }

    func testTinyModelShape() throws {
        let tiny = TrainingModelConfig.tiny()
        XCTAssertEqual([tiny.layers, tiny.hidden, tiny.heads, tiny.kvHeads, tiny.headDim, tiny.ffn, tiny.vocabulary],
                       [2, 128, 4, 2, 64, 448, 256])
        try tiny.validate()
        let model = LanguageModel(tiny)
        // embedding + head 2·256·128; per layer q, o 128·256, k, v 128·128, MLP 3·128·448, two gains 128; final gain 128.
        XCTAssertEqual(model.parameters.count,
                       2 * 256 * 128 + 2 * (2 * 128 * 256 + 2 * 128 * 128 + 3 * 128 * 448 + 2 * 128) + 128)
        let a: [Float] = model.initialWeights(seed: 1), b: [Float] = model.initialWeights(seed: 1)
        let c: [Float] = model.initialWeights(seed: 2)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertThrowsError(try TrainingModelConfig(layers: 2, hidden: 66, heads: 4, kvHeads: 2, headDim: 16, valueDim: 16,
                                                     ffn: 8, vocabulary: 256).validate())
    }

    func testAdamWStep() {
        var table = ParameterTable()
        _ = table.add("matrix", [2])
        _ = table.add("gain", [1], decays: false)
        var adam = AdamW(parameters: table, learningRate: 0.1)
        var w: [Float] = [1, -2, 3]
        adam.update(&w, gradient: [0.5, -0.25, 2])
        // First step: m̂ = g, v̂ = g², update = sign(g) (up to ε); decay 0.1·w on matrices only.
        XCTAssertEqual(w[0], 1 - 0.1 * (1 + 0.1 * 1), accuracy: 1e-6)
        XCTAssertEqual(w[1], -2 - 0.1 * (-1 + 0.1 * -2), accuracy: 1e-6)
        XCTAssertEqual(w[2], 3 - 0.1 * 1, accuracy: 1e-6)
    }
}
