import SPCore
import Kernels

/// Which forward a block runs: the training forward, or (with activation checkpointing)
/// its rerun inside the backward. Strategies' traffic goes to a different ledger phase for each.
public enum ForwardPass: Sendable {
    case forward
    case recompute
}

/// The attention itself, between the projections: a sequence-parallel strategy on this
/// rank's slice (training) or a one-process reference (float64 checks).
///
/// Softmax: `q [n, H, D]`, `k`, `v [n, G, D]` → `o [n, H, D]`, `lse [n, H, 1]`, causal over
/// the tokens' global positions. The backward gets the forward's final `o` and `lse`.
public struct SoftmaxAttentionCore<T: TrainingScalar> {
    public var forward: (_ q: Tensor<T>, _ k: Tensor<T>, _ v: Tensor<T>, _ pass: ForwardPass) throws
        -> (o: Tensor<T>, lse: Tensor<T>)
    public var backward: (_ q: Tensor<T>, _ k: Tensor<T>, _ v: Tensor<T>, _ o: Tensor<T>, _ lse: Tensor<T>,
                          _ dO: Tensor<T>) throws -> (dq: Tensor<T>, dk: Tensor<T>, dv: Tensor<T>)

    public init(forward: @escaping (Tensor<T>, Tensor<T>, Tensor<T>, ForwardPass) throws -> (o: Tensor<T>, lse: Tensor<T>),
                backward: @escaping (Tensor<T>, Tensor<T>, Tensor<T>, Tensor<T>, Tensor<T>, Tensor<T>) throws
                    -> (dq: Tensor<T>, dk: Tensor<T>, dv: Tensor<T>)) {
        self.forward = forward
        self.backward = backward
    }
}

/// Gated linear attention between the projections: `q`, `k`, `g [n, H, Dk]`, `v [n, H, Dv]`
/// → `o [n, H, Dv]` and what the backward needs (`saved`, opaque).
public struct LinearAttentionCore<T: TrainingScalar> {
    public var forward: (_ q: Tensor<T>, _ k: Tensor<T>, _ v: Tensor<T>, _ g: Tensor<T>, _ pass: ForwardPass) throws
        -> (o: Tensor<T>, saved: Any)
    public var backward: (_ q: Tensor<T>, _ k: Tensor<T>, _ v: Tensor<T>, _ g: Tensor<T>, _ saved: Any,
                          _ dO: Tensor<T>) throws -> (dq: Tensor<T>, dk: Tensor<T>, dv: Tensor<T>, dg: Tensor<T>)

    public init(forward: @escaping (Tensor<T>, Tensor<T>, Tensor<T>, Tensor<T>, ForwardPass) throws -> (o: Tensor<T>, saved: Any),
                backward: @escaping (Tensor<T>, Tensor<T>, Tensor<T>, Tensor<T>, Any, Tensor<T>) throws
                    -> (dq: Tensor<T>, dk: Tensor<T>, dv: Tensor<T>, dg: Tensor<T>)) {
        self.forward = forward
        self.backward = backward
    }
}

/// The attention a model's blocks use.
public enum AttentionCore<T: TrainingScalar> {
    case softmax(SoftmaxAttentionCore<T>)
    case linear(LinearAttentionCore<T>)
}

extension AttentionCore {
    /// The one-process float64 reference (`attentionReference`, `glaReference` from Kernels)
    /// on tokens at global `positions`: causal softmax, or GLA (whose recurrence runs in row
    /// order, so `positions` must be increasing for `.gla`).
    public static func reference(_ kind: AttentionKind, positions: [Int]) -> AttentionCore<T> {
        let mask = AttentionMask.causal(queryPositions: positions, keyPositions: positions)
        func wide(_ t: Tensor<T>) -> Tensor64 { t.converted(to: Double.self) }
        func narrow(_ t: Tensor64) -> Tensor<T> { t.converted(to: T.self) }
        switch kind {
        case .softmax:
            return .softmax(SoftmaxAttentionCore(
                forward: { q, k, v, _ in
                    let (o, lse) = attentionReference(q: wide(q), k: wide(k), v: wide(v), mask: mask)
                    return (narrow(o), narrow(lse))
                },
                backward: { q, k, v, _, _, dO in
                    let g = attentionReferenceBackward(q: wide(q), k: wide(k), v: wide(v), dO: wide(dO), mask: mask)
                    return (narrow(g.dq), narrow(g.dk), narrow(g.dv))
                }))
        case .gla:
            return .linear(LinearAttentionCore(
                forward: { q, k, v, g, _ in
                    (narrow(glaReference(q: wide(q), k: wide(k), v: wide(v), g: wide(g)).o), ())
                },
                backward: { q, k, v, g, _, dO in
                    let r = glaReferenceBackward(q: wide(q), k: wide(k), v: wide(v), g: wide(g), dO: wide(dO))
                    return (narrow(r.dq), narrow(r.dk), narrow(r.dv), narrow(r.dg))
                }))
        }
    }
}
