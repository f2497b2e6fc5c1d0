import Foundation

/// Finds topology files by name (`hgx-h100`) or path (`my.json`); with `folder: "Models"`
/// the same for model files (`ModelCatalog`).
///
/// Names are looked up as `NAME.json` in, in order: `$SPSIM_TOPOLOGIES`, `./Topologies`,
/// and the `Topologies` folder of the source tree the running `spsim` was built in (found by
/// walking up from the executable), so a fresh clone works from any directory.
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

    /// The folder new topology files are written to: the first one searched, or `./Topologies`.
    public var writableDirectory: String {
        directories.first ?? FileManager.default.currentDirectoryPath + "/Topologies"
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
    public func path(of nameOrFile: String) throws(TopologyError) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: nameOrFile, isDirectory: &isDirectory), !isDirectory.boolValue {
            return nameOrFile
        }
        if nameOrFile.hasSuffix(".json") || nameOrFile.contains("/") {
            throw TopologyError(file: nameOrFile, key: "", problem: "no such file")
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
    public func load(_ nameOrFile: String) throws(TopologyError) -> Topology {
        try Topology.load(path: try path(of: nameOrFile))
    }
}
