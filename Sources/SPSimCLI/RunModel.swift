import CostModel
import Foundation
import MPI
import Reports
import SequenceParallel

/// The topology `spsim calibrate` writes by default and `spsim run` predicts against when found.
let calibratedTopologyName = "localhost"

/// The model's prediction for a run: `topology` by name or file, or by default the
/// simulated platform's topology under SMPI, else this machine's calibration (`localhost`,
/// written by `spsim calibrate` to the user's folder) when one is found, else the built-in toy — then a note on stderr (rank 0) says so and how
/// to calibrate. Nil when the strategy has no model yet.
/// - Throws: `InputError` when the topology is missing, malformed or too small for `ranks`.
func predictRun(strategy: String, workload: Workload, ranks: Int, topology: String?, rank: Int) throws -> Prediction? {
    let catalog = TopologyCatalog.standard()
    let topo: Topology
    do {
        let simulated = try simulatedTopology()
        if let topology {
            topo = simulated?.name == topology ? simulated! : try catalog.load(topology)
        } else if let simulated {
            topo = simulated
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
        let hint = topology == calibratedTopologyName
            ? "; measure this machine first: mpirun -np 2 spsim calibrate writes \(calibratedTopologyName)" : ""
        throw InputError("--topology: \(error)\(hint)")
    }
    if let reason = topo.placementReason(ranks: ranks) { throw InputError("--topology: \(reason)") }
    guard let model = CostModel.strategy(named: strategy) else { return nil }
    return try? CostModel.predict(model, workload, ranks: ranks, topology: topo).get()
}

/// Under SMPI, the topology `spsim topology export` stored in the simulated platform; nil on
/// a real MPI or on a platform spsim did not write.
/// - Throws: `TopologyError` when the stored topology does not parse.
func simulatedTopology() throws(TopologyError) -> Topology? {
    guard let json = MPIEnvironment.simulatedPlatformProperty(SimGridPlatform.topologyProperty) else { return nil }
    return try Topology.decode(Data(json.utf8), file: "the simulated platform")
}

/// What a simulated run reports about its simulation (`"simulation"` in `--json`).
struct SimulationInfo: Encodable {
    /// The platform's topology, by name.
    var topology: String?
    /// The MPI collectives' algorithms SMPI ran, `op=algorithm`, as the platform sets them.
    var collectives: [String: String]
    /// Per rank: simulated seconds of the forward pass (median over repeats).
    var forwardSeconds: [Double]
    /// Per rank: simulated seconds of the backward pass, when run.
    var backwardSeconds: [Double]?

    /// The running simulation's facts with the phases' per-rank times, or nil on a real MPI.
    static func current(forward: PhaseMeasurement, backward: PhaseMeasurement?) -> SimulationInfo? {
        guard MPIEnvironment.isSimulated else { return nil }
        let pairs = MPIEnvironment.simulatedPlatformProperty(SimGridPlatform.collectivesProperty)?
            .split(separator: ",").map { $0.split(separator: "=", maxSplits: 1).map(String.init) } ?? []
        return SimulationInfo(topology: (try? simulatedTopology())??.name,
                              collectives: Dictionary(pairs.filter { $0.count == 2 }.map { ($0[0], $0[1]) },
                                                      uniquingKeysWith: { a, _ in a }),
                              forwardSeconds: forward.rankSeconds, backwardSeconds: backward?.rankSeconds)
    }
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
