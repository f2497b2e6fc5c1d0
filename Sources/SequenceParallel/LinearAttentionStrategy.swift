import Kernels
import MPI

/// A sequence-parallel gated linear attention schedule, forward and backward.
///
/// Every rank holds a contiguous slice of the sequence, ranks in token order (a scan needs
/// the chunks in rank order; uneven N is fine): `q`, `k`, `g [n, H, Dk]`, `v [n, H, Dv]`,
/// `o [n, H, Dv]`. The forward returns `o` and `saved`, what the backward needs from it (as a
/// training framework's autograd context keeps tensors between the passes).
public protocol LinearAttentionStrategy: SequenceParallelStrategy {
    /// What the forward keeps for the backward.
    associatedtype Saved

    /// Why the strategy cannot run `problem` on `ranks` ranks with `layout`, or nil.
    static func unsupportedReason(_ problem: LinearAttentionProblem, layout: LayoutKind, ranks: Int) -> String?
    /// The values of the descriptor's `options` this strategy runs `problem` with (defaults
    /// resolved); empty for a strategy without options.
    static func resolvedOptions(_ problem: LinearAttentionProblem, layout: LayoutKind, ranks: Int) -> [StrategyOption: Int]

    /// This rank's instance (it may create communicators: collective over the context's).
    /// - Throws: `InputError` when the strategy refuses the problem; `MPIError` when MPI fails.
    init(problem: LinearAttentionProblem, context: RankContext) throws

    /// This rank's output rows and what the backward needs.
    /// - Throws: `MPIError` when communication fails.
    func forward(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32) throws -> LinearAttentionOutput<Saved>
    /// This rank's gradients, given the forward's `saved` and the output gradient.
    /// - Throws: `MPIError` when communication fails.
    func backward(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32, saved: Saved, dO: Tensor32) throws
        -> LinearAttentionGradients
}

extension LinearAttentionStrategy {
    /// The default refusal rule: the descriptor's layouts only.
    public static func unsupportedReason(_ problem: LinearAttentionProblem, layout: LayoutKind, ranks: Int) -> String? {
        layoutReason(layout)
    }

    /// No options by default.
    public static func resolvedOptions(_ problem: LinearAttentionProblem, layout: LayoutKind, ranks: Int)
        -> [StrategyOption: Int] {
        [:]
    }
}

/// A linear strategy's forward result on one rank.
public struct LinearAttentionOutput<Saved> {
    /// This rank's output rows, `[n, H, Dv]`.
    public var o: Tensor32
    /// What the backward needs.
    public var saved: Saved

    /// An output and its saved context.
    public init(o: Tensor32, saved: Saved) { (self.o, self.saved) = (o, saved) }
}

/// A linear strategy's gradients on one rank: `dq`, `dk`, `dg [n, H, Dk]`, `dv [n, H, Dv]`.
public struct LinearAttentionGradients: Sendable, Equatable {
    /// ∂L/∂q, `[n, H, Dk]`.
    public var dq: Tensor32
    /// ∂L/∂k, `[n, H, Dk]`.
    public var dk: Tensor32
    /// ∂L/∂v, `[n, H, Dv]`.
    public var dv: Tensor32
    /// ∂L/∂g, the log-gates' gradient, `[n, H, Dk]`.
    public var dg: Tensor32

    /// Gradients from their parts.
    public init(dq: Tensor32, dk: Tensor32, dv: Tensor32, dg: Tensor32) {
        (self.dq, self.dk, self.dv, self.dg) = (dq, dk, dv, dg)
    }
}

/// The states a scan-based forward keeps for its backward: this rank's incoming state
/// `S_in` (the exclusive scan) and its local state `B_p` (final state from a zero start).
public struct GLABoundaryStates: Sendable, Equatable {
    /// `S_in`, the state entering this rank's first token.
    public var incoming: GLAState
    /// `B_p`, this rank's final state when it starts from zero.
    public var local: GLAState

    /// Both states; they must have the same shape.
    public init(incoming: GLAState, local: GLAState) {
        precondition(incoming.hasSameShape(as: local), "boundary states differ in shape")
        self.incoming = incoming
        self.local = local
    }

    /// `S_out = Diag(decay) S_in + B_p`, the state leaving this rank's last token.
    public func outgoing(decay: [Float]) -> GLAState {
        var out = local
        incoming.storage.withUnsafeBufferPointer { s in
            local.storage.withUnsafeBufferPointer { b in
                decay.withUnsafeBufferPointer { a in
                    out.storage.withUnsafeMutableBufferPointer { o in
                        GLAScanOperator.apply(rows: 0..<local.rowCount, decay: a.baseAddress!, own: b.baseAddress!,
                                              incoming: s.baseAddress!, into: o.baseAddress!,
                                              valueDim: local.valueDim, stride: local.valueDim, offset: 0)
                    }
                }
            }
        }
        return out
    }
}

/// The forward and backward of a strategy that exchanges whole boundary states in one
/// collective (LASP-2's all-gather, `MPI_Exscan`): the scan step written once. Local GLA
/// from a zero state, the rank's scan element `(a_p, B_p)`, the strategy's `exchange` (the
/// exclusive ⊕-scan's state `S_in`), then `S_in`'s contribution to the outputs; backward, the
/// local backward from `S_in`, the reverse exchange of state gradients (`dS` from later
/// ranks), the gate-gradient carry and the final-state gradient.
extension StrategyInstance where Problem == LinearAttentionProblem {
    func stateScanForward(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32,
                          exchange: (GLAScanElement) throws -> GLAState) throws -> LinearAttentionOutput<GLABoundaryStates> {
        let zeroState = GLAState(heads: problem.heads, keyDim: problem.keyDim, valueDim: problem.valueDim)
        var (o, local) = context.kernel("local GLA", flops: problem.localForwardFLOPs(tokens: q.tokens),
                                        phantom: (o: context.zeros(tokens: q.tokens, heads: problem.heads, dim: problem.valueDim),
                                                  finalState: zeroState)) {
            glaForward(q: q, k: k, v: v, g: g)
        }
        let element = GLAScanElement(decay: rowDecay(g, problem: problem, context: context), state: local)
        let incoming = try exchange(element)
        context.kernel("incoming state", flops: problem.readoutForwardFLOPs(tokens: q.tokens), phantom: ()) {
            glaAddIncomingState(&o, q: q, g: g, state: incoming)
        }
        return LinearAttentionOutput(o: o, saved: GLABoundaryStates(incoming: incoming, local: local))
    }

    func stateScanBackward(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32, saved: GLABoundaryStates, dO: Tensor32,
                           exchange: (GLAScanElement) throws -> GLAState) throws -> LinearAttentionGradients {
        let n = q.tokens, h = problem.heads, dk = problem.keyDim, dv = problem.valueDim
        let grads = context.kernel("local GLA backward", flops: problem.localBackwardFLOPs(tokens: n), phantom: GLAGradients(
            dq: context.zeros(tokens: n, heads: h, dim: dk), dk: context.zeros(tokens: n, heads: h, dim: dk),
            dv: context.zeros(tokens: n, heads: h, dim: dv), dG: context.zeros(tokens: n, heads: h, dim: dk),
            initialState: GLAState(heads: h, keyDim: dk, valueDim: dv))) {
            glaBackward(q: q, k: k, v: v, g: g, dO: dO, initialState: saved.incoming)
        }
        let decay = rowDecay(g, problem: problem, context: context)
        let later = try exchange(GLAScanElement(decay: decay, state: grads.initialState))
        let phantom = LinearAttentionGradients(dq: grads.dq, dk: grads.dk, dv: grads.dv, dg: grads.dG)
        return context.kernel("final-state gradient", flops: problem.readoutBackwardFLOPs(tokens: n), phantom: phantom) {
            let carry = later.rowDot(saved.outgoing(decay: decay))
            return finishGLABackward(grads, k: k, v: v, g: g, finalStateGradient: later, carry: carry)
        }
    }
}

/// The end of every split backward: adds the gradient arriving from later ranks, then forms
/// `dg` as the reverse cumulative sum of `dG` plus `carry` (the sum of dG over every later token).
/// The per-row decay of a rank's gates (`glaRowDecay`, `[stateRows]`); zeros in phantom mode,
/// where the scans combine state-sized rows whatever their values.
func rowDecay(_ g: Tensor32, problem: LinearAttentionProblem, context: RankContext) -> [Float] {
    context.isPhantom ? [Float](repeating: 0, count: problem.stateRows) : context.compute("decay") { glaRowDecay(g) }
}

func finishGLABackward(_ grads: GLAGradients, k: Tensor32, v: Tensor32, g: Tensor32,
                       finalStateGradient: GLAState, carry: [Float]) -> LinearAttentionGradients {
    var grads = grads
    glaAddFinalStateGradient(&grads, k: k, v: v, g: g, finalStateGradient: finalStateGradient)
    return LinearAttentionGradients(dq: grads.dq, dk: grads.dk, dv: grads.dv,
                                    dg: glaGateGradient(dG: grads.dG, carry: carry))
}

// MARK: - Heads as pieces of local work

extension GLAState {
    /// The state of head `h` alone, `[1, keyDim, valueDim]`.
    func head(_ h: Int) -> GLAState {
        let size = keyDim * valueDim
        return GLAState(heads: 1, keyDim: keyDim, valueDim: valueDim, storage: Array(storage[h * size ..< (h + 1) * size]))
    }

    /// Overwrites head `h` with `part` (`[1, keyDim, valueDim]`).
    mutating func replaceHead(_ h: Int, with part: GLAState) {
        let size = keyDim * valueDim
        precondition(part.storage.count == size, "replaceHead: shape mismatch")
        storage.replaceSubrange(h * size ..< (h + 1) * size, with: part.storage)
    }
}
