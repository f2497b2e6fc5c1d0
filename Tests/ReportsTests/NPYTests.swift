import Foundation
import XCTest

@testable import Reports

final class NPYTests: XCTestCase {
    func testRoundTripFloat32AndFloat64() throws {
        let values: [Float] = (0..<24).map { Float($0) * 0.5 - 3 }
        for dtype in [NPYDType.float32, .float64] {
            let bytes = NPY.encode(values, shape: [2, 3, 4], dtype: dtype)
            XCTAssertEqual((bytes.count - values.count * dtype.size) % 64, 0, "data starts on a 64-byte boundary")
            let back = try NPY.decode(bytes, name: "x.npy")
            XCTAssertEqual(back.shape, [2, 3, 4])
            XCTAssertEqual(back.dtype, dtype)
            XCTAssertEqual(back.float32, values)
        }
    }

    func testOneDimensionalShapeUsesATrailingComma() throws {
        let bytes = NPY.encode([Float(1), 2, 3], shape: [3])
        XCTAssertTrue(String(decoding: bytes, as: UTF8.self).contains("'shape': (3,)"))
        XCTAssertEqual(try NPY.decode(bytes, name: "a").shape, [3])
    }

    /// A header as numpy 2 writes it (version 1.0, no spaces after the dims' last comma).
    func testReadsNumpyWrittenHeader() throws {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 2), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8)
        for v: Float in [1, 2, 3, 4] { withUnsafeBytes(of: v) { bytes += $0 } }
        let a = try NPY.decode(bytes, name: "n.npy")
        XCTAssertEqual(a.shape, [2, 1, 2])
        XCTAssertEqual(a.values, [1, 2, 3, 4])
    }

    func testRejectsMalformedFiles() {
        let good = NPY.encode([Float](repeating: 1, count: 8), shape: [2, 2, 2])
        assertRejects(Array(good.dropLast(3)), "truncated")
        assertRejects(Array("not numpy at all".utf8), "magic")
        assertRejects(Array(good.prefix(20)), "truncated")
        assertRejects(replacing("<f4", with: "<i4", in: good), "<i4")
        assertRejects(replacing("<f4", with: ">f4", in: good), ">f4")
        assertRejects(replacing("False", with: "True ", in: good), "Fortran")
    }

    func testAtomicWriteLeavesNoPartialFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("o.npy").path
        try NPY.write([Float(1), 2], shape: [2], to: path)
        XCTAssertEqual(try NPY.read(path).values, [1, 2])
        XCTAssertThrowsError(try NPY.read(dir.appendingPathComponent("missing.npy").path))
    }

    /// `bytes` with the first occurrence of `old` replaced by `new` (same length).
    private func replacing(_ old: String, with new: String, in bytes: [UInt8]) -> [UInt8] {
        let o = Array(old.utf8), n = Array(new.utf8)
        var out = bytes
        for i in 0...(bytes.count - o.count) where Array(bytes[i..<(i + o.count)]) == o {
            out.replaceSubrange(i..<(i + o.count), with: n)
            return out
        }
        XCTFail("\(old) not found")
        return out
    }

    private func assertRejects(_ bytes: [UInt8], _ needle: String, line: UInt = #line) {
        XCTAssertThrowsError(try NPY.decode(bytes, name: "bad.npy"), line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(needle) && text.contains("bad.npy"), "\(text) should mention \(needle)", line: line)
        }
    }
}

final class TableTests: XCTestCase {
    func testColumnsAlignAndNumbersRightAlign() {
        var t = TextTable(columns: ["name", "value"])
        t.append(["a", "1"])
        t.append(["longer", "123"])
        XCTAssertEqual(t.render(), "name    value\n------  -----\na           1\nlonger    123\n")
    }

    func testUnitFormatting() {
        XCTAssertEqual(formatSeconds(0.00123), "1.23 ms")
        XCTAssertEqual(formatSeconds(2.5e-6), "2.5 µs")
        XCTAssertEqual(formatSeconds(1234.4), "1234 s")
        XCTAssertEqual(format3(2.5e6), "2.5e+06")
        XCTAssertEqual(formatBytes(2048), "2 KiB")
        XCTAssertEqual(formatBytes(100), "100 B")
    }
}
