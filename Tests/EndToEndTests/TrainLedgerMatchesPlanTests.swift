import CostModel
import SPCore
import Foundation
import XCTest

/// The planner's traffic of one training step (`TransformerModel.trainStepTraffic`) equals,
/// byte for byte and message for message, what the ledger of a real `spsim train` step
/// counts, per rank and per phase: every registered strategy at P = 4, a softmax and a GLA
/// strategy at P = 2 and 3, and activation checkpointing (its recompute phase).
final class TrainLedgerMatchesPlanTests: XCTestCase {
    /// The tiny model, as `spsim train` loads it.
    func tinyModel() throws -> TransformerModel {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try TransformerModel.load(path: root.appendingPathComponent("Models/tiny.json").path)
    }

    /// Runs two steps of `spsim train` and compares each phase's per-rank bytes and messages
    /// with the prediction.
    func assertLedgerMatches(strategy: String, attention: String, layout: String, ranks: Int, checkpoint: Bool = false,
                             ulyssesDegree: Int? = nil, scanBlocks: Int? = nil, model: TransformerModel) throws {
        let seqLen = 48
        let options = (ulyssesDegree.map { ["--ulysses-degree", "\($0)"] } ?? [])
            + (scanBlocks.map { ["--scan-blocks", "\($0)"] } ?? [])
        let run = try SPSimProcess.run(["train", "--strategy", strategy, "--attention", attention, "--layout", layout,
                                        "--seq-len", "\(seqLen)", "--steps", "2", "--json"]
                                       + (checkpoint ? ["--checkpoint"] : []) + options, ranks: ranks, timeoutSeconds: 120)
        XCTAssertEqual(run.status, 0, "\(strategy) P=\(ranks)\n\(run.stderr)")
        guard run.status == 0 else { return }
        let traffic = try XCTUnwrap(try run.json()["traffic"] as? [String: Any])
        let predicted = try model.trainStepTraffic(strategy: strategy, layout: LayoutKind(rawValue: layout)!, ranks: ranks,
                                                   seqLen: seqLen, checkpointing: checkpoint, scanBlocks: scanBlocks,
                                                   ulyssesDegree: ulyssesDegree).get()
        var phases = [("attention_forward", predicted.attentionForward), ("attention_backward", predicted.attentionBackward),
                      ("gradient_allreduce", predicted.gradientAllreduce)]
        if checkpoint { phases.append(("attention_recompute", predicted.attentionRecompute)) }
        for (phase, expected) in phases {
            let measured = try XCTUnwrap(traffic[phase] as? [String: Any], "\(strategy) P=\(ranks): no phase \(phase)")
            let label = "\(strategy) \(layout) P=\(ranks)\(checkpoint ? " checkpoint" : "") \(options) \(phase)"
            XCTAssertEqual(measured["bytes_sent"] as? [Int], expected.bytes, "\(label): bytes (ledger vs plan)")
            XCTAssertEqual(measured["messages_sent"] as? [Int], expected.messages, "\(label): messages (ledger vs plan)")
            if ranks > 1 { XCTAssertGreaterThan(expected.bytes.max() ?? 0, 0, "\(label) sends nothing") }
        }
    }

    func testEveryStrategyAtFourRanks() throws {
        let model = try tinyModel()
        for entry in try registeredStrategies() {
            let name = try XCTUnwrap(entry["name"] as? String), attention = try XCTUnwrap(entry["attention"] as? String)
            let layouts = entry["layouts"] as? [String] ?? []
            let layout = layouts.contains("zigzag") ? "zigzag" : try XCTUnwrap(layouts.first)
            try assertLedgerMatches(strategy: name, attention: attention, layout: layout, ranks: 4, model: model)
        }
    }

    /// The strategies' own options reach training and the plan alike: USP with a Ulysses degree
    /// other than its default (U = 4 of P = 4: Ulysses alone; the default is 2), ZeCO's All-Scan
    /// with K = 3 row blocks.
    func testStrategyOptionsAtFourRanks() throws {
        let model = try tinyModel()
        try assertLedgerMatches(strategy: "usp", attention: "softmax", layout: "zigzag", ranks: 4, ulyssesDegree: 4,
                                model: model)
        try assertLedgerMatches(strategy: "zeco", attention: "gla", layout: "contiguous", ranks: 4, scanBlocks: 3,
                                model: model)
    }

    func testTwoAndThreeRanksAndCheckpointing() throws {
        let model = try tinyModel()
        let softmax = try XCTUnwrap(try registeredStrategyNames(attention: "softmax").first)
        let gla = try XCTUnwrap(try registeredStrategyNames(attention: "gla").first)
        for ranks in [2, 3] {
            try assertLedgerMatches(strategy: softmax, attention: "softmax", layout: "contiguous", ranks: ranks, model: model)
            try assertLedgerMatches(strategy: gla, attention: "gla", layout: "contiguous", ranks: ranks, model: model)
        }
        try assertLedgerMatches(strategy: softmax, attention: "softmax", layout: "contiguous", ranks: 3, checkpoint: true,
                                model: model)
    }
}
