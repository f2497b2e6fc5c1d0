import Kernels

/// Calls `body` with every combination of the given values (swift-collections style).
public func withEvery<A>(_ a: [A], _ body: (A) throws -> Void) rethrows {
    for x in a { try body(x) }
}

/// Calls `body` with every pair from the two lists.
public func withEvery<A, B>(_ a: [A], _ b: [B], _ body: (A, B) throws -> Void) rethrows {
    for x in a { for y in b { try body(x, y) } }
}

/// Calls `body` with every triple from the three lists.
public func withEvery<A, B, C>(_ a: [A], _ b: [B], _ c: [C], _ body: (A, B, C) throws -> Void) rethrows {
    for x in a { for y in b { for z in c { try body(x, y, z) } } }
}

/// A small deterministic generator (SplitMix64) for test data.
public struct TestRandom: Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in `range`.
    public mutating func uniform(_ range: ClosedRange<Double> = -1...1) -> Double {
        let unit = Double(next() >> 11) / Double(1 << 53)
        return range.lowerBound + unit * (range.upperBound - range.lowerBound)
    }

    /// A float64 tensor with elements uniform in `range`.
    public mutating func tensor(_ tokens: Int, _ heads: Int, _ dim: Int,
                                in range: ClosedRange<Double> = -1...1) -> Tensor64 {
        var t = Tensor64(tokens: tokens, heads: heads, dim: dim)
        for i in t.storage.indices { t.storage[i] = uniform(range) }
        return t
    }
}

extension Tensor where Scalar == Float {
    /// A tensor whose element (token, head, channel) is exactly
    /// `(token · heads + head) · dim + channel`: a misplaced element is caught exactly.
    public static func encoded(positions: [Int], heads: Int, dim: Int) -> Tensor32 {
        var t = Tensor32(tokens: positions.count, heads: heads, dim: dim)
        var i = 0
        for p in positions {
            for h in 0..<heads {
                for c in 0..<dim {
                    t.storage[i] = Float((p * heads + h) * dim + c)
                    i += 1
                }
            }
        }
        return t
    }
}

extension Tensor {
    /// Tokens of several tensors with equal `heads` and `dim`, one after another.
    public static func concatenatingTokens(_ parts: [Tensor], heads: Int, dim: Int) -> Tensor {
        var out = [Scalar]()
        for p in parts {
            precondition(p.heads == heads && p.dim == dim, "concatenated tensors differ in shape")
            out.append(contentsOf: p.storage)
        }
        return Tensor(tokens: out.count / max(1, heads * dim), heads: heads, dim: dim, storage: out)
    }
}
