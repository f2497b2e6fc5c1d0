import Foundation
import Kernels

/// Rotary position embedding (Su et al. 2021, RoFormer): channel pairs `(2i, 2i+1)` of every
/// head are rotated by `position · base^(−2i/D)`, `position` being the token's GLOBAL index in
/// the sequence (so a rank's slice gets the same rotation wherever the layout puts it).
struct RotaryEmbedding: Sendable {
    let headDim: Int
    let base: Double

    /// The rotation of tokens at `positions`: cos and sin of each token's angle per channel
    /// pair, `[n, D/2]` each, computed in Double once per layer forward and shared by q, k and
    /// (saved with the layer's activations) their gradients.
    func angles<T: TrainingScalar>(positions: [Int]) -> RotaryAngles<T> {
        let pairs = headDim / 2
        let frequencies = (0..<pairs).map { pow(base, -2 * Double($0) / Double(headDim)) }
        var cosines = [T](), sines = [T]()
        cosines.reserveCapacity(positions.count * pairs)
        sines.reserveCapacity(positions.count * pairs)
        for p in positions {
            for f in frequencies {
                cosines.append(T(cos(Double(p) * f)))
                sines.append(T(sin(Double(p) * f)))
            }
        }
        return RotaryAngles(tokens: positions.count, cosines: cosines, sines: sines)
    }

    /// `x [n, heads, D]` rotated by `angles` (of its n tokens); `inverse` rotates back (the
    /// backward of a rotation is its transpose, the rotation by −angle).
    func apply<T: TrainingScalar>(_ x: Tensor<T>, _ angles: RotaryAngles<T>, inverse: Bool = false) -> Tensor<T> {
        precondition(x.dim == headDim && angles.tokens == x.tokens, "rotary: shape mismatch")
        var y = x
        let pairs = headDim / 2, heads = x.heads
        let sign: T = inverse ? -1 : 1
        y.storage.withUnsafeMutableBufferPointer { y in
        x.storage.withUnsafeBufferPointer { x in
        angles.cosines.withUnsafeBufferPointer { cosines in
        angles.sines.withUnsafeBufferPointer { sines in
            for t in 0..<angles.tokens {
                for h in 0..<heads {
                    let row = (t * heads + h) * headDim
                    for i in 0..<pairs {
                        let c = cosines[t * pairs + i], s = sign * sines[t * pairs + i]
                        let a = x[row + 2 * i], b = x[row + 2 * i + 1]
                        y[row + 2 * i] = a * c - b * s
                        y[row + 2 * i + 1] = a * s + b * c
                    }
                }
            }
        }}}}
        return y
    }
}

/// cos and sin of the rotary angles of `tokens` tokens, `[tokens, D/2]` each (`RotaryEmbedding.angles`).
struct RotaryAngles<T: TrainingScalar> {
    let tokens: Int
    let cosines: [T], sines: [T]
}
