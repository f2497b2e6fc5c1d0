
/// The checks of `SizeLimits` that name an option, key or quantity in an `InputError`.
extension SizeLimits {
    /// Checks `1 ≤ value ≤ limit` for the option, key or quantity `name`.
    /// - Throws: `InputError` naming `name`, the value and the bound it breaks.
    public static func require(_ name: InputError.Message, _ value: Int, atMost limit: Int) throws(InputError) {
        if value < 1 { throw InputError(about: "\(name) must be at least 1 (got \(value))") }
        if value > limit { throw InputError(about: "\(name) \(value) is above spsim's limit of \(describe(limit))") }
    }

    /// Checks that the product of the named `factors` is at most `limit` (overflow-checked).
    /// - Throws: `InputError` naming every factor, the product (or that it overflows) and `limit`.
    public static func requireProduct(_ factors: [(name: InputError.Message, value: Int)], atMost limit: Int,
                                       of what: String) throws(InputError) {
        let names = InputError.Message(joining: factors.map(\.name), separator: " × ")
        let values = factors.map { "\($0.value)" }.joined(separator: " × ")
        guard let p = product(factors.map(\.value)) else {
            throw InputError(about: "\(names) = \(values) overflows a 64-bit integer; \(what) must be at most \(describe(limit))")
        }
        if p > limit {
            throw InputError(about: "\(names) = \(values) = \(p) \(what), above spsim's limit of \(describe(limit))")
        }
    }

    /// Checks a softmax shape: each dimension in range and the largest tensor's elements
    /// `N·H·D` at most `maxTensorElements` (G ≤ H once G divides H, checked by the caller).
    /// - Throws: `InputError` naming the quantity and the limit.
    public static func requireSoftmax(seqLen: Int, heads: Int, kvHeads: Int, headDim: Int) throws(InputError) {
        try require("\(.seqLen)", seqLen, atMost: maxSeqLen)
        try require("\(.heads)", heads, atMost: maxHeads)
        try require("\(.kvHeads)", kvHeads, atMost: maxHeads)
        try require("\(.headDim)", headDim, atMost: maxHeadDim)
        try requireProduct([("\(.seqLen)", seqLen), ("\(.heads)", heads), ("\(.headDim)", headDim)],
                           atMost: maxTensorElements, of: "elements per tensor")
    }

    /// Checks a GLA shape: each dimension in range, each tensor's elements `N·H·Dk`, `N·H·Dv`
    /// at most `maxTensorElements`, and the state `H·Dk·Dv` at most `maxStateElements`.
    /// - Throws: `InputError` naming the quantity and the limit.
    public static func requireLinear(seqLen: Int, heads: Int, keyDim: Int, valueDim: Int) throws(InputError) {
        try require("\(.seqLen)", seqLen, atMost: maxSeqLen)
        try require("\(.heads)", heads, atMost: maxHeads)
        try require("\(.headDim)", keyDim, atMost: maxHeadDim)
        try require("\(.valueDim)", valueDim, atMost: maxHeadDim)
        try requireProduct([("\(.seqLen)", seqLen), ("\(.heads)", heads), ("\(.headDim)", max(keyDim, valueDim))],
                           atMost: maxTensorElements, of: "elements per tensor")
        try requireProduct([("\(.heads)", heads), ("\(.headDim)", keyDim), ("\(.valueDim)", valueDim)],
                           atMost: maxStateElements, of: "elements of the GLA state")
    }
}
