import CostModel
import XCTest

@testable import SequenceParallel

/// The registry is the one list of strategies: names are unique, each strategy's type is the
/// protocol of its attention kind, and every strategy is paired with the cost model's model
/// of the same name, kind and layouts (the model restates them on purpose; see `StrategyModel`).
final class RegistryTests: XCTestCase {
    func testNamesAreUniqueAndEveryKindHasADefault() {
        let names = Strategies.all.map { $0.name }
        XCTAssertEqual(Set(names).count, names.count, "duplicate strategy names: \(names)")
        for kind in AttentionKind.allCases {
            XCTAssertEqual(Strategies.defaultStrategy(kind).descriptor.attention, kind)
        }
    }

    func testEveryStrategyImplementsTheProtocolOfItsKind() {
        for type in Strategies.all {
            switch type.descriptor.attention {
            case .softmax: XCTAssertTrue(type is any AttentionStrategy.Type, type.name)
            case .gla: XCTAssertTrue(type is any LinearAttentionStrategy.Type, type.name)
            }
            XCTAssertTrue(Strategies.named(type.name) == type, type.name)
        }
    }

    func testEveryStrategyHasItsOwnPlotStyle() {
        let styles = Strategies.all.map { $0.descriptor.style }
        XCTAssertEqual(Set(styles.map(\.colour)).count, Strategies.all.count, "one colour per strategy")
        for type in Strategies.all {
            let style = type.descriptor.style
            XCTAssertEqual(style.dash.isEmpty, type.descriptor.attention == .softmax,
                           "\(type.name): softmax strategies draw solid lines, GLA ones dashed")
            XCTAssertTrue(style.filled, type.name)
            XCTAssertNotEqual(style, StrategyStyle(hashing: type.name), "\(type.name): its own style, not a hashed one")
        }
    }

    func testEveryStrategyHasAModelOfTheSameKindAndLayoutsAndViceVersa() throws {
        for type in Strategies.all {
            let model = try XCTUnwrap(CostModel.strategy(named: type.name), "strategy \(type.name) has no cost model")
            XCTAssertEqual(model.attention, type.descriptor.attention, type.name)
            XCTAssertEqual(model.layouts, type.descriptor.layouts, type.name)
        }
        for model in CostModel.strategies {
            XCTAssertNotNil(Strategies.named(model.name), "model \(model.name) has no strategy")
        }
    }

    func testOptionsAreResolvedOnlyByTheStrategiesThatTakeThem() {
        let softmax = AttentionProblem(seqLen: 64, heads: 8, kvHeads: 2, headDim: 8, isCausal: true)
        let gla = LinearAttentionProblem(seqLen: 64, heads: 2, keyDim: 8, valueDim: 4)
        for type in Strategies.all {
            let resolved: [StrategyOption: Int]
            if let s = type as? any AttentionStrategy.Type {
                resolved = s.resolvedOptions(softmax, layout: .contiguous, ranks: 4)
            } else if let s = type as? any LinearAttentionStrategy.Type {
                resolved = s.resolvedOptions(gla, layout: .contiguous, ranks: 4)
            } else {
                XCTFail("\(type.name) implements neither strategy protocol")
                continue
            }
            XCTAssertEqual(Set(resolved.keys), Set(type.descriptor.options), type.name)
        }
    }
}
