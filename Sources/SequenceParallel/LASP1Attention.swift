// LASP-1 — "Linear Attention Sequence Parallelism" (Sun et al., arXiv 2404.02882), §3:
// the serial ring of states, a baseline. Nothing is pipelined or overlapped: every rank
// waits for its predecessor's whole state before its own local work.
//
// forward on rank p:
//   S_in ← recv(state) from p−1                        blocking; S_in = 0 on rank 0
//   o, S_out ← GLA(q, k, v, g) from S_in
//   send(S_out) to p+1                                 none from rank P−1
//
// backward on rank p (the same chain, ranks in reverse order):
//   (c, dS_out) ← recv from p+1                        blocking; zero on rank P−1
//   dq, dk, dv, dG, dS_in ← GLA backward from S_in with dS_out
//   send (c + Σ_t dG_t, dS_in) to p−1                  none from rank 0
//   dg ← Σ_{t' ≥ t} dG_t' + c
//
// c is the gate-gradient carry, the sum of dG over every later token, one float per state
// row (dG here already holds dS_out's share). The forward keeps S_in for the backward.
//
// Phantom mode skips the GLA kernels (their FLOPs charged) and sends the received state on:
// the messages are state-sized and real.
//
// Traffic (b = 4 bytes):
//   forward:  rank p < P−1 sends H·Dk·Dv·b bytes to p+1 in 1 message; rank P−1 sends nothing.
//   backward: rank p > 0 sends H·Dk·(Dv+1)·b bytes to p−1 in 1 message; rank 0 sends nothing.
import Kernels
import MPI

/// LASP-1: a blocking chain of whole states in rank order (backward in reverse order).
public final class LASP1Attention: StrategyInstance<LinearAttentionProblem>, LinearAttentionStrategy {
    public typealias Saved = GLAState
    public static let descriptor = StrategyDescriptor(
        name: "lasp1", attention: .gla, layouts: [.contiguous], colour: "#000000", marker: .square,
        summary: "serial chain: blocking receive of the state, local GLA, send (LASP-1), a baseline")

    public func forward(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32) throws -> LinearAttentionOutput<Saved> {
        let comm = context.communicator, rank = context.rank
        let (heads, dk, dv) = (problem.heads, problem.keyDim, problem.valueDim)
        var incoming = GLAState(heads: heads, keyDim: dk, valueDim: dv)
        if rank > 0 {
            incoming.storage = try context.communicate("recv state") {
                try comm.recv(count: incoming.storage.count, from: rank - 1, as: Float.self)
            }
        }
        let (o, outgoing) = context.kernel("GLA", flops: problem.localForwardFLOPs(tokens: q.tokens)
                                               + problem.readoutForwardFLOPs(tokens: q.tokens),
                                           phantom: (o: context.zeros(tokens: q.tokens, heads: heads, dim: dv), finalState: incoming)) {
            glaForward(q: q, k: k, v: v, g: g, initialState: incoming)
        }
        if rank < context.size - 1 {
            try context.communicate("send state") { try comm.send(outgoing.storage, to: rank + 1) }
        }
        return LinearAttentionOutput(o: o, saved: incoming)
    }

    public func backward(q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32, saved: Saved, dO: Tensor32) throws
        -> LinearAttentionGradients {
        let comm = context.communicator, rank = context.rank
        let (heads, dk, dv) = (problem.heads, problem.keyDim, problem.valueDim)
        var carry = [Float](repeating: 0, count: problem.stateRows)
        var later = GLAState(heads: heads, keyDim: dk, valueDim: dv)
        if rank < context.size - 1 {
            let message = try context.communicate("recv state gradient") {
                try comm.recv(count: problem.stateRows * GLAScanOperator.packedWidth(valueDim: dv), from: rank + 1,
                              as: Float.self)
            }
            (carry, later) = unpackRows(message, heads: heads, keyDim: dk, valueDim: dv)
        }
        let n = q.tokens
        let grads = context.kernel("GLA backward", flops: problem.localBackwardFLOPs(tokens: n)
                                       + problem.readoutBackwardFLOPs(tokens: n), phantom: GLAGradients(
            dq: context.zeros(tokens: n, heads: heads, dim: dk), dk: context.zeros(tokens: n, heads: heads, dim: dk),
            dv: context.zeros(tokens: n, heads: heads, dim: dv), dG: context.zeros(tokens: n, heads: heads, dim: dk),
            initialState: later)) {
            glaBackward(q: q, k: k, v: v, g: g, dO: dO, initialState: saved, finalStateGradient: later)
        }
        if rank > 0 {
            let total = context.isPhantom ? carry : zip(carry, grads.dG.sumOverTokens()).map { Float(Double($0) + Double($1)) }
            try context.communicate("send state gradient") {
                try comm.send(packRows(total, grads.initialState), to: rank - 1)
            }
        }
        let dg = context.isPhantom ? grads.dG : context.compute("gate gradient") { glaGateGradient(dG: grads.dG, carry: carry) }
        return LinearAttentionGradients(dq: grads.dq, dk: grads.dk, dv: grads.dv, dg: dg)
    }
}
