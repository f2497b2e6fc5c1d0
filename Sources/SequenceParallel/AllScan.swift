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
// Memory: one receive buffer and one send buffer of R·w floats each, allocated (and their
// pages touched) once when the scan is set up; block k is a slice of them, so nothing is
// allocated or copied per block, and `restart` runs the same scan again in the same buffers
// (a benchmark's repeats, a strategy's steps). The combine reads the received slice and
// writes the outgoing slice directly. While block k+1 is combined, block k's send is in
// flight; every pass also tests the sends already posted, so the library moves their
// remaining fragments between combines (MPI progresses only inside calls).
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
    /// Every block's message from the predecessor, row after row (`rows · width` floats),
    /// nil on the first rank. After `finish` it holds the whole incoming message until
    /// `restart`.
    public let received: MessageBuffer<Float>?
    /// Every block's message to the successor, nil on the last rank.
    private let outgoing: MessageBuffer<Float>?
    private var receives: [Request] = []
    private var sends: [Request] = []
    /// The next block to combine.
    public private(set) var nextBlock = 0

    /// Sets up the chain, allocates its two buffers and posts the receive of every block
    /// from the predecessor.
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
        received = predecessor == nil ? nil : MessageBuffer<Float>(count: rows * width, repeating: 0)
        outgoing = successor == nil ? nil : MessageBuffer<Float>(count: rows * width, repeating: 0)
        try postReceives()
    }

    /// Runs the scan again in the same buffers: posts the receive of every block. Only after
    /// `finish`; the previous incoming message in `received` is overwritten.
    public func restart() throws {
        precondition(isComplete, "All-Scan: restart before finish")
        nextBlock = 0
        try postReceives()
    }

    private func postReceives() throws {
        guard let predecessor, let received else { return }
        receives = try (0..<blocks).map { k in
            try communicator.irecv(into: received, elements: elements(ofBlock: k), from: predecessor, tag: messageTag(k))
        }
    }

    /// Rows of block `k` when `rows` rows are cut into `blocks` contiguous blocks, the first
    /// `rows mod blocks` one row longer.
    public static func rows(ofBlock k: Int, rows: Int, blocks: Int) -> Range<Int> {
        let base = rows / blocks, extra = rows % blocks
        let start = k * base + min(k, extra)
        return start ..< start + base + (k < extra ? 1 : 0)
    }

    /// The floats of block `k` in a message buffer.
    private func elements(ofBlock k: Int) -> Range<Int> {
        let range = Self.rows(ofBlock: k, rows: rows, blocks: blocks)
        return range.lowerBound * width ..< range.upperBound * width
    }

    private func messageTag(_ k: Int) -> Int { tag + k % 32_767 }

    /// Whether every block has been combined and passed on and every send has completed
    /// (`finish` returned).
    public var isComplete: Bool { nextBlock == blocks && sends.isEmpty }

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
            guard range.upperBound <= readyRows else { break }
            if predecessor != nil, try !receives[nextBlock].test() { break }
            // One block on the wire per link, as the model's pipeline: the next waits for the last.
            if let previous = sends.last, try !previous.test() { break }
            try pass(range, combine)
        }
        try progressSends()
    }

    /// Combines and passes on every remaining block, waiting for each message and for the
    /// previous block's send in turn, then waits until every send has completed. The
    /// caller's part must be ready for all rows.
    public func finish(combine: Combine) throws {
        while nextBlock < blocks {
            if predecessor != nil { try receives[nextBlock].wait() }
            try sends.last?.wait()
            try pass(Self.rows(ofBlock: nextBlock, rows: rows, blocks: blocks), combine)
            try progressSends()
        }
        try waitAll(sends)
        sends = []
        receives = []
    }

    /// Lets the library move the posted sends on (`MPI_Test` on each until one is pending).
    private func progressSends() throws {
        for send in sends where try !send.test() { return }
    }

    /// Block `nextBlock` (rows `range`), whose message has arrived: combine, then isend at once.
    private func pass(_ range: Range<Int>, _ combine: Combine) throws {
        let slice = elements(ofBlock: nextBlock)
        let incoming = received.map { UnsafeBufferPointer(rebasing: UnsafeBufferPointer($0.buffer)[slice]) }
        if let successor, let outgoing {
            combine(range, incoming, UnsafeMutableBufferPointer(rebasing: outgoing.buffer[slice]))
            sends.append(try communicator.isend(outgoing, elements: slice, to: successor, tag: messageTag(nextBlock)))
        } else {
            combine(range, incoming, nil)
        }
        nextBlock += 1
    }
}
