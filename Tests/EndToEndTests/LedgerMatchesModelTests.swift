import Foundation
import XCTest

/// The ledger of a real run equals the cost model's prediction exactly (docs/design.md, the ledger's counting rules):
/// for every strategy at P = 2, 3, 4, 5, 8, `spsim run --backward --json` reports the
/// measured `traffic` and the model's `model` side by side; bytes and messages sent per
/// rank, forward and backward, must be equal.
final class LedgerMatchesModelTests: XCTestCase {
    static let ranks = [2, 3, 4, 5, 8]

    /// One shape per rank count; odd and even P alternate between layouts and masks so the
    /// five runs of a strategy cover uneven N, causal and non-causal, and its layouts.
    /// Strategies without a case of their own get the default of their attention kind.
    static func arguments(_ entry: [String: Any], ranks p: Int) -> [String] {
        let strategy = entry["name"] as? String ?? ""
        let uneven = ["--seq-len", "\(16 * p + 3)"], even = ["--seq-len", "\(16 * p)"]
        let gqa = ["--heads", "4", "--kv-heads", "2", "--head-dim", "8"]
        switch strategy {
        case "allgather":
            return uneven + gqa + (p % 2 == 0 ? ["--causal"] : [])
        case "ring":
            let layout = p == 8 ? ["--layout", "striped"] : p % 2 == 0 ? ["--layout", "zigzag"] : []
            return (p % 2 == 0 ? even : uneven) + gqa + ["--causal"] + layout
        case "token-ring":
            return p % 2 == 0 ? even + gqa + ["--causal", "--layout", "zigzag"] : uneven + gqa
        case "ulysses":
            // H = 8, G = 2: KV heads replicated for P = 3, 5, 8; 8 heads on 3 and 5 ranks are uneven.
            return uneven + ["--heads", "8", "--kv-heads", "2", "--head-dim", "8"] + (p % 2 == 0 ? ["--causal"] : [])
        case "usp":
            // U = P (2, 5: uneven heads, replicated KV heads), U = 1 (3), 2 × 2 with uneven N (4), 4 × 2 zigzag (8).
            let degree = [2: 2, 3: 1, 4: 2, 5: 5, 8: 4][p] ?? 1
            return (p == 8 ? even + ["--layout", "zigzag"] : uneven) + ["--heads", "8", "--kv-heads", "2", "--head-dim", "8"]
                + ["--ulysses-degree", "\(degree)"] + (p % 2 == 0 ? ["--causal"] : [])
        default:
            let options = entry["options"] as? [String] ?? []
            if entry["attention"] as? String == "gla" {
                return ["--attention", "gla"] + uneven + ["--heads", "2", "--head-dim", "8", "--value-dim", "4"]
                    + (options.contains("scan_blocks") && p == 8 ? ["--scan-blocks", "3"] : [])
            }
            let layouts = entry["layouts"] as? [String] ?? ["contiguous"]
            let layout = layouts[p % layouts.count]
            return (layout == "contiguous" ? uneven : even) + gqa + (p % 2 == 0 ? ["--causal"] : []) + ["--layout", layout]
        }
    }

    func assertLedgerMatchesModel(_ entry: [String: Any], file: StaticString = #filePath, line: UInt = #line) throws {
        let strategy = entry["name"] as? String ?? ""
        for p in Self.ranks {
            let args = ["run", "--strategy", strategy] + Self.arguments(entry, ranks: p) + ["--backward", "--json"]
            let run = try SPSimProcess.run(args, ranks: p)
            let context = "P=\(p) \(args.joined(separator: " "))\n\(run.stderr)"
            XCTAssertEqual(run.status, 0, context, file: file, line: line)
            guard run.status == 0 else { continue }
            let json = try run.json(file: file, line: line)
            let model = try XCTUnwrap(json["model"] as? [String: Any], "no model object: \(context)", file: file, line: line)
            for phase in ["forward", "backward"] {
                let predicted = try XCTUnwrap(model[phase] as? [String: Any], context, file: file, line: line)
                for field in ["bytes_sent", "messages_sent"] {
                    let measured = traffic(json, phase, field)
                    let expected = predicted[field] as? [Int] ?? []
                    print("\(strategy) P=\(p) \(phase) \(field): model \(expected), ledger \(measured)")
                    XCTAssertEqual(measured.count, p, context, file: file, line: line)
                    XCTAssertEqual(measured, expected, "\(phase) \(field) \(context)", file: file, line: line)
                }
            }
        }
    }

    /// The strategies the cost model knows (`spsim model --format json`).
    static func modelledStrategies() throws -> Set<String> {
        let run = try SPSimProcess.run(["model", "--topology", "toy", "--seq-len", "64", "--ranks", "2", "--format", "json"])
        let list = try XCTUnwrap(try run.json()["predictions"] as? [[String: Any]], run.stderr)
        return Set(list.compactMap { $0["strategy"] as? String })
    }

    /// Every strategy the code has must have a model: a new strategy without one fails here.
    func testEveryStrategyHasAModel() throws {
        let listed = try registeredStrategyNames(), modelled = try Self.modelledStrategies()
        XCTAssertFalse(listed.isEmpty)
        for name in listed { XCTAssertTrue(modelled.contains(name), "strategy \(name) has no cost model") }
    }

    /// Every strategy the code has, at P = 2, 3, 4, 5, 8: ledger = model, exactly.
    func testEveryStrategysLedgerEqualsTheModel() throws {
        let entries = try registeredStrategies()
        let listed = entries.compactMap { $0["name"] as? String }
        print("strategies: \(listed)")
        for entry in entries { try assertLedgerMatchesModel(entry) }
        // Every seed strategy is there.
        for required in ["allgather", "ulysses", "ring", "token-ring", "zeco", "lasp1", "lasp2", "exscan"] {
            XCTAssertTrue(listed.contains(required), "\(required) missing from spsim strategies")
        }
    }
}
