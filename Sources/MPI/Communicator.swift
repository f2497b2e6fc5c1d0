import CMPI

/// An MPI communicator: a group of ranks that exchange messages.
///
/// Every call is synchronous on the calling thread; overlap comes from `isend`/`irecv`
/// and `wait`. Failures throw `MPIError`. When created with a `TrafficLedger`, every
/// operation is recorded there (see `TrafficLedger` for the convention), and
/// communicators derived by `dup` or `split` record into the same ledger.
public final class Communicator {
    let handle: cmpi_comm
    /// This process's rank in the communicator.
    public let rank: Int
    /// Number of ranks.
    public let size: Int
    /// Where traffic is recorded, if anywhere.
    public let ledger: TrafficLedger?
    /// World rank of each rank of this communicator (ledger peers are world ranks).
    let worldRanks: [Int]
    /// Where the communicator sits among those derived by `dup` and `split` ("w", "w.1",
    /// "w.1.2", …): the same on every rank of it, since both calls are collective and every
    /// rank makes them in the same order. Part of `MessageEvent.key`.
    let path: String
    /// Communicators derived from this one so far.
    private var derived = 0
    /// Collectives called on this communicator so far.
    private var collectives = 0
    /// Point-to-point operations posted so far per (peer, tag, direction): a message's order on its channel.
    private var channels: [Channel: Int] = [:]

    private struct Channel: Hashable {
        var peer: Int, tag: Int, direction: MessageEvent.Direction
    }

    init(handle: cmpi_comm, ledger: TrafficLedger?, path: String) throws {
        self.handle = handle
        self.ledger = ledger
        self.path = path
        var r: Int32 = 0, s: Int32 = 0
        try check(cmpi_comm_rank(handle, &r), "MPI_Comm_rank")
        try check(cmpi_comm_size(handle, &s), "MPI_Comm_size")
        rank = Int(r)
        size = Int(s)
        var ranks = [Int]()
        for i in 0..<size {
            var w: Int32 = 0
            try check(cmpi_comm_world_rank(handle, Int32(i), &w), "MPI_Group_translate_ranks")
            ranks.append(Int(w))
        }
        worldRanks = ranks
    }

    deinit { _ = cmpi_comm_release(handle) }

    /// A communicator over every process of the job. Records no traffic.
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public static func world() throws -> Communicator {
        var h: cmpi_comm?
        try check(cmpi_comm_world(&h), "MPI_COMM_WORLD")
        return try Communicator(handle: h!, ledger: nil, path: "w")
    }

    /// A duplicate (`MPI_Comm_dup`): same ranks, separate message space. Records into
    /// `ledger` when given, else into this communicator's ledger.
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func dup(recordingInto ledger: TrafficLedger? = nil) throws -> Communicator {
        var h: cmpi_comm?
        try check(cmpi_comm_dup(handle, &h), "MPI_Comm_dup")
        derived += 1
        return try Communicator(handle: h!, ledger: ledger ?? self.ledger, path: "\(path).\(derived)")
    }

    /// `MPI_Comm_split`: ranks with equal `color` form a communicator, ordered by `key`.
    /// A negative color leaves this rank out and returns nil.
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func split(color: Int, key: Int) throws -> Communicator? {
        var h: cmpi_comm?
        try check(cmpi_comm_split(handle, Int32(color), Int32(key), &h), "MPI_Comm_split")
        derived += 1
        guard let h else { return nil }
        return try Communicator(handle: h, ledger: ledger, path: "\(path).\(derived)")
    }

    // MARK: Recording

    private func bytes<T>(_ count: Int, _: T.Type) -> Int { count * MemoryLayout<T>.stride }

    /// Records a point-to-point operation in the ledger and reports it to the ledger's
    /// observer; returns the events a nonblocking operation reports again when completed.
    @discardableResult
    private func recordPointToPoint(_ operation: String, tag: Int, sendTo dest: Int?, sendBytes: Int,
                                    receiveFrom source: Int?, receiveBytes: Int,
                                    stage: MessageEvent.Stage = .completed) -> [MessageEvent] {
        guard let ledger else { return [] }
        ledger.record(operation,
                      sends: dest.map { [(worldRanks[$0], sendBytes)] } ?? [],
                      receives: source.map { [(worldRanks[$0], receiveBytes)] } ?? [],
                      countEmpty: true)
        var events = [MessageEvent]()
        for (peer, bytes, direction) in [(dest, sendBytes, MessageEvent.Direction.send),
                                         (source, receiveBytes, .receive)] {
            guard let peer else { continue }
            // Counted whether or not anyone observes, so keys agree across ranks whenever one attaches.
            let channel = Channel(peer: peer, tag: tag, direction: direction)
            let order = channels[channel, default: 0]
            channels[channel] = order + 1
            guard ledger.observer != nil else { continue }
            let (from, to) = direction == .send ? (worldRanks[rank], worldRanks[peer]) : (worldRanks[peer], worldRanks[rank])
            events.append(MessageEvent(operation: operation, direction: direction, stage: stage, peer: worldRanks[peer],
                                       bytes: bytes, tag: tag, key: "\(path) \(from)>\(to) tag \(tag) #\(order)"))
        }
        if let observer = ledger.observer { events.forEach(observer) }
        return events
    }

    /// Records a collective whose logical schedule sends `sendBytes[j]` to rank j and
    /// receives `receiveBytes[j]` from rank j; this rank's own entries are skipped. The
    /// observer hears of every non-empty part.
    private func recordCollective(_ operation: String, sendBytes: (Int) -> Int, receiveBytes: (Int) -> Int) {
        guard let ledger else { return }
        let others = (0..<size).filter { $0 != rank }
        ledger.record(operation,
                      sends: others.map { (worldRanks[$0], sendBytes($0)) },
                      receives: others.map { (worldRanks[$0], receiveBytes($0)) },
                      countEmpty: false)
        let order = collectives
        collectives += 1
        guard let observer = ledger.observer else { return }
        let me = worldRanks[rank]
        for j in others {
            let peer = worldRanks[j]
            for (bytes, direction) in [(sendBytes(j), MessageEvent.Direction.send), (receiveBytes(j), .receive)] where bytes > 0 {
                let (from, to) = direction == .send ? (me, peer) : (peer, me)
                observer(MessageEvent(operation: operation, direction: direction, stage: .completed, peer: peer, bytes: bytes,
                                      tag: nil, key: "\(path) \(operation) #\(order) \(from)>\(to)"))
            }
        }
    }

    /// The request of a nonblocking operation whose `events` are reported again, completed, when it finishes.
    private func request(_ handle: cmpi_request?, keeping buffer: AnyObject, events: [MessageEvent]) -> Request {
        guard let ledger, !events.isEmpty else { return Request(handle, keeping: buffer) }
        return Request(handle, keeping: buffer) { [ledger] in
            guard let observer = ledger.observer else { return }
            for var e in events {
                e.stage = .completed
                observer(e)
            }
        }
    }

    // MARK: Point to point

    /// Blocking send (`MPI_Send`).
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func send<T: MPIScalar>(_ data: [T], to dest: Int, tag: Int = 0) throws {
        try data.withUnsafeBufferPointer {
            try check(cmpi_send($0.baseAddress, Int64($0.count), T.mpiType, Int32(dest), Int32(tag), handle), "MPI_Send")
        }
        recordPointToPoint("send", tag: tag, sendTo: dest, sendBytes: bytes(data.count, T.self), receiveFrom: nil, receiveBytes: 0)
    }

    /// Blocking receive of exactly `count` elements (`MPI_Recv`).
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func recv<T: MPIScalar>(count: Int, from source: Int, tag: Int = 0, as _: T.Type = T.self) throws -> [T] {
        var out = [T](unsafeUninitializedCapacity: count) { _, n in n = count }
        try out.withUnsafeMutableBufferPointer {
            try check(cmpi_recv($0.baseAddress, Int64(count), T.mpiType, Int32(source), Int32(tag), handle), "MPI_Recv")
        }
        recordPointToPoint("recv", tag: tag, sendTo: nil, sendBytes: 0, receiveFrom: source, receiveBytes: bytes(count, T.self))
        return out
    }

    /// Sends `data` to `dest` while receiving `count` elements from `source` (`MPI_Sendrecv`).
    public func sendrecv<T: MPIScalar>(_ data: [T], to dest: Int, receiving count: Int, from source: Int,
                                       tag: Int = 0) throws -> [T] {
        var out = [T](unsafeUninitializedCapacity: count) { _, n in n = count }
        try data.withUnsafeBufferPointer { s in
            try out.withUnsafeMutableBufferPointer { r in
                try check(cmpi_sendrecv(s.baseAddress, Int64(s.count), Int32(dest), Int32(tag),
                                        r.baseAddress, Int64(count), Int32(source), Int32(tag), T.mpiType, handle),
                          "MPI_Sendrecv")
            }
        }
        recordPointToPoint("sendrecv", tag: tag, sendTo: dest, sendBytes: bytes(data.count, T.self),
                           receiveFrom: source, receiveBytes: bytes(count, T.self))
        return out
    }

    /// Starts a send of the buffer's `elements` (all of it by default) (`MPI_Isend`); the
    /// request keeps the buffer alive.
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func isend<T: MPIScalar>(_ buffer: MessageBuffer<T>, elements: Range<Int>? = nil, to dest: Int,
                                    tag: Int = 0) throws -> Request {
        try post("isend", buffer, elements: elements, peer: dest, tag: tag, sends: true) { base, count, r in
            cmpi_isend(base, count, T.mpiType, Int32(dest), Int32(tag), handle, &r)
        }
    }

    /// Starts a receive filling the buffer's `elements` (all of it by default) (`MPI_Irecv`);
    /// the request keeps the buffer alive.
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func irecv<T: MPIScalar>(into buffer: MessageBuffer<T>, elements: Range<Int>? = nil, from source: Int,
                                    tag: Int = 0) throws -> Request {
        try post("irecv", buffer, elements: elements, peer: source, tag: tag, sends: false) { base, count, r in
            cmpi_irecv(base, count, T.mpiType, Int32(source), Int32(tag), handle, &r)
        }
    }

    /// Posts `operation` (isend or irecv) on the buffer's `elements` through `start`, which
    /// gets their first element and count and sets the request; records the posted message
    /// (to or from `peer`) in the ledger.
    /// - Throws: `MPIError` when `start` fails.
    private func post<T: MPIScalar>(_ operation: String, _ buffer: MessageBuffer<T>, elements: Range<Int>?, peer: Int,
                                    tag: Int, sends: Bool,
                                    _ start: (UnsafeMutablePointer<T>, Int64, inout cmpi_request?) -> Int32) throws -> Request {
        let part = elements ?? 0 ..< buffer.count
        precondition(part.lowerBound >= 0 && part.upperBound <= buffer.count, "\(operation): elements outside the buffer")
        var r: cmpi_request?
        try check(start(buffer.baseAddress + part.lowerBound, Int64(part.count), &r), sends ? "MPI_Isend" : "MPI_Irecv")
        let b = bytes(part.count, T.self)
        let events = recordPointToPoint(operation, tag: tag, sendTo: sends ? peer : nil, sendBytes: sends ? b : 0,
                                        receiveFrom: sends ? nil : peer, receiveBytes: sends ? 0 : b, stage: .posted)
        return request(r, keeping: buffer, events: events)
    }

    // MARK: Collectives

    /// Waits until every rank has arrived (`MPI_Barrier`).
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func barrier() throws {
        try check(cmpi_barrier(handle), "MPI_Barrier")
    }

    /// Broadcasts `root`'s `data` to every rank (`MPI_Bcast`); `count` is the length every rank expects.
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func bcast<T: MPIScalar>(_ data: [T], count: Int, root: Int) throws -> [T] {
        var out = rank == root ? data : [T](unsafeUninitializedCapacity: count) { _, n in n = count }
        precondition(out.count == count, "bcast: the root's data must have `count` elements")
        try out.withUnsafeMutableBufferPointer {
            try check(cmpi_bcast($0.baseAddress, Int64(count), T.mpiType, Int32(root), handle), "MPI_Bcast")
        }
        let b = bytes(count, T.self)
        recordCollective("bcast", sendBytes: { _ in rank == root ? b : 0 }, receiveBytes: { $0 == root ? b : 0 })
        return out
    }

    /// Element-wise reduction of every rank's `data`, result on every rank (`MPI_Allreduce`).
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func allreduce<T: MPIScalar>(_ data: [T], _ op: ReductionOperator) throws -> [T] {
        var out = [T](unsafeUninitializedCapacity: data.count) { _, n in n = data.count }
        try data.withUnsafeBufferPointer { s in
            try out.withUnsafeMutableBufferPointer { r in
                try check(cmpi_allreduce(s.baseAddress, r.baseAddress, Int64(s.count), T.mpiType, op.cmpi, handle),
                          "MPI_Allreduce")
            }
        }
        let b = bytes(data.count, T.self)
        recordCollective("allreduce", sendBytes: { _ in b }, receiveBytes: { _ in b })
        return out
    }

    /// Every rank's equal-sized `data`, concatenated in rank order (`MPI_Allgather`).
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func allgather<T: MPIScalar>(_ data: [T]) throws -> [T] {
        let total = data.count * size
        var out = [T](unsafeUninitializedCapacity: total) { _, n in n = total }
        try data.withUnsafeBufferPointer { s in
            try out.withUnsafeMutableBufferPointer { r in
                try check(cmpi_allgather(s.baseAddress, Int64(s.count), r.baseAddress, T.mpiType, handle), "MPI_Allgather")
            }
        }
        let b = bytes(data.count, T.self)
        recordCollective("allgather", sendBytes: { _ in b }, receiveBytes: { _ in b })
        return out
    }

    /// Every rank's `data` (rank j contributes `counts[j]` elements), concatenated in rank
    /// order (`MPI_Allgatherv`).
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func allgatherv<T: MPIScalar>(_ data: [T], counts: [Int]) throws -> [T] {
        precondition(counts.count == size && counts[rank] == data.count, "allgatherv: counts do not match")
        let out = try gathered(data, counts: counts, root: nil)!
        recordCollective("allgatherv", sendBytes: { _ in self.bytes(data.count, T.self) },
                         receiveBytes: { self.bytes(counts[$0], T.self) })
        return out
    }

    /// Like `allgatherv`, but only `root` receives (nil elsewhere) and nothing is recorded:
    /// meant for the harness collecting results, not for algorithms.
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func gatherv<T: MPIScalar>(_ data: [T], counts: [Int], root: Int) throws -> [T]? {
        precondition(counts.count == size && counts[rank] == data.count, "gatherv: counts do not match")
        return try gathered(data, counts: counts, root: root)
    }

    private func gathered<T: MPIScalar>(_ data: [T], counts: [Int], root: Int?) throws -> [T]? {
        let displs = Self.displacements(counts)
        let total = counts.reduce(0, +)
        let receives = root == nil || root == rank
        var out = [T](unsafeUninitializedCapacity: receives ? total : 0) { _, n in n = receives ? total : 0 }
        let c64 = counts.map(Int64.init), d64 = displs.map(Int64.init)
        try data.withUnsafeBufferPointer { s in
            try out.withUnsafeMutableBufferPointer { r in
                if let root {
                    try check(cmpi_gatherv(s.baseAddress, Int64(s.count), r.baseAddress, c64, d64, T.mpiType,
                                           Int32(root), handle), "MPI_Gatherv")
                } else {
                    try check(cmpi_allgatherv(s.baseAddress, Int64(s.count), r.baseAddress, c64, d64, T.mpiType, handle),
                              "MPI_Allgatherv")
                }
            }
        }
        return receives ? out : nil
    }

    /// Block j of `data` (`count` elements each) goes to rank j; the result holds the
    /// blocks received, in source rank order (`MPI_Alltoall`).
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func alltoall<T: MPIScalar>(_ data: [T], countPerRank count: Int) throws -> [T] {
        precondition(data.count == count * size, "alltoall: data must hold size × countPerRank elements")
        var out = [T](unsafeUninitializedCapacity: data.count) { _, n in n = data.count }
        try data.withUnsafeBufferPointer { s in
            try out.withUnsafeMutableBufferPointer { r in
                try check(cmpi_alltoall(s.baseAddress, Int64(count), r.baseAddress, T.mpiType, handle), "MPI_Alltoall")
            }
        }
        let b = bytes(count, T.self)
        recordCollective("alltoall", sendBytes: { _ in b }, receiveBytes: { _ in b })
        return out
    }

    /// Sends `sendCounts[j]` consecutive elements of `data` to rank j and receives
    /// `receiveCounts[j]` from rank j, blocks packed in rank order (`MPI_Alltoallv`).
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func alltoallv<T: MPIScalar>(_ data: [T], sendCounts: [Int], receiveCounts: [Int]) throws -> [T] {
        precondition(sendCounts.count == size && receiveCounts.count == size, "alltoallv: one count per rank")
        precondition(sendCounts.reduce(0, +) == data.count, "alltoallv: send counts must cover the data")
        let total = receiveCounts.reduce(0, +)
        var out = [T](unsafeUninitializedCapacity: total) { _, n in n = total }
        let sc = sendCounts.map(Int64.init), sd = Self.displacements(sendCounts).map(Int64.init)
        let rc = receiveCounts.map(Int64.init), rd = Self.displacements(receiveCounts).map(Int64.init)
        try data.withUnsafeBufferPointer { s in
            try out.withUnsafeMutableBufferPointer { r in
                try check(cmpi_alltoallv(s.baseAddress, sc, sd, r.baseAddress, rc, rd, T.mpiType, handle), "MPI_Alltoallv")
            }
        }
        recordCollective("alltoallv", sendBytes: { self.bytes(sendCounts[$0], T.self) },
                         receiveBytes: { self.bytes(receiveCounts[$0], T.self) })
        return out
    }

    /// Reduces every rank's `data` element-wise and leaves block j (`counts[j]` elements)
    /// on rank j (`MPI_Reduce_scatter`).
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func reduceScatter<T: MPIScalar>(_ data: [T], counts: [Int], _ op: ReductionOperator) throws -> [T] {
        precondition(counts.count == size && counts.reduce(0, +) == data.count, "reduceScatter: counts must cover the data")
        var out = [T](unsafeUninitializedCapacity: counts[rank]) { _, n in n = counts[rank] }
        let c64 = counts.map(Int64.init)
        try data.withUnsafeBufferPointer { s in
            try out.withUnsafeMutableBufferPointer { r in
                try check(cmpi_reduce_scatter(s.baseAddress, r.baseAddress, c64, T.mpiType, op.cmpi, handle),
                          "MPI_Reduce_scatter")
            }
        }
        recordCollective("reduceScatter", sendBytes: { self.bytes(counts[$0], T.self) },
                         receiveBytes: { _ in self.bytes(counts[self.rank], T.self) })
        return out
    }

    // MARK: Phantom collectives

    /// `allgatherv` of phantom payloads (`MessageBuffer(phantomCount:)`): the same messages
    /// (the ring all-gather SMPI runs) from `data` into `result`, whose values stay
    /// unspecified; nothing is allocated or copied. Recorded as `allgatherv`.
    /// - Throws: `MPIError` (the MPI library's error class and message) when a message fails.
    public func phantomAllgatherv<T: MPIScalar>(_ data: MessageBuffer<T>, into result: MessageBuffer<T>,
                                                counts: [Int]) throws {
        precondition(data.isPhantom && result.isPhantom, "phantom collectives take phantom buffers")
        precondition(counts.count == size && counts[rank] == data.count && counts.reduce(0, +) == result.count,
                     "phantomAllgatherv: counts do not match")
        try check(cmpi_phantom_allgatherv(data.baseAddress, Int64(data.count), result.baseAddress, counts.map(Int64.init),
                                          T.mpiType, handle), "MPI_Allgatherv")
        recordCollective("allgatherv", sendBytes: { _ in self.bytes(data.count, T.self) },
                         receiveBytes: { self.bytes(counts[$0], T.self) })
    }

    /// `alltoallv` of phantom payloads: the same messages (the pairwise exchange SMPI runs)
    /// from `data` into `result`, values unspecified. Recorded as `alltoallv`.
    /// - Throws: `MPIError` (the MPI library's error class and message) when a message fails.
    public func phantomAlltoallv<T: MPIScalar>(_ data: MessageBuffer<T>, sendCounts: [Int], into result: MessageBuffer<T>,
                                               receiveCounts: [Int]) throws {
        precondition(data.isPhantom && result.isPhantom, "phantom collectives take phantom buffers")
        precondition(sendCounts.count == size && receiveCounts.count == size
                     && sendCounts.reduce(0, +) == data.count && receiveCounts.reduce(0, +) == result.count,
                     "phantomAlltoallv: counts do not match")
        try check(cmpi_phantom_alltoallv(data.baseAddress, sendCounts.map(Int64.init), result.baseAddress,
                                         receiveCounts.map(Int64.init), T.mpiType, handle), "MPI_Alltoallv")
        recordCollective("alltoallv", sendBytes: { self.bytes(sendCounts[$0], T.self) },
                         receiveBytes: { self.bytes(receiveCounts[$0], T.self) })
    }

    /// `reduceScatter` of a phantom payload: the same messages (Open MPI's ring, which SMPI
    /// runs), received into `data` itself; nothing is combined and no result is kept.
    /// Recorded as `reduceScatter`.
    /// - Throws: `MPIError` (the MPI library's error class and message) when a message fails.
    public func phantomReduceScatter<T: MPIScalar>(_ data: MessageBuffer<T>, counts: [Int]) throws {
        precondition(data.isPhantom, "phantom collectives take phantom buffers")
        precondition(counts.count == size && counts.reduce(0, +) == data.count, "phantomReduceScatter: counts must cover the data")
        try check(cmpi_phantom_reduce_scatter(data.baseAddress, counts.map(Int64.init), T.mpiType, handle),
                  "MPI_Reduce_scatter")
        recordCollective("reduceScatter", sendBytes: { self.bytes(counts[$0], T.self) },
                         receiveBytes: { _ in self.bytes(counts[self.rank], T.self) })
    }

    /// Exclusive scan (`MPI_Exscan`) of `data`, read as `data.count / elementCount`
    /// elements of `elementCount` floats, with a user-defined operator that need not
    /// commute. `combine(earlier, later)` must overwrite `later` with `earlier ⊕ later`.
    /// Returns nil on rank 0, which has no predecessor.
    public func exscan(_ data: [Float], elementCount: Int,
                       _ combine: (UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) -> Void) throws -> [Float]? {
        precondition(elementCount > 0 && data.count % elementCount == 0, "exscan: data must hold whole elements")
        var out = [Float](repeating: 0, count: data.count)
        try withoutActuallyEscaping(combine) { combine in
            var operation = ScanOperation(elementCount: elementCount, combine: combine)
            try withUnsafeMutablePointer(to: &operation) { context in
                try data.withUnsafeBufferPointer { s in
                    try out.withUnsafeMutableBufferPointer { r in
                        try check(cmpi_exscan_user(s.baseAddress, r.baseAddress, Int64(data.count / elementCount),
                                                   Int32(elementCount), scanTrampoline, context, handle), "MPI_Exscan")
                    }
                }
            }
        }
        let b = bytes(data.count, Float.self)
        recordCollective("exscan", sendBytes: { $0 > self.rank ? b : 0 }, receiveBytes: { $0 < self.rank ? b : 0 })
        return rank == 0 ? nil : out
    }

    /// Start offsets of consecutive blocks of the given lengths.
    static func displacements(_ counts: [Int]) -> [Int] {
        var offsets = [Int](), running = 0
        for c in counts { offsets.append(running); running += c }
        return offsets
    }
}

/// The context of one `exscan` call, reached by the C trampoline through MPI.
private struct ScanOperation {
    var elementCount: Int
    var combine: (UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) -> Void
}

private func scanTrampoline(_ input: UnsafePointer<Float>?, _ accumulator: UnsafeMutablePointer<Float>?, _ count: Int32,
                            _ context: UnsafeMutableRawPointer?) {
    let operation = context!.assumingMemoryBound(to: ScanOperation.self).pointee
    let n = operation.elementCount
    for i in 0..<Int(count) {
        operation.combine(UnsafeBufferPointer(start: input! + i * n, count: n),
                          UnsafeMutableBufferPointer(start: accumulator! + i * n, count: n))
    }
}

/// A pending nonblocking operation; it holds its message buffer until completed.
public final class Request {
    private var handle: cmpi_request?
    private var buffer: AnyObject?
    /// Called once when a wait or test completes the operation (reports it to the ledger's observer).
    private var onCompletion: (() -> Void)?

    init(_ handle: cmpi_request?, keeping buffer: AnyObject, onCompletion: (() -> Void)? = nil) {
        self.handle = handle
        self.buffer = buffer
        self.onCompletion = onCompletion
    }

    private func completed() {
        onCompletion?()
        onCompletion = nil
    }

    /// Waits for completion (`MPI_Wait`). Waiting again is a no-op.
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func wait() throws {
        guard let h = handle else { return }
        handle = nil
        defer { buffer = nil }
        try check(cmpi_wait(h), "MPI_Wait")
        completed()
    }

    /// Whether the operation has completed, without blocking (`MPI_Test`). Once it returns
    /// true the request is finished, as after `wait()`; testing again returns true.
    /// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
    public func test() throws -> Bool {
        guard let h = handle else { return true }
        var flag: Int32 = 0
        try check(cmpi_test(h, &flag), "MPI_Test")
        guard flag != 0 else { return false }
        handle = nil
        buffer = nil
        completed()
        return true
    }

    deinit {
        // A request dropped without a wait would leave MPI writing into freed memory.
        if let h = handle { _ = cmpi_wait(h) }
    }
}

/// Waits for every request (`MPI_Waitall` semantics); the first error is thrown after all complete.
/// - Throws: `MPIError` (the MPI library's error class and message) when the call fails.
public func waitAll(_ requests: [Request]) throws {
    var firstError: Error?
    for r in requests {
        do { try r.wait() } catch { if firstError == nil { firstError = error } }
    }
    if let firstError { throw firstError }
}
