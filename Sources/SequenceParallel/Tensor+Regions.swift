// Writing a block of tokens or heads back into a larger tensor: what strategies do with
// the partial results of a sub-block (ring attention's half blocks, Ulysses' head runs).
import Kernels

extension Tensor where Scalar == Float {
    /// Adds `part` into tokens `[offset, offset + part.tokens)` (same heads and dim).
    mutating func addTokens(_ part: Tensor32, atToken offset: Int) {
        precondition(part.heads == heads && part.dim == dim, "addTokens: shapes differ")
        precondition(offset >= 0 && offset + part.tokens <= tokens, "addTokens: rows out of range")
        let start = offset * tokenStride
        storage.withUnsafeMutableBufferPointer { dst in
            part.storage.withUnsafeBufferPointer { src in
                let d = dst.baseAddress! + start, s = src.baseAddress!
                for i in 0..<src.count { d[i] += s[i] }
            }
        }
    }

    /// Writes `part` (`[tokens, range.count, dim]`) into heads `range` of every token.
    mutating func setHeads(_ range: Range<Int>, from part: Tensor32) {
        precondition(part.tokens == tokens && part.heads == range.count && part.dim == dim, "setHeads: shapes differ")
        precondition(range.lowerBound >= 0 && range.upperBound <= heads, "setHeads: heads out of range")
        let width = range.count * dim, stride = tokenStride, first = range.lowerBound * dim
        storage.withUnsafeMutableBufferPointer { dst in
            part.storage.withUnsafeBufferPointer { src in
                for t in 0..<tokens {
                    (dst.baseAddress! + (t &* stride &+ first)).update(from: src.baseAddress! + t &* width, count: width)
                }
            }
        }
    }
}

/// Adds the floats of `part` into `part.count` floats at `target` (a message buffer's accumulator, say).
func addFloats(_ part: [Float], into target: UnsafeMutablePointer<Float>) {
    part.withUnsafeBufferPointer { src in
        let s = src.baseAddress!
        for i in 0..<src.count { target[i] += s[i] }
    }
}
