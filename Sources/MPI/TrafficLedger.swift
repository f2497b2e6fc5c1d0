/// Bytes and messages, one direction.
public struct TrafficCount: Sendable, Equatable, Codable {
    public var bytes: Int = 0
    public var messages: Int = 0
    public init(bytes: Int = 0, messages: Int = 0) { self.bytes = bytes; self.messages = messages }

    static func += (lhs: inout TrafficCount, rhs: TrafficCount) {
        lhs.bytes += rhs.bytes
        lhs.messages += rhs.messages
    }
}

/// Counts the traffic one rank's algorithm sends and receives.
///
/// Convention (the cost model predicts exactly this):
/// - Point-to-point (`send`, `isend`, `sendrecv`): each call is one message of its
///   payload's bytes to that peer, even when the payload is empty.
/// - Collectives are counted by their *logical* schedule — the data this rank's input must
///   deliver to each other rank, as if sent directly — whatever algorithm the MPI library
///   picks underneath. One message per peer that receives a non-empty part:
///   `alltoall(v)`: block j to rank j; `allgather(v)`: the whole contribution to every
///   other rank; `reduceScatter`: block j to rank j; `allreduce`: the whole vector to
///   every other rank; `exscan`: the whole vector to every higher rank; `bcast`: the
///   root's vector to every other rank. A rank's part for itself is never counted.
/// - Peers are world ranks, whatever communicator carried the traffic.
///
/// Only communicators created with a ledger record; the harness's own timing, gathering
/// and verification use one without, so the ledger holds the algorithm's traffic alone.
public final class TrafficLedger {
    /// Sent, per destination world rank.
    public private(set) var sentTo: [Int: TrafficCount] = [:]
    /// Received, per source world rank.
    public private(set) var receivedFrom: [Int: TrafficCount] = [:]

    /// Told about every operation part the ledger's communicators carry, with its tag and
    /// a key pairing it with the peer's half (see `MessageEvent`); a `Timeline` attaches
    /// here to put bytes, peers and flow arrows on its spans. Unlike the ledger's counts,
    /// posted receives and completions of nonblocking operations are reported too.
    public var observer: ((MessageEvent) -> Void)?

    public init() {}

    /// Total bytes and messages sent.
    public var sent: TrafficCount { sentTo.values.reduce(into: TrafficCount()) { $0 += $1 } }
    /// Total bytes and messages received.
    public var received: TrafficCount { receivedFrom.values.reduce(into: TrafficCount()) { $0 += $1 } }

    /// Records one operation: `sends` and `receives` as (world rank, bytes).
    /// Point-to-point calls count empty payloads as messages; collectives pass
    /// `countEmpty: false`.
    func record(_ operation: String, sends: [(peer: Int, bytes: Int)], receives: [(peer: Int, bytes: Int)],
                countEmpty: Bool) {
        for (peer, bytes) in sends where countEmpty || bytes > 0 {
            let one = TrafficCount(bytes: bytes, messages: 1)
            sentTo[peer, default: .init()] += one
        }
        for (peer, bytes) in receives where countEmpty || bytes > 0 {
            receivedFrom[peer, default: .init()] += TrafficCount(bytes: bytes, messages: 1)
        }
    }

    /// Forgets everything recorded so far.
    public func reset() {
        sentTo = [:]
        receivedFrom = [:]
    }
}
