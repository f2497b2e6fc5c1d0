import XCTest
import Foundation
@testable import Kernels
import TestSupport

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
