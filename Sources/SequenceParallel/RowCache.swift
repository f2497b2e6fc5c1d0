// Row ranges of a tensor reused across the steps of a ring (zigzag's second half of the
// queries, striped's q[1:]): cut once, not once per step.
import Kernels

/// Row ranges of a tensor, cut once and reused across ring steps (the whole tensor is not copied).
struct RowCache {
    private let tensor: Tensor32
    private var cut: [Range<Int>: Tensor32] = [:]

    init(_ tensor: Tensor32) { self.tensor = tensor }

    subscript(rows: Range<Int>) -> Tensor32 {
        mutating get {
            if rows == 0..<tensor.tokens { return tensor }
            if let done = cut[rows] { return done }
            let piece = tensor.tokens(rows)
            cut[rows] = piece
            return piece
        }
    }
}
