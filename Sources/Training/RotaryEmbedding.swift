import Foundation
import Kernels

/// Rotary position embedding (Su et al. 2021, RoFormer): channel pairs `(2i, 2i+1)` of every
/// head are rotated by `position · base^(−2i/D)`, `position` being the token's GLOBAL index in
/// the sequence (so a rank's slice gets the same rotation wherever the layout puts it).
struct RotaryEmbedding: Sendable {
    let headDim: Int
    let base: Double

    /// `x [n, heads, D]` rotated by each row's `positions[row]`; `inverse` rotates back
    /// (the backward of a rotation is its transpose, the rotation by −angle).
    func apply<T: TrainingScalar>(_ x: Tensor<T>, positions: [Int], inverse: Bool = false) -> Tensor<T> {
        precondition(x.dim == headDim && positions.count == x.tokens, "rotary: shape mismatch")
        var y = x
        let pairs = headDim / 2
        let frequencies = (0..<pairs).map { pow(base, -2 * Double($0) / Double(headDim)) }
        let sign: Double = inverse ? -1 : 1
        for (t, p) in positions.enumerated() {
            for i in 0..<pairs {
                let angle = Double(p) * frequencies[i]
                let c = T(cos(angle)), s = T(sign * sin(angle))
                for h in 0..<x.heads {
                    let at = (t * x.heads + h) * headDim + 2 * i
                    let a = x.storage[at], b = x.storage[at + 1]
                    y.storage[at] = a * c - b * s
                    y.storage[at + 1] = a * s + b * c
                }
            }
        }
        return y
    }
}
