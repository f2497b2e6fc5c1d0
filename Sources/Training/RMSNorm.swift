/// Root-mean-square layer normalization (Zhang & Sennrich 2019) over the last axis:
/// `y = x · r · γ` with `r = 1 / sqrt(mean(x²) + ε)`, per row of `[n, width]`.
struct RMSNorm: Sendable {
    let gain: ParameterSpec
    let width: Int
    let epsilon: Double

    init(_ name: String, width: Int, epsilon: Double, table: inout ParameterTable) {
        gain = table.add(name, [width], decays: false)
        self.width = width
        self.epsilon = epsilon
    }

    /// The normalized rows.
    func forward<T: TrainingScalar>(_ x: [T], weights: [T]) -> [T] {
        let rows = x.count / width, g = gain.values(in: weights)
        var y = x
        for r in 0..<rows {
            let scale = inverseRMS(x, row: r)
            for c in 0..<width { y[r * width + c] = x[r * width + c] * scale * g[c] }
        }
        return y
    }

    /// `dx` given the input `x` and `dy`; adds `Σ_rows dy·x·r` to the gain's gradient.
    ///
    /// `dx_c = r γ_c dy_c − x_c r³ / width · Σ_j dy_j γ_j x_j`.
    func backward<T: TrainingScalar>(x: [T], dy: [T], weights: [T], gradients: inout [T]) -> [T] {
        let rows = x.count / width, g = gain.values(in: weights)
        var dx = x, dg = [T](repeating: 0, count: width)
        for r in 0..<rows {
            let scale = inverseRMS(x, row: r), base = r * width
            var dot: T = 0
            for c in 0..<width {
                dot += dy[base + c] * g[c] * x[base + c]
                dg[c] += dy[base + c] * x[base + c] * scale
            }
            let k = scale * scale * scale * dot / T(width)
            for c in 0..<width { dx[base + c] = scale * g[c] * dy[base + c] - x[base + c] * k }
        }
        gain.accumulate(dg, into: &gradients)
        return dx
    }

    private func inverseRMS<T: TrainingScalar>(_ x: [T], row: Int) -> T {
        var sum: T = 0
        for c in 0..<width { let v = x[row * width + c]; sum += v * v }
        return 1 / (sum / T(width) + T(epsilon)).squareRoot()
    }
}
