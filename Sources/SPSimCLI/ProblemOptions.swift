import ArgumentParser
import Foundation
import Kernels
import Reports
import SequenceParallel

extension LayoutKind: ExpressibleByArgument {}

/// The attention shape flags `spsim run`, `model` and `train` share; each command takes its
/// own defaults for those not given (see its discussion).
struct ShapeOptions: ParsableArguments {
    @Option(help: "Query heads H (GLA: heads).") var heads: Int?
    @Option(help: "Softmax: key/value heads G, dividing H (default H).") var kvHeads: Int?
    @Option(help: "Channels per head D (GLA: key channels Dk).") var headDim: Int?
    @Option(help: "GLA: value channels per head Dv (default D).") var valueDim: Int?

    /// Why these flags do not fit `attention`, or nil: `--kv-heads` is softmax's, `--value-dim` GLA's.
    func mismatch(_ attention: AttentionKind) -> String? {
        switch attention {
        case .gla where kvHeads != nil: "--kv-heads applies to softmax attention; GLA has one key head per head (--heads)"
        case .softmax where valueDim != nil: "--value-dim applies to --attention gla; softmax values have --head-dim channels"
        default: nil
        }
    }
}

/// The problem shape of `spsim run`, either attention kind.
struct ProblemOptions: ParsableArguments {
    @Option(help: "softmax, or gla: gated linear attention (causal by construction; --layout contiguous; --head-dim is Dk).")
    var attention: AttentionKind = .softmax

    @Option(help: ArgumentHelp("Global sequence length N, a size such as 8k (default 1024, or the length of --inputs).",
                               valueName: "size"), transform: parseSize)
    var seqLen: Int?

    @OptionGroup var shape: ShapeOptions

    @Flag(help: "Causal attention: token i attends to tokens j ≤ i.")
    var causal = false

    @Option(help: "How tokens are spread over ranks: contiguous, zigzag or striped.")
    var layout: LayoutKind = .contiguous

    @Option(help: "Seed of the deterministic inputs.")
    var seed: UInt64 = 1

    func validate() throws {
        if let mismatch = shape.mismatch(attention) { throw ValidationError(mismatch) }
    }

    /// The problem these options and the strategy's `options` describe, dimensions not given
    /// taken from the `--inputs` files' shapes (`shapes`, by file stem) or from the defaults.
    /// - Throws: `InputError` when a dimension is out of range, a flag disagrees with the
    ///   files, or the shape is impossible (G ∤ H, `--kv-heads` with GLA, K outside 1…H·Dk).
    func problem(options: [StrategyOption: Int], inputShapes shapes: [String: [Int]]?) throws(InputError) -> RunProblem {
        let pick = Self.pick, heads = shape.heads, kvHeads = shape.kvHeads, headDim = shape.headDim
        switch attention {
        case .softmax:
            let h = try pick(heads, shapes?["q"]?[1], 8, "--heads")
            let problem = AttentionProblem(
                seqLen: try pick(seqLen, shapes?["q"]?[0], 1024, "--seq-len"),
                heads: h,
                kvHeads: try pick(kvHeads, shapes?["k"]?[1], h, "--kv-heads"),
                headDim: try pick(headDim, shapes?["q"]?[2], 64, "--head-dim"),
                isCausal: causal, ulyssesDegree: options[.ulyssesDegree])
            try problem.validate()
            return .softmax(problem)
        case .gla:
            let keyDim = try pick(headDim, shapes?["q"]?[2], 64, "--head-dim")
            let problem = LinearAttentionProblem(
                seqLen: try pick(seqLen, shapes?["q"]?[0], 1024, "--seq-len"),
                heads: try pick(heads, shapes?["q"]?[1], 8, "--heads"),
                keyDim: keyDim,
                valueDim: try pick(shape.valueDim, shapes?["v"]?[2], keyDim, "--value-dim"),
                scanBlocks: options[.scanBlocks])
            try problem.validate()
            return .gla(problem)
        }
    }

    /// A dimension: the flag's value, else the `--inputs` files' value, else `fallback`;
    /// a flag that disagrees with the files is bad input.
    /// - Throws: `InputError` naming `flag` when `given` and `fromFile` differ.
    static func pick(_ given: Int?, _ fromFile: Int?, _ fallback: Int, _ flag: String) throws(InputError) -> Int {
        if let given, let fromFile, given != fromFile {
            throw InputError("\(flag) \(given) disagrees with the --inputs files, whose shape gives \(fromFile)")
        }
        return given ?? fromFile ?? fallback
    }
}

/// `--strategy` and the options only some strategies take, checked against the registry
/// while the command line is parsed (before MPI starts).
struct StrategyOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The strategy (see `spsim strategies`); default the first of the attention kind.",
        discussion: AttentionKind.allCases.map { kind in
            "\(kind.rawValue): \(Strategies.all(kind).map { $0.name }.joined(separator: ", "))"
        }.joined(separator: "; ")))
    var strategy: String?

    @Option(help: "\(StrategyOption.ulyssesDegree.takers): ranks per Ulysses group U, U | P and U ≤ H (default: the largest U ≤ sqrt(P) that fits).")
    var ulyssesDegree: Int?

    @Option(help: "\(StrategyOption.scanBlocks.takers) (GLA): row blocks K of the All-Scan, 1 to H·Dk (default K* = sqrt((P−2)·m·β/α)).")
    var scanBlocks: Int?

    /// The options given, by the setting they carry.
    var given: [StrategyOption: Int] {
        var out = [StrategyOption: Int]()
        out[.ulyssesDegree] = ulyssesDegree
        out[.scanBlocks] = scanBlocks
        return out
    }

    /// The strategy chosen for `attention`: `--strategy` or the kind's default.
    /// - Throws: `ValidationError` (exit 2, one line) for an unknown name (with a did-you-mean),
    ///   a strategy of the other attention kind, or an option the strategy does not take.
    func resolve(attention: AttentionKind) throws -> any SequenceParallelStrategy.Type {
        let type: any SequenceParallelStrategy.Type
        if let strategy {
            type = try StrategyName.lookup(strategy, attention: attention)
        } else {
            type = Strategies.defaultStrategy(attention)
        }
        for option in given.keys.sorted(by: { $0.rawValue < $1.rawValue }) where !type.descriptor.options.contains(option) {
            throw ValidationError("\(option.flag) sets \(option.meaning); --strategy \(type.name) has none"
                                  + " (taken by \(option.takers))")
        }
        return type
    }
}

extension StrategyOption {
    /// The command-line flag that sets it.
    var flag: String { "--" + rawValue.replacingOccurrences(of: "_", with: "-") }

    /// The registered strategies that take it, comma-separated.
    var takers: String {
        Strategies.all.filter { $0.descriptor.options.contains(self) }.map { $0.name }.joined(separator: ", ")
    }

    /// What it sets, in words.
    var meaning: String {
        switch self {
        case .ulyssesDegree: "the ranks per Ulysses group U"
        case .scanBlocks: "the All-Scan's row blocks K"
        }
    }
}

/// Strategy names on the command line: looked up in the registry, with a did-you-mean.
enum StrategyName {
    /// The strategies of a comma-separated `--strategy` list, each once, in the order given.
    /// - Throws: `ValidationError` for an empty or unknown name.
    static func list(_ text: String) throws -> [any SequenceParallelStrategy.Type] {
        var chosen = [any SequenceParallelStrategy.Type]()
        for name in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !name.isEmpty else {
                throw ValidationError("--strategy \"\(text)\" has an empty name: give strategies from `spsim strategies`, comma-separated, or all")
            }
            let type = try lookup(String(name), attention: nil)
            if !chosen.contains(where: { ObjectIdentifier($0) == ObjectIdentifier(type) }) { chosen.append(type) }
        }
        return chosen
    }

    /// The registered strategy `name`, which must compute `attention` when given.
    /// - Throws: `ValidationError` for an unknown name or the other attention kind.
    static func lookup(_ name: String, attention: AttentionKind?) throws -> any SequenceParallelStrategy.Type {
        guard let type = Strategies.named(name) else {
            let candidates = attention.map { Strategies.all($0) } ?? Strategies.all
            let names = candidates.map { $0.name }
            let scope = attention == .gla ? "GLA " : ""
            let known = attention == .gla ? "known with --attention gla" : "known"
            throw ValidationError("unknown \(scope)--strategy \(name)\(suggestion(name, among: names)); \(known): \(names.joined(separator: ", "))")
        }
        if let attention, type.descriptor.attention != attention {
            switch type.descriptor.attention {
            case .gla: throw ValidationError("--strategy \(name) is a GLA strategy: add --attention gla")
            case .softmax:
                throw ValidationError("--strategy \(name) computes softmax attention: drop --attention gla, or choose one of "
                                      + Strategies.all(.gla).map { $0.name }.joined(separator: ", "))
            }
        }
        return type
    }

    /// "; did you mean X?" when a known name is within two edits (or extends `name`), else "".
    static func suggestion(_ name: String, among names: [String]) -> String {
        let scored = names.map { ($0, editDistance(name, $0)) }.filter { $0.1 <= 2 || $0.0.hasPrefix(name) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return "" }
        return " (did you mean \(best.0)?)"
    }

    /// Levenshtein distance between `a` and `b`.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(1, b.count) where !b.isEmpty {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}
