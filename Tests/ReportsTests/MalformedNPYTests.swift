import Foundation
import Kernels
import SPCore
import TestSupport
import XCTest

@testable import Reports

/// A generated sweep of malformed `.npy` files (fixed seed): the reader never traps and
/// never allocates what a header merely declares — every file either decodes to exactly
/// its declared shape or is refused with an `NPYError` naming it.
final class MalformedNPYTests: XCTestCase {
    /// A header with arbitrary `descr` and shape text, padded as numpy pads it.
    static func file(descr: String = "<f4", shape: String, version: UInt8 = 1, payload: Int) -> [UInt8] {
        var text = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        while (12 + text.utf8.count + 1) % 64 != 0 { text += " " }
        text += "\n"
        let n = text.utf8.count
        let length: [UInt8] = version == 1 ? [UInt8(n & 0xFF), UInt8(n >> 8)] : (0..<4).map { UInt8((n >> (8 * $0)) & 0xFF) }
        return [0x93] + Array("NUMPY".utf8) + [version, 0] + length + Array(text.utf8) + [UInt8](repeating: 0, count: payload)
    }

    /// Shape texts a careless or hostile writer might produce.
    static let shapes = ["(4, 2, 2)", "(4611686018427387904, 2, 8)", "(9223372036854775807,)", "(9223372036854775808, 1)",
                         "(-1, 2)", "(1099511627776, 1099511627776, 8)", "()", "(0, 3)", "(4, 2, 2", "4, 2, 2)", "(a, b)",
                         "(" + Array(repeating: "1", count: 40).joined(separator: ", ") + ")", "(3, , 2)", "(1e3, 2)",
                         "(17592186044416, 1)", "(17592186044417, 1)", "(2, 2)"]

    /// A random mutation of a valid file: flipped bytes, a truncation, a wrong length field,
    /// a foreign shape or descr, another version byte.
    static func mutant(_ random: inout TestRandom) -> [UInt8] {
        let shape = shapes[Int(random.next() % UInt64(shapes.count))]
        let descr = ["<f4", "<f8", "<f4", "<i4", ">f4", "|b1", "<f2", "'", ""][Int(random.next() % 9)]
        let version = [1, 2, 3, 1, 4, 0][Int(random.next() % 6)]
        // Half the files carry exactly the payload a small, readable shape declares.
        let declared = shape == "(4, 2, 2)" ? 16 : shape == "(2, 2)" ? 4 : shape == "(0, 3)" || shape == "()" ? (shape == "()" ? 1 : 0) : nil
        let size = descr == "<f8" ? 8 : 4
        let payload = random.next() % 2 == 0 ? (declared.map { $0 * size } ?? 0) : Int(random.next() % 80)
        var bytes = file(descr: descr, shape: shape, version: UInt8(version), payload: payload)
        switch random.next() % 6 {
        case 0:  // flip a few bytes anywhere
            for _ in 0..<(1 + random.next() % 4) { bytes[Int(random.next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: random.next()) }
        case 1:  // truncate
            bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count))))
        case 2:  // an absurd header length (version 2/3 fields hold up to 2^32 − 1)
            if bytes.count > 11 { for i in 8..<12 { bytes[i] = UInt8(truncatingIfNeeded: random.next()) } }
        default:
            break
        }
        return bytes
    }

    func testEveryMalformedFileIsRefusedOrDecodedExactly() throws {
        var random = TestRandom(seed: 20261130)
        var refused = 0, decoded = 0
        for i in 0..<3000 {
            let bytes = Self.mutant(&random)
            do {
                let array = try NPY.decode(bytes, name: "case\(i).npy")
                XCTAssertEqual(array.values.count, SizeLimits.product(array.shape), "case \(i)")
                decoded += 1
            } catch {
                XCTAssertTrue(error.message.contains("case\(i).npy") || error.message.contains("case\(i)"), error.message)
                refused += 1
            }
        }
        // The sweep must exercise both outcomes, or it tests nothing.
        XCTAssertGreaterThan(refused, 1000)
        XCTAssertGreaterThan(decoded, 10)
    }

    /// From disk the header is checked against the file's length before the payload is
    /// read; `readHeader` and `read` agree with `decode` on every mutant.
    func testReadingFromDiskAgreesWithDecoding() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spsim-npy-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var random = TestRandom(seed: 7)
        for i in 0..<300 {
            let bytes = Self.mutant(&random), path = "\(dir)/m\(i).npy"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let fromMemory = Result { try NPY.decode(bytes, name: path) }
            let fromDisk = Result { try NPY.read(path) }
            switch (fromMemory, fromDisk) {
            case (.success(let a), .success(let b)): XCTAssertEqual(a, b)
            case (.failure(let a), .failure(let b)): XCTAssertEqual("\(a)", "\(b)", "case \(i)")
            default: XCTFail("case \(i): decode \(fromMemory) but read \(fromDisk)")
            }
        }
    }

    func testAbsurdShapesNameTheLimit() {
        for shape in ["(4611686018427387904, 2, 8)", "(1099511627776, 1099511627776, 8)", "(17592186044417, 1)"] {
            XCTAssertThrowsError(try NPY.decode(Self.file(shape: shape, payload: 0), name: "q.npy")) { error in
                XCTAssertTrue("\(error)".contains("q.npy declares shape"), "\(error)")
                XCTAssertTrue("\(error)".contains("limit of 17592186044416 (2^44)"), "\(error)")
            }
        }
        XCTAssertThrowsError(try NPY.decode(Self.file(shape: "(" + Array(repeating: "1", count: 40).joined(separator: ", ") + ")",
                                                      payload: 4), name: "q.npy")) { error in
            XCTAssertTrue("\(error)".contains("40 dimensions"), "\(error)")
        }
    }

    func testNonFiniteValuesAreNamedWithTheirIndex() throws {
        var values = [Float](repeating: 1, count: 2 * 3 * 4)
        values[1 * 12 + 2 * 4 + 1] = .infinity
        let array = try NPY.decode(NPY.encode(values, shape: [2, 3, 4]), name: "k.npy")
        XCTAssertThrowsError(try array.requireFinite(name: "k.npy")) { error in
            XCTAssertEqual("\(error)", "k.npy holds inf at index [1, 2, 1] (element 21); inputs must be finite")
        }
        XCTAssertNoThrow(try NPY.decode(NPY.encode([Float](repeating: 0, count: 6), shape: [2, 3]), name: "z").requireFinite(name: "z"))
    }
}
