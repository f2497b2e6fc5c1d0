import Kernels
import SequenceParallel
import SPCore
import XCTest

/// Sizes from the command line: every dimension and every product checked, overflow included.
final class SizeLimitsTests: XCTestCase {
    func testProductsReportOverflow() {
        XCTAssertEqual(SizeLimits.product([1 << 20, 1 << 20, 1 << 4]), 1 << 44)
        XCTAssertNil(SizeLimits.product([1 << 40, 1 << 40]))
        XCTAssertNil(SizeLimits.product([Int.max, 2]))
        XCTAssertNil(SizeLimits.product([-1, 2]))
        XCTAssertNil(SizeLimits.sum([Int.max, 1]))
        XCTAssertEqual(SizeLimits.describe(1 << 20), "1048576 (2^20)")
    }

    private func message(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch { return (error as? InputError)?.message ?? "not an InputError: \(error)" }
    }

    func testErrorsNameQuantitiesForTheReaderToWord() throws {
        let problem = AttentionProblem(seqLen: 8, heads: 6, kvHeads: 4, headDim: 8, isCausal: false)
        XCTAssertThrowsError(try problem.validate()) { error in
            let words = (error as? InputError)?.words
            XCTAssertEqual(words?.parts.first, .quantity(.kvHeads))
            XCTAssertEqual(words?.text { "<\($0)>" }, "<kvHeads> 4 must divide <heads> 6: each KV head serves H/G query heads")
        }
        XCTAssertEqual(InputError("plain words").message(naming: { _ in "never" }), "plain words")
    }

    func testSoftmaxProblemsNameTheQuantityAndTheLimit() {
        let p = { (n: Int, h: Int, g: Int, d: Int) in AttentionProblem(seqLen: n, heads: h, kvHeads: g, headDim: d, isCausal: false) }
        XCTAssertEqual(message { try p(1 << 41, 8, 8, 64).validate() },
                       "N 2199023255552 is above spsim's limit of 1099511627776 (2^40)")
        XCTAssertEqual(message { try p(16, 1 << 40, 1, 1 << 40).validate() },
                       "H 1099511627776 is above spsim's limit of 1048576 (2^20)")
        XCTAssertEqual(message { try p(1_000_000_000_000, 8, 8, 64).validate() },
                       "N × H × D = 1000000000000 × 8 × 64 = 512000000000000 elements per tensor, above spsim's limit of 17592186044416 (2^44)")
        XCTAssertEqual(message { try p(1 << 40, 1 << 20, 1, 1 << 20).validate() },
                       "N × H × D = 1099511627776 × 1048576 × 1048576 overflows a 64-bit integer; elements per tensor must be at most 17592186044416 (2^44)")
        XCTAssertEqual(message { try p(-5, 8, 8, 64).validate() }, "N must be at least 1 (got -5)")
        XCTAssertEqual(message { try p(16, 8, 8, 64).validate() }, "")
    }

    func testLinearProblemsNameTheQuantityAndTheLimit() {
        XCTAssertEqual(message { try LinearAttentionProblem(seqLen: 16, heads: 1 << 62, keyDim: 4, valueDim: 4).validate() },
                       "H 4611686018427387904 is above spsim's limit of 1048576 (2^20)")
        XCTAssertTrue(message { try LinearAttentionProblem(seqLen: 4, heads: 1 << 20, keyDim: 1 << 20, valueDim: 1).validate() }
            .contains("elements of the GLA state"))
        XCTAssertEqual(message { try LinearAttentionProblem(seqLen: 16, heads: 2, keyDim: 8, valueDim: 6).validate() }, "")
    }
}
