@testable import CostModel
import XCTest

/// Toy topologies whose α-β numbers make every cost a hand calculation.
enum Toys {
    /// One level: α = 1 µs, 1 GB/s, 1 TFLOP/s, no launch cost.
    static let uniform = Topology.toy

    /// 4 nodes × 2 GPUs: inside a node α = 1 µs at 2 GB/s; between nodes α = 10 µs at
    /// 1 GB/s per NIC, one NIC per node; no launch cost.
    static func twoLevel(placement: RankPlacement = .block, nics: Double = 1) -> Topology {
        Topology(
            name: "toy-2level", description: "two-level toy", nodes: Sourced(4, source: "t"),
            gpusPerNode: Sourced(2, source: "t"), placement: placement,
            levels: [NetworkLevel(name: "in", scope: .node, bandwidthGBps: Sourced(2, source: "t"),
                                  efficiency: Sourced(1, source: "t"), latencyMicroseconds: Sourced(1, source: "t")),
                     NetworkLevel(name: "out", scope: .cluster, bandwidthGBps: Sourced(1, source: "t"),
                                  efficiency: Sourced(1, source: "t"), latencyMicroseconds: Sourced(10, source: "t"),
                                  nicsPerNode: Sourced(nics, source: "t"))],
            device: Device(name: "t", peakTFLOPs: Sourced(1, source: "t"), attentionEfficiency: Sourced(1, source: "t")),
            collectiveLaunchMicroseconds: Sourced(0, source: "t"))
    }
}

/// The α-β formulas of docs/algorithms.md (collective costs) on the toys, expected values computed by hand.
final class CollectivesTests: XCTestCase {
    let us = 1e-6, ns = 1e-9

    func testUniformToyIsTheTextbookFormulas() {
        let p = Placement(topology: Toys.uniform, ranks: 8)
        let m = 1000.0
        expect("send", expected: 1 * us + m * ns, actual: p.messageSeconds(m, from: 0, to: 5))
        expect("all-to-all pairwise (P−1)(α + mβ)", expected: 7 * (1 * us + m * ns), actual: p.allToAllSeconds(bytesPerPeer: m))
        expect("all-gather ring (P−1)(α + mβ)", expected: 7 * (1 * us + m * ns), actual: p.allGatherSeconds(bytesPerRank: m))
        expect("exscan recursive doubling ⌈log2 P⌉(α + mβ)", expected: 3 * (1 * us + m * ns), actual: p.exscanSeconds(bytes: m))
        expect("linear chain (P−1)(α + mβ)", expected: 7 * (1 * us + m * ns), actual: p.chainSeconds(bytes: m))
        expect("pipelined chain (P−2+K)(α + mβ/K), K=4", expected: 10 * (1 * us + m / 4 * ns),
               actual: p.pipelinedChainSeconds(bytes: m, segments: 4))
        let p5 = Placement(topology: Toys.uniform, ranks: 5)
        expect("exscan P=5: ⌈log2 5⌉ = 3 steps", expected: 3 * (1 * us + m * ns), actual: p5.exscanSeconds(bytes: m))
    }

    func testOptimalSegmentsIsSqrtOfPMinusTwoTimesMBetaOverAlpha() {
        // K* = sqrt((P−2)·m·β/α) = sqrt(6 · 1e6 ns / 1000 ns) = sqrt(6000) ≈ 77.5
        let p = Placement(topology: Toys.uniform, ranks: 8)
        let m = 1e6
        let k = p.optimalSegments(bytes: m, maxSegments: 1024)
        print("K*: expected ≈ 77.5, actual \(k)")
        XCTAssertTrue((77...78).contains(k), "\(k)")
        let best = p.pipelinedChainSeconds(bytes: m, segments: k)
        for other in [1, 8, 32, 200, 1024] { XCTAssertLessThanOrEqual(best, p.pipelinedChainSeconds(bytes: m, segments: other)) }
        XCTAssertEqual(p.optimalSegments(bytes: m, maxSegments: 16), 16, "clamped to the rows available")
    }

    func testMessagesArePricedAtTheOutermostLevelTheyCross() {
        let p = Placement(topology: Toys.twoLevel(), ranks: 8)
        XCTAssertEqual((0..<8).map(p.node(of:)), [0, 0, 1, 1, 2, 2, 3, 3])
        expect("same node", expected: 1 * us + 2000 * ns / 2, actual: p.messageSeconds(2000, from: 2, to: 3))
        expect("across nodes", expected: 10 * us + 2000 * ns, actual: p.messageSeconds(2000, from: 1, to: 2))
        let rr = Placement(topology: Toys.twoLevel(placement: .roundRobin), ranks: 8)
        XCTAssertEqual((0..<8).map(rr.node(of:)), [0, 1, 2, 3, 0, 1, 2, 3])
        expect("round-robin 0→4 share a node", expected: 1 * us + 2000 * ns / 2, actual: rr.messageSeconds(2000, from: 0, to: 4))
    }

    func testAllToAllAcrossNodesIsCappedByEachGPUsNICShare() {
        // P = 8, g = 2: one peer on the node at 2 GB/s, six off the node through a NIC
        // shared by two GPUs (0.5 GB/s each): (g−1)·α_in + (P−g)·α_out + max(1·m/2, 6·m/0.5).
        let p = Placement(topology: Toys.twoLevel(), ranks: 8)
        let m = 1000.0
        expect("all-to-all, 1 NIC per node", expected: 1 * us + 6 * 10 * us + max(m / 2, 6 * m / 0.5) * ns,
               actual: p.allToAllSeconds(bytesPerPeer: m))
        // Two NICs per node: each GPU gets a whole NIC (1 GB/s).
        let p2 = Placement(topology: Toys.twoLevel(nics: 2), ranks: 8)
        expect("all-to-all, 1 NIC per GPU", expected: 1 * us + 60 * us + 6 * m * ns, actual: p2.allToAllSeconds(bytesPerPeer: m))
        // All-gather ring across nodes: every step at the NIC share and the cluster latency.
        expect("all-gather across nodes", expected: 7 * (10 * us + m / 0.5 * ns), actual: p.allGatherSeconds(bytesPerRank: m))
        // Inside one node the node level alone.
        let inside = Placement(topology: Toys.twoLevel(), ranks: 2)
        expect("all-gather inside a node", expected: 1 * us + m / 2 * ns, actual: inside.allGatherSeconds(bytesPerRank: m))
    }

    func testChainsStepAtEachHopsLevel() {
        // Hops 0→1 in, 1→2 out, 2→3 in, …: four inside, three across.
        let p = Placement(topology: Toys.twoLevel(), ranks: 8)
        let m = 4000.0
        expect("linear chain", expected: 4 * (1 * us + m / 2 * ns) + 3 * (10 * us + m * ns), actual: p.chainSeconds(bytes: m))
        let s = m / 4
        expect("pipelined chain K=4: first segment through every hop, then 3 at the slowest hop",
               expected: 4 * (1 * us + s / 2 * ns) + 3 * (10 * us + s * ns) + 3 * (10 * us + s * ns),
               actual: p.pipelinedChainSeconds(bytes: m, segments: 4))
        // Exscan, partners r XOR 2^k: with block placement on 2-GPU nodes step 0 stays on a node.
        expect("exscan across nodes", expected: (1 * us + m / 2 * ns) + 2 * (10 * us + m * ns),
               actual: p.exscanSeconds(bytes: m))
        let rr = Placement(topology: Toys.twoLevel(placement: .roundRobin), ranks: 8)
        // Round-robin over 4 nodes: distances 1, 2 cross nodes, distance 4 stays on a node.
        expect("exscan round-robin", expected: 2 * (10 * us + m * ns) + (1 * us + m / 2 * ns), actual: rr.exscanSeconds(bytes: m))
    }

    func testCollectiveLaunchIsPaidOncePerCall() {
        var t = Toys.uniform
        t.collectiveLaunchMicroseconds = Sourced(7, source: "t")
        let p = Placement(topology: t, ranks: 4)
        expect("all-gather + launch", expected: 7 * us + 3 * (1 * us + 100 * ns), actual: p.allGatherSeconds(bytesPerRank: 100))
        expect("no collective on one rank", expected: 0, actual: Placement(topology: t, ranks: 1).allGatherSeconds(bytesPerRank: 100))
    }
}
