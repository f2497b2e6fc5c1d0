import ArgumentParser
import Foundation
import Kernels
import Reports
import SequenceParallel

/// Which attention `spsim run` computes.
enum AttentionKind: String, CaseIterable, ExpressibleByArgument {
    /// Softmax attention (the default).
    case softmax
    /// Gated linear attention.
    case gla
}

/// The options of `spsim run` that choose gated linear attention and shape it.
struct LinearAttentionOptions: ParsableArguments {
    @Option(help: """
        softmax, or gla: gated linear attention (causal by construction; strategies \
        \(LinearAttentionStrategies.names); default zeco; --layout contiguous; --head-dim is Dk).
        """)
    var attention: AttentionKind = .softmax

    @Option(help: "GLA: channels per value head Dv (default --head-dim, or from --inputs v.npy).")
    var valueDim: Int?

    @Option(help: "GLA, --strategy zeco: row blocks K of the All-Scan, 1 to H·Dk (default K* = sqrt((P−2)·m·β/α)).")
    var scanBlocks: Int?

    func validate() throws {
        if attention == .softmax {
            if valueDim != nil { throw ValidationError("--value-dim applies to --attention gla only") }
            if scanBlocks != nil { throw ValidationError("--scan-blocks applies to --attention gla (--strategy zeco) only") }
        }
    }
}

extension ProblemOptions {
    /// The GLA problem these options describe, dimensions not given taken from the `--inputs`
    /// files' shapes (q `[N, H, Dk]`, v `[N, H, Dv]`) or from the defaults (Dv = Dk).
    func linearProblem(_ linear: LinearAttentionOptions, inputShapes shapes: (q: [Int], v: [Int])? = nil)
        throws(InputError) -> LinearAttentionProblem {
        if kvHeads != nil {
            throw InputError("--kv-heads applies to softmax attention; GLA has one key head per head (--heads)")
        }
        let keyDim = try Self.pick(headDim, shapes?.q[2], 64, "--head-dim")
        let problem = LinearAttentionProblem(
            seqLen: try Self.pick(seqLen, shapes?.q[0], 1024, "--seq-len"),
            heads: try Self.pick(heads, shapes?.q[1], 8, "--heads"),
            keyDim: keyDim,
            valueDim: try Self.pick(linear.valueDim, shapes?.v[2], keyDim, "--value-dim"),
            scanBlocks: linear.scanBlocks)
        try problem.validate()
        return problem
    }
}

/// A rank's GLA input slices, or the whole inputs for the reference.
struct GLAInputs {
    var q: Tensor32, k: Tensor32, v: Tensor32, g: Tensor32, dO: Tensor32

    /// Rows at `positions` of each tensor.
    func slice(_ positions: [Int]) -> GLAInputs {
        GLAInputs(q: q.gatherTokens(positions), k: k.gatherTokens(positions), v: v.gatherTokens(positions),
                  g: g.gatherTokens(positions), dO: dO.gatherTokens(positions))
    }

    /// Generated inputs at `positions` (DESIGN.md §4); log-gates in [−0.5, −0.005) times
    /// `gateScale` (100 gives fast decay: the products of gates underflow in float32).
    static func generated(_ p: LinearAttentionProblem, seed: UInt64, positions: [Int], gateScale: Float = 1) -> GLAInputs {
        let gen = InputGenerator(seed: seed)
        var g = gen.tensor("g", positions: positions, heads: p.heads, dim: p.keyDim)
        if gateScale != 1 { g.storage = g.storage.map { $0 * gateScale } }
        return GLAInputs(
            q: gen.tensor("q", positions: positions, heads: p.heads, dim: p.keyDim),
            k: gen.tensor("k", positions: positions, heads: p.heads, dim: p.keyDim),
            v: gen.tensor("v", positions: positions, heads: p.heads, dim: p.valueDim),
            g: g,
            dO: gen.tensor("do", positions: positions, heads: p.heads, dim: p.valueDim))
    }
}

/// `q.npy k.npy v.npy [g.npy] [do.npy]` from a directory (missing g and do come from the seed).
struct GLAInputFiles {
    var q: InputFile, k: InputFile, v: InputFile, g: InputFile?, dO: InputFile?

    static func read(_ directory: String) throws -> GLAInputFiles {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputError("--inputs \(directory) is not a directory")
        }
        func load(_ name: String, required: Bool) throws -> InputFile? {
            guard FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent(name)) else {
                if !required { return nil }
                throw InputError("--inputs \(directory) has no \(name) (GLA needs q.npy, k.npy and v.npy; g.npy and do.npy are optional)")
            }
            return try InputFile.header(name, in: directory)
        }
        return GLAInputFiles(q: try load("q.npy", required: true)!, k: try load("k.npy", required: true)!,
                             v: try load("v.npy", required: true)!, g: try load("g.npy", required: false),
                             dO: try load("do.npy", required: false))
    }

    /// The tensors, after checking every file's shape against `p` and that the log-gates are
    /// finite and ≤ 0.
    func tensors(for p: LinearAttentionProblem, seed: UInt64) throws -> GLAInputs {
        func tensor(_ a: InputFile, _ name: String, dim: Int, _ dimName: String) throws -> Tensor32 {
            let expected = [p.seqLen, p.heads, dim]
            guard a.shape == expected else {
                throw InputError("\(name) has shape \(a.shape); expected \(expected) ([seq-len, heads, \(dimName)])")
            }
            return Tensor32(tokens: p.seqLen, heads: p.heads, dim: dim, storage: try a.load().float32)
        }
        let generator = InputGenerator(seed: seed), all = Array(0..<p.seqLen)
        let g = try self.g.map { try tensor($0, "g.npy", dim: p.keyDim, "head-dim") }
            ?? generator.tensor("g", positions: all, heads: p.heads, dim: p.keyDim)
        if let i = g.storage.firstIndex(where: { !($0.isFinite && $0 <= 0) }) {
            let token = i / g.tokenStride, head = (i % g.tokenStride) / p.keyDim, channel = i % p.keyDim
            throw InputError("g.npy holds log-gates, which must be finite and ≤ 0; found \(g.storage[i]) at token \(token), head \(head), channel \(channel)")
        }
        return GLAInputs(
            q: try tensor(q, "q.npy", dim: p.keyDim, "head-dim"),
            k: try tensor(k, "k.npy", dim: p.keyDim, "head-dim"),
            v: try tensor(v, "v.npy", dim: p.valueDim, "value-dim"),
            g: g,
            dO: try dO.map { try tensor($0, "do.npy", dim: p.valueDim, "value-dim") }
                ?? generator.tensor("do", positions: all, heads: p.heads, dim: p.valueDim))
    }
}
