import Kernels

/// Deterministic inputs: every element is a pure function of (seed, tensor name, global
/// token, head, channel), so each rank makes its own slice and the reference makes the
/// whole, with no communication (docs/design.md, inputs and files).
public struct InputGenerator: Sendable {
    public var seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// A value uniform in [-1, 1).
    public func value(_ name: String, token: Int, head: Int, channel: Int) -> Float {
        Float(unit(name, token: token, head: head, channel: channel) * 2 - 1)
    }

    /// A log-gate for gated linear attention, in [−0.5, −0.005): always ≤ 0, so states decay.
    public func logGate(token: Int, head: Int, channel: Int) -> Float {
        Float(-(0.005 + 0.495 * unit("g", token: token, head: head, channel: channel)))
    }

    /// The tensor `name` at the given global token positions.
    public func tensor(_ name: String, positions: [Int], heads: Int, dim: Int) -> Tensor32 {
        var t = Tensor32(tokens: positions.count, heads: heads, dim: dim)
        t.storage.withUnsafeMutableBufferPointer { out in
            var i = 0
            for p in positions {
                for h in 0..<heads {
                    for c in 0..<dim {
                        out[i] = name == "g" ? logGate(token: p, head: h, channel: c)
                            : value(name, token: p, head: h, channel: c)
                        i += 1
                    }
                }
            }
        }
        return t
    }

    /// Uniform in [0, 1): SplitMix64 finalizers over the packed coordinates.
    private func unit(_ name: String, token: Int, head: Int, channel: Int) -> Double {
        var h = seed &* 0x9E37_79B9_7F4A_7C15
        for byte in name.utf8 { h = mix(h ^ UInt64(byte)) }
        h = mix(h ^ UInt64(truncatingIfNeeded: token))
        h = mix(h ^ (UInt64(truncatingIfNeeded: head) << 32 | UInt64(truncatingIfNeeded: channel)))
        return Double(h >> 11) / Double(UInt64(1) << 53)
    }

    private func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
