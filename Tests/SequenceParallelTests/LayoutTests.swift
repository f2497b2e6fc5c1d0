import Kernels
import TestSupport
import XCTest

@testable import SequenceParallel

final class LayoutTests: XCTestCase {
    /// Every layout is a partition of 0..<N, and each rank's positions are what docs/design.md (exact semantics) says.
    func testLayoutsPartitionTheSequence() throws {
        withEvery([1, 2, 3, 4, 5, 8], [16, 40, 80]) { p, n in
            for kind in LayoutKind.allCases {
                guard case .success(let layout) = SequenceLayout.make(kind, tokens: n, ranks: p) else { continue }
                let all = layout.gatheredPositions
                XCTAssertEqual(all.sorted(), Array(0..<n), "\(kind) N=\(n) P=\(p)")
                XCTAssertEqual(layout.counts.reduce(0, +), n)
                for r in 0..<p { XCTAssertEqual(layout.positions(rank: r).count, layout.count(rank: r)) }
            }
        }
    }

    func testContiguousGivesExtraTokensToTheFirstRanks() {
        let layout = try! SequenceLayout.make(.contiguous, tokens: 11, ranks: 4).get()
        XCTAssertEqual(layout.counts, [3, 3, 3, 2])
        XCTAssertEqual(layout.positions(rank: 1), [3, 4, 5])
        XCTAssertEqual(layout.positions(rank: 3), [9, 10])
    }

    func testZigzagHoldsChunksRAndMirror() {
        let layout = try! SequenceLayout.make(.zigzag, tokens: 16, ranks: 4).get()
        XCTAssertEqual(layout.positions(rank: 0), [0, 1, 14, 15])
        XCTAssertEqual(layout.positions(rank: 3), [6, 7, 8, 9])
    }

    func testStripedDealsRoundRobin() {
        let layout = try! SequenceLayout.make(.striped, tokens: 12, ranks: 3).get()
        XCTAssertEqual(layout.positions(rank: 2), [2, 5, 8, 11])
    }

    func testUnsupportedSplitsExplainThemselves() {
        XCTAssertNotNil(SequenceLayout.unsupportedReason(.zigzag, tokens: 10, ranks: 3))
        XCTAssertNotNil(SequenceLayout.unsupportedReason(.striped, tokens: 10, ranks: 3))
        XCTAssertNotNil(SequenceLayout.unsupportedReason(.contiguous, tokens: 2, ranks: 3))
        XCTAssertNil(SequenceLayout.unsupportedReason(.contiguous, tokens: 10, ranks: 3))
    }

    /// Slicing encoded values by a layout and scattering them back lands every element exactly.
    func testEncodedValuesRoundTripThroughEveryLayout() {
        let n = 24, heads = 3, dim = 5
        let whole = Tensor32.encoded(positions: Array(0..<n), heads: heads, dim: dim)
        withEvery([1, 2, 3, 4]) { p in
            for kind in LayoutKind.allCases {
                guard case .success(let layout) = SequenceLayout.make(kind, tokens: n, ranks: p) else { continue }
                var rebuilt = Tensor32(tokens: n, heads: heads, dim: dim, repeating: -1)
                for r in 0..<p {
                    let positions = layout.positions(rank: r)
                    let slice = Tensor32.encoded(positions: positions, heads: heads, dim: dim)
                    XCTAssertEqual(slice, whole.gatherTokens(positions))
                    rebuilt.scatterTokens(slice, to: positions)
                }
                XCTAssertEqual(rebuilt, whole, "\(kind) P=\(p)")
            }
        }
    }

    func testGeneratedInputsArePureFunctionsOfTheirCoordinates() {
        let g = InputGenerator(seed: 42)
        let whole = g.tensor("q", positions: Array(0..<20), heads: 2, dim: 4)
        XCTAssertEqual(g.tensor("q", positions: [17, 3], heads: 2, dim: 4), whole.gatherTokens([17, 3]))
        XCTAssertNotEqual(g.tensor("k", positions: [3], heads: 2, dim: 4), whole.gatherTokens([3]))
        XCTAssertNotEqual(InputGenerator(seed: 43).tensor("q", positions: [3], heads: 2, dim: 4), whole.gatherTokens([3]))
        let gates = g.tensor("g", positions: Array(0..<50), heads: 2, dim: 4)
        XCTAssertTrue(gates.storage.allSatisfy { $0 < 0 && $0 >= -0.5 })
    }

    func testProblemValidation() {
        XCTAssertThrowsError(try AttentionProblem(seqLen: 0, heads: 1, kvHeads: 1, headDim: 1, isCausal: false).validate())
        XCTAssertThrowsError(try AttentionProblem(seqLen: 8, heads: 6, kvHeads: 4, headDim: 8, isCausal: false).validate())
        XCTAssertNoThrow(try AttentionProblem(seqLen: 8, heads: 6, kvHeads: 3, headDim: 8, isCausal: true).validate())
    }
}
