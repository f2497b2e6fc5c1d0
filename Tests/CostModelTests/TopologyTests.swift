import CostModel
import Foundation
import XCTest

/// Topology files: every shipped one is valid; malformed ones are rejected naming file and key.
final class TopologyTests: XCTestCase {
    let catalog = TopologyCatalog(directories: [repositoryRoot + "/Topologies"])

    func testEveryShippedTopologyDecodesAndNamesItsFile() throws {
        let names = catalog.entries().map(\.name)
        for required in ["toy", "dgx-a100", "hgx-h100", "h100x4-ndr", "h100x32-ndr", "h100x128-ndr", "hgx-h200", "hgx-b200",
                         "pcie-gen4-8gpu", "gb200-nvl72"] {
            XCTAssertTrue(names.contains(required), "Topologies/\(required).json is missing")
        }
        for (name, path) in catalog.entries() {
            let t = try Topology.load(path: path)
            XCTAssertEqual(t.name, name, "\(path): the name inside must match the file name")
            // Round trip through the writer used by `spsim calibrate`.
            XCTAssertEqual(try Topology.decode(Data(t.encodedJSON().utf8), file: "round trip"), t)
        }
    }

    func testShippedToyEqualsTheBuiltInOne() throws {
        XCTAssertEqual(try catalog.load("toy"), Topology.toy)
    }

    func testShippedNumbersMatchTheHardwareTable() throws {
        let h100 = try catalog.load("h100x32-ndr")
        expect("H100 NVLink4 achieved GB/s", expected: 370, actual: h100.nodeLevel.bytesPerSecond(forMessageOf: 1) / 1e9,
               relative: 0.002)
        expect("NDR achieved GB/s per NIC", expected: 48.5, actual: h100.clusterLevel.bytesPerSecond(forMessageOf: 1) / 1e9,
               relative: 0.002)
        XCTAssertEqual(h100.capacity, 256)
        XCTAssertEqual(h100.device.peakTFLOPs.value, 989)
        XCTAssertEqual(try catalog.load("hgx-b200").device.peakTFLOPs.value, 2250)
        XCTAssertEqual(try catalog.load("dgx-a100").device.peakTFLOPs.value, 312)
        XCTAssertEqual(try catalog.load("gb200-nvl72").capacity, 72)
    }

    /// The toy file with one edit applied to its JSON object.
    private func toyJSON(_ edit: (inout [String: Any]) -> Void) throws -> Data {
        let data = try Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/Topologies/toy.json"))
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        edit(&object)
        return try JSONSerialization.data(withJSONObject: object)
    }

    private func assertRejected(_ data: Data, key: String, mentions: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try Topology.decode(data, file: "bad.json")
            XCTFail("accepted a file that should fail at \(key)", file: file, line: line)
        } catch {
            print("rejected: \(error)")
            XCTAssertEqual(error.file, "bad.json", file: file, line: line)
            XCTAssertEqual(error.key, key, "\(error)", file: file, line: line)
            XCTAssertTrue(error.description.contains(mentions), "\(error) should mention \(mentions)", file: file, line: line)
            XCTAssertTrue(error.description.hasPrefix("bad.json: \(key)"), "\(error)", file: file, line: line)
        }
    }

    private func level0(_ o: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
        var levels = o["levels"] as! [[String: Any]]
        edit(&levels[0])
        o["levels"] = levels
    }

    func testMalformedFilesAreRejectedNamingTheKey() throws {
        assertRejected(try toyJSON { $0["colour"] = "red" }, key: "colour", mentions: "unknown key")
        assertRejected(try toyJSON { $0.removeValue(forKey: "nodes") }, key: "nodes", mentions: "is missing")
        // A bandwidth without its unit in the key is an unknown key (and bw_GBps is then missing).
        assertRejected(try toyJSON { o in level0(&o) { l in l["bw"] = l.removeValue(forKey: "bw_GBps") } },
                       key: "levels[0].bw", mentions: "unknown key")
        assertRejected(try toyJSON { o in level0(&o) { $0["bw_GBps"] = ["value": -5, "source": "x"] } },
                       key: "levels[0].bw_GBps.value", mentions: "must be positive")
        assertRejected(try toyJSON { o in level0(&o) { $0["bw_GBps"] = ["value": 0, "source": "x"] } },
                       key: "levels[0].bw_GBps.value", mentions: "must be positive")
        assertRejected(try toyJSON { o in level0(&o) { $0["bw_GBps"] = 25 } },
                       key: "levels[0].bw_GBps", mentions: "every number needs a source")
        assertRejected(try toyJSON { o in level0(&o) { $0["latency_us"] = ["value": 2] } },
                       key: "levels[0].latency_us.source", mentions: "is missing")
        assertRejected(try toyJSON { o in level0(&o) { $0["efficiency"] = ["value": 1.5, "source": "x"] } },
                       key: "levels[0].efficiency.value", mentions: "at most 1")
        assertRejected(try toyJSON { o in level0(&o) { $0["scope"] = "rack" } }, key: "levels[0].scope", mentions: "rack")
        assertRejected(try toyJSON { $0["placement"] = "random" }, key: "placement", mentions: "block")
        assertRejected(try toyJSON { $0["nodes"] = ["value": 2, "source": "x"] }, key: "levels", mentions: "cluster")
        assertRejected(try toyJSON { $0["gpus_per_node"] = ["value": 2.5, "source": "x"] },
                       key: "gpus_per_node.value", mentions: "whole number")
        assertRejected(try toyJSON { $0["device"] = ["name": "x", "peak_TFLOPs": ["value": 1, "source": "x"]] },
                       key: "device.attention_efficiency", mentions: "is missing")
        assertRejected(try toyJSON { $0["nodes"] = ["value": true, "source": "x"] }, key: "nodes.value", mentions: "number")
        assertRejected(Data("{\"name\": ".utf8), key: "name", mentions: "ends where a value should start")
    }

    func testCatalogNamesUnknownTopologies() {
        XCTAssertThrowsError(try catalog.load("nonesuch")) { error in
            XCTAssertTrue("\(error)".contains("known: "), "\(error)")
        }
        XCTAssertThrowsError(try catalog.load("/no/such/file.json")) { error in
            XCTAssertTrue("\(error)".contains("no such file"), "\(error)")
        }
    }

    func testPlacementNamesTheCapacity() throws {
        let t = try catalog.load("hgx-h100")
        XCTAssertNil(t.placementReason(ranks: 8))
        XCTAssertTrue(t.placementReason(ranks: 9)?.contains("cannot place 9 ranks") ?? false)
    }
}
