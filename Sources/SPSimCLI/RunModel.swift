import CostModel
import Foundation
import Reports
import SequenceParallel

/// The topology `spsim calibrate` writes by default and `spsim run` predicts against when found.
let calibratedTopologyName = "localhost"

/// The model's prediction for a run: `topology` by name or file, or by default this
/// machine's calibration (`localhost`, written by `spsim calibrate` to the user's folder)
/// when one is found, else the built-in toy — then a note on stderr (rank 0) says so and how
/// to calibrate. Nil when the strategy has no model yet.
/// - Throws: `InputError` when the topology is missing, malformed or too small for `ranks`.
func predictRun(strategy: String, workload: Workload, ranks: Int, topology: String?, rank: Int) throws -> Prediction? {
    let catalog = TopologyCatalog.standard()
    let topo: Topology
    do {
        if let topology {
            topo = try catalog.load(topology)
        } else if let local = catalog.entries().first(where: { $0.name == calibratedTopologyName }) {
            topo = try Topology.load(path: local.path)
        } else {
            topo = .toy
            if rank == 0 {
                printNote("note: predicting against the built-in toy topology (no calibration of this machine found); "
                          + "mpirun -np 2 spsim calibrate writes one to \(TopologyCatalog.userDirectory())/\(calibratedTopologyName).json")
            }
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
