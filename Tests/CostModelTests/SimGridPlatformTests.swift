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

    func testMultiNodeGivesEveryGPUItsOwnNIC() throws {
        let t = try topology("h100x4-ndr")
        let xml = SimGridPlatform.xml(t)
        let g = t.gpusPerNodeCount
        XCTAssertEqual(xml.components(separatedBy: "<zone id=\"node").count - 1, t.nodeCount)
        XCTAssertEqual(xml.components(separatedBy: "<zoneRoute ").count - 1, t.nodeCount * (t.nodeCount - 1))
        // One NIC link per GPU (nics_per_node = 8), each one NIC's achieved bandwidth.
        let cluster = t.clusterLevel
        let nic = cluster.bandwidthGBps.value * 1e9 * cluster.efficiency.value
        XCTAssertEqual(xml.split(separator: "\n").filter { $0.contains("<link id=\"node") && $0.contains("-nic") }.count,
                       t.capacity, "declared NIC links")
        XCTAssertTrue(xml.contains("<link id=\"node0-nic7\" bandwidth=\"\(Int64(nic))Bps\" latency=\"0us\""), xml)
        XCTAssertTrue(xml.contains("<route src=\"node2-gpu5\" dst=\"node2-router\" symmetrical=\"NO\"><link_ctn id=\"node2-nic5\""))
        // GPU pairs inside a node: g·(g−1) routes per node over the node level's private links.
        XCTAssertEqual(xml.components(separatedBy: "-link\" direction=\"DOWN\"/></route>").count - 1, t.nodeCount * g * (g - 1))
        // The cluster level's latency on the backbone; SMPI's factors and polling cost explicit.
        XCTAssertTrue(xml.contains("<link id=\"backbone\""))
        XCTAssertTrue(xml.contains("latency=\"\(Int(cluster.latencyMicroseconds.value))us\" sharing_policy=\"FATPIPE\""))
        for setting in ["smpi/lat-factor\" value=\"0:1\"", "smpi/bw-factor\" value=\"0:1\"", "smpi/test\" value=\"0\"",
                        "smpi/simulate-computation\" value=\"no\"", "smpi/alltoall\" value=\"pair\""] {
            XCTAssertTrue(xml.contains("<prop id=\"\(setting)/>"), setting)
        }
        // The topology itself rides along, so a simulated run knows its platform.
        XCTAssertTrue(xml.contains("<prop id=\"spsim_topology\" value=\"{&#10;  &quot;name&quot;: &quot;h100x4-ndr&quot;"))
        XCTAssertTrue(xml.contains("<prop id=\"spsim_collective_launch_us\" value=\"7.5\"/>"))
        // Block placement: GPUs of node 0 first.
        let hosts = SimGridPlatform.hostfile(t).split(separator: "\n")
        XCTAssertEqual(hosts.count, t.capacity)
        XCTAssertEqual(hosts[t.gpusPerNodeCount], "node1-gpu0")
    }

    func testFewerNICsThanGPUsAreShared() throws {
        var t = try topology("h100x4-ndr")
        t.levels[1].nicsPerNode = Sourced(2, source: "test")
        let xml = SimGridPlatform.xml(t)
        XCTAssertTrue(xml.contains("<link id=\"node0-nic1\""))
        XCTAssertFalse(xml.contains("<link id=\"node0-nic2\""))
        XCTAssertTrue(xml.contains("<route src=\"node0-gpu5\" dst=\"node0-router\" symmetrical=\"NO\"><link_ctn id=\"node0-nic1\""))
    }

    func testRendezvousBecomesTheFactorsSecondStep() throws {
        var t = try topology("toy")
        t.levels[0].rendezvous = NetworkLevel.Rendezvous(thresholdBytes: Sourced(65536, source: "t"),
                                                         bandwidthGBps: Sourced(0.5, source: "t"),
                                                         latencyMicroseconds: Sourced(4, source: "t"))
        let config = Dictionary(uniqueKeysWithValues: SimGridPlatform.configuration(t).map { ($0.key, $0.value) })
        XCTAssertEqual(config["smpi/lat-factor"], "0:1;65536:4.0")
        XCTAssertEqual(config["smpi/bw-factor"], "0:1;65536:0.5")
        XCTAssertEqual(config["smpi/send-is-detached-thresh"], "65536")
    }

    func testRoundRobinDealsRanksOverNodes() throws {
        var t = try topology("h100x4-ndr")
        t.placement = .roundRobin
        XCTAssertEqual((0..<5).map { SimGridPlatform.host(t, rank: $0) },
                       ["node0-gpu0", "node1-gpu0", "node2-gpu0", "node3-gpu0", "node0-gpu1"])
    }
}
