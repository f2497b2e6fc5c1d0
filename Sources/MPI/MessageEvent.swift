/// One operation's part toward one peer, as a communicator reports it to
/// `TrafficLedger.observer`: what a trace shows on the span that was open when it happened.
///
/// `key` is computed identically on the sending and the receiving rank, so the two halves
/// of a message can be paired across ranks: point-to-point messages by communicator,
/// world ranks of source and destination, tag and their order on that channel (MPI's
/// non-overtaking rule makes the n-th send the n-th matching receive); collectives by
/// communicator, their order on it, and the pair of world ranks of their logical schedule
/// (the same schedule the ledger counts).
public struct MessageEvent: Sendable, Equatable, Codable {
    /// Whether this rank sends to or receives from `peer`.
    public enum Direction: String, Sendable, Codable {
        case send, receive
    }

    /// Where the event sits in the message's life.
    public enum Stage: String, Sendable, Codable {
        /// A nonblocking operation was posted (`isend`, `irecv`); nothing has moved yet for a receive.
        case posted
        /// The data is delivered to or taken from this rank's buffer: a blocking call returned,
        /// or a wait or successful test completed a nonblocking one.
        case completed
    }

    /// The MPI call: `send`, `recv`, `sendrecv`, `isend`, `irecv`, `alltoallv`, `allgather`, …
    public var operation: String
    /// Send or receive.
    public var direction: Direction
    /// Posted or completed.
    public var stage: Stage
    /// The other rank, as a world rank.
    public var peer: Int
    /// Payload bytes toward (or from) `peer`.
    public var bytes: Int
    /// The point-to-point tag; nil for collectives.
    public var tag: Int?
    /// The same string on both ranks of the message (see the type's description).
    public var key: String

    public init(operation: String, direction: Direction, stage: Stage, peer: Int, bytes: Int, tag: Int?, key: String) {
        self.operation = operation
        self.direction = direction
        self.stage = stage
        self.peer = peer
        self.bytes = bytes
        self.tag = tag
        self.key = key
    }

    /// Whether a trace's flow arrow starts here: a send, when it is first seen (posted for
    /// `isend`, completed for blocking calls and collectives).
    public var startsFlow: Bool { direction == .send && (stage == .posted || !isNonblocking) }
    /// Whether the operation is `isend` or `irecv` (reported when posted and again when completed).
    public var isNonblocking: Bool { operation == "isend" || operation == "irecv" }
    /// Whether a trace's flow arrow ends here: a receive, once its data has arrived.
    public var endsFlow: Bool { direction == .receive && stage == .completed }
}
