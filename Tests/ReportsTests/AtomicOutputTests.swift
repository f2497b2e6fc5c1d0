import Foundation
import XCTest

@testable import Reports

/// Outputs all-or-nothing: checked up front, written beside the target, renamed into place.
final class AtomicOutputTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("spsim-atomic-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    private func entries(_ path: String? = nil) throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: path ?? dir))
    }

    private func put(_ text: String, _ name: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: "\(dir)/\(name)"))
    }

    private func assertRefused(_ body: () throws -> Void, mentions needle: String, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            XCTAssertTrue(error is OutputPathError, "\(error)", line: line)
            XCTAssertTrue("\(error)".contains(needle), "\(error) should mention \(needle)", line: line)
        }
    }

    func testUpFrontChecks() throws {
        try put("x", "file")
        assertRefused({ try AtomicOutput.checkDirectory("", option: "--save", expectedBytes: 1) }, mentions: "--save \"\"")
        assertRefused({ try AtomicOutput.checkDirectory("\(dir)/file", option: "--save", expectedBytes: 1) }, mentions: "is a file")
        assertRefused({ try AtomicOutput.checkDirectory("\(dir)/file/out", option: "--save", expectedBytes: 1) },
                      mentions: "is not a directory")
        assertRefused({ try AtomicOutput.checkDirectory("\(dir)/no/out", option: "--save", expectedBytes: 1) },
                      mentions: "does not exist")
        assertRefused({ try AtomicOutput.checkDirectory("/proc/spsim-x", option: "--save", expectedBytes: 1) },
                      mentions: "cannot create files in /proc")
        assertRefused({ try AtomicOutput.checkDirectory("\(dir)/out", option: "--save", expectedBytes: Int.max / 2) },
                      mentions: "free")
        assertRefused({ try AtomicOutput.checkFile("\(dir)", option: "--trace", expectedBytes: 1) }, mentions: "is a directory")
        assertRefused({ try AtomicOutput.checkFile("", option: "--trace", expectedBytes: 1) }, mentions: "--trace \"\"")
        try FileManager.default.createDirectory(atPath: "\(dir)/mine", withIntermediateDirectories: false)
        try put("notes", "mine/notes.txt")
        assertRefused({ try AtomicOutput.checkDirectory("\(dir)/mine", option: "--save", expectedBytes: 1) },
                      mentions: "notes.txt, which spsim did not write")
        XCTAssertNoThrow(try AtomicOutput.checkDirectory("\(dir)/out", option: "--save", expectedBytes: 1000))
        XCTAssertNoThrow(try AtomicOutput.checkFile("\(dir)/t.json", option: "--trace", expectedBytes: 1000))
        XCTAssertEqual(try entries(), ["file", "mine"], "the checks create nothing")
    }

    func testADirectoryIsReplacedNeverMerged() throws {
        let target = "\(dir)/out"
        try AtomicOutputDirectory(target, option: "--save").write { out in
            for name in ["o", "lse", "dq", "dk", "dv"] { try Data(name.utf8).write(to: URL(fileURLWithPath: out.path("\(name).npy"))) }
        }
        XCTAssertEqual(try entries(target), ["o.npy", "lse.npy", "dq.npy", "dk.npy", "dv.npy"])
        try AtomicOutputDirectory(target, option: "--save").write { out in
            for name in ["o", "lse"] { try Data("new \(name)".utf8).write(to: URL(fileURLWithPath: out.path("\(name).npy"))) }
        }
        XCTAssertEqual(try entries(target), ["o.npy", "lse.npy"])
        XCTAssertEqual(try String(contentsOfFile: "\(target)/o.npy", encoding: .utf8), "new o")
        XCTAssertEqual(try entries(), ["out"], "no temporaries left")
    }

    /// A failure halfway (a full disk, say) leaves the earlier outputs exactly as they were.
    func testAFailedWriteLeavesTheTargetAsItWas() throws {
        let target = "\(dir)/out"
        try AtomicOutputDirectory(target, option: "--save").write { out in
            try Data("old".utf8).write(to: URL(fileURLWithPath: out.path("o.npy")))
        }
        struct DiskFull: Error {}
        XCTAssertThrowsError(try AtomicOutputDirectory(target, option: "--save").write { out in
            try Data("new".utf8).write(to: URL(fileURLWithPath: out.path("o.npy")))
            throw DiskFull()
        }) { error in XCTAssertTrue("\(error)".contains("nothing was written"), "\(error)") }
        XCTAssertEqual(try entries(target), ["o.npy"])
        XCTAssertEqual(try String(contentsOfFile: "\(target)/o.npy", encoding: .utf8), "old")
        XCTAssertEqual(try entries(), ["out"])
    }

    func testAFileIsReplacedThroughATemporary() throws {
        try put("old", "trace.json")
        try AtomicOutput.writeFile(Data("new".utf8), to: "\(dir)/trace.json", option: "--trace")
        XCTAssertEqual(try String(contentsOfFile: "\(dir)/trace.json", encoding: .utf8), "new")
        XCTAssertEqual(try entries(), ["trace.json"])
        XCTAssertThrowsError(try AtomicOutput.writeFile(Data(), to: "\(dir)/none/t.json", option: "--trace"))
        XCTAssertEqual(try entries(), ["trace.json"])
    }

    /// Temporaries of a process that is gone are removed; those of a live one are kept.
    func testStaleTemporariesAreRemovedLiveOnesKept() throws {
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let host = AtomicOutput.hostName()
        let stale = ".out.spsim-partial.\(host).\(gone.processIdentifier).1"
        let live = ".out.spsim-partial.\(host).1.2"  // pid 1 always runs
        let otherHost = ".out.spsim-partial.elsewhere.\(gone.processIdentifier).3"
        for name in [stale, live, otherHost] {
            try FileManager.default.createDirectory(atPath: "\(dir)/\(name)", withIntermediateDirectories: false)
        }
        try AtomicOutputDirectory("\(dir)/out", option: "--save").write { _ in }
        XCTAssertEqual(try entries(), ["out", live, otherHost])
    }
}
