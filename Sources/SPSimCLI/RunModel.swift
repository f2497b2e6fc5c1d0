import CostModel
import Foundation
import Reports
import SequenceParallel

/// The model's prediction for a run: `topology` by name or file, or by default `localhost`
/// when a calibrated file is found, else the built-in toy. Nil when the strategy has no
/// model yet; a topology that is missing, malformed or too small is bad input.
func predictRun(strategy: String, workload: Workload, ranks: Int, topology: String?) throws -> Prediction? {
    let catalog = TopologyCatalog.standard()
    let topo: Topology
    do {
        if let topology {
            topo = try catalog.load(topology)
        } else if let local = catalog.entries().first(where: { $0.name == "localhost" }) {
            topo = try Topology.load(path: local.path)
        } else {
            topo = .toy
        }
    } catch {
        throw InputError("--topology: \(error)")
    }
    if let reason = topo.placementReason(ranks: ranks) { throw InputError("--topology: \(reason)") }
    guard let model = CostModel.strategy(named: strategy) else { return nil }
    return try? CostModel.predict(model, workload, ranks: ranks, topology: topo).get()
}

/// Predicted and measured times side by side, and whether the ledger matched the model.
func modelComparison(_ model: Prediction, measuredForward: Double, measuredBackward: Double?) -> String {
    var table = TextTable(columns: ["phase", "predicted", "measured", "predicted comm", "predicted compute"])
    table.append(["forward", formatSeconds(model.forward.maxSeconds), formatSeconds(measuredForward),
                  formatSeconds(model.forward.maxCommSeconds), formatSeconds(model.forward.maxComputeSeconds)])
    if let measuredBackward {
        table.append(["backward", formatSeconds(model.backward.maxSeconds), formatSeconds(measuredBackward),
                      formatSeconds(model.backward.maxCommSeconds), formatSeconds(model.backward.maxComputeSeconds)])
    }
    return "model on \(model.topology) (slowest rank):\n" + table.render()
}
