/// A contiguous, row-major tensor of shape `[tokens, heads, dim]`.
///
/// Element `(t, h, d)` lives at `storage[(t * heads + h) * dim + d]`. The scalar type is
/// `Float` (float32) in distributed code and `Double` (float64) in references.
public struct Tensor<Scalar: BinaryFloatingPoint & Sendable>: Sendable, Equatable {
    /// Number of tokens (the outermost axis).
    public var tokens: Int
    /// Number of heads.
    public var heads: Int
    /// Channels per head (the innermost axis).
    public var dim: Int
    /// The elements, `tokens * heads * dim` of them.
    public var storage: [Scalar]

    /// A tensor filled with `value`.
    @inlinable
    public init(tokens: Int, heads: Int, dim: Int, repeating value: Scalar = 0) {
        precondition(tokens >= 0 && heads >= 0 && dim >= 0, "negative tensor extent")
        self.tokens = tokens
        self.heads = heads
        self.dim = dim
        self.storage = [Scalar](repeating: value, count: tokens * heads * dim)
    }

    /// A tensor over existing storage; `storage.count` must be `tokens * heads * dim`.
    @inlinable
    public init(tokens: Int, heads: Int, dim: Int, storage: [Scalar]) {
        precondition(storage.count == tokens * heads * dim, "storage does not match the shape")
        self.tokens = tokens
        self.heads = heads
        self.dim = dim
        self.storage = storage
    }

    /// A phantom tensor (`spsim run --phantom`): the shape without values. Its storage is
    /// allocated but never written, so large tensors stay untouched pages of virtual memory;
    /// the elements are unspecified and only ever sent as payload bytes, never computed on.
    @inlinable
    public init(phantomTokens tokens: Int, heads: Int, dim: Int) {
        self.init(unwrittenTokens: tokens, heads: heads, dim: dim)
    }

    /// A tensor whose elements are unspecified until written: an output every element of which
    /// a kernel writes, without a pass that zero-fills it first.
    @inlinable
    public init(unwrittenTokens tokens: Int, heads: Int, dim: Int) {
        precondition(tokens >= 0 && heads >= 0 && dim >= 0, "negative tensor extent")
        let count = tokens * heads * dim
        self.tokens = tokens
        self.heads = heads
        self.dim = dim
        self.storage = [Scalar](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    /// Elements per token (`heads * dim`).
    @inlinable public var tokenStride: Int { heads * dim }

    /// The shape as `[tokens, heads, dim]`.
    @inlinable public var shape: [Int] { [tokens, heads, dim] }

    /// Element `(t, h, d)`.
    @inlinable
    public subscript(t: Int, h: Int, d: Int) -> Scalar {
        get { storage[(t * heads + h) * dim + d] }
        set { storage[(t * heads + h) * dim + d] = newValue }
    }

    /// The tokens in `range`, as a new tensor.
    @inlinable
    public func tokens(_ range: Range<Int>) -> Tensor {
        Tensor(tokens: range.count, heads: heads, dim: dim,
               storage: Array(storage[range.lowerBound * tokenStride ..< range.upperBound * tokenStride]))
    }

    /// The tokens at `indices`, in that order, as a new tensor.
    @inlinable
    public func gatherTokens(_ indices: [Int]) -> Tensor {
        var out = [Scalar]()
        out.reserveCapacity(indices.count * tokenStride)
        for t in indices { out.append(contentsOf: storage[t * tokenStride ..< (t + 1) * tokenStride]) }
        return Tensor(tokens: indices.count, heads: heads, dim: dim, storage: out)
    }

    /// Writes the tokens of `source` to the token positions `indices` of `self`.
    @inlinable
    public mutating func scatterTokens(_ source: Tensor, to indices: [Int]) {
        precondition(source.tokenStride == tokenStride && source.tokens == indices.count)
        for (i, t) in indices.enumerated() {
            storage.replaceSubrange(t * tokenStride ..< (t + 1) * tokenStride,
                                    with: source.storage[i * tokenStride ..< (i + 1) * tokenStride])
        }
    }

    /// The heads in `range`, for every token, as a new tensor `[tokens, range.count, dim]`.
    @inlinable
    public func heads(_ range: Range<Int>) -> Tensor {
        var out = [Scalar]()
        out.reserveCapacity(tokens * range.count * dim)
        for t in 0..<tokens {
            out.append(contentsOf: storage[(t * heads + range.lowerBound) * dim ..< (t * heads + range.upperBound) * dim])
        }
        return Tensor(tokens: tokens, heads: range.count, dim: dim, storage: out)
    }

    /// Adds `other` element by element.
    @inlinable
    public static func += (lhs: inout Tensor, rhs: Tensor) {
        precondition(lhs.storage.count == rhs.storage.count, "added tensors differ in shape")
        lhs.storage.withUnsafeMutableBufferPointer { a in
            rhs.storage.withUnsafeBufferPointer { b in
                for i in 0..<a.count { a[i] += b[i] }
            }
        }
    }

    /// The same values converted to another scalar type.
    @inlinable
    public func converted<Other>(to: Other.Type = Other.self) -> Tensor<Other> {
        Tensor<Other>(tokens: tokens, heads: heads, dim: dim, storage: storage.map { Other($0) })
    }
}

/// Float32 tensors, as the distributed code uses them.
public typealias Tensor32 = Tensor<Float>
/// Float64 tensors, as the references use them.
public typealias Tensor64 = Tensor<Double>

extension Tensor {
    /// The largest relative error of `self` against `reference`, as
    /// `max |x − r| / max(max |r|, tiny)`: errors are measured against the tensor's scale,
    /// so a near-zero element does not make the ratio meaningless. Non-finite values
    /// anywhere (other than equal infinities) give `.infinity`.
    @inlinable
    public func maxRelativeError<R: BinaryFloatingPoint>(against reference: Tensor<R>) -> Double {
        let (worst, scale) = maxError(against: reference)
        return Self.relativeError(worst: worst, scale: scale)
    }

    /// The two parts of `maxRelativeError`: `worst = max |x − r|` (`.infinity` when a pair
    /// differs and either is non-finite) and `scale = max |r|` over finite r. Parts of one
    /// tensor compared piecewise (on several ranks) combine by taking the maximum of each.
    @inlinable
    public func maxError<R: BinaryFloatingPoint>(against reference: Tensor<R>) -> (worst: Double, scale: Double) {
        precondition(storage.count == reference.storage.count, "compared tensors differ in shape")
        var scale = 0.0
        for r in reference.storage where Double(r).isFinite { scale = max(scale, abs(Double(r))) }
        var worst = 0.0
        for (x, r) in zip(storage, reference.storage) {
            let xd = Double(x), rd = Double(r)
            if xd == rd { continue }
            if !xd.isFinite || !rd.isFinite { return (.infinity, scale) }
            worst = max(worst, abs(xd - rd))
        }
        return (worst, scale)
    }

    /// `worst / max(scale, 1e-30)`: the relative error from `maxError`'s parts.
    @inlinable
    public static func relativeError(worst: Double, scale: Double) -> Double { worst / max(scale, 1e-30) }
}

/// Runs `body` with the storage of three tensors as pointers, for the kernels' hot loops.
/// An empty tensor lends a pointer that must not be read (there is nothing to read).
func withStoragePointers<S, R>(_ a: Tensor<S>, _ b: Tensor<S>, _ c: Tensor<S>,
                               _ body: (UnsafePointer<S>, UnsafePointer<S>, UnsafePointer<S>) -> R) -> R {
    a.storage.withUnsafeBufferPointer { a in
    b.storage.withUnsafeBufferPointer { b in
    c.storage.withUnsafeBufferPointer { c in
        body(base(a), base(b), base(c))
    }}}
}

/// Runs `body` with the storage of two tensors as mutable pointers (see `withStoragePointers`).
func withMutableStoragePointers<S, R>(_ a: inout Tensor<S>, _ b: inout Tensor<S>,
                                      _ body: (UnsafeMutablePointer<S>, UnsafeMutablePointer<S>) -> R) -> R {
    a.storage.withUnsafeMutableBufferPointer { a in
    b.storage.withUnsafeMutableBufferPointer { b in
        body(mutableBase(a), mutableBase(b))
    }}
}

/// Runs `body` with the storage of three tensors as mutable pointers (see `withStoragePointers`).
func withMutableStoragePointers<S, R>(_ a: inout Tensor<S>, _ b: inout Tensor<S>, _ c: inout Tensor<S>,
                                      _ body: (UnsafeMutablePointer<S>, UnsafeMutablePointer<S>, UnsafeMutablePointer<S>) -> R) -> R {
    withMutableStoragePointers(&a, &b) { a, b in
        c.storage.withUnsafeMutableBufferPointer { c in body(a, b, mutableBase(c)) }
    }
}

/// The buffer's first element, or for an empty buffer an aligned pointer never read.
@inline(__always)
private func base<S>(_ buffer: UnsafeBufferPointer<S>) -> UnsafePointer<S> {
    buffer.baseAddress ?? UnsafePointer(bitPattern: MemoryLayout<S>.alignment)!
}

/// The buffer's first element, or for an empty buffer an aligned pointer never written.
@inline(__always)
private func mutableBase<S>(_ buffer: UnsafeMutableBufferPointer<S>) -> UnsafeMutablePointer<S> {
    buffer.baseAddress ?? UnsafeMutablePointer(bitPattern: MemoryLayout<S>.alignment)!
}
