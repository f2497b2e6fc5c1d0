import Foundation
import Kernels
import SPCore

/// A malformed, unsupported or unreadable `.npy` file: one sentence naming the file.
public struct NPYError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Element types spsim reads and writes.
public enum NPYDType: String, Sendable {
    case float32 = "<f4"
    case float64 = "<f8"

    var size: Int { self == .float32 ? 4 : 8 }
}

/// An array read from a `.npy` file, its values widened to Double.
public struct NPYArray: Sendable, Equatable {
    public var shape: [Int]
    public var dtype: NPYDType
    public var values: [Double]

    /// The values as float32 (exact for `<f4` files).
    public var float32: [Float] { values.map(Float.init) }
}

/// numpy's `.npy` format (version 1.0–3.0, little-endian `<f4`/`<f8`, C order).
public enum NPY {
    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// The bytes of a version 1.0 `.npy` file holding `values` with `shape`.
    public static func encode<T: BinaryFloatingPoint>(_ values: [T], shape: [Int], dtype: NPYDType = .float32) -> [UInt8] {
        precondition(shape.reduce(1, *) == values.count, "NPY.encode: shape does not match the values")
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': (\(dims)), }"
        // Pad with spaces so the data starts on a 64-byte boundary; the header ends in '\n'.
        let unpadded = magic.count + 2 + 2 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = magic + [1, 0]
        let length = UInt16(header.utf8.count)
        out += [UInt8(length & 0xFF), UInt8(length >> 8)]
        out += Array(header.utf8)
        out.reserveCapacity(out.count + values.count * dtype.size)
        for v in values {
            switch dtype {
            case .float32: withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { out += $0 }
            case .float64: withUnsafeBytes(of: Double(v).bitPattern.littleEndian) { out += $0 }
            }
        }
        return out
    }

    /// Largest header spsim reads, in bytes (numpy's own `np.load` refuses headers over 10 000).
    public static let maxHeaderBytes = 65536

    /// The header at the start of `bytes` (which may hold only a prefix of the file), every
    /// size in it checked: at most `SizeLimits.maxDimensions` dimensions, the element count
    /// (overflow-checked) at most `SizeLimits.maxTensorElements`.
    /// - Throws: `NPYError` naming `name` when the magic, version, descr, order or shape is
    ///   wrong, or when `bytes` ends inside the header.
    public static func header(_ bytes: [UInt8], name: String) throws(NPYError) -> NPYHeader {
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw NPYError("\(name) is not a .npy file (no \\x93NUMPY magic)")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw NPYError("\(name) is truncated inside its header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw NPYError("\(name) has .npy format version \(major), which spsim does not read (1 to 3 only)")
        }
        if headerLength > maxHeaderBytes {
            throw NPYError("\(name) declares a header of \(headerLength) bytes; spsim reads headers of at most \(maxHeaderBytes)")
        }
        guard bytes.count >= headerStart + headerLength else { throw NPYError("\(name) is truncated inside its header") }
        let header = String(decoding: bytes[headerStart ..< headerStart + headerLength], as: UTF8.self)

        guard let descr = field("descr", in: header)?.trimmingCharacters(in: CharacterSet(charactersIn: "'\" ")) else {
            throw NPYError("\(name) has no 'descr' in its header")
        }
        guard let dtype = NPYDType(rawValue: descr) else {
            throw NPYError("\(name) has dtype \(descr); spsim reads only little-endian float32 (<f4) or float64 (<f8)")
        }
        if field("fortran_order", in: header)?.trimmingCharacters(in: .whitespaces) == "True" {
            throw NPYError("\(name) is in Fortran order; save it in C order (numpy's default)")
        }
        guard let shapeText = field("shape", in: header) else { throw NPYError("\(name) has no 'shape' in its header") }
        let shape = try parseShape(shapeText, name: name)
        if shape.count > SizeLimits.maxDimensions {
            throw NPYError("\(name) has \(shape.count) dimensions; spsim reads at most \(SizeLimits.maxDimensions)")
        }
        guard let count = SizeLimits.product(shape), count <= SizeLimits.maxTensorElements else {
            throw NPYError("\(name) declares shape \(shape), more than spsim's limit of \(SizeLimits.describe(SizeLimits.maxTensorElements)) elements per array")
        }
        return NPYHeader(shape: shape, dtype: dtype, dataOffset: headerStart + headerLength, count: count)
    }

    /// Parses `.npy` bytes; `name` goes into error messages.
    /// - Throws: `NPYError` for a bad header (see `header`) or a payload whose length is not
    ///   exactly what the header declares.
    public static func decode(_ bytes: [UInt8], name: String) throws(NPYError) -> NPYArray {
        let h = try header(bytes, name: name)
        try h.requireFileLength(bytes.count, name: name)
        var values = [Double](repeating: 0, count: h.count)
        let dataStart = h.dataOffset, size = h.dtype.size
        bytes.withUnsafeBytes { raw in
            for i in 0..<h.count {
                let at = dataStart + i * size
                switch h.dtype {
                case .float32: values[i] = Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self))))
                case .float64: values[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)))
                }
            }
        }
        return NPYArray(shape: h.shape, dtype: h.dtype, values: values)
    }

    /// Reads the header of the `.npy` file at `path` and checks it against the file's length,
    /// reading no more than the header itself.
    /// - Throws: `NPYError` when the file cannot be read, its header is bad (see `header`),
    ///   or its length is not the header's plus the declared payload.
    public static func readHeader(_ path: String) throws(NPYError) -> NPYHeader {
        try open(path) { handle, length throws(NPYError) in
            let prefix = try readBytes(handle, upTo: 12, path: path)
            var needed = prefix.count
            if prefix.count >= 10, Array(prefix[0..<6]) == magic {
                needed = prefix[6] == 1 ? 10 + (Int(prefix[8]) | Int(prefix[9]) << 8)
                    : prefix.count >= 12 ? 12 + (0..<4).reduce(0) { $0 | Int(prefix[8 + $1]) << (8 * $1) } : 12
            }
            // A declared header longer than the file or than the limit is refused by `header`
            // from the bytes there are; never read more than the file holds.
            let rest = min(max(0, needed - prefix.count), maxHeaderBytes + 12)
            let h = try header(prefix + readBytes(handle, upTo: rest, path: path), name: path)
            try h.requireFileLength(length, name: path)
            return h
        }
    }

    /// Reads a `.npy` file: the header first, checked against the file's length, and only
    /// then the payload.
    /// - Throws: `NPYError` as `readHeader` and `decode` do.
    public static func read(_ path: String) throws(NPYError) -> NPYArray {
        _ = try readHeader(path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NPYError("cannot read \(path): no such file or not readable")
        }
        return try decode([UInt8](data), name: path)
    }

    /// Runs `body` with the open file and its length in bytes.
    private static func open<T>(_ path: String, _ body: (FileHandle, Int) throws(NPYError) -> T) throws(NPYError) -> T {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw NPYError("cannot read \(path): no such file")
        }
        if isDirectory.boolValue { throw NPYError("cannot read \(path): it is a directory, not a .npy file") }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw NPYError("cannot read \(path): not readable") }
        defer { try? handle.close() }
        let length: Int
        do { length = Int(try handle.seekToEnd()); try handle.seek(toOffset: 0) } catch {
            throw NPYError("cannot read \(path): \(error.localizedDescription)")
        }
        return try body(handle, length)
    }

    private static func readBytes(_ handle: FileHandle, upTo count: Int, path: String) throws(NPYError) -> [UInt8] {
        guard count > 0 else { return [] }
        do { return [UInt8](try handle.read(upToCount: count) ?? Data()) } catch {
            throw NPYError("cannot read \(path): \(error.localizedDescription)")
        }
    }

    /// Writes a `.npy` file atomically: a partly written file never appears under `path`.
    public static func write<T: BinaryFloatingPoint>(_ values: [T], shape: [Int], to path: String,
                                                     dtype: NPYDType = .float32) throws {
        try Data(encode(values, shape: shape, dtype: dtype)).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// The text after `'key':` up to the next top-level comma (or the closing parenthesis of a tuple).
    private static func field(_ key: String, in header: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\""),
              let colon = header[keyRange.upperBound...].firstIndex(of: ":") else { return nil }
        let rest = header[header.index(after: colon)...].drop { $0 == " " }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[rest.startIndex...close])
        }
        return String(rest.prefix { $0 != "," && $0 != "}" })
    }

    private static func parseShape(_ text: String, name: String) throws(NPYError) -> [Int] {
        let inner = text.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
        var dims = [Int]()
        for part in inner.split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let d = Int(trimmed), d >= 0 else {
                throw NPYError("\(name) has an unreadable shape \(text): each dimension must be a whole number from 0 to \(Int.max)")
            }
            dims.append(d)
        }
        return dims
    }
}

/// What a `.npy` header declares, sizes checked.
public struct NPYHeader: Sendable, Equatable {
    /// The array's shape, C order.
    public var shape: [Int]
    /// The element type.
    public var dtype: NPYDType
    /// Bytes before the payload (magic, version, header).
    public var dataOffset: Int
    /// Elements, the product of `shape` (at most `SizeLimits.maxTensorElements`).
    public var count: Int

    /// Bytes of the payload, `count · dtype size` (cannot overflow: `count` is bounded).
    public var dataBytes: Int { count * dtype.size }

    /// Checks that a file of `length` bytes holds exactly this header's payload.
    /// - Throws: `NPYError` naming the file, the bytes it holds and the bytes the shape needs.
    public func requireFileLength(_ length: Int, name: String) throws(NPYError) {
        let available = length - dataOffset
        guard available == dataBytes else {
            throw NPYError("\(name) holds \(available) data bytes but its shape \(shape) of \(dtype.rawValue) needs \(dataBytes): the file is truncated or corrupt")
        }
    }
}

extension NPYArray {
    /// Checks that every value is finite.
    /// - Throws: `NPYError` naming `name`, the first non-finite value and its index, e.g.
    ///   `q.npy holds nan at [3, 0, 7]`.
    public func requireFinite(name: String) throws(NPYError) {
        guard let i = values.firstIndex(where: { !$0.isFinite }) else { return }
        var index = [Int](repeating: 0, count: shape.count), rest = i
        for d in shape.indices.reversed() where shape[d] > 0 {
            index[d] = rest % shape[d]
            rest /= shape[d]
        }
        throw NPYError("\(name) holds \(values[i]) at index \(index) (element \(i)); inputs must be finite")
    }
}
