import ArgumentParser
import CostModel
import Reports
import SequenceParallel

/// `--topology` of the cost-model commands (`spsim model`, `spsim plan`): a name in the
/// catalog or a JSON file.
struct TopologyOption: ParsableArguments {
    @Option(help: "Topology name (see `spsim topology list`) or a topology JSON file.")
    var topology: String = "hgx-h100"

    /// The topology, loaded and validated.
    /// - Throws: `InputError` naming `--topology` and the file's problem.
    func load() throws -> Topology {
        do { return try TopologyCatalog.standard().load(topology) } catch { throw InputError("--topology: \(error)") }
    }
}

/// `--time` of the cost-model commands (`spsim model`, `spsim plan`): how long the search took.
struct TimeOption: ParsableArguments {
    @Flag(help: "Print the search's size and duration on stderr.")
    var time = false

    /// The seconds since `start`; with `--time`, also notes "`what` in <seconds>" and `detail(seconds)` on stderr.
    @discardableResult
    func note(_ what: String, since start: ContinuousClock.Instant, detail: (Double) -> String = { _ in "" }) -> Double {
        let elapsed = (ContinuousClock.now - start).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
        if time { printNote("\(what) in \(formatSeconds(seconds))" + detail(seconds)) }
        return seconds
    }
}
