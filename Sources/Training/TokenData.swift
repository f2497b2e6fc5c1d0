import Foundation
import SequenceParallel

/// The token stream training reads: a text file as bytes (vocabulary 256), a numpy `.npy`
/// of integer token ids, or a nanoGPT-style flat little-endian `uint16` `.bin`.
public struct TokenData: Sendable {
    /// Every token id, in file order.
    public let tokens: [Int32]
    /// Where they came from (for messages).
    public let path: String

    /// Tokens from memory (tests).
    public init(tokens: [Int32], path: String = "<memory>") {
        self.tokens = tokens
        self.path = path
    }

    /// The file's tokens, checked against the vocabulary and the window length.
    ///
    /// - Throws: `InputError` when the file is missing or unreadable, empty, holds fewer than
    ///   `minimumTokens` tokens (a step reads N+1), is an `.npy` that is not a 1-D array of
    ///   integers, is a `.bin` of an odd byte count, or holds an id ≥ `vocabulary` or < 0.
    public static func load(_ path: String, vocabulary: Int, minimumTokens: Int) throws(InputError) -> TokenData {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw InputError("--data \(path): no such file")
        }
        if isDirectory.boolValue { throw InputError("--data \(path) is a directory; give a text, .npy or .bin file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError("--data \(path) is not readable")
        }
        let bytes = [UInt8](data)
        if bytes.isEmpty { throw InputError("--data \(path) is empty") }
        let tokens: [Int32]
        if path.hasSuffix(".npy") {
            tokens = try npyTokens(bytes, path: path)
        } else if path.hasSuffix(".bin") {
            guard bytes.count % 2 == 0 else {
                throw InputError("--data \(path): a .bin token file holds little-endian uint16 ids, but its \(bytes.count) bytes are an odd count")
            }
            tokens = stride(from: 0, to: bytes.count, by: 2).map { Int32(bytes[$0]) | Int32(bytes[$0 + 1]) << 8 }
        } else {
            tokens = bytes.map(Int32.init)
        }
        if let i = tokens.firstIndex(where: { $0 < 0 || Int($0) >= vocabulary }) {
            throw InputError("--data \(path): token \(i) has id \(tokens[i]), outside the vocabulary 0..<\(vocabulary)")
        }
        guard tokens.count >= minimumTokens else {
            throw InputError("--data \(path) has \(tokens.count) tokens; a step reads --seq-len + 1 = \(minimumTokens)")
        }
        return TokenData(tokens: tokens, path: path)
    }

    /// The `length` tokens of step `step`'s window: windows follow one another, each starting
    /// where the previous one's inputs ended (`step · (length − 1)`), wrapping at the end.
    public func window(step: Int, length: Int) -> [Int] {
        let count = tokens.count
        let start = (step % count) * ((length - 1) % count) % count
        return (0..<length).map { Int(tokens[(start + $0) % count]) }
    }

    /// The unigram entropy of the stream in nats: `−Σ p log p` over token frequencies, the
    /// loss of the best model that ignores context.
    public var unigramEntropy: Double {
        var counts = [Int32: Int]()
        for t in tokens { counts[t, default: 0] += 1 }
        let n = Double(tokens.count)
        return -counts.values.reduce(0.0) { let p = Double($1) / n; return $0 + p * log(p) }
    }

    /// Token ids from `.npy` bytes: a 1-D C-order array of (u)int8/16/32/64.
    static func npyTokens(_ bytes: [UInt8], path: String) throws(InputError) -> [Int32] {
        let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw InputError("--data \(path) is not a .npy file") }
        let (headerStart, headerLength): (Int, Int) = bytes[6] == 1
            ? (10, Int(bytes[8]) | Int(bytes[9]) << 8)
            : (12, bytes.count >= 12 ? (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) } : Int.max / 2)
        guard headerStart + headerLength <= bytes.count else { throw InputError("--data \(path) is truncated inside its header") }
        let header = String(decoding: bytes[headerStart ..< headerStart + headerLength], as: UTF8.self)
        guard let descr = header.firstMatch(of: /'descr':\s*'([^']*)'/)?.1 else {
            throw InputError("--data \(path) has no dtype in its .npy header")
        }
        let kinds: [String: (size: Int, signed: Bool)] = [
            "u1": (1, false), "i1": (1, true), "u2": (2, false), "i2": (2, true),
            "u4": (4, false), "i4": (4, true), "u8": (8, false), "i8": (8, true),
        ]
        let code = String(descr.dropFirst())
        guard let kind = kinds[code], ["<", "|"].contains(descr.first) else {
            throw InputError("--data \(path) holds \(descr) values; token ids must be little-endian integers (e.g. <u2, <i8), not floats")
        }
        if header.contains("'fortran_order': True") { throw InputError("--data \(path) is in Fortran order") }
        guard let shapeText = header.firstMatch(of: /'shape':\s*\(([^)]*)\)/)?.1 else {
            throw InputError("--data \(path) has no shape in its .npy header")
        }
        let dims = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard dims.count == 1 else { throw InputError("--data \(path) has shape (\(shapeText)); token ids must be a 1-D array") }
        let start = headerStart + headerLength
        let (needed, overflow) = dims[0].multipliedReportingOverflow(by: kind.size)
        guard !overflow, bytes.count - start == needed else {
            throw InputError("--data \(path) holds \(bytes.count - start) data bytes but its shape needs \(dims[0]) × \(kind.size)")
        }
        var out = [Int32]()
        out.reserveCapacity(dims[0])
        for i in 0..<dims[0] {
            var raw: UInt64 = 0
            for b in 0..<kind.size { raw |= UInt64(bytes[start + i * kind.size + b]) << (8 * b) }
            var value: Int64
            if kind.signed && kind.size < 8 && raw >> (8 * kind.size - 1) & 1 == 1 {
                value = Int64(bitPattern: raw | ~((1 << (8 * kind.size)) - 1))
            } else {
                value = Int64(bitPattern: raw)
            }
            if !kind.signed && kind.size == 8 && raw > UInt64(Int64.max) { value = Int64.max }
            guard let id = Int32(exactly: value) else {
                throw InputError("--data \(path): token \(i) has id \(value), outside the vocabulary")
            }
            out.append(id)
        }
        return out
    }
}
