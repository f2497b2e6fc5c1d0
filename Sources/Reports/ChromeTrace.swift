import Foundation

/// One complete event ("ph": "X") of the Chrome / Perfetto trace format.
public struct TraceEvent: Codable, Sendable, Equatable {
    public var name: String
    /// Category: `compute` or `communication`, or a phase name.
    public var cat: String
    public var ph: String = "X"
    /// Start, microseconds.
    public var ts: Double
    /// Duration, microseconds.
    public var dur: Double
    /// Process id: the rank.
    public var pid: Int
    /// Thread id: 0 for spans, 1 for the phase markers.
    public var tid: Int

    public init(name: String, category: String, startMicroseconds: Double, durationMicroseconds: Double,
                rank: Int, lane: Int = 0) {
        self.name = name
        cat = category
        ts = startMicroseconds
        dur = durationMicroseconds
        pid = rank
        tid = lane
    }
}

/// A trace file that chrome://tracing and ui.perfetto.dev open: one process per rank.
public func chromeTraceJSON(_ events: [TraceEvent], ranks: Int) throws -> Data {
    struct Metadata: Encodable {
        var name = "process_name"
        var ph = "M"
        var pid: Int
        var args: [String: String]
    }
    struct File: Encodable {
        var traceEvents: [TraceEvent]
        var metadata: [Metadata]
        var displayTimeUnit = "ms"

        enum CodingKeys: String, CodingKey { case traceEvents, displayTimeUnit }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            // Metadata events sit in the same array as the spans.
            var all = c.nestedUnkeyedContainer(forKey: .traceEvents)
            for m in metadata { try all.encode(m) }
            for e in traceEvents { try all.encode(e) }
            try c.encode(displayTimeUnit, forKey: .displayTimeUnit)
        }
    }
    let metadata = (0..<ranks).map { Metadata(pid: $0, args: ["name": "rank \($0)"]) }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return try encoder.encode(File(traceEvents: events, metadata: metadata))
}
