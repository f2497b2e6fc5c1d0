import ArgumentParser
import Kernels
import MPI
import Reports
import SequenceParallel

/// `spsim collectives`: every `Communicator` operation on data whose correct result is
/// exactly predictable (nccl-tests style), with the ledger's counts checked against the
/// convention documented in `TrafficLedger`.
struct CollectivesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collectives",
        abstract: "Check every MPI operation spsim uses: wrong elements and ledger counts per operation.",
        discussion: "Example: mpirun -np 5 spsim collectives. Exits 1 if any element or count is wrong.")

    @Option(help: "Elements per block (scales every message).")
    var count: Int = 37

    @Flag(help: "Print one JSON object on stdout (rank 0).")
    var json = false

    /// One operation's outcome, summed over ranks.
    struct Outcome: Encodable {
        var operation: String
        var wrongElements: Int
        var ledgerMismatches: Int
    }

    func run() throws {
        try withMPI(validate: { _ in
            try SizeLimits.require("--count", count, atMost: 1 << 24)
        }) { world, _ in
            let ledger = TrafficLedger()
            let comm = try world.dup(recordingInto: ledger)
            var outcomes = [Outcome]()
            for check in checks {
                ledger.reset()
                let (wrong, expected) = try check.body(comm, count)
                let sent = ledger.sent
                let mismatches = (sent.bytes == expected.bytes ? 0 : 1) + (sent.messages == expected.messages ? 0 : 1)
                let totals = try world.allreduce([Int64(wrong), Int64(mismatches)], .sum)
                outcomes.append(Outcome(operation: check.name, wrongElements: Int(totals[0]), ledgerMismatches: Int(totals[1])))
            }
            let failed = outcomes.contains { $0.wrongElements != 0 || $0.ledgerMismatches != 0 }
            if world.rank == 0 {
                if json {
                    struct Report: Encodable { var ranks: Int; var count: Int; var operations: [Outcome]; var passed: Bool }
                    print(try jsonLine(Report(ranks: world.size, count: count, operations: outcomes, passed: !failed)))
                } else {
                    var table = TextTable(columns: ["operation", "wrong elements", "ledger mismatches"])
                    for o in outcomes { table.append([o.operation, "\(o.wrongElements)", "\(o.ledgerMismatches)"]) }
                    print(table.render(), terminator: "")
                    print(failed ? "FAILED on \(world.size) ranks" : "all correct on \(world.size) ranks")
                }
            }
            return failed ? 1 : 0
        }
    }
}

/// A check returns (wrong elements on this rank, the ledger's expected sent count on this rank).
private struct Check {
    var name: String
    var body: (Communicator, Int) throws -> (Int, TrafficCount)
}

/// The value rank `from` puts at index `i` of the block meant for rank `to`.
private func value(_ from: Int, _ to: Int, _ i: Int) -> Float { Float(from * 1_000_000 + to * 10_000 + i) }

private func wrong(_ got: [Float], _ want: [Float]) -> Int {
    got.count != want.count ? max(got.count, want.count) : zip(got, want).filter { $0 != $1 }.count
}

private var checks: [Check] { [
    Check(name: "send/recv ring") { c, n in
        let next = (c.rank + 1) % c.size, prev = (c.rank + c.size - 1) % c.size
        guard c.size > 1 else { return (0, TrafficCount()) }
        let mine = (0..<n).map { value(c.rank, next, $0) }
        let got: [Float]
        if c.rank % 2 == 0 {
            try c.send(mine, to: next)
            got = try c.recv(count: n, from: prev)
        } else {
            got = try c.recv(count: n, from: prev)
            try c.send(mine, to: next)
        }
        return (wrong(got, (0..<n).map { value(prev, c.rank, $0) }), TrafficCount(bytes: 4 * n, messages: 1))
    },
    Check(name: "sendrecv") { c, n in
        let next = (c.rank + 1) % c.size, prev = (c.rank + c.size - 1) % c.size
        let got = try c.sendrecv((0..<n).map { value(c.rank, next, $0) }, to: next, receiving: n, from: prev)
        return (wrong(got, (0..<n).map { value(prev, c.rank, $0) }), TrafficCount(bytes: 4 * n, messages: 1))
    },
    Check(name: "isend/irecv both ways") { c, n in
        let next = (c.rank + 1) % c.size, prev = (c.rank + c.size - 1) % c.size
        let fromPrev = MessageBuffer<Float>(count: n, repeating: -1), fromNext = MessageBuffer<Float>(count: n, repeating: -1)
        let requests = [
            try c.irecv(into: fromPrev, from: prev, tag: 1), try c.irecv(into: fromNext, from: next, tag: 2),
            try c.isend(MessageBuffer(copying: (0..<n).map { value(c.rank, next, $0) }), to: next, tag: 1),
            try c.isend(MessageBuffer(copying: (0..<n).map { value(c.rank, prev, $0) }), to: prev, tag: 2),
        ]
        try waitAll(requests)
        return (wrong(fromPrev.array, (0..<n).map { value(prev, c.rank, $0) })
                    + wrong(fromNext.array, (0..<n).map { value(next, c.rank, $0) }),
                TrafficCount(bytes: 8 * n, messages: 2))
    },
    Check(name: "alltoall") { c, n in
        let data = (0..<c.size).flatMap { j in (0..<n).map { value(c.rank, j, $0) } }
        let got = try c.alltoall(data, countPerRank: n)
        return (wrong(got, (0..<c.size).flatMap { j in (0..<n).map { value(j, c.rank, $0) } }),
                TrafficCount(bytes: 4 * n * (c.size - 1), messages: c.size - 1))
    },
    Check(name: "alltoallv uneven, with empty blocks") { c, n in
        // Rank r sends (r + j) mod 3 blocks of n to rank j: some pairs exchange nothing.
        let blocks = { (from: Int, to: Int) in ((from + to) % 3) * n }
        let data = (0..<c.size).flatMap { j in (0..<blocks(c.rank, j)).map { value(c.rank, j, $0) } }
        let got = try c.alltoallv(data, sendCounts: (0..<c.size).map { blocks(c.rank, $0) },
                                  receiveCounts: (0..<c.size).map { blocks($0, c.rank) })
        let others = (0..<c.size).filter { $0 != c.rank }
        return (wrong(got, (0..<c.size).flatMap { j in (0..<blocks(j, c.rank)).map { value(j, c.rank, $0) } }),
                TrafficCount(bytes: others.map { 4 * blocks(c.rank, $0) }.reduce(0, +),
                             messages: others.filter { blocks(c.rank, $0) > 0 }.count))
    },
    Check(name: "allgather") { c, n in
        let got = try c.allgather((0..<n).map { value(c.rank, 0, $0) })
        return (wrong(got, (0..<c.size).flatMap { j in (0..<n).map { value(j, 0, $0) } }),
                TrafficCount(bytes: 4 * n * (c.size - 1), messages: c.size - 1))
    },
    Check(name: "allgatherv uneven") { c, n in
        let counts = (0..<c.size).map { n + $0 }
        let got = try c.allgatherv((0..<counts[c.rank]).map { value(c.rank, 0, $0) }, counts: counts)
        return (wrong(got, (0..<c.size).flatMap { j in (0..<counts[j]).map { value(j, 0, $0) } }),
                TrafficCount(bytes: 4 * counts[c.rank] * (c.size - 1), messages: c.size - 1))
    },
    Check(name: "reduceScatter sum") { c, n in
        let counts = (0..<c.size).map { n + $0 }
        let data = (0..<c.size).flatMap { j in (0..<counts[j]).map { Float(c.rank + 1) * Float($0 + j) } }
        let got = try c.reduceScatter(data, counts: counts, .sum)
        let ranksSum = Float(c.size * (c.size + 1) / 2)
        return (wrong(got, (0..<counts[c.rank]).map { ranksSum * Float($0 + c.rank) }),
                TrafficCount(bytes: (0..<c.size).filter { $0 != c.rank }.map { 4 * counts[$0] }.reduce(0, +),
                             messages: c.size - 1))
    },
    Check(name: "allreduce max") { c, n in
        let got = try c.allreduce((0..<n).map { Float(($0 + c.rank) % c.size) }, .max)
        let want = (0..<n).map { _ in Float(c.size - 1) }
        return (wrong(got, want), TrafficCount(bytes: 4 * n * (c.size - 1), messages: c.size - 1))
    },
    Check(name: "bcast from last rank") { c, n in
        let root = c.size - 1
        let got = try c.bcast(c.rank == root ? (0..<n).map { value(root, 0, $0) } : [], count: n, root: root)
        return (wrong(got, (0..<n).map { value(root, 0, $0) }),
                c.rank == root ? TrafficCount(bytes: 4 * n * (c.size - 1), messages: c.size - 1) : TrafficCount())
    },
    Check(name: "exscan, non-commutative") { c, n in
        // Elements are affine maps x ↦ a·x + b as (a, b); earlier ⊕ later = later ∘ earlier.
        // Rank r contributes (r + 2, r) in every element; the prefix must come out in rank order.
        let mine = (0..<n).flatMap { _ in [Float(c.rank + 2), Float(c.rank)] }
        let got = try c.exscan(mine, elementCount: 2) { earlier, later in
            let a = earlier[0] * later[0], b = later[0] * earlier[1] + later[1]
            later[0] = a
            later[1] = b
        }
        // In float64: the products outgrow float32's exact integers by 10 ranks, and the
        // library may associate the terms in any grouping (recursive doubling does), so the
        // result is compared to 1e-5 relative — a wrong order is off by far more.
        var want: [Double]?
        if c.rank > 0 {
            var a = 1.0, b = 0.0
            for j in 0..<c.rank { (a, b) = (a * Double(j + 2), Double(j + 2) * b + Double(j)) }
            want = (0..<n).flatMap { _ in [a, b] }
        }
        let w = got == nil && want == nil ? 0
            : (got?.count ?? 0) != (want?.count ?? 0) ? max(got?.count ?? 0, want?.count ?? 0)
            : zip(got!, want!).filter { abs(Double($0) - $1) > 1e-5 * abs($1) }.count
        return (w, TrafficCount(bytes: 8 * n * (c.size - 1 - c.rank), messages: c.size - 1 - c.rank))
    },
    Check(name: "split even/odd + allgather") { c, n in
        guard let half = try c.split(color: c.rank % 2, key: -c.rank) else { return (1, TrafficCount()) }
        // Keys reverse the order inside each half.
        let got = try half.allgather([Float(c.rank)])
        let members = (0..<c.size).filter { $0 % 2 == c.rank % 2 }.reversed().map(Float.init)
        return (wrong(got, Array(members)), TrafficCount(bytes: 4 * (half.size - 1), messages: half.size - 1))
    },
    Check(name: "dup keeps messages apart") { c, n in
        let other = try c.dup()
        let next = (c.rank + 1) % c.size, prev = (c.rank + c.size - 1) % c.size
        let a = MessageBuffer<Float>(count: n, repeating: 0), b = MessageBuffer<Float>(count: n, repeating: 0)
        // Same tag, same peers, two communicators: each receive must match its own communicator's send.
        let r = [try other.irecv(into: b, from: prev), try c.irecv(into: a, from: prev),
                 try c.isend(MessageBuffer(copying: (0..<n).map { value(c.rank, 1, $0) }), to: next),
                 try other.isend(MessageBuffer(copying: (0..<n).map { value(c.rank, 2, $0) }), to: next)]
        try waitAll(r)
        return (wrong(a.array, (0..<n).map { value(prev, 1, $0) }) + wrong(b.array, (0..<n).map { value(prev, 2, $0) }),
                TrafficCount(bytes: 8 * n, messages: 2))
    },
] }
