import XCTest

/// SimGrid-style model check: prints the hand-computed expectation beside the model's
/// value, then asserts they agree to `relative` (exactly when 0).
func expect(_ what: String, expected: Double, actual: Double, relative: Double = 1e-12,
            file: StaticString = #filePath, line: UInt = #line) {
    print("\(what): expected \(expected), actual \(actual)")
    let scale = max(abs(expected), abs(actual), 1e-300)
    XCTAssertLessThanOrEqual(abs(expected - actual) / scale, relative,
                             "\(what): expected \(expected), actual \(actual)", file: file, line: line)
}

/// Exact integer agreement, printed the same way.
func expect(_ what: String, expected: [Int], actual: [Int], file: StaticString = #filePath, line: UInt = #line) {
    print("\(what): expected \(expected), actual \(actual)")
    XCTAssertEqual(expected, actual, what, file: file, line: line)
}

/// Published-number check: prints both and asserts they agree within a factor.
func expectWithinFactor(_ what: String, published: Double, model: Double, factor: Double,
                        file: StaticString = #filePath, line: UInt = #line) {
    let ratio = model / published
    print("\(what): published \(published), model \(model), ratio \(String(format: "%.2f", ratio)) (allowed factor \(factor))")
    XCTAssertTrue(ratio <= factor && ratio >= 1 / factor,
                  "\(what): model \(model) is not within ×\(factor) of published \(published)", file: file, line: line)
}

/// The repository root (for Topologies/).
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()
