import XCTest
import TestSupport
@testable import Training

/// Checks an analytic gradient against central finite differences in float64:
/// `(L(x + h·eᵢ) − L(x − h·eᵢ)) / 2h` for every index (or `samples` evenly spread ones),
/// relative to the largest analytic entry.
func assertGradient(_ name: String, analytic: [Double], at x: [Double], samples: Int? = nil,
                    tolerance: Double = 1e-6, file: StaticString = #filePath, line: UInt = #line,
                    _ loss: ([Double]) throws -> Double) rethrows {
    XCTAssertEqual(analytic.count, x.count, "\(name): gradient size", file: file, line: line)
    let scale = max(analytic.map(abs).max() ?? 0, 1e-12)
    XCTAssertGreaterThan(scale, 1e-9, "\(name): the gradient is zero, so the check would prove nothing", file: file, line: line)
    let step = max(1, x.count / (samples ?? x.count))
    let h = 1e-5
    var worst = 0.0
    for i in stride(from: 0, to: x.count, by: step) {
        var plus = x, minus = x
        plus[i] += h
        minus[i] -= h
        let numeric = (try loss(plus) - loss(minus)) / (2 * h)
        worst = max(worst, abs(numeric - analytic[i]) / scale)
    }
    XCTAssertLessThan(worst, tolerance, "\(name): analytic vs finite differences", file: file, line: line)
}

/// `Σ r·y`: the scalar whose gradient with respect to `y` is `r`.
func dot(_ r: [Double], _ y: [Double]) -> Double { zip(r, y).reduce(0) { $0 + $1.0 * $1.1 } }

/// `count` values uniform in [−1, 1).
func randomValues(_ count: Int, seed: UInt64, range: ClosedRange<Double> = -1...1) -> [Double] {
    var random = TestRandom(seed: seed)
    return (0..<count).map { _ in random.uniform(range) }
}

/// A copy of `all` with the range `spec` occupies replaced by `values`.
func replacing(_ spec: ParameterSpec, in all: [Double], with values: [Double]) -> [Double] {
    var out = all
    out.replaceSubrange(spec.range, with: values)
    return out
}
