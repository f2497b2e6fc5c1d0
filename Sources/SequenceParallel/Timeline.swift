/// What a span of a rank's time was spent on.
public enum SpanCategory: String, Sendable, Codable {
    /// Local kernels (attention blocks, GLA chunks, merges).
    case compute
    /// Waiting in MPI: blocking calls, waits on nonblocking ones, collectives.
    case communication
}

/// One named interval of a rank's time, in seconds on MPI's clock.
public struct Span: Sendable, Codable, Equatable {
    public var name: String
    public var category: SpanCategory
    public var start: Double
    public var end: Double
}

/// The spans a rank records while it runs a strategy: the basis of `compute_seconds`
/// and of `--trace` files.
public final class Timeline {
    /// Spans in the order they ended.
    public private(set) var spans: [Span] = []
    private let clock: () -> Double

    /// A timeline reading `clock` (seconds).
    public init(clock: @escaping () -> Double) { self.clock = clock }

    /// Runs `body`, recording it as a span.
    public func measure<T>(_ name: String, _ category: SpanCategory, _ body: () throws -> T) rethrows -> T {
        let start = clock()
        defer { spans.append(Span(name: name, category: category, start: start, end: clock())) }
        return try body()
    }

    /// Seconds spent in spans of `category`.
    public func seconds(in category: SpanCategory) -> Double {
        spans.lazy.filter { $0.category == category }.reduce(0) { $0 + ($1.end - $1.start) }
    }

    /// Forgets every span.
    public func reset() { spans = [] }
}
