import ArgumentParser
import CostModel
import Foundation
import Reports
import SequenceParallel

/// `spsim topology`: list, show and validate topology files.
struct TopologyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology",
        abstract: "List, show and validate the topology files the cost model reads.",
        discussion: """
            Topologies are found by name in $SPSIM_TOPOLOGIES, the user's folder ($XDG_CONFIG_HOME/spsim/topologies, \
            else ~/.config/spsim/topologies, where `spsim calibrate` writes), ./Topologies and the Topologies folder of \
            the source tree spsim was built in; a path to a .json file works everywhere a name does.
            """,
        subcommands: [List.self, Show.self, ValidateFiles<Topology>.self, Export.self])

    /// `spsim topology list`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List known topologies with a one-line description.")

        func run() throws {
            try printCatalog(TopologyCatalog.standard(), folder: "Topologies", variable: "SPSIM_TOPOLOGIES",
                             columns: ["GPUs", "nodes × GPUs", "levels"]) { (t: Topology) in
                ["\(t.capacity)", "\(t.nodeCount) × \(t.gpusPerNodeCount)", t.levels.map(\.name).joined(separator: " / "),
                 t.description]
            }
        }
    }

    /// `spsim topology show NAME`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one topology's numbers with their sources.")

        @Argument(help: "A topology name or a JSON file.")
        var topology: String

        @Flag(help: "Print the file as JSON instead.")
        var json = false

        func run() throws {
            let t: Topology
            do { t = try TopologyCatalog.standard().load(topology) } catch { throw InputError("\(error)") }
            if json { print(t.encodedJSON(), terminator: ""); return }
            print(Self.describe(t), terminator: "")
        }

        static func describe(_ t: Topology) -> String {
            var table = TextTable(columns: ["quantity", "value", "source"])
            func row(_ name: String, _ s: Sourced, _ unit: String) {
                table.append([name, format3(s.value) + (unit.isEmpty ? "" : " " + unit), s.source])
            }
            row("nodes", t.nodes, "")
            row("GPUs per node", t.gpusPerNode, "")
            for level in t.levels {
                let at = "\(level.name) (\(level.scope.rawValue))"
                row("\(at) bandwidth", level.bandwidthGBps, "GB/s per direction")
                row("\(at) efficiency", level.efficiency, "")
                row("\(at) latency", level.latencyMicroseconds, "µs")
                if let nics = level.nicsPerNode { row("\(at) NICs per node", nics, "") }
                if let r = level.rendezvous {
                    row("\(at) rendezvous from", r.thresholdBytes, "bytes")
                    row("\(at) rendezvous bandwidth", r.bandwidthGBps, "GB/s")
                    row("\(at) rendezvous latency", r.latencyMicroseconds, "µs")
                }
            }
            row("\(t.device.name) peak", t.device.peakTFLOPs, "TFLOP/s")
            row("\(t.device.name) attention efficiency", t.device.attentionEfficiency, "")
            if let e = t.device.matmulEfficiency { row("\(t.device.name) matmul efficiency", e, "") }
            if let m = t.device.hbmGiB { row("\(t.device.name) memory", m, "GiB") }
            if let h = t.device.hostLinkGBps { row("\(t.device.name) host link", h, "GB/s per direction") }
            row("collective launch", t.collectiveLaunchMicroseconds, "µs")
            return "\(t.name): \(t.description)\nplacement: \(t.placement.rawValue), \(t.capacity) GPUs\n" + table.render()
        }
    }

    /// `spsim topology export NAME --platform FILE.xml --hostfile FILE`.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a topology as a SimGrid platform and hostfile, for smpirun.",
            discussion: """
                One cluster of hosts per node (speed = device peak × attention efficiency, private links of the node \
                level), a NIC link per node and a backbone of the cluster level between nodes. The hostfile lists the \
                hosts in the topology's placement order. Rendezvous regimes and collective launch cost are not exported.
                """)

        @Argument(help: "A topology name or a JSON file.")
        var topology: String

        @Option(help: "Where to write the SimGrid platform XML.")
        var platform: String

        @Option(help: "Where to write the hostfile (one host per rank, placement order).")
        var hostfile: String

        @Option(help: "Ranks to list in the hostfile (default: every GPU of the topology).")
        var ranks: Int?

        func run() throws {
            let t: Topology
            do { t = try TopologyCatalog.standard().load(topology) } catch { throw InputError("\(error)") }
            if let ranks, ranks < 1 || ranks > t.capacity {
                throw InputError("--ranks \(ranks) must be between 1 and the topology's \(t.capacity) GPUs")
            }
            do {
                try SimGridPlatform.xml(t).write(toFile: platform, atomically: true, encoding: .utf8)
                try SimGridPlatform.hostfile(t, ranks: ranks).write(toFile: hostfile, atomically: true, encoding: .utf8)
            } catch {
                throw InputError("cannot write \(platform) / \(hostfile): \(error.localizedDescription)")
            }
            printNote("\(t.name): \(t.nodeCount) × \(t.gpusPerNodeCount) hosts → \(platform), \(hostfile)")
        }
    }
}
