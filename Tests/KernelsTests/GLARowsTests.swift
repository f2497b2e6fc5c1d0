import XCTest
import CVectorMath
@testable import Kernels

/// The GLA chunk kernels' row work (CVectorMath/gla_rows.c) at every vector level this CPU runs
/// (0 baseline, 1 AVX2, 2 AVX-512): bit for bit the scalar products, for widths that are not a
/// multiple of any vector width.
final class GLARowsTests: XCTestCase {
    private let levels = Array(0...Int(cpuVectorLevel)).map(Int32.init)

    private func values(_ count: Int, seed: Int) -> [Float] {
        (0..<count).map { Float(($0 &* 7919 &+ seed &* 104_729) % 1000) / 1000 * 0.5 + 0.5 }
    }

    func testDecaysAreRunningProductsInTokenOrder() {
        for (length, width) in [(1, 3), (5, 19), (64, 64), (7, 33)] {
            let e = values(length * width, seed: length)
            var prefix = e, suffix = e
            for t in 0..<length {
                for c in 0..<width {
                    prefix[t * width + c] = t == 0 ? e[c] : prefix[(t - 1) * width + c] * e[t * width + c]
                }
            }
            for t in stride(from: length - 1, through: 0, by: -1) {
                for c in 0..<width {
                    suffix[t * width + c] = t == length - 1 ? 1 : suffix[(t + 1) * width + c] * e[(t + 1) * width + c]
                }
            }
            for level in levels {
                var p = [Float](repeating: .nan, count: e.count), s = p, total = [Float](repeating: .nan, count: width)
                spsim_gla_decays(level, e, length, width, &p, &s, &total)
                XCTAssertEqual(p, prefix, "prefix L=\(length) width=\(width) level \(level)")
                XCTAssertEqual(s, suffix, "suffix L=\(length) width=\(width) level \(level)")
                XCTAssertEqual(total, Array(prefix[(length - 1) * width ..< length * width]), "total level \(level)")
            }
        }
    }

    func testRowScalings() {
        let length = 6, width = 37, stride = 45
        let x = values(length * stride, seed: 1), factors = values(length * width, seed: 2)
        for level in levels {
            for factorStride in [width, 0] {
                var out = [Float](repeating: .nan, count: length * width)
                spsim_scale_rows(level, x, stride, length, width, factors, factorStride, &out)
                for t in 0..<length {
                    for c in 0..<width {
                        XCTAssertEqual(out[t * width + c], x[t * stride + c] * factors[t * factorStride + c],
                                       "level \(level) factor stride \(factorStride) (\(t), \(c))")
                    }
                }
            }
            var rows = x
            let scalars = values(length, seed: 3)
            spsim_scale_each_row(level, &rows, stride, length, width, scalars)
            for t in 0..<length {
                XCTAssertEqual(Array(rows[t * stride ..< t * stride + width]),
                               x[t * stride ..< t * stride + width].map { $0 * scalars[t] }, "level \(level) row \(t)")
                XCTAssertEqual(Array(rows[t * stride + width ..< t * stride + stride]),
                               Array(x[t * stride + width ..< t * stride + stride]), "past the width: untouched")
            }
        }
    }

    func testExpRowsIsTheShiftedSumExpReadInPlace() {
        let rows = 5, width = 21, stride = 30
        let x = values(rows * stride, seed: 4).map { ($0 - 0.75) * 200 }  // about −50 … 50
        for level in levels {
            var out = [Float](repeating: .nan, count: rows * width)
            spsim_exp_rows(level, x, stride, rows, width, &out)
            for r in 0..<rows {
                var expected = Array(x[r * stride ..< r * stride + width])
                _ = spsim_exp_shifted_sum(level, &expected, width, 0)
                XCTAssertEqual(Array(out[r * width ..< (r + 1) * width]), expected, "level \(level) row \(r)")
            }
        }
    }
}
