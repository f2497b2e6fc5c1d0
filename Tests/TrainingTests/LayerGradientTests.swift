import XCTest
import Kernels
@testable import Training

/// Each layer's hand-written backward against central finite differences in float64.
final class LayerGradientTests: XCTestCase {
    let n = 5

    func testLinear() {
        var table = ParameterTable()
        let layer = Linear("w", inputs: 4, outputs: 3, table: &table)
        let weights = randomValues(table.count, seed: 1), x = randomValues(n * 4, seed: 2), r = randomValues(n * 3, seed: 3)
        var gradients = [Double](repeating: 0, count: table.count), dx = [Double]()
        layer.backward(x: x, dy: r, rows: n, weights: weights, gradients: &gradients, addingTo: &dx)
        assertGradient("linear dx", analytic: dx, at: x) { dot(r, layer.forward($0, rows: n, weights: weights)) }
        assertGradient("linear dW", analytic: gradients, at: weights) { dot(r, layer.forward(x, rows: n, weights: $0)) }
    }

    func testEmbedding() {
        var table = ParameterTable()
        let layer = Embedding(vocabulary: 7, hidden: 3, table: &table)
        let weights = randomValues(table.count, seed: 4), tokens = [3, 0, 3, 6, 1], r = randomValues(n * 3, seed: 5)
        var gradients = [Double](repeating: 0, count: table.count)
        layer.backward(tokens, dy: r, gradients: &gradients)
        assertGradient("embedding dE", analytic: gradients, at: weights) { dot(r, layer.forward(tokens, weights: $0)) }
        XCTAssertEqual(Array(gradients[6..<9]), [0, 0, 0], "an unused token's row gets no gradient")
    }

    func testRMSNorm() {
        var table = ParameterTable()
        let layer = RMSNorm("norm", width: 6, epsilon: 1e-5, table: &table)
        let weights = randomValues(table.count, seed: 6, range: 0.5...1.5), x = randomValues(n * 6, seed: 7)
        let r = randomValues(n * 6, seed: 8)
        var gradients = [Double](repeating: 0, count: table.count)
        let dx = layer.backward(x: x, dy: r, weights: weights, gradients: &gradients)
        assertGradient("rmsnorm dx", analytic: dx, at: x) { dot(r, layer.forward($0, weights: weights)) }
        assertGradient("rmsnorm dγ", analytic: gradients, at: weights) { dot(r, layer.forward(x, weights: $0)) }
    }

    func testRotaryUsesGlobalPositions() {
        let rotary = RotaryEmbedding(headDim: 6, base: 10_000)
        let positions = [7, 0, 12, 3, 5], shape = (tokens: n, heads: 2, dim: 6)
        let x = randomValues(n * 12, seed: 9), r = randomValues(n * 12, seed: 10)
        func y(_ x: [Double]) -> [Double] {
            rotary.apply(Tensor64(tokens: shape.tokens, heads: shape.heads, dim: shape.dim, storage: x),
                         rotary.angles(positions: positions)).storage
        }
        let dx = rotary.apply(Tensor64(tokens: n, heads: 2, dim: 6, storage: r), rotary.angles(positions: positions),
                              inverse: true).storage
        assertGradient("rotary dx", analytic: dx, at: x) { dot(r, y($0)) }
        // Position 0 is the identity; a token's rotation depends on its position, not its row.
        XCTAssertEqual(Array(y(x)[12..<24]), Array(x[12..<24]))
        let moved = rotary.apply(Tensor64(tokens: 1, heads: 2, dim: 6, storage: Array(x[24..<36])),
                                 rotary.angles(positions: [12])).storage
        for (a, b) in zip(moved, y(x)[24..<36]) { XCTAssertEqual(a, b, accuracy: 1e-15) }
        // q·k after rotation depends only on the distance between positions.
        let q = Tensor64(tokens: 1, heads: 1, dim: 6, storage: Array(x[0..<6]))
        let k = Tensor64(tokens: 1, heads: 1, dim: 6, storage: Array(x[6..<12]))
        func score(_ i: Int, _ j: Int) -> Double {
            dot(rotary.apply(q, rotary.angles(positions: [i])).storage, rotary.apply(k, rotary.angles(positions: [j])).storage)
        }
        XCTAssertEqual(score(9, 4), score(105, 100), accuracy: 1e-12)
        XCTAssertNotEqual(score(9, 4), score(9, 5))
    }

    func testSwiGLU() {
        var table = ParameterTable()
        let layer = SwiGLU("mlp", hidden: 4, ffn: 6, table: &table)
        let weights = randomValues(table.count, seed: 11), x = randomValues(n * 4, seed: 12), r = randomValues(n * 4, seed: 13)
        var gradients = [Double](repeating: 0, count: table.count)
        let dx = layer.backward(layer.forward(x, rows: n, weights: weights).cache, dy: r, rows: n, weights: weights,
                                gradients: &gradients)
        assertGradient("swiglu dx", analytic: dx, at: x) { dot(r, layer.forward($0, rows: n, weights: weights).y) }
        assertGradient("swiglu dW", analytic: gradients, at: weights) { dot(r, layer.forward(x, rows: n, weights: $0).y) }
    }

    func testSoftmaxAttentionLayerWithGQAAndPermutedPositions() throws {
        let config = TrainingModelConfig(layers: 1, hidden: 8, heads: 4, kvHeads: 2, headDim: 4, valueDim: 4, ffn: 8,
                                         vocabulary: 5)
        var table = ParameterTable()
        let layer = SoftmaxAttentionLayer("attention", config: config, table: &table)
        // A zigzag-like slice: rows are not in position order.
        let positions = [0, 1, 8, 9, 4]
        guard case .softmax(let core) = AttentionCore<Double>.reference(.softmax, positions: positions) else { return XCTFail() }
        let weights = randomValues(table.count, seed: 14), x = randomValues(n * 8, seed: 15), r = randomValues(n * 8, seed: 16)
        func y(_ x: [Double], _ w: [Double]) throws -> [Double] {
            try layer.forward(x, positions: positions, weights: w, core: core, pass: .forward).y
        }
        var gradients = [Double](repeating: 0, count: table.count)
        let cache = try layer.forward(x, positions: positions, weights: weights, core: core, pass: .forward).cache
        let dx = try layer.backward(cache, dy: r, positions: positions, weights: weights, core: core, gradients: &gradients)
        try assertGradient("attention dx", analytic: dx, at: x) { dot(r, try y($0, weights)) }
        try assertGradient("attention dW", analytic: gradients, at: weights) { dot(r, try y(x, $0)) }
    }

    func testGatedLinearAttentionLayer() throws {
        let config = TrainingModelConfig(layers: 1, hidden: 8, heads: 2, kvHeads: 2, headDim: 4, valueDim: 3, ffn: 8,
                                         vocabulary: 5, attention: .gla)
        var table = ParameterTable()
        let layer = GatedLinearAttentionLayer("attention", config: config, table: &table)
        guard case .linear(let core) = AttentionCore<Double>.reference(.gla, positions: Array(0..<n)) else { return XCTFail() }
        let weights = randomValues(table.count, seed: 17), x = randomValues(n * 8, seed: 18), r = randomValues(n * 8, seed: 19)
        func y(_ x: [Double], _ w: [Double]) throws -> [Double] {
            try layer.forward(x, rows: n, weights: w, core: core, pass: .forward).y
        }
        var gradients = [Double](repeating: 0, count: table.count)
        let cache = try layer.forward(x, rows: n, weights: weights, core: core, pass: .forward).cache
        XCTAssertTrue(cache.g.storage.allSatisfy { $0 < 0 && $0 > -1 }, "log-sigmoid gates / 16 lie in (−1, 0)")
        let dx = try layer.backward(cache, dy: r, rows: n, weights: weights, core: core, gradients: &gradients)
        try assertGradient("gla dx", analytic: dx, at: x) { dot(r, try y($0, weights)) }
        try assertGradient("gla dW", analytic: gradients, at: weights) { dot(r, try y(x, $0)) }
    }

    func testCrossEntropyHead() {
        var table = ParameterTable()
        let head = CrossEntropyHead(hidden: 4, vocabulary: 6, table: &table)
        let weights = randomValues(table.count, seed: 20, range: -3...3), x = randomValues(n * 4, seed: 21)
        let labels = [5, 0, 2, 2, 4], normalizer = 12
        func loss(_ x: [Double], _ w: [Double]) -> Double {
            var unused = [Double](repeating: 0, count: table.count)
            return head.lossAndBackward(x, labels: labels, normalizer: normalizer, weights: w, gradients: &unused).lossSum
                / Double(normalizer)
        }
        var gradients = [Double](repeating: 0, count: table.count)
        let (lossSum, dx) = head.lossAndBackward(x, labels: labels, normalizer: normalizer, weights: weights,
                                                 gradients: &gradients)
        // The loss against a direct log-softmax.
        var expected = 0.0
        for i in 0..<n {
            let logits = (0..<6).map { j in (0..<4).reduce(0.0) { $0 + x[i * 4 + $1] * weights[$1 * 6 + j] } }
            expected += log(logits.map(exp).reduce(0, +)) - logits[labels[i]]
        }
        XCTAssertEqual(lossSum, expected, accuracy: 1e-12)
        assertGradient("head dx", analytic: dx, at: x) { loss($0, weights) }
        assertGradient("head dW", analytic: gradients, at: weights) { loss(x, $0) }
    }
}
