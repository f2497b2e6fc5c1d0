// Strict reading and writing of topology files (format in Topology.swift).
import Foundation
import SPCore

/// A topology or model file that cannot be used: names the file and the key path.
public struct TopologyError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file (or the name given when decoding from memory).
    public var file: String
    /// The key path inside the file, e.g. `levels[1].bw_GBps.value`; empty for the whole file.
    public var key: String
    /// What is wrong, as a sentence.
    public var problem: String

    /// An error at `key` of `file`.
    public init(file: String, key: String, problem: String) {
        self.file = file
        self.key = key
        self.problem = problem
    }

    /// `file: key: problem`.
    public var description: String { key.isEmpty ? "\(file): \(problem)" : "\(file): \(key): \(problem)" }
}

/// A kind of JSON file a `TopologyCatalog` finds: topologies and models, read strictly.
public protocol CatalogFile {
    /// Decodes one from JSON `data`, strictly.
    /// - Throws: `TopologyError` naming `file` and the key of the first problem.
    static func decode(_ data: Data, file: String) throws(TopologyError) -> Self
}

extension CatalogFile {
    /// Reads and validates the file at `path`.
    /// - Throws: `TopologyError` naming the file and key of the first problem.
    public static func load(path: String) throws(TopologyError) -> Self {
        try decode(try StrictReader.contents(path), file: path)
    }
}

extension Topology: CatalogFile {
    /// Decodes a topology from JSON `data`, strictly: duplicate, unknown or missing keys,
    /// numbers without a source, wrong types and impossible values (counts above
    /// `SizeLimits.maxRanks`) are errors naming `file` and the key.
    public static func decode(_ data: Data, file: String) throws(TopologyError) -> Topology {
        let reader = StrictReader(file: file)
        let object = try reader.root(data)
        try reader.onlyKeys(object, at: "", allowed: ["name", "description", "nodes", "gpus_per_node", "placement",
                                                       "levels", "device", "collective_launch_us"])
        let nodes = try reader.sourced(object, "nodes", at: "", positiveInteger: true)
        let gpus = try reader.sourced(object, "gpus_per_node", at: "", positiveInteger: true)
        // Both are whole numbers ≤ maxRanks (checked above), so the product cannot overflow.
        if Int(nodes.value) * Int(gpus.value) > SizeLimits.maxRanks {
            throw reader.error("nodes", "\(Int(nodes.value)) nodes × \(Int(gpus.value)) gpus_per_node is above spsim's limit of \(SizeLimits.describe(SizeLimits.maxRanks)) GPUs")
        }
        let placementText = try reader.string(object, "placement", at: "")
        guard let placement = RankPlacement(rawValue: placementText) else {
            throw reader.error("placement", "must be \(RankPlacement.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")), not \"\(placementText)\"")
        }
        guard let levelValues = object["levels"] else { throw reader.error("levels", "is missing") }
        guard let levelArray = levelValues as? [Any] else { throw reader.error("levels", "must be an array of levels, innermost first") }
        var levels = [NetworkLevel]()
        for (i, value) in levelArray.enumerated() {
            levels.append(try reader.level(value, at: "levels[\(i)]"))
        }
        let expected: [NetworkLevel.Scope] = nodes.value > 1 ? [.node, .cluster] : [.node]
        guard levels.map(\.scope) == expected else {
            throw reader.error("levels", "a topology with \(Int(nodes.value)) node\(nodes.value > 1 ? "s" : "") needs levels with scopes \(expected.map(\.rawValue)), innermost first; found \(levels.map(\.scope.rawValue))")
        }
        let deviceObject = try reader.object(object["device"] as Any?, at: "device")
        try reader.onlyKeys(deviceObject, at: "device", allowed: ["name", "peak_TFLOPs", "attention_efficiency",
                                                                 "matmul_efficiency", "hbm_GiB", "host_link_GBps"])
        let device = Device(name: try reader.string(deviceObject, "name", at: "device"),
                            peakTFLOPs: try reader.sourced(deviceObject, "peak_TFLOPs", at: "device"),
                            attentionEfficiency: try reader.sourced(deviceObject, "attention_efficiency", at: "device",
                                                                    fraction: true),
                            matmulEfficiency: deviceObject["matmul_efficiency"] == nil ? nil
                                : try reader.sourced(deviceObject, "matmul_efficiency", at: "device", fraction: true),
                            hbmGiB: deviceObject["hbm_GiB"] == nil ? nil
                                : try reader.sourced(deviceObject, "hbm_GiB", at: "device"),
                            hostLinkGBps: deviceObject["host_link_GBps"] == nil ? nil
                                : try reader.sourced(deviceObject, "host_link_GBps", at: "device"))
        let topology = Topology(
            name: try reader.string(object, "name", at: ""),
            description: try reader.string(object, "description", at: ""),
            nodes: nodes, gpusPerNode: gpus, placement: placement, levels: levels, device: device,
            collectiveLaunchMicroseconds: try reader.sourced(object, "collective_launch_us", at: "", allowZero: true))
        return topology
    }

    /// The topology as a file, keys in the documented order, pretty-printed.
    public func encodedJSON() -> String {
        func num(_ s: Sourced) -> String {
            // Six significant digits: measured numbers carry no more, and the text then reads
            // back to the same Double every time.
            let v = s.value == s.value.rounded() && abs(s.value) < 1e15 ? String(Int(s.value)) : String(format: "%.6g", s.value)
            return "{\"value\": \(v), \"source\": \(quote(s.source))}"
        }
        var lines = ["{",
                     "  \"name\": \(quote(name)),",
                     "  \"description\": \(quote(description)),",
                     "  \"nodes\": \(num(nodes)),",
                     "  \"gpus_per_node\": \(num(gpusPerNode)),",
                     "  \"placement\": \(quote(placement.rawValue)),",
                     "  \"levels\": ["]
        for (i, level) in levels.enumerated() {
            var fields = ["      \"name\": \(quote(level.name))", "      \"scope\": \(quote(level.scope.rawValue))",
                          "      \"bw_GBps\": \(num(level.bandwidthGBps))", "      \"efficiency\": \(num(level.efficiency))",
                          "      \"latency_us\": \(num(level.latencyMicroseconds))"]
            if let nics = level.nicsPerNode { fields.append("      \"nics_per_node\": \(num(nics))") }
            if let r = level.rendezvous {
                fields.append("""
                          "rendezvous": {
                            "threshold_bytes": \(num(r.thresholdBytes)),
                            "bw_GBps": \(num(r.bandwidthGBps)),
                            "latency_us": \(num(r.latencyMicroseconds))
                          }
                    """)
            }
            lines.append("    {\n" + fields.joined(separator: ",\n") + "\n    }" + (i + 1 < levels.count ? "," : ""))
        }
        lines += ["  ],",
                  "  \"device\": {",
                  "    \"name\": \(quote(device.name)),",
                  "    \"peak_TFLOPs\": \(num(device.peakTFLOPs)),",
                  "    \"attention_efficiency\": \(num(device.attentionEfficiency))"
                    + (device.matmulEfficiency.map { ",\n    \"matmul_efficiency\": \(num($0))" } ?? "")
                    + (device.hbmGiB.map { ",\n    \"hbm_GiB\": \(num($0))" } ?? "")
                    + (device.hostLinkGBps.map { ",\n    \"host_link_GBps\": \(num($0))" } ?? ""),
                  "  },",
                  "  \"collective_launch_us\": \(num(collectiveLaunchMicroseconds))",
                  "}"]
        return lines.joined(separator: "\n") + "\n"
    }
}

/// A JSON string literal.
func quote(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if c.value < 0x20 { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
        }
    }
    return out + "\""
}

/// Walks decoded JSON, naming the key path in every error (topology and model files).
struct StrictReader {
    let file: String

    /// The bytes of the file at `path`.
    static func contents(_ path: String) throws(TopologyError) -> Data {
        do { return try StrictJSON.read(path) } catch { throw TopologyError(file: path, key: "", problem: error.problem) }
    }

    /// The one JSON object `data` holds, parsed strictly (`StrictJSON`: duplicate keys refused).
    func root(_ data: Data) throws(TopologyError) -> [String: Any] {
        let root: Any
        do {
            root = try StrictJSON.parse(data)
        } catch {
            throw TopologyError(file: file, key: error.key, problem: "\(error.problem) (line \(error.line))")
        }
        return try object(root, at: "")
    }

    func error(_ key: String, _ problem: String) -> TopologyError {
        TopologyError(file: file, key: key, problem: problem)
    }

    func path(_ parent: String, _ key: String) -> String { parent.isEmpty ? key : "\(parent).\(key)" }

    func object(_ value: Any?, at key: String) throws(TopologyError) -> [String: Any] {
        guard let value else { throw error(key, "is missing") }
        guard let object = value as? [String: Any] else {
            throw error(key, key.isEmpty ? "the file must hold one JSON object" : "must be an object")
        }
        return object
    }

    func onlyKeys(_ object: [String: Any], at key: String, allowed: [String]) throws(TopologyError) {
        for name in object.keys.sorted() where !allowed.contains(name) {
            throw error(path(key, name), "unknown key (allowed here: \(allowed.joined(separator: ", ")))")
        }
    }

    func string(_ object: [String: Any], _ name: String, at parent: String) throws(TopologyError) -> String {
        let key = path(parent, name)
        guard let value = object[name] else { throw error(key, "is missing") }
        guard let s = value as? String else { throw error(key, "must be a string") }
        return s
    }

    /// A `{"value": x, "source": "…"}` number. Positive unless `allowZero`; at most 1 when
    /// `fraction`; a whole number at most `SizeLimits.maxRanks` when `positiveInteger`;
    /// `true`/`false` read as 1/0 when `allowBoolean` (a yes/no fact with its source).
    func sourced(_ object: [String: Any], _ name: String, at parent: String, allowZero: Bool = false,
                 fraction: Bool = false, positiveInteger: Bool = false,
                 allowBoolean: Bool = false) throws(TopologyError) -> Sourced {
        let key = path(parent, name)
        guard let raw = object[name] else { throw error(key, "is missing") }
        if raw is NSNumber {
            throw error(key, "must be {\"value\": \(raw), \"source\": \"where the number comes from\"}: every number needs a source")
        }
        let inner = try self.object(raw, at: key)
        try onlyKeys(inner, at: key, allowed: ["value", "source"])
        guard let number = inner["value"] else { throw error(path(key, "value"), "is missing") }
        // JSON true/false decode as NSNumber too; their type name tells them apart.
        guard let n = number as? NSNumber, allowBoolean || !String(describing: type(of: number)).contains("Boolean") else {
            throw error(path(key, "value"), "must be a number")
        }
        let value = n.doubleValue
        guard let source = inner["source"] else { throw error(path(key, "source"), "is missing: every number needs a source") }
        guard let sourceText = source as? String, !sourceText.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw error(path(key, "source"), "must be a non-empty string saying where the number comes from")
        }
        guard value.isFinite else { throw error(path(key, "value"), "must be finite") }
        if allowZero ? value < 0 : value <= 0 {
            throw error(path(key, "value"), "must be \(allowZero ? "zero or positive" : "positive"), not \(value)")
        }
        if fraction && value > 1 { throw error(path(key, "value"), "is a fraction and must be at most 1, not \(value)") }
        if positiveInteger && value != value.rounded() { throw error(path(key, "value"), "must be a whole number, not \(value)") }
        if positiveInteger && value > Double(SizeLimits.maxRanks) {
            throw error(path(key, "value"), "\(value) is above spsim's limit of \(SizeLimits.describe(SizeLimits.maxRanks))")
        }
        return Sourced(value, source: sourceText)
    }

    func level(_ value: Any, at key: String) throws(TopologyError) -> NetworkLevel {
        let object = try self.object(value, at: key)
        try onlyKeys(object, at: key, allowed: ["name", "scope", "bw_GBps", "efficiency", "latency_us", "nics_per_node",
                                                "rendezvous"])
        let scopeText = try string(object, "scope", at: key)
        guard let scope = NetworkLevel.Scope(rawValue: scopeText) else {
            throw error(path(key, "scope"), "must be \"node\" (between GPUs of a node) or \"cluster\" (between nodes), not \"\(scopeText)\"")
        }
        var nics: Sourced?
        switch scope {
        case .cluster: nics = try sourced(object, "nics_per_node", at: key, positiveInteger: true)
        case .node:
            if object["nics_per_node"] != nil {
                throw error(path(key, "nics_per_node"), "belongs to the cluster level, not to a node level")
            }
        }
        var rendezvous: NetworkLevel.Rendezvous?
        if let raw = object["rendezvous"] {
            let r = try self.object(raw, at: path(key, "rendezvous"))
            let rk = path(key, "rendezvous")
            try onlyKeys(r, at: rk, allowed: ["threshold_bytes", "bw_GBps", "latency_us"])
            rendezvous = .init(thresholdBytes: try sourced(r, "threshold_bytes", at: rk),
                               bandwidthGBps: try sourced(r, "bw_GBps", at: rk),
                               latencyMicroseconds: try sourced(r, "latency_us", at: rk, allowZero: true))
        }
        return NetworkLevel(name: try string(object, "name", at: key), scope: scope,
                            bandwidthGBps: try sourced(object, "bw_GBps", at: key),
                            efficiency: try sourced(object, "efficiency", at: key, fraction: true),
                            latencyMicroseconds: try sourced(object, "latency_us", at: key, allowZero: true),
                            nicsPerNode: nics, rendezvous: rendezvous)
    }
}
