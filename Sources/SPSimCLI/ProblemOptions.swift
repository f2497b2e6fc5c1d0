import ArgumentParser
import Foundation
import Kernels
import Reports
import SequenceParallel

extension LayoutKind: ExpressibleByArgument {}

/// The problem shape, shared by `run` and other commands.
struct ProblemOptions: ParsableArguments {
    @Option(help: "Global sequence length N (default 1024, or the length of --inputs).")
    var seqLen: Int?

    @Option(help: "Query heads H (default 8, or from --inputs).")
    var heads: Int?

    @Option(help: "Key/value heads G; must divide H (default H, or from --inputs).")
    var kvHeads: Int?

    @Option(help: "Channels per head D (default 64, or from --inputs).")
    var headDim: Int?

    @Flag(help: "Causal attention: token i attends to tokens j ≤ i.")
    var causal = false

    @Option(help: "How tokens are spread over ranks: contiguous, zigzag or striped.")
    var layout: LayoutKind = .contiguous

    @Option(help: "Seed of the deterministic inputs.")
    var seed: UInt64 = 1

    /// The problem these options describe, dimensions not given taken from `shapes`
    /// (the `--inputs` files' shapes: q then k) or from the defaults.
    func problem(inputShapes shapes: (q: [Int], k: [Int])? = nil) throws(InputError) -> AttentionProblem {
        let pick = Self.pick
        let h = try pick(heads, shapes?.q[1], 8, "--heads")
        let problem = AttentionProblem(
            seqLen: try pick(seqLen, shapes?.q[0], 1024, "--seq-len"),
            heads: h,
            kvHeads: try pick(kvHeads, shapes?.k[1], h, "--kv-heads"),
            headDim: try pick(headDim, shapes?.q[2], 64, "--head-dim"),
            isCausal: causal)
        try problem.validate()
        return problem
    }

    /// A dimension: the flag's value, else the `--inputs` files' value, else `fallback`;
    /// a flag that disagrees with the files is bad input.
    static func pick(_ given: Int?, _ fromFile: Int?, _ fallback: Int, _ flag: String) throws(InputError) -> Int {
        if let given, let fromFile, given != fromFile {
            throw InputError("\(flag) \(given) disagrees with the --inputs files, whose shape gives \(fromFile)")
        }
        return given ?? fromFile ?? fallback
    }
}

/// A rank's input slices and, where needed, the whole inputs for the reference.
struct AttentionInputs {
    var q: Tensor32, k: Tensor32, v: Tensor32, dO: Tensor32

    /// Rows at `positions` of each tensor.
    func slice(_ positions: [Int]) -> AttentionInputs {
        AttentionInputs(q: q.gatherTokens(positions), k: k.gatherTokens(positions),
                        v: v.gatherTokens(positions), dO: dO.gatherTokens(positions))
    }

    /// Generated inputs at `positions` (DESIGN.md §4).
    static func generated(_ p: AttentionProblem, seed: UInt64, positions: [Int]) -> AttentionInputs {
        let g = InputGenerator(seed: seed)
        return AttentionInputs(
            q: g.tensor("q", positions: positions, heads: p.heads, dim: p.headDim),
            k: g.tensor("k", positions: positions, heads: p.kvHeads, dim: p.headDim),
            v: g.tensor("v", positions: positions, heads: p.kvHeads, dim: p.headDim),
            dO: g.tensor("do", positions: positions, heads: p.heads, dim: p.headDim))
    }
}

/// One `--inputs` file: its path and its header, checked against the file's length; the
/// payload is read by `load()` once the run's memory estimate has passed.
struct InputFile {
    var path: String
    var header: NPYHeader
    var shape: [Int] { header.shape }

    /// Reads the header of `name` in `directory` and checks that it has three dimensions.
    /// - Throws: `NPYError` or `InputError` naming the file.
    static func header(_ name: String, in directory: String) throws -> InputFile {
        let path = (directory as NSString).appendingPathComponent(name)
        let header = try NPY.readHeader(path)
        guard header.shape.count == 3 else {
            throw InputError("\(path) has shape \(header.shape); expected 3 dimensions [tokens, heads, dim]")
        }
        return InputFile(path: path, header: header)
    }

    /// The values, every one finite.
    /// - Throws: `NPYError` naming the file (and the first non-finite element).
    func load() throws -> NPYArray {
        let array = try NPY.read(path)
        try array.requireFinite(name: path)
        return array
    }
}

/// `q.npy k.npy v.npy [do.npy]` from a directory, checked against each other.
struct InputFiles {
    var q: InputFile, k: InputFile, v: InputFile, dO: InputFile?

    static func read(_ directory: String) throws -> InputFiles {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputError("--inputs \(directory) is not a directory")
        }
        func load(_ name: String) throws -> InputFile {
            guard FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent(name)) else {
                throw InputError("--inputs \(directory) has no \(name) (it needs q.npy, k.npy and v.npy; do.npy is optional)")
            }
            return try InputFile.header(name, in: directory)
        }
        let files = InputFiles(q: try load("q.npy"), k: try load("k.npy"), v: try load("v.npy"),
                               dO: FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("do.npy"))
                                   ? try load("do.npy") : nil)
        return files
    }

    /// The tensors, after checking every file's shape against `p`.
    func tensors(for p: AttentionProblem, seed: UInt64) throws -> AttentionInputs {
        func tensor(_ a: InputFile, _ name: String, heads: Int) throws -> Tensor32 {
            let expected = [p.seqLen, heads, p.headDim]
            guard a.shape == expected else {
                throw InputError("\(name) has shape \(a.shape); expected \(expected) ([seq-len, heads, head-dim])")
            }
            return Tensor32(tokens: p.seqLen, heads: heads, dim: p.headDim, storage: try a.load().float32)
        }
        let all = Array(0..<p.seqLen)
        return AttentionInputs(
            q: try tensor(q, "q.npy", heads: p.heads),
            k: try tensor(k, "k.npy", heads: p.kvHeads),
            v: try tensor(v, "v.npy", heads: p.kvHeads),
            dO: try dO.map { try tensor($0, "do.npy", heads: p.heads) }
                ?? InputGenerator(seed: seed).tensor("do", positions: all, heads: p.heads, dim: p.headDim))
    }
}
