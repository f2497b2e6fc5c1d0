import Foundation

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

    /// Parses `.npy` bytes; `name` goes into error messages.
    public static func decode(_ bytes: [UInt8], name: String) throws(NPYError) -> NPYArray {
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
        let count = shape.reduce(1, *)
        let dataStart = headerStart + headerLength
        let available = bytes.count - dataStart
        guard available == count * dtype.size else {
            throw NPYError("\(name) holds \(available) data bytes but its shape \(shape) of \(descr) needs \(count * dtype.size): the file is truncated or corrupt")
        }
        var values = [Double](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            for i in 0..<count {
                let at = dataStart + i * dtype.size
                switch dtype {
                case .float32: values[i] = Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self))))
                case .float64: values[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self)))
                }
            }
        }
        return NPYArray(shape: shape, dtype: dtype, values: values)
    }

    /// Reads a `.npy` file.
    public static func read(_ path: String) throws(NPYError) -> NPYArray {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NPYError("cannot read \(path): no such file or not readable")
        }
        return try decode([UInt8](data), name: path)
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
            guard let d = Int(trimmed), d >= 0 else { throw NPYError("\(name) has an unreadable shape \(text)") }
            dims.append(d)
        }
        return dims
    }
}
