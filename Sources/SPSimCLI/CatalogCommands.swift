import ArgumentParser
import CostModel
import Foundation
import Reports
import SequenceParallel

/// A kind of file `spsim topology` and `spsim models` list and validate.
protocol ListedFile: CatalogFile {
    /// "topology", "model".
    static var noun: String { get }
    /// Where the files are found (`TopologyCatalog.standard()`, `.models()`).
    static func catalog() -> TopologyCatalog
    /// The file's name and size, for `validate`.
    var summary: String { get }
}

extension Topology: ListedFile {
    static let noun = "topology"
    static func catalog() -> TopologyCatalog { .standard() }
    var summary: String { "\(name), \(capacity) GPUs" }
}

extension TransformerModel: ListedFile {
    static let noun = "model"
    static func catalog() -> TopologyCatalog { .models() }
    var summary: String { "\(name), \(parameters) parameters" }
}

/// `spsim topology validate FILE…`, `spsim models validate FILE…`.
struct ValidateFiles<File: ListedFile>: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "validate",
            abstract: "Check \(File.noun) files strictly; exit 2 naming the file and key of the first problem in each.")
    }

    @Argument(help: "\(File.noun.capitalized) names or JSON files (default: every known \(File.noun)).")
    var files: [String] = []

    /// Prints `ok: FILE (summary)` for each good file, `error:` lines for the bad ones, and
    /// fails with the last as bad input.
    func run() throws {
        let catalog = File.catalog()
        let targets = files.isEmpty ? catalog.entries().map(\.path) : files
        guard !targets.isEmpty else { throw InputError("no \(File.noun) files to validate") }
        var failures = [String]()
        for target in targets {
            do { print("ok: \(target) (\(try File.load(path: catalog.path(of: target)).summary))") } catch {
                failures.append("\(error)")
            }
        }
        guard failures.isEmpty else {
            for f in failures.dropLast() { printError(f) }
            throw InputError(failures.last!)
        }
    }
}

/// `spsim topology list`, `spsim models list`: a table of every file `catalog` finds, one row
/// per name with `columns` and the description (`row` of the loaded file), "INVALID" and the
/// problem for a file that does not load; the folders searched on stderr.
/// - Throws: `InputError` when no folder exists (`$variable`, ./`folder` and beside spsim).
func printCatalog<File: CatalogFile>(_ catalog: TopologyCatalog, folder: String, variable: String, columns: [String],
                                     row: (File) -> [String]) throws {
    guard !catalog.directories.isEmpty else {
        throw InputError("no \(folder) folder found (looked in $\(variable), ./\(folder) and beside spsim)")
    }
    var table = TextTable(columns: ["name"] + columns + ["description"])
    for (name, path) in catalog.entries() {
        do { table.append([name] + row(try File.load(path: path))) } catch {
            table.append([name] + columns.map { _ in "-" } + ["INVALID: \(error)"])
        }
    }
    print(table.render(), terminator: "")
    printNote("from \(catalog.directories.joined(separator: ", "))")
}
