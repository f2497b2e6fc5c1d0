// Strict JSON for the files people write by hand (Topologies/*.json, Models/*.json):
// Foundation's JSONSerialization and JSONDecoder silently keep one of two equal keys, so a
// file that says `"nodes"` twice would run with whichever value they happen to keep.
// `StrictJSON.check` scans the text once (RFC 8259 grammar) and refuses duplicate keys,
// nesting deeper than `maxDepth`, and anything that is not one JSON value; `parse` then
// hands the checked bytes to JSONSerialization.
import Foundation

/// A JSON text that cannot be used: where (a key path such as `levels[1].bw_GBps`, and the
/// line) and why.
public struct StrictJSONError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The key path of the value at fault; empty for the top level.
    public var key: String
    /// The 1-based line of the fault.
    public var line: Int
    /// What is wrong, as a sentence.
    public var problem: String

    /// `key: problem (line n)`.
    public var description: String { (key.isEmpty ? "" : "\(key): ") + "\(problem) (line \(line))" }
}

/// Strict reading of small hand-written JSON files.
public enum StrictJSON {
    /// Deepest nesting of objects and arrays accepted.
    public static let maxDepth = 64
    /// Largest file `read` accepts, in bytes (16 MiB).
    public static let maxFileBytes = 16 << 20

    /// Checks that `data` is exactly one JSON value with no object holding the same key twice
    /// (keys compared after unescaping) and no nesting deeper than `maxDepth`.
    /// - Throws: `StrictJSONError` naming the key path and line of the first fault.
    public static func check(_ data: Data) throws(StrictJSONError) {
        var scanner = Scanner(bytes: [UInt8](data))
        scanner.skipSpace()
        try scanner.value(path: "", depth: 0)
        scanner.skipSpace()
        if scanner.index < scanner.bytes.count { throw scanner.fail("", "has text after the JSON value") }
    }

    /// `check`, then the value as JSONSerialization decodes it (dictionaries, arrays,
    /// strings, NSNumber, NSNull).
    /// - Throws: `StrictJSONError` as `check` does.
    public static func parse(_ data: Data) throws(StrictJSONError) -> Any {
        try check(data)
        do {
            return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw StrictJSONError(key: "", line: 1, problem: "is not valid JSON (\(error.localizedDescription))")
        }
    }

    /// The bytes of the file at `path`, refusing before reading a file larger than `maxBytes`.
    /// - Throws: `StrictJSONError` (empty key) when the file is missing, unreadable or too large.
    public static func read(_ path: String, maxBytes: Int = maxFileBytes) throws(StrictJSONError) -> Data {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
        guard let size else { throw StrictJSONError(key: "", line: 1, problem: "cannot read the file") }
        if size > maxBytes {
            throw StrictJSONError(key: "", line: 1, problem: "is \(size) bytes; spsim reads JSON files of at most \(maxBytes) bytes")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StrictJSONError(key: "", line: 1, problem: "cannot read the file")
        }
        return data
    }

    /// A recursive-descent scanner; recursion is bounded by `maxDepth`.
    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        func fail(_ key: String, _ problem: String) -> StrictJSONError {
            let line = 1 + bytes[..<min(index, bytes.count)].lazy.filter { $0 == UInt8(ascii: "\n") }.count
            return StrictJSONError(key: key, line: line, problem: problem)
        }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipSpace() {
            while let c = current, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { index += 1 }
        }

        mutating func value(path: String, depth: Int) throws(StrictJSONError) {
            guard let c = current else { throw fail(path, "ends where a value should start") }
            switch c {
            case UInt8(ascii: "{"): try object(path: path, depth: depth + 1)
            case UInt8(ascii: "["): try array(path: path, depth: depth + 1)
            case UInt8(ascii: "\""): _ = try string(path: path)
            case UInt8(ascii: "t"): try literal("true", path: path)
            case UInt8(ascii: "f"): try literal("false", path: path)
            case UInt8(ascii: "n"): try literal("null", path: path)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number(path: path)
            default: throw fail(path, "has an unexpected character '\(Character(Unicode.Scalar(c)))' where a value should start")
            }
        }

        mutating func object(path: String, depth: Int) throws(StrictJSONError) {
            if depth > StrictJSON.maxDepth { throw fail(path, "nests deeper than \(StrictJSON.maxDepth) levels") }
            index += 1
            skipSpace()
            if current == UInt8(ascii: "}") { index += 1; return }
            var seen = Set<String>()
            while true {
                guard current == UInt8(ascii: "\"") else { throw fail(path, "expected a key in double quotes") }
                let key = try string(path: path)
                let child = path.isEmpty ? key : "\(path).\(key)"
                if !seen.insert(key).inserted { throw fail(child, "duplicate key: each key may appear once per object") }
                skipSpace()
                guard current == UInt8(ascii: ":") else { throw fail(child, "expected ':' after the key") }
                index += 1
                skipSpace()
                try value(path: child, depth: depth)
                skipSpace()
                if current == UInt8(ascii: ",") { index += 1; skipSpace(); continue }
                if current == UInt8(ascii: "}") { index += 1; return }
                throw fail(child, "expected ',' or '}' after the value")
            }
        }

        mutating func array(path: String, depth: Int) throws(StrictJSONError) {
            if depth > StrictJSON.maxDepth { throw fail(path, "nests deeper than \(StrictJSON.maxDepth) levels") }
            index += 1
            skipSpace()
            if current == UInt8(ascii: "]") { index += 1; return }
            var i = 0
            while true {
                try value(path: "\(path)[\(i)]", depth: depth)
                skipSpace()
                if current == UInt8(ascii: ",") { index += 1; skipSpace(); i += 1; continue }
                if current == UInt8(ascii: "]") { index += 1; return }
                throw fail("\(path)[\(i)]", "expected ',' or ']' after the value")
            }
        }

        /// A string literal, unescaped.
        mutating func string(path: String) throws(StrictJSONError) -> String {
            index += 1
            var scalars = String.UnicodeScalarView()
            var raw = [UInt8]()
            func flush() { scalars.append(contentsOf: String(decoding: raw, as: UTF8.self).unicodeScalars); raw.removeAll() }
            while true {
                guard let c = current else { throw fail(path, "has an unterminated string") }
                index += 1
                if c == UInt8(ascii: "\"") { break }
                if c < 0x20 { throw fail(path, "has a control character inside a string (escape it)") }
                guard c == UInt8(ascii: "\\") else { raw.append(c); continue }
                guard let e = current else { throw fail(path, "has an unterminated string") }
                index += 1
                flush()
                switch e {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{8}")
                case UInt8(ascii: "f"): scalars.append("\u{c}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    var unit = try hex4(path: path)
                    if (0xD800..<0xDC00).contains(unit), current == UInt8(ascii: "\\"),
                       index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") {
                        index += 2
                        let low = try hex4(path: path)
                        guard (0xDC00..<0xE000).contains(low) else { throw fail(path, "has a broken surrogate pair \\u escape") }
                        unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    scalars.append(Unicode.Scalar(unit) ?? "\u{FFFD}")
                default: throw fail(path, "has an unknown escape \\\(Character(Unicode.Scalar(e))) in a string")
                }
            }
            flush()
            return String(scalars)
        }

        mutating func hex4(path: String) throws(StrictJSONError) -> UInt32 {
            guard index + 4 <= bytes.count else { throw fail(path, "has a short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let d = Character(Unicode.Scalar(bytes[index])).hexDigitValue else {
                    throw fail(path, "has a \\u escape that is not 4 hex digits")
                }
                v = v << 4 | UInt32(d)
                index += 1
            }
            return v
        }

        mutating func literal(_ word: String, path: String) throws(StrictJSONError) {
            let w = Array(word.utf8)
            guard index + w.count <= bytes.count, Array(bytes[index ..< index + w.count]) == w else {
                throw fail(path, "has an unknown word (JSON has true, false and null; strings need double quotes)")
            }
            index += w.count
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
        mutating func number(path: String) throws(StrictJSONError) {
            func digits() -> Int {
                let start = index
                while let c = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { index += 1 }
                return index - start
            }
            if current == UInt8(ascii: "-") { index += 1 }
            if current == UInt8(ascii: "0") { index += 1 } else if digits() == 0 { throw fail(path, "has a malformed number") }
            if current == UInt8(ascii: ".") {
                index += 1
                if digits() == 0 { throw fail(path, "has a malformed number (digits must follow '.')") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                if digits() == 0 { throw fail(path, "has a malformed number (digits must follow the exponent)") }
            }
        }
    }
}
