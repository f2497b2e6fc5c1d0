// `--verify` (and `spsim verify`): a run's outputs against the float64 reference.
//
// Softmax attention: the reference is split over the ranks by the rows each owns in the
// run's layout (contiguous, zigzag, striped… through the layout's global positions). Every
// rank regenerates (or has read) k and v whole and q and dO at its own rows, and computes, in
// float64 (spsim's float64 panel products on AVX-512, dgemm elsewhere), o and lse for its
// query rows against every key, dq for its rows, and its queries' contributions to dk and dv
// for every key, in one pass over the score tiles (`attentionReferenceWithGradients`); the
// contributions are summed over the ranks (allreduce), and each rank compares its own rows.
// The largest error and the largest reference magnitude per output are then reduced with a
// maximum. So each rank does 1/P of the reference work, in parallel. GLA's reference is a
// token-by-token recurrence, O(N·Dk·Dv), cheap: rank 0 computes it whole against the gathered
// outputs.
//
// Every message here goes over `world`, the harness's own communicator, which records into no
// ledger: the run's ledger (and its equality with the cost model) never sees the reference.

import Kernels
import MPI
import SequenceParallel

extension RunProblem {
    /// The max relative error (`Tensor.maxRelativeError`) of every output of `result`
    /// against the float64 reference, on rank 0 (nil on the others). Collective over `world`.
    ///
    /// - Parameters:
    ///   - tensors: the inputs named by its second argument at the global positions of its first
    ///     (generated from the seed or sliced from what `--inputs` read). Softmax attention asks,
    ///     on every rank, for q and dO at the rank's own rows and k, v whole; GLA, on rank 0
    ///     only, for every input whole.
    /// - Throws: an MPI failure.
    func verificationErrors(_ result: RunResult, layout: SequenceLayout, backward: Bool, world: Communicator,
                            tensors: (_ positions: [Int], _ names: [String]) -> NamedTensors) throws -> [String: Double]? {
        switch self {
        case .softmax(let p):
            let parts = try softmaxReferenceParts(p, locals: result.locals, layout: layout, backward: backward,
                                              world: world, tensors: tensors)
            let names = parts.keys.sorted()
            let local = names.flatMap { [parts[$0]!.worst, parts[$0]!.scale] }
            let global = try world.allreduce(local, .max)
            guard world.rank == 0 else { return nil }
            var errors = [String: Double]()
            for (i, name) in names.enumerated() {
                errors[name] = Tensor64.relativeError(worst: global[2 * i], scale: global[2 * i + 1])
            }
            return errors
        case .gla:
            guard world.rank == 0 else { return nil }
            let whole = tensors(Array(0..<seqLen), inputs.map(\.name))
            return relativeErrors(result.outputs, against: reference(whole, backward: backward))
        }
    }

    /// This rank's parts of the softmax reference comparison, by output name: the largest
    /// `|x − r|` over its rows and the largest `|r|` (see `Tensor.maxError`). Collective
    /// (the dk, dv sums).
    private func softmaxReferenceParts(_ p: AttentionProblem, locals: NamedTensors, layout: SequenceLayout,
                                       backward: Bool, world: Communicator,
                                       tensors: (_ positions: [Int], _ names: [String]) -> NamedTensors)
        throws -> [String: (worst: Double, scale: Double)] {
        let mine = layout.positions(rank: world.rank)
        let rows = tensors(mine, backward ? ["q", "do"] : ["q"]).mapValues { $0.converted(to: Double.self) }
        let keys = tensors(Array(0..<p.seqLen), ["k", "v"])
        let k = keys["k"]!.converted(to: Double.self), v = keys["v"]!.converted(to: Double.self)
        let mask = p.mask(queries: mine, keys: Array(0..<p.seqLen))
        var parts = [String: (worst: Double, scale: Double)]()
        func compare(_ name: String, _ reference: Tensor64) {
            if let got = locals[name] { parts[name] = got.maxError(against: reference) }
        }
        guard backward else {
            let (o, lse) = attentionReference(q: rows["q"]!, k: k, v: v, mask: mask)
            compare("o", o)
            compare("lse", lse)
            return parts
        }
        let g = attentionReferenceWithGradients(q: rows["q"]!, k: k, v: v, dO: rows["do"]!, mask: mask)
        compare("o", g.o)
        compare("lse", g.lse)
        compare("dq", g.dq)
        // This rank's queries' share of every key's gradient, summed over the ranks.
        for (name, share) in [("dk", g.dk), ("dv", g.dv)] {
            let sum = try world.allreduce(share.storage, .sum)
            compare(name, Tensor64(tokens: share.tokens, heads: share.heads, dim: share.dim, storage: sum)
                .gatherTokens(mine))
        }
        return parts
    }
}
