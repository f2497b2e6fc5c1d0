import Foundation
import Kernels
import TestSupport
import SPCore
import XCTest

@testable import CostModel

/// Strict JSON and strict topology files: duplicate keys, absurd counts and a generated
/// sweep of malformed files (fixed seed) are refused with the key named, never a trap.
final class StrictJSONTests: XCTestCase {
    private func assertRefused(_ text: String, key: String, mentions needle: String, line: UInt = #line) {
        XCTAssertThrowsError(try StrictJSON.check(Data(text.utf8)), line: line) { error in
            guard let e = error as? StrictJSONError else { return XCTFail("\(error)", line: line) }
            XCTAssertEqual(e.key, key, "\(e)", line: line)
            XCTAssertTrue(e.problem.contains(needle), "\(e)", line: line)
        }
    }

    func testDuplicateKeysAreRefusedWithTheirPath() {
        assertRefused(#"{"a": 1, "a": 2}"#, key: "a", mentions: "duplicate key")
        assertRefused(#"{"levels": [{"bw": 1}, {"bw": 2, "bw": 3}]}"#, key: "levels[1].bw", mentions: "duplicate key")
        assertRefused(#"{"x": {"value": 1, "source": "s", "value": 1e20}}"#, key: "x.value", mentions: "duplicate key")
        assertRefused(#"{"a": 1, "\u0061": 2}"#, key: "a", mentions: "duplicate key")  // equal after unescaping
        XCTAssertNoThrow(try StrictJSON.check(Data(#"{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}"#.utf8)))
    }

    func testMalformedTextIsRefusedNotTrapped() {
        assertRefused(String(repeating: "[", count: 100_000), key: String(repeating: "[0]", count: 64), mentions: "deeper than 64")
        assertRefused(#"{"a": 1} x"#, key: "", mentions: "text after")
        assertRefused(#"{"a": 01}"#, key: "a", mentions: "expected ',' or '}'")
        assertRefused(#"{"a": "\x"}"#, key: "a", mentions: "unknown escape")
        assertRefused(#"{"a": tru}"#, key: "a", mentions: "unknown word")
        assertRefused("{\"a\": \"line\nbreak\"}", key: "a", mentions: "control character")
        assertRefused("", key: "", mentions: "ends where a value should start")
        XCTAssertNoThrow(try StrictJSON.check(Data(#" {"a": [1, -2.5e-3, true, null, "é\n\ud83d\ude00"]} "#.utf8)))
    }

    func testTopologyCountsAreBounded() throws {
        let text = Topology.toy.encodedJSON()
        for (from, to, needle) in [("\"nodes\": {\"value\": 1,", "\"nodes\": {\"value\": 1e20,", "nodes.value"),
                                   ("\"gpus_per_node\": {\"value\": 1024,", "\"gpus_per_node\": {\"value\": 9.3e18,", "gpus_per_node.value"),
                                   ("\"gpus_per_node\": {\"value\": 1024,", "\"gpus_per_node\": {\"value\": 1048577,", "gpus_per_node.value")] {
            let changed = text.replacingOccurrences(of: from, with: to)
            XCTAssertNotEqual(changed, text)
            XCTAssertThrowsError(try Topology.decode(Data(changed.utf8), file: "t.json")) { error in
                XCTAssertTrue("\(error)".contains(needle) && "\(error)".contains("limit"), "\(error)")
            }
        }
        // Each count within the limit, their product not.
        var big = Toys.twoLevel()
        big.nodes = Sourced(2048, source: "test")
        big.gpusPerNode = Sourced(1024, source: "test")
        XCTAssertThrowsError(try Topology.decode(Data(big.encodedJSON().utf8), file: "t.json")) { error in
            XCTAssertTrue("\(error)".contains("2048 nodes × 1024 gpus_per_node"), "\(error)")
        }
        let twice = text.replacingOccurrences(of: "\"placement\": \"block\",", with: "\"placement\": \"block\",\n  \"placement\": \"block\",")
        XCTAssertThrowsError(try Topology.decode(Data(twice.utf8), file: "t.json")) { error in
            XCTAssertEqual("\(error)".hasPrefix("t.json: placement: duplicate key"), true, "\(error)")
        }
    }

    /// Random edits of a valid topology file: every result decodes to a topology whose counts
    /// are within the limits, or is refused with a `TopologyError` naming the file.
    func testGeneratedMalformedTopologiesNeverTrap() {
        let valid = Toys.twoLevel().encodedJSON()
        let numbers = ["1e20", "-1", "0", "1e400", "9223372036854775807", "9223372036854775808", "1.5", "NaN", "\"8\"",
                       "true", "null", "[]", "{}", "1048577", "0.0000001", "-0"]
        var random = TestRandom(seed: 11)
        var accepted = 0, refused = 0
        for _ in 0..<1500 {
            var text = Array(valid.unicodeScalars)
            for _ in 0..<(1 + random.next() % 3) {
                let at = Int(random.next() % UInt64(text.count))
                switch random.next() % 6 {
                case 0: text.removeSubrange(at ..< min(text.count, at + Int(random.next() % 12)))
                case 1:  // duplicate a line
                    let lines = String(String.UnicodeScalarView(text)).split(separator: "\n", omittingEmptySubsequences: false)
                    var l = lines.map(String.init)
                    let i = Int(random.next() % UInt64(l.count))
                    l.insert(l[i], at: i)
                    text = Array(l.joined(separator: "\n").unicodeScalars)
                case 2:  // replace a number
                    if let start = text[at...].firstIndex(where: { $0.properties.numericType != nil }) {
                        var end = start
                        while end < text.count, "0123456789.e+-".unicodeScalars.contains(text[end]) { end += 1 }
                        text.replaceSubrange(start ..< end, with: numbers[Int(random.next() % UInt64(numbers.count))].unicodeScalars)
                    }
                case 3: text.insert(["{", "}", "[", "]", ",", ":", "\"", "\\"][Int(random.next() % 8)], at: at)
                case 4: text.insert(Unicode.Scalar(UInt8(truncatingIfNeeded: random.next() % 128)), at: at)
                default: break
                }
            }
            do {
                let t = try Topology.decode(Data(String(String.UnicodeScalarView(text)).utf8), file: "m.json")
                XCTAssertLessThanOrEqual(t.capacity, SizeLimits.maxRanks)
                accepted += 1
            } catch {
                XCTAssertEqual(error.file, "m.json")
                refused += 1
            }
        }
        XCTAssertGreaterThan(refused, 500)
        XCTAssertGreaterThan(accepted, 50)
    }

    func testSizeListsNeverOverflow() throws {
        let doubling = try SizeList.parse("1..9223372036854775807", option: "--ranks").get()
        XCTAssertEqual(doubling.count, 63)
        XCTAssertEqual(doubling.last, 1 << 62)
        XCTAssertEqual(try SizeList.parse("2..9223372036854775807*3", option: "--ranks").get().count, 40)  // 2·3^k for k = 0…39
        XCTAssertThrowsError(try SizeList.parse("1..9223372036854775807+1", option: "--ranks").get()) { error in
            XCTAssertTrue("\(error)".contains("more than 4096 values"), "\(error)")
        }
        XCTAssertThrowsError(try SizeList.parse("9223372036854775807k", option: "--seq-len").get())
        XCTAssertThrowsError(try SizeList.parse(Array(repeating: "1", count: 5000).joined(separator: ","), option: "--ranks").get())
    }

    func testWorkloadSizesAreBounded() {
        let w = Workload(seqLen: 1 << 40, heads: 1 << 20, headDim: 1 << 20, isCausal: false)
        XCTAssertTrue(w.shapeReason()?.contains("overflows a 64-bit integer") ?? false, "\(w.shapeReason() ?? "nil")")
        var gla = Workload(attention: .gla, seqLen: 4, heads: 1 << 20, headDim: 1 << 20, isCausal: true)
        XCTAssertTrue(gla.shapeReason()?.contains("elements of the GLA state") ?? false, "\(gla.shapeReason() ?? "nil")")
        gla.heads = 1
        gla.headDim = 64
        gla.elementBytes = 1 << 40
        XCTAssertTrue(gla.shapeReason()?.contains("--bytes-per-element") ?? false)
    }
}
