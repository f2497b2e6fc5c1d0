// All-Scan — "ZeCO: Zero Communication Overhead Sequence Parallelism for Linear Attention"
// (arXiv 2507.01004), §3.2: the collective that is the paper's contribution.
//
// A pipelined exclusive scan along the ranks. The R rows of a state are cut into K
// contiguous blocks (row (h, c) of an [H, Dk, Dv] state; block k holds rows
// [k·R/K, (k+1)·R/K), the first R mod K blocks one row more). On every rank, in rank order:
//
//   post irecv(block k) from the predecessor, for every k      (none on the first rank)
//   for k in 0..<K:                                            (as soon as block k is ready)
//       in  ← block k received from the predecessor            (nil on the first rank)
//       out ← combine(rows of block k, in)                     the caller's step, e.g.
//                                                               S_in = in, out = Diag(a_p) in + B_p
//       isend(out) to the successor at once                    (none on the last rank)
//   wait for every isend
//
// Block k+1 leaves a rank while block k is still on its way down the chain, so the scan
// costs (P − 2 + K)·(α + (m/K)·β) instead of (P − 1)·(α + m·β) for the whole state. `advance`
// does every block that is ready without blocking (MPI_Test), so a strategy interleaves it
// with its local work (ZeCO's Algorithm 1 overlaps the scan with the intra-chunk work);
// `finish` waits for the rest. The same function runs the backward scan: direction
// `.descending` chains the ranks in reverse order, and the combine is the caller's.
//
// Traffic (ledger convention: each isend is one message): every rank but the last in the
// chain sends R·w floats to its successor in K messages, w the floats per row of a message.
import MPI

/// The order of the ranks along an All-Scan chain.
public enum ScanDirection: Sendable {
    /// Rank 0 first, rank P−1 last (the forward scan of states).
    case ascending
    /// Rank P−1 first, rank 0 last (the backward scan of state gradients).
    case descending
}

/// ZeCO's All-Scan: a pipelined exclusive scan of row-blocked states along the ranks, with
/// nonblocking sends and receives; the per-block combine is the caller's.
public final class AllScan {
    /// What a rank does with block `rows`: read the predecessor's message for those rows
    /// (`incoming`, nil on the first rank of the chain) and fill the message for the successor
    /// (`outgoing`, nil on the last rank). Both hold `rows.count · width` floats, row after row.
    public typealias Combine = (_ rows: Range<Int>, _ incoming: UnsafeBufferPointer<Float>?,
                                _ outgoing: UnsafeMutableBufferPointer<Float>?) -> Void

    /// The communicator the chain runs on.
    public let communicator: Communicator
    /// Rows of the scanned state.
    public let rows: Int
    /// Floats per row in a message.
    public let width: Int
    /// Number of row blocks K (1 ≤ K ≤ rows).
    public let blocks: Int
    /// The rank before this one in the chain, nil on the first.
    public let predecessor: Int?
    /// The rank after this one in the chain, nil on the last.
    public let successor: Int?

    private let tag: Int
    private var receives: [(request: Request, buffer: MessageBuffer<Float>)] = []
    private var sends: [Request] = []
    /// The next block to combine.
    public private(set) var nextBlock = 0

    /// Sets up the chain and posts the receive of every block from the predecessor.
    /// Block k uses tag `tag + k mod 32767` (MPI guarantees tags up to 32767; should two blocks
    /// share a tag, MPI's in-order matching between one sender and one receiver still pairs
    /// them correctly, since both sides go through the blocks in order).
    public init(communicator: Communicator, rows: Int, width: Int, blocks: Int, direction: ScanDirection,
                tag: Int = 0) throws {
        precondition(rows >= 1 && width >= 1, "All-Scan: empty state")
        precondition(blocks >= 1 && blocks <= rows, "All-Scan: blocks must be between 1 and the row count")
        self.communicator = communicator
        self.rows = rows
        self.width = width
        self.blocks = blocks
        self.tag = tag
        let rank = communicator.rank, last = communicator.size - 1
        switch direction {
        case .ascending:
            predecessor = rank > 0 ? rank - 1 : nil
            successor = rank < last ? rank + 1 : nil
        case .descending:
            predecessor = rank < last ? rank + 1 : nil
            successor = rank > 0 ? rank - 1 : nil
        }
        if let predecessor {
            for k in 0..<blocks {
                let buffer = MessageBuffer<Float>(count: Self.rows(ofBlock: k, rows: rows, blocks: blocks).count * width,
                                                  repeating: 0)
                receives.append((try communicator.irecv(into: buffer, from: predecessor, tag: messageTag(k)), buffer))
            }
        }
    }

    /// Rows of block `k` when `rows` rows are cut into `blocks` contiguous blocks, the first
    /// `rows mod blocks` one row longer.
    public static func rows(ofBlock k: Int, rows: Int, blocks: Int) -> Range<Int> {
        let base = rows / blocks, extra = rows % blocks
        let start = k * base + min(k, extra)
        return start ..< start + base + (k < extra ? 1 : 0)
    }

    private func messageTag(_ k: Int) -> Int { tag + k % 32_767 }

    /// Whether every block has been combined and passed on.
    public var isComplete: Bool { nextBlock == blocks }

    /// Combines and passes on, in block order, every block whose rows all lie below
    /// `readyRows` (the caller's part is ready), whose message has arrived and whose
    /// predecessor block has left. Never blocks.
    ///
    /// One block is on the wire to the successor at a time: a link carries messages one
    /// after another, each α + (m/K)·β, which is the pipeline the cost model times. (Blocks
    /// sent together would instead share the link and all arrive late; SimGrid's fluid
    /// network model does exactly that.)
    public func advance(readyRows: Int, combine: Combine) throws {
        while nextBlock < blocks {
            let range = Self.rows(ofBlock: nextBlock, rows: rows, blocks: blocks)
            guard range.upperBound <= readyRows else { return }
            if predecessor != nil, try !receives[nextBlock].request.test() { return }
            if let previous = sends.last, try !previous.test() { return }
            try pass(range, combine)
        }
    }

    /// Combines and passes on every remaining block, waiting for each message and for the
    /// previous block's send in turn, then waits until every send has completed. The
    /// caller's part must be ready for all rows.
    public func finish(combine: Combine) throws {
        while nextBlock < blocks {
            if predecessor != nil { try receives[nextBlock].request.wait() }
            try sends.last?.wait()
            try pass(Self.rows(ofBlock: nextBlock, rows: rows, blocks: blocks), combine)
        }
        try waitAll(sends)
        sends = []
    }

    /// Block `nextBlock` (rows `range`), whose message has arrived: combine, then isend at once.
    private func pass(_ range: Range<Int>, _ combine: Combine) throws {
        let incoming = predecessor == nil ? nil : receives[nextBlock].buffer
        if let successor {
            let outgoing = MessageBuffer<Float>(count: range.count * width, repeating: 0)
            combine(range, incoming.map { UnsafeBufferPointer($0.buffer) }, outgoing.buffer)
            sends.append(try communicator.isend(outgoing, to: successor, tag: messageTag(nextBlock)))
        } else {
            combine(range, incoming.map { UnsafeBufferPointer($0.buffer) }, nil)
        }
        nextBlock += 1
    }

    // MARK: The default block count

    /// Per-message latency α of the default rule, seconds.
    public static let defaultLatencySeconds = 2e-6
    /// Bandwidth 1/β of the default rule, bytes per second.
    public static let defaultBandwidthBytesPerSecond = 2e9

    /// The default K: the minimizer of the chain time `(P − 2 + K)·(α + (m/K)·β)`,
    /// `K* = sqrt((P − 2)·m·β/α)`, rounded and clamped to `[1, rows]` (so K = 1 for P ≤ 2,
    /// where there is nothing to pipeline). m is the state's bytes. α = 2 µs and 1/β = 2 GB/s
    /// are what `spsim bench` measured for Open MPI over shared memory on the development
    /// machine (2 cores, the chain's time at 4 KiB for α, at 64 KiB–1 MiB for β); on a GPU
    /// cluster pass `--scan-blocks` with K* from that cluster's α and β.
    public static func defaultBlocks(ranks: Int, rows: Int, stateBytes: Int,
                                     latencySeconds alpha: Double = defaultLatencySeconds,
                                     bandwidth: Double = defaultBandwidthBytesPerSecond) -> Int {
        guard ranks > 2, rows > 1 else { return 1 }
        let k = (Double(ranks - 2) * Double(stateBytes) / bandwidth / alpha).squareRoot()
        return min(rows, max(1, Int(k.rounded())))
    }
}
