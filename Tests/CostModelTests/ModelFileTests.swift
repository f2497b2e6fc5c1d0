import CostModel
import Foundation
import XCTest

/// Model files: every shipped one decodes with the published parameter count; malformed ones
/// are rejected naming the file and key; topologies carry HBM and matmul efficiency.
final class ModelFileTests: XCTestCase {
    let catalog = ModelCatalog(directories: [repositoryRoot + "/Models"], noun: "model")

    func testShippedModelsDecodeWithTheirParameterCounts() throws {
        let names = catalog.entries().map(\.name)
        for required in ["llama3-8b", "llama3-70b", "gla-1.3b", "tiny"] {
            XCTAssertTrue(names.contains(required), "Models/\(required).json is missing")
        }
        for (name, path) in catalog.entries() {
            XCTAssertEqual(try TransformerModel.load(path: path).name, name, "\(path): the name inside must match the file name")
        }
        // Hugging Face's counts of Meta-Llama-3-8B and -70B (safetensors metadata).
        XCTAssertEqual(try catalog.loadModel("llama3-8b").parameters, 8_030_261_248)
        XCTAssertEqual(try catalog.loadModel("llama3-70b").parameters, 70_553_706_496)
        // tiny by hand: per layer q 128·256, k v 2·128·128, o 256·128, MLP 3·128·448, norms 2·128;
        // embeddings and LM head 256·128 each, final norm 128.
        let tiny = try catalog.loadModel("tiny")
        XCTAssertEqual(tiny.parametersPerLayer, 32768 + 32768 + 32768 + 172_032 + 256)
        XCTAssertEqual(tiny.parameters, 2 * 270_592 + 2 * 32768 + 128)
        XCTAssertEqual([tiny.layerCount, tiny.hidden, tiny.headCount, tiny.kvHeadCount, tiny.queryDim, tiny.ffn, tiny.vocab],
                       [2, 128, 4, 2, 64, 448, 256])
        XCTAssertFalse(tiny.isTied)
        XCTAssertEqual(tiny.layers.source, "spsim's own test model, Training module")
        let gla = try catalog.loadModel("gla-1.3b")
        XCTAssertEqual(gla.attention, .gla)
        XCTAssertEqual([gla.headCount, gla.queryDim, gla.valueChannels], [4, 256, 512])
        XCTAssertEqual(Double(gla.parameters) / 1e9, 1.37, accuracy: 0.02, "a 1.3B-class GLA")
    }

    private func tinyJSON(_ edit: (inout [String: Any]) -> Void) throws -> Data {
        let data = try Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/Models/tiny.json"))
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        edit(&object)
        return try JSONSerialization.data(withJSONObject: object)
    }

    private func assertRejected(_ data: Data, key: String, mentions: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try TransformerModel.decode(data, file: "bad.json")
            XCTFail("accepted a file that should fail at \(key)", file: file, line: line)
        } catch {
            print("rejected: \(error)")
            XCTAssertEqual(error.key, key, "\(error)", file: file, line: line)
            XCTAssertTrue(error.description.contains(mentions), "\(error) should mention \(mentions)", file: file, line: line)
        }
    }

    func testMalformedModelsAreRejectedNamingTheKey() throws {
        assertRejected(try tinyJSON { $0["dropout"] = ["value": 0.1, "source": "x"] }, key: "dropout", mentions: "unknown key")
        assertRejected(try tinyJSON { $0["layers"] = 2 }, key: "layers", mentions: "every number needs a source")
        assertRejected(try tinyJSON { $0["layers"] = ["value": 2] }, key: "layers.source", mentions: "is missing")
        assertRejected(try tinyJSON { $0["hidden_size"] = ["value": -64, "source": "x"] }, key: "hidden_size.value",
                       mentions: "must be positive")
        assertRejected(try tinyJSON { $0["ffn_size"] = ["value": 1.5, "source": "x"] }, key: "ffn_size.value",
                       mentions: "whole number")
        assertRejected(try tinyJSON { $0["heads"] = ["value": 6, "source": "x"]; $0["kv_heads"] = ["value": 3, "source": "x"] },
                       key: "heads", mentions: "must divide hidden_size 128")
        assertRejected(try tinyJSON { $0["kv_heads"] = ["value": 3, "source": "x"] }, key: "kv_heads", mentions: "must divide")
        assertRejected(try tinyJSON { $0["key_dim"] = ["value": 16, "source": "x"] }, key: "key_dim", mentions: "unknown key")
        assertRejected(try tinyJSON { $0["ffn_activation"] = "gelu" }, key: "ffn_activation", mentions: "swiglu")
        assertRejected(try tinyJSON { $0.removeValue(forKey: "vocabulary") }, key: "vocabulary", mentions: "is missing")
        assertRejected(try tinyJSON { $0["tied_embeddings"] = false }, key: "tied_embeddings", mentions: "needs a source")
    }

    func testEveryPlanningTopologyHasMemoryMatmulEfficiencyAndHostLink() throws {
        let topologies = TopologyCatalog(directories: [repositoryRoot + "/Topologies"])
        for name in ["toy", "dgx-a100", "hgx-h100", "h100x4-ndr", "h100x32-ndr", "hgx-h200", "hgx-b200", "pcie-gen4-8gpu",
                     "gb200-nvl72"] {
            let device = try topologies.load(name).device
            XCTAssertNotNil(device.hbmGiB, name)
            XCTAssertNotNil(device.matmulEfficiency, name)
            XCTAssertNotNil(device.hostLinkGBps, name)
        }
        XCTAssertEqual(try topologies.load("hgx-h100").device.memoryBytes, 80 * 1_073_741_824)
        XCTAssertEqual(try topologies.load("hgx-h200").device.hbmGiB?.value, 141)
    }
}
