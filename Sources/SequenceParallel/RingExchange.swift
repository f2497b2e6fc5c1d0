// One double-buffered hop of a ring, ring-flash-attention's `RingComm`: post the receive
// of the next block and the send of the current one, compute on the current one, wait.
// Both operations are nonblocking and posted before any wait, so no schedule built from
// these hops can deadlock whatever the MPI library's eager limit: every rank's waits at
// hop s need only operations its neighbours posted at hop s or earlier.
import MPI

/// A nonblocking exchange with the ring neighbours: send to `next`, receive from `previous`.
///
/// Typical use, overlapping transfer and compute:
///
///     exchange.start(sending: current, receiving: countOfNext)
///     compute(on: current)
///     current = try exchange.finish()
///
/// Each `start` is one message to `next` (one `isend`) in the traffic ledger. Messages of
/// one exchange are matched in order; give concurrent exchanges on the same neighbours
/// distinct tags or communicators.
///
/// Used by ring attention (K/V, dK/dV), USP's ring across groups, and TokenRing's query
/// ring (on its own communicator, stepping backwards when causal). Not by ZeCO's All-Scan:
/// its chain posts every block's receive up front and forwards each block as soon as it is
/// combined, K messages in flight at once rather than one double-buffered hop.
public final class RingExchange {
    /// Where blocks go.
    public let next: Int
    /// Where blocks come from.
    public let previous: Int
    private let context: RankContext
    private let communicator: Communicator
    private let tag: Int
    private let name: String
    private var pending: [Request] = []
    private var incoming: MessageBuffer<Float>?

    /// An exchange over `communicator` (default the context's) sending to rank + `step` and
    /// receiving from rank − `step` (modulo its size), its spans named after `name` in the
    /// context's timeline, its messages tagged `tag`.
    public init(context: RankContext, communicator: Communicator? = nil, name: String, tag: Int, step: Int = 1) {
        let communicator = communicator ?? context.communicator
        let p = communicator.size
        self.context = context
        self.communicator = communicator
        self.name = name
        self.tag = tag
        next = ((communicator.rank + step) % p + p) % p
        previous = ((communicator.rank - step) % p + p) % p
    }

    /// Whether a hop was started and not yet finished.
    public var isInFlight: Bool { !pending.isEmpty }

    /// Posts the receive of `count` floats from `previous` (when given), then the send of
    /// `block` to `next` (when given).
    /// - Throws: `MPIError` when posting or waiting fails.
    public func start(sending block: MessageBuffer<Float>?, receiving count: Int?) throws {
        precondition(!isInFlight, "RingExchange \(name): start before the previous hop finished")
        try context.communicate("post \(name)") {
            if let count {
                let buffer = context.receiveBuffer(count: count)
                pending.append(try communicator.irecv(into: buffer, from: previous, tag: tag))
                incoming = buffer
            }
            if let block {
                pending.append(try communicator.isend(block, to: next, tag: tag))
            }
        }
    }

    /// Waits for the posted hop; returns the received block (nil if none was posted).
    /// - Throws: `MPIError` when posting or waiting fails.
    @discardableResult
    public func finish() throws -> MessageBuffer<Float>? {
        try context.communicate("wait \(name)") { try waitAll(pending) }
        pending = []
        defer { incoming = nil }
        return incoming
    }
}
