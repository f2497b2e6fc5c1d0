import XCTest
import SequenceParallel
@testable import Training

final class TokenDataTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("spsim-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// A version 1.0 `.npy` header for a 1-D array.
    func npy(_ descr: String, count: Int, data: [UInt8]) -> [UInt8] {
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(count),), }"
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
            + Array(header.utf8) + data
    }

    func testTextWindowsFollowOneAnotherAndWrap() throws {
        let data = try TokenData.load(try file("t.txt", Array("abcdefg".utf8)), vocabulary: 256, minimumTokens: 4)
        XCTAssertEqual(data.window(step: 0, length: 4), [97, 98, 99, 100])
        XCTAssertEqual(data.window(step: 1, length: 4), [100, 101, 102, 103])
        XCTAssertEqual(data.window(step: 2, length: 4), [103, 97, 98, 99])
        XCTAssertEqual(data.unigramEntropy, log(7), accuracy: 1e-12)
    }

    func testTokenFiles() throws {
        let ids: [Int64] = [0, 300, 2, 70_000 % 1000]
        let i8 = ids.flatMap { v in (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        XCTAssertEqual(try TokenData.load(try file("a.npy", npy("<i8", count: 4, data: i8)), vocabulary: 1024,
                                          minimumTokens: 4).tokens, [0, 300, 2, 0])
        let u2: [UInt8] = [1, 0, 0xFF, 0xFF]
        XCTAssertEqual(try TokenData.load(try file("b.bin", u2), vocabulary: 70_000, minimumTokens: 2).tokens, [1, 65_535])
        XCTAssertEqual(try TokenData.load(try file("c.npy", npy("<u2", count: 2, data: u2)), vocabulary: 70_000,
                                          minimumTokens: 2).tokens, [1, 65_535])
    }

    func testBadInput() throws {
        func refuses(_ path: String, vocabulary: Int = 256, minimum: Int = 2, mentions needle: String) {
            XCTAssertThrowsError(try TokenData.load(path, vocabulary: vocabulary, minimumTokens: minimum)) {
                XCTAssertTrue(($0 as? InputError)?.message.contains(needle) ?? false, "\($0) should mention \(needle)")
            }
        }
        refuses(directory.appendingPathComponent("missing").path, mentions: "no such file")
        refuses(directory.path, mentions: "is a directory")
        refuses(try file("empty.txt", []), mentions: "empty")
        refuses(try file("short.txt", [65, 66]), minimum: 5, mentions: "has 2 tokens")
        refuses(try file("f.npy", npy("<f4", count: 1, data: [0, 0, 128, 63])), mentions: "not floats")
        refuses(try file("big.bin", [0, 1]), vocabulary: 256, mentions: "outside the vocabulary")
        refuses(try file("odd.bin", [0, 1, 2]), mentions: "odd")
        refuses(try file("neg.npy", npy("<i2", count: 1, data: [0xFF, 0xFF])), mentions: "outside the vocabulary")
    }
}
