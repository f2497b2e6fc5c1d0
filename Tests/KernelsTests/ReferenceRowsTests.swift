import XCTest
import Foundation
import CVectorMath
@testable import Kernels

/// The float64 row kernels of the attention reference (CVectorMath/reference_rows.c) at every
/// vector level this CPU runs (0 baseline, 1 AVX2 + FMA, 2 AVX-512), against Foundation.
final class ReferenceRowsTests: XCTestCase {
    private let levels = Array(0...Int(cpuVectorLevel)).map(Int32.init)

    /// spsim_reference_exp over `values` at `level`.
    private func referenceExp(_ values: [Double], level: Int32) -> [Double] {
        var out = values
        out.withUnsafeMutableBufferPointer { spsim_reference_exp(level, $0.baseAddress!, $0.count) }
        return out
    }

    func testReferenceExpWithinAnUlpOfFoundationOverTheRange() {
        // Every 2^40-th double by bit pattern in [−745.2, 709.79] (both signs, about 2·10^6
        // values), plus the multiples of ln2/2 and the integers, where range reduction is tight.
        var xs = [Double]()
        var bits = Double(745.2).bitPattern
        while bits >= 1 << 40 { xs.append(-Double(bitPattern: bits)); bits -= 1 << 40 }
        bits = 0
        while Double(bitPattern: bits) <= 709.78 { xs.append(Double(bitPattern: bits)); bits += 1 << 40 }
        for i in -2150...2048 { xs.append(Double(i) * M_LN2 / 2) }
        for i in -745...709 { xs.append(Double(i)) }
        for level in levels {
            var worstRelative = 0.0, worstAt = 0.0, worstSubnormal = 0.0
            for (x, got) in zip(xs, referenceExp(xs, level: level)) {
                let want = exp(x)
                if want >= Double.leastNormalMagnitude {
                    let relative = abs(got - want) / want
                    if relative > worstRelative { worstRelative = relative; worstAt = x }
                } else {
                    worstSubnormal = max(worstSubnormal, abs(got - want))
                }
            }
            // One ulp is 2^−52 ≈ 2.2e-16 relative at most; Foundation's own exp is within 0.5 ulp.
            XCTAssertLessThanOrEqual(worstRelative, 3.4e-16, "level \(level): worst at \(worstAt)")
            XCTAssertLessThanOrEqual(worstSubnormal, Double.leastNonzeroMagnitude, "level \(level)")
        }
    }

    func testReferenceExpEdgeCasesAndTails() {
        for level in levels {
            let edges = referenceExp([-.infinity, 0, -746, -1000, 710, 1000, 1, -1, 709.7], level: level)
            XCTAssertEqual(Array(edges[0..<6]), [0, 1, 0, 0, .infinity, .infinity], "level \(level)")
            XCTAssertEqual(edges[6], M_E, accuracy: 4.5e-16 * M_E, "level \(level)")
            XCTAssertEqual(edges[7], 1 / M_E, accuracy: 4.5e-16 / M_E, "level \(level)")
            XCTAssertEqual(edges[8], exp(709.7), accuracy: 4.5e-16 * exp(709.7), "level \(level)")
            // Every count from 0 to 19: the vector body and the masked tail.
            for count in 0..<20 {
                let xs = (0..<count).map { Double($0) * 0.37 - 3 }
                for (x, got) in zip(xs, referenceExp(xs, level: level)) {
                    XCTAssertEqual(got, exp(x), accuracy: 4.5e-16 * exp(x), "level \(level), count \(count)")
                }
            }
        }
    }

    func testReferenceSoftmaxRowMatchesTheDefinition() {
        for level in levels {
            for (count, visible) in [(1, 1), (7, 7), (19, 11), (64, 64), (300, 257), (37, 0)] {
                var row = (0..<count).map { j in sin(Double(j) * 1.3) * 9 }
                if count > 5 && visible > 5 { row[3] = -.infinity }  // a key masked inside the prefix
                let scores = Array(row[0..<visible])
                let top = scores.max() ?? -.infinity
                let sum = scores.reduce(0) { $0 + exp($1 - top) }
                let lse = row.withUnsafeMutableBufferPointer {
                    spsim_reference_softmax_row(level, $0.baseAddress!, visible, count)
                }
                guard visible > 0 else {
                    XCTAssertEqual(lse, -.infinity)
                    XCTAssertEqual(row, Array(repeating: 0, count: count))
                    continue
                }
                XCTAssertEqual(lse, top + log(sum), accuracy: 1e-14 * abs(top + log(sum)) + 1e-15, "level \(level)")
                for j in 0..<count {
                    let want = j < visible ? exp(scores[j] - top) / sum : 0
                    XCTAssertEqual(row[j], want, accuracy: 1e-15 * want, "level \(level), j \(j)")
                }
            }
            var masked: [Double] = [-.infinity, -.infinity, -.infinity, 4]
            let lse = masked.withUnsafeMutableBufferPointer { spsim_reference_softmax_row(level, $0.baseAddress!, 3, 4) }
            XCTAssertEqual(lse, -.infinity)
            XCTAssertEqual(masked, [0, 0, 0, 0])
        }
    }

    func testReferenceSoftmaxGradientRowMatchesTheDefinition() {
        for level in levels {
            for count in [1, 5, 8, 13, 100] {
                let p = (0..<count).map { j in Double(j % 7 + 1) / Double(4 * count) }
                var g = (0..<count).map { j in cos(Double(j) * 0.7) }
                let delta = zip(p, g).reduce(0) { $0 + $1.0 * $1.1 }
                let want = zip(p, g).map { $0 * ($1 - delta) }
                g.withUnsafeMutableBufferPointer {
                    spsim_reference_softmax_gradient_row(level, $0.baseAddress!, p, count, delta)
                }
                for j in 0..<count { XCTAssertEqual(g[j], want[j], accuracy: 1e-15, "level \(level), count \(count)") }
            }
        }
    }
}
