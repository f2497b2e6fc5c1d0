import CostModel
import XCTest

/// `SimGridPlatform`: the numbers and the placement a topology exports to SimGrid.
final class SimGridPlatformTests: XCTestCase {
    private func topology(_ name: String) throws -> Topology {
        try TopologyCatalog(directories: [Self.topologies]).load(name)
    }

    private static var topologies: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Topologies").path
    }

    func testToyIsOneClusterWithTheLevelsNumbers() throws {
        let xml = SimGridPlatform.xml(try topology("toy"))
        // 1 TFLOP/s at full efficiency; 1 GB/s; 1 µs split over the up and down links.
        XCTAssertTrue(xml.contains("radical=\"0-1023\" speed=\"1000000000000f\" bw=\"1000000000Bps\" lat=\"0.5us\""), xml)
        XCTAssertEqual(xml.components(separatedBy: "<cluster ").count - 1, 1)
        XCTAssertFalse(xml.contains("zoneRoute"))
        XCTAssertEqual(SimGridPlatform.hostfile(try topology("toy"), ranks: 3), "node0-gpu0\nnode0-gpu1\nnode0-gpu2\n")
    }

    func testMultiNodeHasRoutesBetweenEveryPairOfNodes() throws {
        let t = try topology("h100x4-ndr")
        let xml = SimGridPlatform.xml(t)
        XCTAssertEqual(xml.components(separatedBy: "<cluster ").count - 1, t.nodeCount)
        XCTAssertEqual(xml.components(separatedBy: "<zoneRoute ").count - 1, t.nodeCount * (t.nodeCount - 1))
        let cluster = t.clusterLevel
        let nic = cluster.bandwidthGBps.value * 1e9 * cluster.efficiency.value * (cluster.nicsPerNode?.value ?? 1)
        XCTAssertTrue(xml.contains("<link id=\"node0-nic\" bandwidth=\"\(Int64(nic))Bps\""), xml)
        // Block placement: GPUs of node 0 first.
        let hosts = SimGridPlatform.hostfile(t).split(separator: "\n")
        XCTAssertEqual(hosts.count, t.capacity)
        XCTAssertEqual(hosts[t.gpusPerNodeCount], "node1-gpu0")
    }

    func testRoundRobinDealsRanksOverNodes() throws {
        var t = try topology("h100x4-ndr")
        t.placement = .roundRobin
        XCTAssertEqual((0..<5).map { SimGridPlatform.host(t, rank: $0) },
                       ["node0-gpu0", "node1-gpu0", "node2-gpu0", "node3-gpu0", "node0-gpu1"])
    }
}
