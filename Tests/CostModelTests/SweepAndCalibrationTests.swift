@testable import CostModel
import XCTest

/// Size lists, sweeps and the calibration fit.
final class SweepAndCalibrationTests: XCTestCase {
    func testSizeLists() throws {
        XCTAssertEqual(try SizeList.parse("8..256", option: "--ranks").get(), [8, 16, 32, 64, 128, 256])
        XCTAssertEqual(try SizeList.parse("2,3,5", option: "--ranks").get(), [2, 3, 5])
        XCTAssertEqual(try SizeList.parse("4..64*4", option: "--ranks").get(), [4, 16, 64])
        XCTAssertEqual(try SizeList.parse("1k..3k+1k", option: "--seq-len").get(), [1024, 2048, 3072])
        XCTAssertEqual(try SizeList.parse("8M", option: "--seq-len").get(), [8 << 20])
        for bad in ["", "0", "8..4", "x", "4..8*1", "1,,2", "-3"] {
            XCTAssertThrowsError(try SizeList.parse(bad, option: "--ranks").get(), bad)
        }
    }

    func testSweepVisitsEveryConfigurationAndNamesImpossibleOnes() {
        let w = Workload(seqLen: 1024, heads: 8, headDim: 64, isCausal: true)
        let sweep = Sweep(workload: w, topology: Toys.uniform,
                          strategies: [(AllGatherModel.self, [.contiguous, .zigzag])],
                          seqLens: [1024, 1000], ranks: [2, 8])
        let points = sweep.run()
        XCTAssertEqual(points.count, 8)
        XCTAssertEqual(sweep.count, 8)
        // zigzag needs 2P | N: 1000 is not a multiple of 16.
        let failed = points.filter { if case .failure = $0.result { true } else { false } }
        XCTAssertEqual(failed.map { "\($0.layout) \($0.seqLen) \($0.ranks)" }, ["zigzag 1000 8"])
    }

    func testFitRecoversLatencyAndBandwidth() throws {
        // t = 2 µs + m / 5 GB/s exactly.
        let samples = [0, 64, 1024, 16384, 262144, 4194304].map { (bytes: $0, seconds: 2e-6 + Double($0) / 5e9) }
        let fit = try XCTUnwrap(Calibration.fit(samples))
        expect("α", expected: 2e-6, actual: fit.latencySeconds, relative: 1e-9)
        expect("B", expected: 5e9, actual: fit.bytesPerSecond, relative: 1e-9)
        XCTAssertNil(try XCTUnwrap(Calibration.piecewiseFit(samples)).large, "one regime: no switch")
    }

    func testPiecewiseFitFindsTheRendezvousSwitch() throws {
        // Eager below 64 KiB: 1 µs + m / 2 GB/s; rendezvous from 64 KiB: 20 µs + m / 10 GB/s.
        let sizes = [0, 16, 256, 4096, 16384, 65536, 262144, 1 << 20, 4 << 20, 16 << 20]
        let samples = sizes.map { m in
            (bytes: m, seconds: m < 65536 ? 1e-6 + Double(m) / 2e9 : 20e-6 + Double(m) / 10e9)
        }
        let fit = try XCTUnwrap(Calibration.piecewiseFit(samples))
        XCTAssertEqual(fit.thresholdBytes, 65536)
        expect("eager α", expected: 1e-6, actual: fit.small.latencySeconds, relative: 1e-6)
        expect("eager B", expected: 2e9, actual: fit.small.bytesPerSecond, relative: 1e-6)
        expect("rendezvous α", expected: 20e-6, actual: try XCTUnwrap(fit.large).latencySeconds, relative: 1e-6)
        expect("rendezvous B", expected: 10e9, actual: try XCTUnwrap(fit.large).bytesPerSecond, relative: 1e-6)
    }

    func testRendezvousRegimeIsUsedFromItsThreshold() {
        var level = Toys.uniform.nodeLevel
        level.rendezvous = .init(thresholdBytes: Sourced(1000, source: "t"), bandwidthGBps: Sourced(10, source: "t"),
                                 latencyMicroseconds: Sourced(5, source: "t"))
        expect("below", expected: 1e-6 + 999e-9, actual: level.seconds(forMessageOf: 999))
        expect("from the threshold", expected: 5e-6 + 1000 / 10e9, actual: level.seconds(forMessageOf: 1000))
    }
}
