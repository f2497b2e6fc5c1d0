import Foundation
import XCTest

/// An attention problem whose every output is known exactly, for end-to-end placement
/// tests through `spsim run --inputs … --save …`.
///
/// Query i points at a target token t(i): q_i = (t(i), 1, 0, …) and k_j = (2B·j, −B·j², 0, …),
/// so q_i·k_j = B·(t² − (j − t)²) is an integer, largest at j = t and at least B lower
/// anywhere else. With B·scale ≥ 128 every other weight is exactly 0 in float32, so
/// `o_i = v_{t(i)}` and `lse_i = scale·B·t(i)²` exactly; v and dO encode
/// (token, head, channel) as integers, so `dv_j = Σ_{i: t(i) = j} Σ_{h → j's head} dO_i`
/// exactly and `dq = dk = 0` exactly (dS = P∘(dP − D) vanishes in exact integer
/// arithmetic). A block of o, lse or dv landing one row or one head off is caught exactly.
struct OneHotAttention {
    var tokens: Int
    var heads: Int
    var kvHeads: Int
    var causal: Bool
    let dim = 4
    let sharpness: Float = 256  // B; scale = 1/sqrt(4) = 1/2, so the margin is 128

    /// Non-causal: a scattered target anywhere; causal: a target at or before the query.
    func target(_ i: Int) -> Int { causal ? i / 2 + (i % 3 == 0 ? i / 2 : 0) : (5 * i + 3) % tokens }

    private func tensor(_ heads: Int, _ value: (Int, Int, Int) -> Float) -> [Float] {
        var out = [Float]()
        for t in 0..<tokens { for h in 0..<heads { for c in 0..<dim { out.append(value(t, h, c)) } } }
        return out
    }

    var q: [Float] { tensor(heads) { i, _, c in c == 0 ? Float(target(i)) : c == 1 ? 1 : 0 } }
    var k: [Float] { tensor(kvHeads) { j, _, c in c == 0 ? 2 * sharpness * Float(j) : c == 1 ? -sharpness * Float(j * j) : 0 } }
    var v: [Float] { tensor(kvHeads) { j, g, c in Float((j * kvHeads + g) * dim + c) } }
    var dO: [Float] { tensor(heads) { i, h, c in Float((i * heads + h) * dim + c + 1) } }

    var expectedO: [Float] { tensor(heads) { i, h, c in Float((target(i) * kvHeads + h / (heads / kvHeads)) * dim + c) } }
    var expectedLSE: [Float] {
        (0..<tokens).flatMap { i in (0..<heads).map { _ in sharpness / 2 * Float(target(i) * target(i)) } }
    }
    var expectedDV: [Float] {
        var out = [Float](repeating: 0, count: tokens * kvHeads * dim)
        let group = heads / kvHeads
        for i in 0..<tokens {
            for h in 0..<heads {
                for c in 0..<dim { out[(target(i) * kvHeads + h / group) * dim + c] += Float((i * heads + h) * dim + c + 1) }
            }
        }
        return out
    }

    /// Writes q, k, v, do into `directory`.
    func write(to directory: String) throws {
        try NPYFile.write(q, shape: [tokens, heads, dim], to: "\(directory)/q.npy")
        try NPYFile.write(k, shape: [tokens, kvHeads, dim], to: "\(directory)/k.npy")
        try NPYFile.write(v, shape: [tokens, kvHeads, dim], to: "\(directory)/v.npy")
        try NPYFile.write(dO, shape: [tokens, heads, dim], to: "\(directory)/do.npy")
    }
}

/// Reads and writes little-endian float32 `.npy` files (independent of the Reports module).
enum NPYFile {
    static func write(_ values: [Float], shape: [Int], to path: String) throws {
        var bytes = NPYBytes.header(descr: "<f4", shape: shape)
        for x in values { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes += $0 } }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// The shape and values of a `<f4` file.
    static func read(_ path: String) throws -> (shape: [Int], values: [Float]) {
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        let header = String(decoding: data[10 ..< 10 + headerLength], as: UTF8.self)
        guard header.contains("'<f4'"), let open = header.firstIndex(of: "("), let close = header.firstIndex(of: ")") else {
            throw CocoaError(.fileReadCorruptFile)
        }
        let shape = header[header.index(after: open) ..< close].split(separator: ",")
            .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        var values = [Float]()
        var i = 10 + headerLength
        while i + 4 <= data.count {
            values.append(Float(bitPattern: UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16
                | UInt32(data[i + 3]) << 24))
            i += 4
        }
        return (shape, values)
    }
}

/// Runs `strategy` on the one-hot problem and asserts every saved output exactly.
func assertOneHotExact(strategy: String, layout: String, problem: OneHotAttention, ranks: Int,
                       file: StaticString = #filePath, line: UInt = #line) throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spsim-onehot-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try problem.write(to: dir)
    let arguments = ["run", "--strategy", strategy, "--layout", layout, "--inputs", dir, "--save", "\(dir)/out",
                     "--backward", "--json"] + (problem.causal ? ["--causal"] : [])
    let run = try SPSimProcess.run(arguments, ranks: ranks)
    let context = "P=\(ranks) \(arguments.joined(separator: " ")) H=\(problem.heads) G=\(problem.kvHeads)"
    XCTAssertEqual(run.status, 0, "\(context)\n\(run.stderr)", file: file, line: line)
    guard run.status == 0 else { return }
    func load(_ name: String) throws -> [Float] { try NPYFile.read("\(dir)/out/\(name).npy").values }
    let n = problem.tokens, h = problem.heads, g = problem.kvHeads, d = problem.dim
    XCTAssertEqual(try NPYFile.read("\(dir)/out/o.npy").shape, [n, h, d], context, file: file, line: line)
    for (name, expected) in [("o", problem.expectedO), ("lse", problem.expectedLSE), ("dv", problem.expectedDV),
                             ("dq", [Float](repeating: 0, count: n * h * d)), ("dk", [Float](repeating: 0, count: n * g * d))] {
        let got = try load(name)
        XCTAssertEqual(got.count, expected.count, "\(name) \(context)", file: file, line: line)
        let wrong = zip(got, expected).enumerated().filter { $0.element.0 != $0.element.1 }
        XCTAssertTrue(wrong.isEmpty, "\(name): \(wrong.count) wrong elements, first at flat index "
                      + "\(wrong.first.map { "\($0.offset): got \($0.element.0), expected \($0.element.1)" } ?? "") \(context)",
                      file: file, line: line)
    }
}
