import Foundation

/// A value in a trace event's `args`: what Perfetto and chrome://tracing show for a selected span.
public enum TraceValue: Codable, Sendable, Equatable {
    case int(Int)
    case number(Double)
    case text(String)
    case list([String])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Int.self) { self = .int(v) }
        else if let v = try? c.decode(Double.self) { self = .number(v) }
        else if let v = try? c.decode(String.self) { self = .text(v) }
        else { self = .list(try c.decode([String].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let v): try c.encode(v)
        case .number(let v): try c.encode(v)
        case .text(let v): try c.encode(v)
        case .list(let v): try c.encode(v)
        }
    }
}

/// One event of the Chrome / Perfetto trace format: a complete span (`"ph": "X"`), or one
/// end of a flow arrow (`"s"` where a message leaves, `"f"` where it arrives, bound to the
/// enclosing span).
public struct TraceEvent: Codable, Sendable, Equatable {
    public var name: String
    /// Category: `compute`, `communication`, `phase`, `message` (flow arrows), or `model`.
    public var cat: String
    /// `X` span, `s` flow start, `f` flow end.
    public var ph: String = "X"
    /// Start, microseconds.
    public var ts: Double
    /// Duration, microseconds (spans only).
    public var dur: Double?
    /// Process id: the rank (the model's rows follow the ranks).
    public var pid: Int
    /// Thread id: 0 for spans, 1 for the phase markers.
    public var tid: Int
    /// Details shown for the span: bytes, peers, tags, the operations.
    public var args: [String: TraceValue]?
    /// Flow arrows: the id shared by the two ends (assigned from `flowKey` when the file is written).
    public var id: Int?
    /// Flow ends: `e`, bind to the enclosing span.
    public var bp: String?
    /// Flow arrows: a string equal on both ends, replaced by `id` in the file.
    public var flowKey: String?

    /// A span.
    public init(name: String, category: String, startMicroseconds: Double, durationMicroseconds: Double,
                rank: Int, lane: Int = 0, args: [String: TraceValue]? = nil) {
        self.name = name
        cat = category
        ts = startMicroseconds
        dur = durationMicroseconds
        pid = rank
        tid = lane
        self.args = args
    }

    /// One end of a flow arrow: `start` where the message leaves, else where it arrives.
    public init(flow name: String, key: String, start: Bool, atMicroseconds ts: Double, rank: Int, lane: Int = 0) {
        self.name = name
        cat = "message"
        ph = start ? "s" : "f"
        self.ts = ts
        pid = rank
        tid = lane
        flowKey = key
        bp = start ? nil : "e"
    }
}

/// A trace file that chrome://tracing and ui.perfetto.dev open: one process per entry of
/// `processes` (pid → its name, e.g. "rank 0"), flow arrows numbered by their key.
public func chromeTraceJSON(_ events: [TraceEvent], processes: [Int: String]) throws -> Data {
    struct Metadata: Encodable {
        var name = "process_name"
        var ph = "M"
        var pid: Int
        var args: [String: String]
    }
    struct SortIndex: Encodable {
        var name = "process_sort_index"
        var ph = "M"
        var pid: Int
        var args: [String: Int]
    }
    struct File: Encodable {
        var traceEvents: [TraceEvent]
        var metadata: [Metadata]
        var order: [SortIndex]
        var displayTimeUnit = "ms"

        enum CodingKeys: String, CodingKey { case traceEvents, displayTimeUnit }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            // Metadata events sit in the same array as the spans.
            var all = c.nestedUnkeyedContainer(forKey: .traceEvents)
            for m in metadata { try all.encode(m) }
            for o in order { try all.encode(o) }
            for e in traceEvents { try all.encode(e) }
            try c.encode(displayTimeUnit, forKey: .displayTimeUnit)
        }
    }
    var ids = [String: Int]()
    let numbered = events.map { e -> TraceEvent in
        guard let key = e.flowKey else { return e }
        var e = e
        if ids[key] == nil { ids[key] = ids.count + 1 }
        e.id = ids[key]
        e.flowKey = nil
        return e
    }
    let pids = processes.keys.sorted()
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return try encoder.encode(File(traceEvents: numbered, metadata: pids.map { Metadata(pid: $0, args: ["name": processes[$0]!]) },
                                   order: pids.map { SortIndex(pid: $0, args: ["sort_index": $0]) }))
}
