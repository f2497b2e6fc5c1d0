import Foundation
import XCTest

/// Bad input: one clear line, exit status 2 on every rank, no hang, no partial file.
final class BadInputTests: XCTestCase {
    private func assertRejected(_ arguments: [String], ranks: Int = 3, mentions needle: String,
                                file: StaticString = #filePath, line: UInt = #line) throws {
        try assertBadInput(arguments, ranks: ranks, mentions: [needle], timeoutSeconds: 20, file: file, line: line)
    }

    func testShapeAndNameErrors() throws {
        // SPCore names the quantity; the command line words it as the flag.
        try assertRejected(["run", "--seq-len", "0"], mentions: "--seq-len must be at least 1 (got 0)")
        try assertRejected(["run", "--heads", "2000000", "--kv-heads", "1"], ranks: 1,
                           mentions: "--heads 2000000 is above spsim's limit of 1048576 (2^20)")
        try assertRejected(["model", "--seq-len", "1G", "--heads", "1024", "--head-dim", "1024"], ranks: 1,
                           mentions: "--seq-len × --heads × --head-dim = 1073741824 × 1024 × 1024 = ")
        try assertRejected(["run", "--heads", "6", "--kv-heads", "4"], mentions: "--kv-heads 4 must divide --heads 6")
        try assertRejected(["run", "--strategy", "nonesuch"], mentions: "unknown --strategy nonesuch")
        try assertRejected(["run", "--layout", "diagonal"], mentions: "diagonal")
        try assertRejected(["run", "--layout", "zigzag", "--seq-len", "10"], mentions: "not divisible by 6")
        try assertRejected(["run", "--repeat", "0"], mentions: "--repeat")
        try assertRejected(["run", "--seq-len", "2"], ranks: 3, mentions: "every rank needs at least one token")
    }

    func testInputFileErrors() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try assertRejected(["run", "--inputs", dir], mentions: "q.npy")

        let shape = [12, 2, 4]
        let good = NPYBytes.float32(count: 12 * 2 * 4, shape: shape)
        for name in ["q", "k", "v"] { try Data(good).write(to: URL(fileURLWithPath: "\(dir)/\(name).npy")) }
        // A wrong shape: v with 3 heads where k has 2.
        try Data(NPYBytes.float32(count: 12 * 3 * 4, shape: [12, 3, 4])).write(to: URL(fileURLWithPath: "\(dir)/v.npy"))
        try assertRejected(["run", "--inputs", dir], mentions: "v.npy has shape [12, 3, 4]")
        // An integer dtype.
        try Data(NPYBytes.header(descr: "<i4", shape: shape) + [UInt8](repeating: 0, count: 12 * 2 * 4 * 4))
            .write(to: URL(fileURLWithPath: "\(dir)/v.npy"))
        try assertRejected(["run", "--inputs", dir], mentions: "<i4")
        // A truncated file.
        try Data(good.dropLast(5)).write(to: URL(fileURLWithPath: "\(dir)/v.npy"))
        try assertRejected(["run", "--inputs", dir], mentions: "truncated")
    }

    func testSaveIntoAFileWritesNothing() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/not-a-directory"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: path))
        try assertRejected(["run", "--seq-len", "16", "--save", path], mentions: "is a file")
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "keep me")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["not-a-directory"])
    }

    private func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spsim-bad-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// Minimal `.npy` writer for tests, independent of the Reports module.
enum NPYBytes {
    static func header(descr: String, shape: [Int]) -> [UInt8] {
        var text = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", ")),), }"
        while (10 + text.utf8.count + 1) % 64 != 0 { text += " " }
        text += "\n"
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(text.utf8.count & 0xFF), UInt8(text.utf8.count >> 8)] + Array(text.utf8)
    }

    static func float32(count: Int, shape: [Int]) -> [UInt8] {
        var bytes = header(descr: "<f4", shape: shape)
        for i in 0..<count { withUnsafeBytes(of: Float(i % 7) * 0.25 - 0.5) { bytes += $0 } }
        return bytes
    }
}
