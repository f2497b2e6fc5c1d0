import Kernels

/// Deterministic inputs: every element is a pure function of (seed, tensor name, global
/// token, head, channel), so each rank makes its own slice and the reference makes the
/// whole, with no communication (docs/design.md, inputs and files).
public struct InputGenerator: Sendable {
    public var seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// A value uniform in [-1, 1).
    public func value(_ name: String, token: Int, head: Int, channel: Int) -> Float {
        Self.signed(unit(nameHash(name), token: token, head: head, channel: channel))
    }

    /// A log-gate for gated linear attention, in [−0.5, −0.005): always ≤ 0, so states decay.
    public func logGate(token: Int, head: Int, channel: Int) -> Float {
        Self.gate(unit(nameHash("g"), token: token, head: head, channel: channel))
    }

    /// `value` and `logGate` from `unit`'s draw.
    private static func signed(_ u: Double) -> Float { Float(u * 2 - 1) }
    private static func gate(_ u: Double) -> Float { Float(-(0.005 + 0.495 * u)) }

    /// The tensor `name` at the given global token positions.
    public func tensor(_ name: String, positions: [Int], heads: Int, dim: Int) -> Tensor32 {
        var t = Tensor32(tokens: positions.count, heads: heads, dim: dim)
        // The name hashed once per tensor, not per element: the per-element string hashing and
        // comparison were most of the cost of the inputs that `--verify` regenerates whole.
        let named = nameHash(name), gate = name == "g"
        t.storage.withUnsafeMutableBufferPointer { out in
            var i = 0
            for p in positions {
                for h in 0..<heads {
                    for c in 0..<dim {
                        let u = unit(named, token: p, head: h, channel: c)
                        out[i] = gate ? Self.gate(u) : Self.signed(u)
                        i += 1
                    }
                }
            }
        }
        return t
    }

    /// The seed mixed with the tensor's name: the first part of `unit`'s hash.
    private func nameHash(_ name: String) -> UInt64 {
        var h = seed &* 0x9E37_79B9_7F4A_7C15
        for byte in name.utf8 { h = mix(h ^ UInt64(byte)) }
        return h
    }

    /// Uniform in [0, 1): SplitMix64 finalizers over the packed coordinates, after `nameHash`.
    private func unit(_ named: UInt64, token: Int, head: Int, channel: Int) -> Double {
        var h = mix(named ^ UInt64(truncatingIfNeeded: token))
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
