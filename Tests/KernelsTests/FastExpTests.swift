import XCTest
import Foundation
@testable import Kernels
import TestSupport
import COpenBLAS

final class FastExpTests: XCTestCase {
    func testRelativeErrorOverTheFloatRange() {
        // Every 331st float in [-87, 88] (by bit pattern, both signs), plus the
        // integers and half-integers.
        var worst = 0.0, worstAt: Float = 0
        func check(_ x: Float) {
            let relative = abs(Double(fastExp(x)) - exp(Double(x))) / exp(Double(x))
            if relative > worst { worst = relative; worstAt = x }
        }
        var magnitude = Float(87).bitPattern
        while magnitude >= 331 {
            check(-Float(bitPattern: magnitude))
            magnitude -= 331
        }
        magnitude = 0
        while Float(bitPattern: magnitude) <= 88 {
            check(Float(bitPattern: magnitude))
            magnitude += 331
        }
        for i in -174...176 { check(Float(i) / 2) }
        XCTAssertLessThanOrEqual(worst, 2e-7, "worst at \(worstAt)")
    }

    /// The attention kernels' exponential on every vector unit the CPU has: within 4e-7 of
    /// e^(x − shift) (computed in float64 from the float32 difference, plus the rounding of the
    /// scaled exponent, at most |x − shift|·2⁻²⁴ relative), exactly 1 at the shift, 0 for −inf,
    /// every tail length, and the sum returned.
    func testSoftmaxExpOnEveryVectorUnit() {
        var random = TestRandom(seed: 11)
        for level in 0...spsim_cpu_vector_level() {
            var worst = 0.0
            for count in [1, 5, 15, 16, 17, 33, 64, 100] {
                let shift = Float(random.uniform(-30...30))
                var values = (0..<count).map { _ in shift + Float(random.uniform(-60...0)) }
                values[0] = shift
                if count > 2 { values[count - 1] = -.infinity }
                var out = values
                let sum = out.withUnsafeMutableBufferPointer { softmaxExp($0.baseAddress!, count: count, shift: shift, level: level) }
                XCTAssertEqual(out[0], 1, "level \(level): e^0")
                if count > 2 { XCTAssertEqual(out[count - 1], 0, "level \(level): e^-inf") }
                var total = 0.0
                for (x, y) in zip(values, out) where x != -.infinity {
                    let v = Double(x - shift), expected = exp(v)
                    let relative = abs(Double(y) - expected) / expected
                    worst = max(worst, relative - abs(v) * 0x1p-24)
                    total += Double(y)
                }
                XCTAssertEqual(Double(sum), total, accuracy: 1e-6 * total, "level \(level): sum")
            }
            XCTAssertLessThanOrEqual(worst, 4e-7, "level \(level)")
        }
    }

    func testEdgeCases() {
        XCTAssertEqual(fastExp(-Float.infinity), 0)
        XCTAssertEqual(fastExp(-1e30), 0)
        XCTAssertEqual(fastExp(-88), 0)
        XCTAssertEqual(fastExp(-1000), 0)
        XCTAssertEqual(fastExp(Float(0)), 1)
        XCTAssertEqual(fastExp(Float(-0.0)), 1)
        XCTAssertGreaterThan(fastExp(-87), 0)
        let tiny = fastExp(-87.5)
        XCTAssertTrue(tiny >= 0 && tiny < 1.2e-38 && !tiny.isNaN)
        XCTAssertEqual(Double(fastExp(1)), M_E, accuracy: 1e-6)
    }

    func testBufferVersionsMatchTheScalarOneIncludingTails() {
        withEvery([0, 1, 15, 16, 17, 37, 256]) { count in
            var values = (0..<count).map { Float($0) * -0.37 + 3 }
            let input = values
            fastExp(&values)
            for (x, e) in zip(input, values) { XCTAssertEqual(e, fastExp(x)) }

            // Shifted form with masked (-inf) entries: e^(x − shift), and the sum.
            var shifted = input.enumerated().map { $0.offset % 5 == 4 ? -Float.infinity : $0.element }
            let masked = shifted
            let sum = shifted.withUnsafeMutableBufferPointer { b in
                fastExpShifted(b.baseAddress ?? UnsafeMutablePointer(bitPattern: 16)!, count: count, shift: 3)
            }
            var expected = 0.0
            for (x, e) in zip(masked, shifted) {
                let reference = exp(Double(x) - 3)
                expected += reference
                XCTAssertEqual(Double(e), reference, accuracy: 2e-7 * reference + 1e-30)
            }
            XCTAssertEqual(Double(sum), expected, accuracy: 1e-6 * max(expected, 1))
        }
    }

    func testEveryVectorUnitGivesTheSwiftResultsBitForBit() {
        // SSE2 always; AVX2 and AVX-512 where this CPU has them (the C kernels of CVectorMath).
        let input = (0..<300).map { $0 % 7 == 6 ? -Float.infinity : Float($0) * -0.61 + 40 }
        for level in 0...cpuVectorLevel {
            for count in [0, 1, 16, 37, 300] {
                var values = Array(input[..<count])
                _ = values.withUnsafeMutableBufferPointer { b in
                    fastExpShifted(b.baseAddress ?? UnsafeMutablePointer(bitPattern: 16)!, count: count, shift: 1.5, level: level)
                }
                for (x, e) in zip(input, values) {
                    XCTAssertEqual(e.bitPattern, fastExp(x - 1.5).bitPattern, "level \(level), x \(x)")
                }
            }
        }
    }
}
