import Foundation

/// Finds topology files by name (`hgx-h100`) or path (`my.json`); with `folder: "Models"`
/// the same for model files (`ModelCatalog`).
///
/// Names are looked up as `NAME.json` in, in order: `$SPSIM_TOPOLOGIES`, the user's folder
/// (`userDirectory`: where `spsim calibrate` writes this machine's calibration, never the
/// repository), `./Topologies`, and the `Topologies` folder of the source tree the running
/// `spsim` was built in (found by walking up from the executable), so a fresh clone works
/// from any directory.
public struct TopologyCatalog: Sendable {
    /// Folders searched, in order (only those that exist).
    public var directories: [String]
    /// What the files hold, for messages ("topology", "model").
    public var noun: String

    /// A catalog over `directories`.
    public init(directories: [String], noun: String = "topology") {
        self.directories = directories
        self.noun = noun
    }

    /// The default folders for this process (see the type's documentation): `$variable`,
    /// `./folder`, and `folder` beside the source tree.
    public static func standard(folder: String = "Topologies", variable: String = "SPSIM_TOPOLOGIES",
                                noun: String = "topology",
                                environment: [String: String] = ProcessInfo.processInfo.environment) -> TopologyCatalog {
        var candidates = [String]()
        if let dir = environment[variable] { candidates.append(dir) }
        if folder == "Topologies" { candidates.append(userDirectory(environment: environment)) }
        candidates.append(FileManager.default.currentDirectoryPath + "/" + folder)
        var dir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(dir.appendingPathComponent(folder).path)
            dir = dir.deletingLastPathComponent()
        }
        var seen = Set<String>(), existing = [String]()
        for c in candidates {
            let path = URL(fileURLWithPath: c).standardizedFileURL.path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue,
               seen.insert(path).inserted {
                existing.append(path)
            }
        }
        return TopologyCatalog(directories: existing, noun: noun)
    }

    /// The user's topology folder, outside any repository: `$XDG_CONFIG_HOME/spsim/topologies`,
    /// else `~/.config/spsim/topologies`. `spsim calibrate` writes there; it need not exist.
    public static func userDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") { return xdg + "/spsim/topologies" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.config/spsim/topologies"
    }

    /// Every known topology name with the file that defines it (first folder wins), sorted.
    public func entries() -> [(name: String, path: String)] {
        var found = [String: String]()
        for dir in directories {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            for f in files where f.hasSuffix(".json") {
                let name = String(f.dropLast(5))
                if found[name] == nil { found[name] = dir + "/" + f }
            }
        }
        return found.keys.sorted().map { ($0, found[$0]!) }
    }

    /// The path of `nameOrFile`: an existing file as given, else `NAME.json` in the folders.
    /// - Throws: `TopologyError` naming the file when there is no such file or topology.
    public func path(of nameOrFile: String) throws(TopologyError) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: nameOrFile, isDirectory: &isDirectory), !isDirectory.boolValue {
            return nameOrFile
        }
        if nameOrFile.hasSuffix(".json") || nameOrFile.contains("/") {
            throw TopologyError(file: nameOrFile, key: "", problem: isDirectory.boolValue ? "is a directory, not a .json file" : "no such file")
        }
        if let entry = entries().first(where: { $0.name == nameOrFile }) { return entry.path }
        let known = entries().map(\.name)
        throw TopologyError(
            file: nameOrFile, key: "",
            problem: "no \(noun) of that name"
                + (directories.isEmpty ? " (no folder of \(noun) files found)"
                    : " in \(directories.joined(separator: ", ")); known: \(known.joined(separator: ", "))"))
    }

    /// Loads and validates the topology `nameOrFile`.
    /// - Throws: `TopologyError` (file, key, problem) when it is missing or malformed.
    public func load(_ nameOrFile: String) throws(TopologyError) -> Topology {
        try Topology.load(path: try path(of: nameOrFile))
    }
}
