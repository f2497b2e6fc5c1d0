@testable import CostModel
import SPCore
import XCTest

/// The seeds' claims and the published measurements of docs/algorithms.md, reproduced on the
/// shipped topologies. Each test prints the published (or claimed) number beside the
/// model's and asserts agreement within the factor it states.
final class PublishedClaimsTests: XCTestCase {
    let catalog = TopologyCatalog(directories: [repositoryRoot + "/Topologies"])

    func predict(_ model: any StrategyModel.Type, _ w: Workload, ranks: Int, on topology: Topology) throws -> Prediction {
        try CostModel.predict(model, w, ranks: ranks, topology: topology).get()
    }

    /// GLA 1.3B as in fla and ZeCO's experiments: 4 heads, Dk = 256, Dv = 512, bf16 (a 1 MiB state).
    func gla13B(seqLen: Int) -> Workload {
        Workload(attention: .gla, seqLen: seqLen, heads: 4, headDim: 256, valueDim: 512, isCausal: true, elementBytes: 2)
    }

    /// Ulysses (arXiv 2309.14509 §3): per-link (per-rank) volume constant when N and P grow
    /// together; ring's per-rank volume grows with P instead.
    func testUlyssesVolumePerRankIsConstantWhenNAndPGrowTogether() throws {
        let t = try catalog.load("h100x32-ndr")
        var ulysses = [Double](), ring = [Double]()
        for p in [8, 16, 32, 64] {
            let w = Workload(seqLen: 16384 * p, heads: 64, kvHeads: 64, headDim: 128, isCausal: true, layout: .zigzag,
                             elementBytes: 2)
            ulysses.append(Double(try predict(UlyssesModel.self, w, ranks: p, on: t).forward.bytesSent.max()!))
            ring.append(Double(try predict(RingModel.self, w, ranks: p, on: t).forward.bytesSent.max()!))
        }
        print("ulysses forward bytes per rank, P = 8…64 with N = 16k·P: \(ulysses)")
        print("ring forward bytes per rank, same: \(ring)")
        // (P−1)/P·n·(2H·D·b + 2G·D·b + H·s): within the (P−1)/P factor, 7/8 to 63/64.
        expect("ulysses volume P=64 / P=8 = (63/64)/(7/8)", expected: (63.0 / 64) / (7.0 / 8), actual: ulysses[3] / ulysses[0],
               relative: 1e-9)
        expect("ring volume P=64 / P=8 = 63/7", expected: 9, actual: ring[3] / ring[0], relative: 1e-9)
    }

    /// Ring attention hides its transfer once a block's compute outlasts it:
    /// n ≥ (b/2)·(G/H)·F/B. docs/algorithms.md: about 1.6k tokens per rank on H100 NVLink, about
    /// 12k over NDR (bf16, MHA).
    func testRingExposedCommunicationVanishesAboveTheThreshold() throws {
        for (name, ranks, published) in [("hgx-h100", 8, 1600.0), ("h100x4-ndr", 32, 12000.0)] {
            let t = try catalog.load(name)
            let placement = Placement(topology: t, ranks: ranks)
            let bandwidth = placement.ringLevel.bytesPerSecond(forMessageOf: 1e9)
            let threshold = (2.0 / 2) * 1 * t.device.flopsPerSecond / bandwidth
            expectWithinFactor("\(name) ring overlap threshold n* (tokens per rank)", published: published,
                               model: threshold, factor: 1.5)
            func exposed(_ n: Int) throws -> (exposed: Double, comm: Double) {
                let w = Workload(seqLen: n * ranks, heads: 32, headDim: 128, isCausal: false, elementBytes: 2)
                let m = try predict(RingModel.self, w, ranks: ranks, on: t)
                return (m.forward.maxExposedCommSeconds, m.forward.maxCommSeconds)
            }
            let below = try exposed(Int(threshold / 4)), above = try exposed(Int(threshold * 2))
            print("\(name): exposed at n*/4 \(below.exposed) s of \(below.comm) s; at 2n* \(above.exposed) s of \(above.comm) s")
            XCTAssertGreaterThan(below.exposed, 0.5 * below.comm, "below the threshold most of the transfer shows")
            expect("\(name) exposed at 2n*", expected: 0, actual: above.exposed)
        }
    }

    /// ZeCO: All-Scan's communication nearly flat in P, LASP-2's all-gather linear.
    func testAllScanIsNearlyFlatInPWhileLASP2GrowsLinearly() throws {
        let t = try catalog.load("h100x32-ndr")
        var zeco = [(p: Int, seconds: Double, bytes: Int)](), lasp2 = zeco
        for p in [8, 16, 32, 64, 128, 256] {
            let w = gla13B(seqLen: 8 << 20)
            let z = try predict(ZeCOModel.self, w, ranks: p, on: t), l = try predict(LASP2Model.self, w, ranks: p, on: t)
            zeco.append((p, z.forward.maxCommSeconds, z.forward.bytesSent.max()!))
            lasp2.append((p, l.forward.maxCommSeconds, l.forward.bytesSent.max()!))
        }
        for (z, l) in zip(zeco, lasp2) {
            print("P=\(z.p): All-Scan \(formatted(z.seconds)) (\(z.bytes) B/rank), LASP-2 all-gather \(formatted(l.seconds)) (\(l.bytes) B/rank)")
        }
        XCTAssertEqual(Set(zeco.map(\.bytes)).count, 1, "All-Scan sends one state per rank whatever P")
        let zecoGrowth = zeco.last!.seconds / zeco.first!.seconds, lasp2Growth = lasp2.last!.seconds / lasp2.first!.seconds
        print("growth from 8 to 256 GPUs: All-Scan ×\(zecoGrowth), LASP-2 ×\(lasp2Growth), P grew ×32")
        XCTAssertLessThan(zecoGrowth, 32.0.squareRoot() * 2, "All-Scan's per-rank wire time grows at most like K ∝ sqrt(P)")
        XCTAssertGreaterThan(lasp2Growth, 32 / 2, "LASP-2 grows about linearly in P")
    }

    /// ZeCO (arXiv 2507.01004, numbers from a summary): communication per layer, H100,
    /// All-Scan 0.226 ms vs all-gather 0.375 ms at 8 GPUs; 2.165 vs 8.514 ms at 256.
    /// The model's All-Scan is the pipelined chain with K*, the all-gather LASP-2's.
    /// Within a factor of 10: at 8 GPUs the model is about 8× below (1 MiB over NVLink is
    /// microseconds; the measurement must include overheads the α-β model lacks), at 256
    /// within about 2×. The ordering and the widening gap are reproduced.
    func testZeCOPublishedCommunicationTimes() throws {
        for (name, p, allScan, allGather) in [("hgx-h100", 8, 0.226e-3, 0.375e-3), ("h100x32-ndr", 256, 2.165e-3, 8.514e-3)] {
            let t = try catalog.load(name)
            let w = gla13B(seqLen: 16384 * p)
            let placement = Placement(topology: t, ranks: p)
            let k = ZeCOModel.blocks(w, on: placement)
            let scan = placement.pipelinedChainSeconds(bytes: Double(w.stateBytes), segments: k)
            let gather = try predict(LASP2Model.self, w, ranks: p, on: t).forward.maxCommSeconds
            expectWithinFactor("All-Scan P=\(p) (K=\(k))", published: allScan, model: scan, factor: 10)
            expectWithinFactor("all-gather P=\(p)", published: allGather, model: gather, factor: 10)
            XCTAssertLessThan(scan, gather, "All-Scan beats the all-gather at P=\(p)")
        }
    }

    /// TokenRing (repo README, Nsight): 4× A10 over PCIe, LLaMA2-7B attention (32 heads ×
    /// 128), 24 000 tokens: about 3.5 ms per step vs 7.6 ms for ring attention. Read as the
    /// communication of one step (one Q hop with its return vs one K/V hop), within 2.5×.
    func testTokenRingPublishedStep() throws {
        let t = try catalog.load("pcie-gen4-8gpu")
        let w = Workload(seqLen: 24000, heads: 32, headDim: 128, isCausal: false, elementBytes: 2)
        let ring = try predict(RingModel.self, w, ranks: 4, on: t), tokenRing = try predict(TokenRingModel.self, w, ranks: 4, on: t)
        let ringStep = ring.forward.maxCommSeconds / 3, tokenRingStep = tokenRing.forward.maxCommSeconds / 3
        expectWithinFactor("ring, one step's K/V transfer", published: 7.6e-3, model: ringStep, factor: 2.5)
        // TokenRing's Q and its return run in opposite directions at once: the step is the longer.
        let tokenRingDuplex = tokenRingStep / 2
        expectWithinFactor("token-ring, one step's Q hop ∥ return", published: 3.5e-3, model: tokenRingDuplex, factor: 2.5)
        expectWithinFactor("ring / token-ring per step", published: 7.6 / 3.5, model: ringStep / tokenRingDuplex, factor: 1.5)
    }

    /// USP (arXiv 2405.07719): 8× A100 NVLink, 128K tokens, 32 heads: Ulysses 15.9 it/s vs
    /// zigzag ring 13.2 it/s (whole-model iterations; attention is a part). Within 1.5× on
    /// the ratio of attention step times.
    func testUSPUlyssesVersusRingOnA100() throws {
        let t = try catalog.load("dgx-a100")
        let w = Workload(seqLen: 128 * 1024, heads: 32, headDim: 128, isCausal: true, layout: .zigzag, elementBytes: 2)
        let ulysses = try predict(UlyssesModel.self, w, ranks: 8, on: t), ring = try predict(RingModel.self, w, ranks: 8, on: t)
        expectWithinFactor("ring step / Ulysses step", published: 15.9 / 13.2, model: ring.maxStepSeconds / ulysses.maxStepSeconds,
                           factor: 1.5)
    }

    private func formatted(_ s: Double) -> String { String(format: "%.3g ms", s * 1e3) }
}
