import ArgumentParser
import Reports
import SequenceParallel

/// `spsim strategies`: what can be run, with its layouts.
struct StrategiesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strategies",
        abstract: "List the sequence-parallel strategies and the layouts each accepts.")

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    struct Entry: Encodable {
        var name: String
        var attention: String
        var layouts: [String]
        /// The settings it takes beyond the shape (`ulysses_degree`, `scan_blocks`).
        var options: [String]
        /// Other names `--strategy` accepts (Megatron-Core's `cp_comm_type` values).
        var aliases: [String]
        var summary: String
    }

    static var entries: [Entry] {
        Strategies.descriptors.map {
            Entry(name: $0.name, attention: $0.attention.rawValue, layouts: $0.layouts.map(\.rawValue),
                  options: $0.options.map(\.rawValue), aliases: $0.aliases, summary: $0.summary)
        }
    }

    func run() throws {
        if json {
            struct Listing: Encodable { var strategies: [Entry] }
            print(try jsonLine(Listing(strategies: Self.entries)))
            return
        }
        var table = TextTable(columns: ["strategy", "attention", "layouts", "what it does", "also accepted as"])
        for e in Self.entries {
            table.append([e.name, e.attention, e.layouts.joined(separator: ","), e.summary, e.aliases.joined(separator: ", ")])
        }
        print(table.render(), terminator: "")
    }
}
