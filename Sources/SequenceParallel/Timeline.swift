import MPI

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
    /// The operations the rank's communicators reported while this span was the innermost
    /// open one (only when the timeline observes a ledger).
    public var messages: [SpanMessage] = []
}

/// One `MessageEvent` inside a span, with the time it was reported.
public struct SpanMessage: Sendable, Codable, Equatable {
    public var event: MessageEvent
    /// Seconds on MPI's clock.
    public var time: Double
}

/// The spans a rank records while it runs a strategy: the basis of `compute_seconds`
/// and of `--trace` files.
public final class Timeline {
    /// Spans in the order they ended.
    public private(set) var spans: [Span] = []
    /// Spans begun and not yet ended, innermost last.
    private var open: [Span] = []
    private let clock: () -> Double

    /// A timeline reading `clock` (seconds).
    public init(clock: @escaping () -> Double) { self.clock = clock }

    /// Runs `body`, recording it as a span.
    public func measure<T>(_ name: String, _ category: SpanCategory, _ body: () throws -> T) rethrows -> T {
        open.append(Span(name: name, category: category, start: clock(), end: 0))
        defer {
            var span = open.removeLast()
            span.end = clock()
            spans.append(span)
        }
        return try body()
    }

    /// Puts every operation `ledger`'s communicators report (peer, bytes, tag, the key
    /// pairing it with the peer's half) on the innermost span open at the time.
    public func observe(_ ledger: TrafficLedger) {
        ledger.observer = { [weak self] event in self?.record(event) }
    }

    /// Adds `event` to the innermost open span; outside any span (a strategy that posts
    /// an `isend` between its spans), to a communication span of its own, named after the
    /// operation, lasting only while it is recorded.
    public func record(_ event: MessageEvent) {
        let time = clock()
        let message = SpanMessage(event: event, time: time)
        if open.isEmpty {
            spans.append(Span(name: event.operation, category: .communication, start: time, end: clock(), messages: [message]))
        } else {
            open[open.count - 1].messages.append(message)
        }
    }

    /// Seconds spent in spans of `category`.
    public func seconds(in category: SpanCategory) -> Double {
        spans.lazy.filter { $0.category == category }.reduce(0) { $0 + ($1.end - $1.start) }
    }

    /// Forgets every span.
    public func reset() { spans = [] }
}
