/// A GLA state (or state gradient) `[heads, keyDim, valueDim]`, row-major; row `(h, c)` has
/// `valueDim` entries.
///
/// Element `(h, c, e)` lives at `storage[(h * keyDim + c) * valueDim + e]`; the flattened row
/// index of `(h, c)` is `h * keyDim + c`, which is also the index of that row's decay in an
/// `[heads * keyDim]` vector such as the one `glaTotalLogDecay(g:)` returns.
///
/// For one head the state is `S_t = Diag(exp(g_t)) S_{t−1} + k_tᵀ v_t`, a `keyDim × valueDim`
/// matrix; a state gradient `dS = ∂L/∂S` has the same layout.
public struct GLAState: Sendable, Equatable {
    /// Number of heads.
    public var heads: Int
    /// Rows per head (the key dimension Dk).
    public var keyDim: Int
    /// Entries per row (the value dimension Dv).
    public var valueDim: Int
    /// The elements, `heads * keyDim * valueDim` of them.
    public var storage: [Float]

    /// The zero state.
    public init(heads: Int, keyDim: Int, valueDim: Int) {
        precondition(heads >= 0 && keyDim >= 0 && valueDim >= 0, "negative state extent")
        self.heads = heads
        self.keyDim = keyDim
        self.valueDim = valueDim
        self.storage = [Float](repeating: 0, count: heads * keyDim * valueDim)
    }

    /// A state over existing storage; `storage.count` must be `heads * keyDim * valueDim`.
    public init(heads: Int, keyDim: Int, valueDim: Int, storage: [Float]) {
        precondition(heads >= 0 && keyDim >= 0 && valueDim >= 0, "negative state extent")
        precondition(storage.count == heads * keyDim * valueDim, "storage does not match the state shape")
        self.heads = heads
        self.keyDim = keyDim
        self.valueDim = valueDim
        self.storage = storage
    }

    /// Number of rows, `heads * keyDim`.
    public var rowCount: Int { heads * keyDim }

    /// Element `(h, c, e)`.
    public subscript(h: Int, c: Int, e: Int) -> Float {
        get { storage[(h * keyDim + c) * valueDim + e] }
        set { storage[(h * keyDim + c) * valueDim + e] = newValue }
    }

    /// Whether `other` has the same `heads`, `keyDim` and `valueDim`.
    public func hasSameShape(as other: GLAState) -> Bool {
        heads == other.heads && keyDim == other.keyDim && valueDim == other.valueDim
    }
}

extension GLAState {
    /// The dot product of every row with the same row of `other`:
    /// `result[h * keyDim + c] = Σ_e self[h, c, e] · other[h, c, e]`, `[heads * keyDim]` values.
    ///
    /// With `self = dS_out` and `other = S_T` this is the gradient of `⟨dS_out, S_T⟩` with
    /// respect to a shift of the block's total log-decay, i.e. the gate-gradient carry a block
    /// receives from the tokens after it.
    public func rowDot(_ other: GLAState) -> [Float] {
        precondition(hasSameShape(as: other), "rowDot of states that differ in shape")
        let rows = rowCount, width = valueDim
        var out = [Float](repeating: 0, count: rows)
        storage.withUnsafeBufferPointer { a in
            other.storage.withUnsafeBufferPointer { b in
                for r in 0..<rows {
                    var acc: Double = 0
                    let base = r &* width
                    for e in 0..<width { acc += Double(a[base &+ e]) * Double(b[base &+ e]) }
                    out[r] = Float(acc)
                }
            }
        }
        return out
    }

    /// The scan step on a range of rows: for every flattened row `r` in `rows`,
    /// `self[r, e] = decay[r] · self[r, e] + addend[r, e]`, i.e. `Diag(a) B1 + B2` of the
    /// operator `(a1, B1) ⊕ (a2, B2) = (a1 ⊙ a2, Diag(a2) B1 + B2)` restricted to those rows.
    ///
    /// `decay` holds linear (not log) decays for all `heads * keyDim` rows and is indexed by
    /// the absolute row (so `exp` of `glaTotalLogDecay(g:)` can be passed whole); only the
    /// entries for `rows` are read. `addend` has this state's shape; only its rows `rows`
    /// are read. Rows outside `rows` are left unchanged. ZeCO's pipelined All-Scan applies
    /// this to one block of rows at a time; the backward chain uses it as
    /// `dS_in = Diag(a_p) dS_out + dS_in^A`.
    public mutating func scale(rows: Range<Int>, by decay: [Float], adding addend: GLAState) {
        precondition(hasSameShape(as: addend), "scan step on states that differ in shape")
        precondition(decay.count == rowCount, "one decay per row (heads * keyDim) expected")
        precondition(rows.lowerBound >= 0 && rows.upperBound <= rowCount, "row range outside the state")
        let width = valueDim
        storage.withUnsafeMutableBufferPointer { s in
            addend.storage.withUnsafeBufferPointer { b in
                decay.withUnsafeBufferPointer { a in
                    for r in rows {
                        let factor = a[r]
                        let base = r &* width
                        for e in 0..<width { s[base &+ e] = factor * s[base &+ e] + b[base &+ e] }
                    }
                }
            }
        }
    }

    /// The scan step on all rows: `self = Diag(decay) · self + addend` (see
    /// `scale(rows:by:adding:)`; `decay` linear, `[heads * keyDim]`).
    public mutating func scale(by decay: [Float], adding addend: GLAState) {
        scale(rows: 0..<rowCount, by: decay, adding: addend)
    }
}
