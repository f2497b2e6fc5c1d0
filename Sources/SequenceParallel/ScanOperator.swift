import Foundation
import Kernels

// The scan operator of gated linear attention (docs/design.md, exact semantics), written once. Every linear
// strategy combines states through it: ZeCO's All-Scan and LASP-1's chain apply a rank's
// own element to an incoming state row by row (`GLAScanOperator.step`), LASP-2 folds
// all-gathered elements with it, and the `exscan` strategy hands `combine` to MPI_Exscan as
// a non-commutative user-defined operator.
//
//     (a1, B1) ⊕ (a2, B2) = (a1 ⊙ a2, Diag(a2) B1 + B2),   identity (1, 0),
//
// earlier operand on the left. The operator acts on each state row (h, c) separately — the
// row's decay and its Dv entries — so a state can be scanned in blocks of rows, and an MPI
// element is one packed row `[a_r, B_r[0], …, B_r[Dv−1]]`.

infix operator ⊕: AdditionPrecedence

/// Row-level kernels of the scan operator, on raw memory (message buffers, packed rows).
public enum GLAScanOperator {
    /// Floats in one packed row: the row's decay, then its `valueDim` state entries.
    @inlinable
    public static func packedWidth(valueDim: Int) -> Int { 1 + valueDim }

    /// The state half of `(·, previous) ⊕ (a, own)` on one row: `out = a · previous + own`,
    /// or `out = own` when `previous` is nil (the identity: nothing came before). `out` may
    /// alias `previous` or `own`.
    @inlinable
    public static func step(decay a: Float, previous: UnsafePointer<Float>?, own: UnsafePointer<Float>,
                            into out: UnsafeMutablePointer<Float>, count: Int) {
        if let previous {
            for e in 0..<count { out[e] = a * previous[e] + own[e] }
        } else if UnsafePointer(out) != own {
            out.update(from: own, count: count)
        }
    }

    /// `later ← earlier ⊕ later` on packed rows (each `1 + valueDim` floats): per row,
    /// `a ← a1 · a2`, `B ← a2 · B1 + B2`. This is the MPI user operator of the `exscan`
    /// strategy (MPI calls it with `inout = in ⊕ inout`, `in` from the lower rank).
    @inlinable
    public static func combine(earlier: UnsafeBufferPointer<Float>, into later: UnsafeMutableBufferPointer<Float>,
                               valueDim: Int) {
        let width = packedWidth(valueDim: valueDim)
        precondition(earlier.count == later.count && later.count % width == 0, "scan: packed rows do not match")
        guard let e = earlier.baseAddress, let l = later.baseAddress else { return }
        var base = 0
        while base < later.count {
            let a2 = l[base]
            step(decay: a2, previous: e + (base &+ 1), own: l + (base &+ 1), into: l + (base &+ 1), count: valueDim)
            l[base] = e[base] * a2
            base &+= width
        }
    }

    /// Applies a rank's own element `(decay, own)` to an incoming state on `rows`:
    /// `out[r] = decay[r] · incoming[r] + own[r]` (`incoming` nil: `out[r] = own[r]`). The
    /// states are `[rows, valueDim]` row-major with absolute row indices; `incoming` and `out`
    /// hold only the block, starting at `rows.lowerBound`, with row stride `stride` (≥ valueDim)
    /// and the entries at `offset` within a row.
    @inlinable
    public static func apply(rows: Range<Int>, decay: UnsafePointer<Float>, own: UnsafePointer<Float>,
                             incoming: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>,
                             valueDim: Int, stride: Int, offset: Int) {
        for (i, r) in rows.enumerated() {
            let row = i &* stride &+ offset
            step(decay: decay[r], previous: incoming.map { $0 + row }, own: own + r &* valueDim,
                 into: out + row, count: valueDim)
        }
    }
}

extension GLAScanOperator {
    /// One block of the forward state scan (ZeCO's All-Scan combine): the received rows of
    /// `S_in` are stored into `incoming` (left as they are, zero, when nothing was received:
    /// the identity), and when there is a successor the block's message
    /// `Diag(decay) S_in + local` is written to `outgoing`. Rows `rows` of `[rows, valueDim]` states.
    public static func forwardBlock(_ rows: Range<Int>, received: UnsafeBufferPointer<Float>?,
                                    outgoing: UnsafeMutableBufferPointer<Float>?, decay: [Float], local: GLAState,
                                    incoming: inout GLAState) {
        let dv = local.valueDim
        if let received {
            incoming.storage.replaceSubrange(rows.lowerBound * dv ..< rows.upperBound * dv, with: received)
        }
        guard let outgoing else { return }
        decay.withUnsafeBufferPointer { a in
            local.storage.withUnsafeBufferPointer { b in
                apply(rows: rows, decay: a.baseAddress!, own: b.baseAddress!, incoming: received?.baseAddress,
                      into: outgoing.baseAddress!, valueDim: dv, stride: dv, offset: 0)
            }
        }
    }
}

/// One operand of the GLA scan: a linear decay per state row and a state `[H, Dk, Dv]`.
/// For rank p, `(a_p, B_p)`: `a_p = exp(Σ_t g_t)` over its tokens and `B_p` its final state
/// from a zero start; the exclusive scan of these in rank order is every rank's incoming state.
public struct GLAScanElement: Sendable, Equatable {
    /// Linear decay per row, `heads · keyDim` values in [0, 1].
    public var decay: [Float]
    /// The state.
    public var state: GLAState

    /// An element from its parts; `decay` must have one value per state row.
    public init(decay: [Float], state: GLAState) {
        precondition(decay.count == state.rowCount, "scan element: one decay per state row expected")
        self.decay = decay
        self.state = state
    }

    /// The identity `(1, 0)`.
    public static func identity(heads: Int, keyDim: Int, valueDim: Int) -> GLAScanElement {
        GLAScanElement(decay: [Float](repeating: 1, count: heads * keyDim),
                       state: GLAState(heads: heads, keyDim: keyDim, valueDim: valueDim))
    }

    /// A block's element from its log-gates and its local state: `a = exp(Σ_t g_t)`.
    public init(gates g: Tensor32, localState: GLAState) {
        self.init(decay: glaRowDecay(g), state: localState)
    }

    /// `(a1, B1) ⊕ (a2, B2) = (a1 ⊙ a2, Diag(a2) B1 + B2)`: associative, not commutative.
    public static func ⊕ (earlier: GLAScanElement, later: GLAScanElement) -> GLAScanElement {
        precondition(earlier.state.hasSameShape(as: later.state), "scan of elements that differ in shape")
        var packed = later.packed
        earlier.packed.withUnsafeBufferPointer { e in
            packed.withUnsafeMutableBufferPointer { l in
                GLAScanOperator.combine(earlier: e, into: l, valueDim: later.state.valueDim)
            }
        }
        return GLAScanElement(packed: packed, heads: later.state.heads, keyDim: later.state.keyDim,
                              valueDim: later.state.valueDim)
    }

    /// Packed rows `[a_r, B_r[0], …, B_r[Dv−1]]`, row after row: `heads · keyDim · (1 + valueDim)` floats.
    public var packed: [Float] { packRows(decay, state) }

    /// The element whose packed rows are `packed`.
    public init(packed: [Float], heads: Int, keyDim: Int, valueDim: Int) {
        let (decay, state) = unpackRows(packed, heads: heads, keyDim: keyDim, valueDim: valueDim)
        self.init(decay: decay, state: state)
    }

    /// The state of `e_{order[0]} ⊕ e_{order[1]} ⊕ …` over packed elements stored one after
    /// another in `elements` (element j at `j · rows · (1 + valueDim)`); the zero state when
    /// `order` is empty. LASP-2's local prefix (and suffix) combine.
    public static func foldedState(_ elements: [Float], order: [Int], heads: Int, keyDim: Int, valueDim: Int) -> GLAState {
        let size = heads * keyDim * GLAScanOperator.packedWidth(valueDim: valueDim)
        guard let first = order.first else { return GLAState(heads: heads, keyDim: keyDim, valueDim: valueDim) }
        var accumulator = Array(elements[first * size ..< (first + 1) * size])
        for j in order.dropFirst() {
            var next = Array(elements[j * size ..< (j + 1) * size])
            accumulator.withUnsafeBufferPointer { e in
                next.withUnsafeMutableBufferPointer { l in GLAScanOperator.combine(earlier: e, into: l, valueDim: valueDim) }
            }
            accumulator = next
        }
        return unpackRows(accumulator, heads: heads, keyDim: keyDim, valueDim: valueDim).state
    }
}

/// Rows of `state` each preceded by one scalar: `[s_r, X_r[0], …, X_r[Dv−1]]` for every row r,
/// `rows · (1 + valueDim)` floats. The message format of packed scan elements (s = decay) and
/// of the backward chains (s = gate-gradient carry, X = state gradient).
public func packRows(_ scalars: [Float], _ state: GLAState) -> [Float] {
    precondition(scalars.count == state.rowCount, "packRows: one scalar per row expected")
    let dv = state.valueDim, width = GLAScanOperator.packedWidth(valueDim: dv)
    var out = [Float](repeating: 0, count: state.rowCount * width)
    out.withUnsafeMutableBufferPointer { o in
        state.storage.withUnsafeBufferPointer { x in
            for r in 0..<state.rowCount {
                o[r &* width] = scalars[r]
                (o.baseAddress! + (r &* width &+ 1)).update(from: x.baseAddress! + r &* dv, count: dv)
            }
        }
    }
    return out
}

/// The scalars and the state of packed rows (the inverse of `packRows`).
public func unpackRows(_ packed: [Float], heads: Int, keyDim: Int, valueDim dv: Int) -> (scalars: [Float], state: GLAState) {
    let rows = heads * keyDim, width = GLAScanOperator.packedWidth(valueDim: dv)
    precondition(packed.count == rows * width, "unpackRows: packed rows do not match the shape")
    var scalars = [Float](repeating: 0, count: rows)
    var state = GLAState(heads: heads, keyDim: keyDim, valueDim: dv)
    packed.withUnsafeBufferPointer { p in
        state.storage.withUnsafeMutableBufferPointer { x in
            for r in 0..<rows {
                scalars[r] = p[r &* width]
                (x.baseAddress! + r &* dv).update(from: p.baseAddress! + (r &* width &+ 1), count: dv)
            }
        }
    }
    return (scalars, state)
}

/// The linear decay of every state row over a block of tokens, `a[h·Dk + c] = exp(Σ_t g[t, h, c])`
/// (the sum in Double by `glaTotalLogDecay`). Strongly negative gates underflow to 0, never NaN.
public func glaRowDecay(_ g: Tensor32) -> [Float] {
    glaTotalLogDecay(g: g).map { Float(exp(Double($0))) }
}
