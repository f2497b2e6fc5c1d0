// The exclusive scan of GLA states alone, four ways, for `spsim bench`: the collectives the
// linear strategies are built on, without their local work, so they can be timed side by
// side (docs/algorithms.md, collective costs):
//
//   allscan K   ZeCO's All-Scan, K row blocks pipelined along the chain; only B travels
//               (each rank knows its own decay)                   (P−2+K)·(α + (m/K)·β)
//   exscan      MPI_Exscan with ⊕ as a non-commutative user op on packed rows [a, B]
//               (recursive doubling in the usual libraries)        ⌈log2 P⌉·(α + m'·β + m'·γ)
//   allgather   all-gather of packed rows, local prefix combine (LASP-2)   (P−1)·(α + m'·β) ring
//   chain       blocking receive from p−1, combine, blocking send to p+1 (LASP-1)   (P−1)·(α + m·β)
//
// m = H·Dk·Dv·4 bytes, m' = m·(1 + 1/Dv). Every variant returns the same S_in on every rank.
import Kernels
import MPI

/// One way to compute every rank's incoming state, the exclusive ⊕-scan of the ranks' elements.
public enum ScanCollective: Sendable, Hashable, CustomStringConvertible {
    /// ZeCO's All-Scan with K row blocks.
    case allScan(blocks: Int)
    /// `MPI_Exscan` with the scan operator as a user op.
    case exscan
    /// All-gather of every element, then the local prefix combine (LASP-2).
    case allgather
    /// The serial chain of whole states with blocking calls (LASP-1).
    case chain

    /// The variant's name in tables and JSON: `allscan K=4`, `exscan`, `allgather`, `chain`.
    public var description: String {
        switch self {
        case .allScan(let k): "allscan K=\(k)"
        case .exscan: "exscan"
        case .allgather: "allgather"
        case .chain: "chain"
        }
    }

    /// The collective's family, without parameters: `allscan`, `exscan`, `allgather`, `chain`.
    public var family: String {
        switch self {
        case .allScan: "allscan"
        default: description
        }
    }

    /// This rank's incoming state `S_in` (zero on rank 0) for its element `(a_p, B_p)`.
    public func incomingState(_ element: GLAScanElement, on communicator: Communicator) throws -> GLAState {
        let state = element.state, rank = communicator.rank, last = communicator.size - 1
        let (heads, dk, dv) = (state.heads, state.keyDim, state.valueDim)
        var incoming = GLAState(heads: heads, keyDim: dk, valueDim: dv)
        switch self {
        case .allScan(let k):
            let scan = try AllScan(communicator: communicator, rows: state.rowCount, width: dv, blocks: k, direction: .ascending)
            try scan.finish { rows, received, outgoing in
                GLAScanOperator.forwardBlock(rows, received: received, outgoing: outgoing, decay: element.decay,
                                             local: state, incoming: &incoming)
            }
        case .exscan:
            let prefix = try communicator.exscan(element.packed, elementCount: GLAScanOperator.packedWidth(valueDim: dv)) {
                GLAScanOperator.combine(earlier: $0, into: $1, valueDim: dv)
            }
            if let prefix { incoming = unpackRows(prefix, heads: heads, keyDim: dk, valueDim: dv).state }
        case .allgather:
            let all = try communicator.allgather(element.packed)
            incoming = GLAScanElement.foldedState(all, order: Array(0..<rank), heads: heads, keyDim: dk, valueDim: dv)
        case .chain:
            if rank > 0 { incoming.storage = try communicator.recv(count: state.storage.count, from: rank - 1, as: Float.self) }
            if rank < last {
                try communicator.send(GLABoundaryStates(incoming: incoming, local: state).outgoing(decay: element.decay).storage,
                                      to: rank + 1)
            }
        }
        return incoming
    }
}

/// A scan collective set up once for one rank's element, then run many times (a benchmark's
/// repeats): All-Scan allocates its buffers and posts its receives at setup and reruns in
/// them (`AllScan.restart`); the combine writes `Diag(a_p) S_in + B_p` straight into the
/// outgoing slice and `S_in` stays in the receive buffer, so a timed run allocates and copies
/// nothing. The other collectives run as `ScanCollective.incomingState` does.
public final class PreparedScan {
    /// The collective this runs.
    public let collective: ScanCollective
    private let element: GLAScanElement
    private let communicator: Communicator
    private let scan: AllScan?
    private var result: GLAState?
    private var runs = 0

    /// Sets `collective` up for `element` on `communicator` (for All-Scan: buffers and receives).
    public init(_ collective: ScanCollective, element: GLAScanElement, on communicator: Communicator) throws {
        self.collective = collective
        self.element = element
        self.communicator = communicator
        if case .allScan(let k) = collective {
            let state = element.state
            scan = try AllScan(communicator: communicator, rows: state.rowCount, width: state.valueDim, blocks: k,
                               direction: .ascending)
        } else {
            scan = nil
        }
    }

    /// One scan: this rank's `S_in` is computed (and kept until the next run).
    public func run() throws {
        defer { runs += 1 }
        guard let scan else {
            result = try collective.incomingState(element, on: communicator)
            return
        }
        if runs > 0 { try scan.restart() }
        let dv = element.state.valueDim
        try element.decay.withUnsafeBufferPointer { a in
            try element.state.storage.withUnsafeBufferPointer { b in
                try scan.finish { rows, received, outgoing in
                    guard let outgoing else { return }
                    GLAScanOperator.apply(rows: rows, decay: a.baseAddress!, own: b.baseAddress!,
                                          incoming: received?.baseAddress, into: outgoing.baseAddress!,
                                          valueDim: dv, stride: dv, offset: 0)
                }
            }
        }
    }

    /// This rank's `S_in` from the last run (zero on the first rank).
    public var incomingState: GLAState {
        if let result { return result }
        let state = element.state
        var incoming = GLAState(heads: state.heads, keyDim: state.keyDim, valueDim: state.valueDim)
        if let received = scan?.received { incoming.storage = received.array }
        return incoming
    }
}

/// Benchmark inputs whose scan is exact in float32, so every variant's result can be checked
/// element by element (nccl-tests style): rank j's element has decay 1/2 on every row and
/// `B_j[r, e] = (j + r + e) mod 8`; every partial sum is a short dyadic fraction.
public enum ScanBenchmarkInput {
    /// Rank `j`'s element for a `[1, rows, valueDim]` state.
    public static func element(rank j: Int, rows: Int, valueDim: Int) -> GLAScanElement {
        var state = GLAState(heads: 1, keyDim: rows, valueDim: valueDim)
        state.storage.withUnsafeMutableBufferPointer { b in
            for r in 0..<rows {
                for e in 0..<valueDim { b[r &* valueDim &+ e] = Float((j &+ r &+ e) & 7) }
            }
        }
        return GLAScanElement(decay: [Float](repeating: 0.5, count: rows), state: state)
    }

    /// How many elements of `incoming` differ from the exact `S_in` of rank `p`,
    /// `Σ_{j<p} 2^{−(p−1−j)} B_j`.
    public static func wrongElements(_ incoming: GLAState, rank p: Int) -> Int {
        let rows = incoming.keyDim * incoming.heads, dv = incoming.valueDim
        var wrong = 0
        incoming.storage.withUnsafeBufferPointer { s in
            for r in 0..<rows {
                for e in 0..<dv {
                    var expected = 0.0
                    for j in 0..<p { expected = expected * 0.5 + Double((j + r + e) & 7) }
                    if Double(s[r &* dv &+ e]) != expected { wrong += 1 }
                }
            }
        }
        return wrong
    }
}
