// Several row-aligned tensors travelling as one message: the rows `range` of each tensor,
// one tensor after another (TokenRing packs q, dO, o, lse this way, and o with lse).
import Kernels
import MPI

/// The heads and channels of one tensor in a packed message (its rows come from the message).
struct RowShape: Equatable, Sendable {
    var heads: Int
    var dim: Int

    /// Floats per token.
    var stride: Int { heads * dim }

    /// The shape of `tensor`'s rows.
    init(of tensor: Tensor32) { self.init(heads: tensor.heads, dim: tensor.dim) }

    init(heads: Int, dim: Int) {
        self.heads = heads
        self.dim = dim
    }

    /// Floats of a message holding `tokens` rows of every shape in `shapes`.
    static func count(_ shapes: [RowShape], tokens: Int) -> Int { tokens * shapes.reduce(0) { $0 + $1.stride } }
}

/// A message buffer holding rows `rows` of each tensor, tensors one after another.
/// Every tensor must have at least `rows.upperBound` tokens.
func packRows(_ tensors: [Tensor32], _ rows: Range<Int>) -> MessageBuffer<Float> {
    let buffer = MessageBuffer<Float>(count: RowShape.count(tensors.map(RowShape.init), tokens: rows.count),
                                      repeating: 0)
    var target = buffer.baseAddress
    for t in tensors {
        precondition(rows.upperBound <= t.tokens, "packRows: rows \(rows) beyond \(t.tokens) tokens")
        let stride = t.tokenStride, count = rows.count * stride
        if count == 0 { continue }
        t.storage.withUnsafeBufferPointer { source in
            target.update(from: source.baseAddress! + rows.lowerBound * stride, count: count)
        }
        target += count
    }
    return buffer
}

/// The tensors of a message packed by `packRows`: `tokens` rows of each shape, in order.
func unpackRows(_ buffer: MessageBuffer<Float>, tokens: Int, shapes: [RowShape]) -> [Tensor32] {
    precondition(buffer.count == RowShape.count(shapes, tokens: tokens), "unpackRows: message size does not match")
    var offset = 0
    return shapes.map { shape in
        let count = tokens * shape.stride
        defer { offset += count }
        return Tensor32(tokens: tokens, heads: shape.heads, dim: shape.dim,
                        storage: Array(UnsafeBufferPointer(start: buffer.baseAddress + offset, count: count)))
    }
}

extension Tensor where Scalar == Float {
    /// Adds `part` to this tensor's tokens `offset ..< offset + part.tokens` (same heads and dim).
    mutating func addTokens(_ part: Tensor32, at offset: Int) {
        precondition(part.heads == heads && part.dim == dim, "addTokens: shapes differ")
        precondition(offset >= 0 && offset + part.tokens <= tokens, "addTokens: rows out of range")
        let start = offset * tokenStride
        if part.storage.isEmpty { return }
        storage.withUnsafeMutableBufferPointer { target in
            part.storage.withUnsafeBufferPointer { source in
                let t = target.baseAddress! + start, s = source.baseAddress!
                for i in 0..<source.count { t[i] += s[i] }
            }
        }
    }
}
