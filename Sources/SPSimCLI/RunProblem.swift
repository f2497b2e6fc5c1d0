import CostModel
import Foundation
import Kernels
import Reports
import SequenceParallel

/// A run's tensors by name (`q`, `k`, `v`, `g`, `do`; outputs `o`, `lse`, `dq`, …), rows in
/// the order of the positions they were made or sliced at.
typealias NamedTensors = [String: Tensor32]

/// One input tensor of a problem: its name (and file stem), heads and channels per head.
struct InputSpec {
    var name: String
    var heads: Int
    var dim: Int
    /// The flag that names `dim`, for messages: `head-dim` or `value-dim`.
    var dimName: String
    /// Whether `--inputs` must hold it (else it comes from the seed).
    var required: Bool
}

/// The problem of a run, of either attention kind: everything that differs between softmax
/// attention and gated linear attention — inputs, reference, binding a strategy, the
/// report's shape and the model's workload — so that one run path and one harness serve both.
enum RunProblem {
    case softmax(AttentionProblem)
    case gla(LinearAttentionProblem)

    /// Which attention.
    var attention: AttentionKind {
        switch self {
        case .softmax: .softmax
        case .gla: .gla
        }
    }

    /// Global tokens N.
    var seqLen: Int {
        switch self {
        case .softmax(let p): p.seqLen
        case .gla(let p): p.seqLen
        }
    }

    /// The input files `--inputs` reads for `attention`: required, then optional.
    static func inputNames(_ attention: AttentionKind) -> (required: [String], optional: [String]) {
        switch attention {
        case .softmax: (["q", "k", "v"], ["do"])
        case .gla: (["q", "k", "v"], ["g", "do"])
        }
    }

    /// The input tensors with their shapes.
    var inputs: [InputSpec] {
        switch self {
        case .softmax(let p):
            [InputSpec(name: "q", heads: p.heads, dim: p.headDim, dimName: "head-dim", required: true),
             InputSpec(name: "k", heads: p.kvHeads, dim: p.headDim, dimName: "head-dim", required: true),
             InputSpec(name: "v", heads: p.kvHeads, dim: p.headDim, dimName: "head-dim", required: true),
             InputSpec(name: "do", heads: p.heads, dim: p.headDim, dimName: "head-dim", required: false)]
        case .gla(let p):
            [InputSpec(name: "q", heads: p.heads, dim: p.keyDim, dimName: "head-dim", required: true),
             InputSpec(name: "k", heads: p.heads, dim: p.keyDim, dimName: "head-dim", required: true),
             InputSpec(name: "v", heads: p.heads, dim: p.valueDim, dimName: "value-dim", required: true),
             InputSpec(name: "g", heads: p.heads, dim: p.keyDim, dimName: "head-dim", required: false),
             InputSpec(name: "do", heads: p.heads, dim: p.valueDim, dimName: "value-dim", required: false)]
        }
    }

    /// Phantom inputs for `count` local tokens (`spsim run --phantom`): the shapes of
    /// `generated`, no values.
    func phantomInputs(count: Int) -> NamedTensors {
        var out = NamedTensors()
        for spec in inputs { out[spec.name] = Tensor32(phantomTokens: count, heads: spec.heads, dim: spec.dim) }
        return out
    }

    /// Generated inputs at `positions` (docs/design.md, inputs and files); GLA log-gates in
    /// [−0.5, −0.005) times `gateScale` (100 gives fast decay: products of gates underflow in float32).
    /// Only the inputs in `names` when given (each token of each input is generated on its own,
    /// so a subset at some positions equals the same part of the whole).
    func generated(seed: UInt64, positions: [Int], gateScale: Float = 1, names: [String]? = nil) -> NamedTensors {
        let generator = InputGenerator(seed: seed)
        var out = NamedTensors()
        for spec in inputs where names?.contains(spec.name) ?? true {
            var t = generator.tensor(spec.name, positions: positions, heads: spec.heads, dim: spec.dim)
            if spec.name == "g" && gateScale != 1 { t.storage = t.storage.map { $0 * gateScale } }
            out[spec.name] = t
        }
        return out
    }

    /// The float64 reference over the whole sequence, by output name.
    func reference(_ whole: NamedTensors, backward: Bool) -> [String: Tensor64] {
        let x = whole.mapValues { $0.converted(to: Double.self) }
        var out = [String: Tensor64]()
        switch self {
        case .softmax(let p):
            let all = Array(0..<p.seqLen)
            let mask = p.mask(queries: all, keys: all)
            (out["o"], out["lse"]) = attentionReference(q: x["q"]!, k: x["k"]!, v: x["v"]!, mask: mask)
            if backward {
                let g = attentionReferenceBackward(q: x["q"]!, k: x["k"]!, v: x["v"]!, dO: x["do"]!, mask: mask)
                (out["dq"], out["dk"], out["dv"]) = (g.dq, g.dk, g.dv)
            }
        case .gla:
            out["o"] = glaReference(q: x["q"]!, k: x["k"]!, v: x["v"]!, g: x["g"]!).o
            if backward {
                let g = glaReferenceBackward(q: x["q"]!, k: x["k"]!, v: x["v"]!, g: x["g"]!, dO: x["do"]!)
                (out["dq"], out["dk"], out["dv"], out["dg"]) = (g.dq, g.dk, g.dv, g.dg)
            }
        }
        return out
    }

    /// Why `strategy` cannot run this problem on `ranks` ranks with `layout`, or nil.
    func unsupportedReason(_ strategy: any SequenceParallelStrategy.Type, layout: LayoutKind, ranks: Int) -> String? {
        switch self {
        case .softmax(let p):
            guard let s = strategy as? any AttentionStrategy.Type else { return kindReason(strategy) }
            return s.unsupportedReason(p, layout: layout, ranks: ranks)
        case .gla(let p):
            guard let s = strategy as? any LinearAttentionStrategy.Type else { return kindReason(strategy) }
            return s.unsupportedReason(p, layout: layout, ranks: ranks)
        }
    }

    private func kindReason(_ strategy: any SequenceParallelStrategy.Type) -> String {
        "--strategy \(strategy.name) computes \(strategy.descriptor.attention.rawValue) attention, not \(attention.rawValue)"
    }

    /// The values of the strategy's options it runs this problem with (defaults resolved).
    func resolvedOptions(_ strategy: any SequenceParallelStrategy.Type, layout: LayoutKind, ranks: Int)
        -> [StrategyOption: Int] {
        switch self {
        case .softmax(let p):
            guard let s = strategy as? any AttentionStrategy.Type else { return [:] }
            return s.resolvedOptions(p, layout: layout, ranks: ranks)
        case .gla(let p):
            guard let s = strategy as? any LinearAttentionStrategy.Type else { return [:] }
            return s.resolvedOptions(p, layout: layout, ranks: ranks)
        }
    }

    /// An instance of `strategy` on this rank (the kinds must match: `unsupportedReason` first).
    /// - Throws: what the strategy's initializer throws (an MPI failure setting up communicators).
    func bind(_ strategy: any SequenceParallelStrategy.Type, context: RankContext) throws -> any RankStrategy {
        switch self {
        case .softmax(let p):
            return try SoftmaxRank(strategy as! any AttentionStrategy.Type, problem: p, context: context)
        case .gla(let p):
            let type = strategy as! any LinearAttentionStrategy.Type
            return try bindLinear(type, problem: p, context: context)
        }
    }

    /// The cost model's workload for this problem (float32, as the run moves), with the
    /// strategy's resolved `options`.
    func workload(layout: LayoutKind, options: [StrategyOption: Int]) -> Workload {
        switch self {
        case .softmax(let p):
            var w = Workload(p, layout: layout)
            w.ulyssesDegree = options[.ulyssesDegree]
            return w
        case .gla(let p):
            return Workload(attention: .gla, seqLen: p.seqLen, heads: p.heads, headDim: p.keyDim, valueDim: p.valueDim,
                            isCausal: true, layout: layout, scanBlocks: options[.scanBlocks])
        }
    }

    /// The report's shape fields, with the strategy's resolved `options`.
    func shape(options: [StrategyOption: Int]) -> any RunShape {
        switch self {
        case .softmax(let p): SoftmaxShape(p, ulyssesDegree: options[.ulyssesDegree])
        case .gla(let p): GLAShape(p, scanBlocks: options[.scanBlocks])
        }
    }
}

/// A strategy instance on one rank seen through named tensors, so one harness runs both
/// attention kinds; it keeps what the forward saved for the backward.
protocol RankStrategy: AnyObject {
    /// Outputs by name (`o`, `lse`; GLA `o`).
    func forward(_ inputs: NamedTensors) throws -> NamedTensors
    /// Gradients by name (`dq`, `dk`, `dv`; GLA also `dg`), after `forward`.
    func backward(_ inputs: NamedTensors) throws -> NamedTensors
}

/// A softmax strategy: the backward takes the forward's `o` and `lse`.
final class SoftmaxRank: RankStrategy {
    let strategy: any AttentionStrategy
    var output: AttentionOutput?

    init(_ type: any AttentionStrategy.Type, problem: AttentionProblem, context: RankContext) throws {
        strategy = try type.init(problem: problem, context: context)
    }

    func forward(_ x: NamedTensors) throws -> NamedTensors {
        let out = try strategy.forward(q: x["q"]!, k: x["k"]!, v: x["v"]!)
        output = out
        return ["o": out.o, "lse": out.lse]
    }

    func backward(_ x: NamedTensors) throws -> NamedTensors {
        let g = try strategy.backward(q: x["q"]!, k: x["k"]!, v: x["v"]!, o: output!.o, lse: output!.lse, dO: x["do"]!)
        return ["dq": g.dq, "dk": g.dk, "dv": g.dv]
    }
}

/// A GLA strategy: the backward takes what the forward saved.
final class LinearRank<S: LinearAttentionStrategy>: RankStrategy {
    let strategy: S
    var saved: S.Saved?

    init(_ strategy: S) { self.strategy = strategy }

    func forward(_ x: NamedTensors) throws -> NamedTensors {
        let out = try strategy.forward(q: x["q"]!, k: x["k"]!, v: x["v"]!, g: x["g"]!)
        saved = out.saved
        return ["o": out.o]
    }

    func backward(_ x: NamedTensors) throws -> NamedTensors {
        let g = try strategy.backward(q: x["q"]!, k: x["k"]!, v: x["v"]!, g: x["g"]!, saved: saved!, dO: x["do"]!)
        return ["dq": g.dq, "dk": g.dk, "dv": g.dv, "dg": g.dg]
    }
}

private func bindLinear<S: LinearAttentionStrategy>(_ type: S.Type, problem: LinearAttentionProblem,
                                                    context: RankContext) throws -> any RankStrategy {
    LinearRank(try S(problem: problem, context: context))
}

/// One `--inputs` file: its path and its header, checked against the file's length; the
/// payload is read by `load()` once the run's memory estimate has passed.
struct InputFile {
    var path: String
    var header: NPYHeader
    var shape: [Int] { header.shape }

    /// The values, every one finite.
    /// - Throws: `NPYError` naming the file (and the first non-finite element).
    func load() throws -> NPYArray {
        let array = try NPY.read(path)
        try array.requireFinite(name: path)
        return array
    }
}

/// The `--inputs` directory's `.npy` files by stem, each checked to be 3-dimensional; only
/// their headers are read until `tensors(for:seed:)`.
struct InputFiles {
    var arrays: [String: InputFile]

    /// Reads the files `attention` uses from `directory`.
    /// - Throws: `InputError` when the directory or a required file is missing, or a file is
    ///   not a valid 3-dimensional `.npy` header (the NPY reader's errors pass through).
    static func read(_ directory: String, attention: AttentionKind) throws -> InputFiles {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw InputError("--inputs \(directory) does not exist")
        }
        guard isDirectory.boolValue else { throw InputError("--inputs \(directory) is a file; give the directory holding the .npy files") }
        let (required, optional) = RunProblem.inputNames(attention)
        let needs = "\(attention == .gla ? "GLA needs" : "it needs") \(listed(required.map { "\($0).npy" })); "
            + "\(listed(optional.map { "\($0).npy" })) \(optional.count == 1 ? "is" : "are") optional"
        var arrays = [String: InputFile]()
        for name in required + optional {
            let path = (directory as NSString).appendingPathComponent("\(name).npy")
            guard FileManager.default.fileExists(atPath: path) else {
                if optional.contains(name) { continue }
                throw InputError("--inputs \(directory) has no \(name).npy (\(needs))")
            }
            let header = try NPY.readHeader(path)
            guard header.shape.count == 3 else {
                throw InputError("\(path) has shape \(header.shape); expected 3 dimensions [tokens, heads, dim]")
            }
            arrays[name] = InputFile(path: path, header: header)
        }
        return InputFiles(arrays: arrays)
    }

    /// Every file's shape by stem.
    var shapes: [String: [Int]] { arrays.mapValues(\.shape) }

    /// The whole inputs of `problem`: each file checked against its expected shape, missing
    /// optional ones generated from `seed`.
    /// - Throws: `InputError` for a shape that does not match, or log-gates that are not finite and ≤ 0;
    ///   `NPYError` for a non-finite value.
    func tensors(for problem: RunProblem, seed: UInt64) throws -> NamedTensors {
        let all = Array(0..<problem.seqLen)
        let generator = InputGenerator(seed: seed)
        var out = NamedTensors()
        for spec in problem.inputs {
            guard let a = arrays[spec.name] else {
                out[spec.name] = generator.tensor(spec.name, positions: all, heads: spec.heads, dim: spec.dim)
                continue
            }
            let expected = [problem.seqLen, spec.heads, spec.dim]
            guard a.shape == expected else {
                throw InputError("\(spec.name).npy has shape \(a.shape); expected \(expected) ([seq-len, heads, \(spec.dimName)])")
            }
            out[spec.name] = Tensor32(tokens: problem.seqLen, heads: spec.heads, dim: spec.dim, storage: try a.load().float32)
        }
        if case .gla = problem, let g = out["g"], let i = g.storage.firstIndex(where: { !($0.isFinite && $0 <= 0) }) {
            let token = i / g.tokenStride, head = (i % g.tokenStride) / g.dim, channel = i % g.dim
            throw InputError("g.npy holds log-gates, which must be finite and ≤ 0; found \(g.storage[i]) at token \(token), head \(head), channel \(channel)")
        }
        return out
    }
}

extension NamedTensors {
    /// Rows at `positions` of each tensor.
    func slice(_ positions: [Int]) -> NamedTensors { mapValues { $0.gatherTokens(positions) } }
}

/// "a", "a and b", "a, b and c".
func listed(_ items: [String]) -> String {
    items.count <= 1 ? items.joined() : items.dropLast().joined(separator: ", ") + " and " + items.last!
}
