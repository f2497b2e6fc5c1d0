import ArgumentParser
import CostModel
import Foundation
import MPI
import Reports
import SequenceParallel

/// `spsim run`'s `--trace` and `--trace-model`.
struct TraceOptions: ParsableArguments {
    @Option(help: "Write a Chrome/Perfetto trace (chrome://tracing, ui.perfetto.dev) of the last repeat: one row per rank; communication spans carry bytes, peers, tags and operations, arrows link each send to its receive.")
    var trace: String?

    @Flag(help: "With --trace, add the model's predicted timeline (--topology) as one more row per rank, each phase starting where the measured one starts.")
    var traceModel = false

    func validate() throws {
        if traceModel && trace == nil { throw ValidationError("--trace-model adds rows to a --trace file; give --trace FILE too") }
    }

    /// With `--trace`, gathers every rank's spans (collective) and writes the file on rank 0;
    /// with `--trace-model`, the prediction's rows too.
    func write(forward: PhaseMeasurement, backward: PhaseMeasurement?, model: Prediction?, world: Communicator) throws {
        guard let trace else { return }
        if traceModel && model == nil && world.rank == 0 {
            printNote("--trace-model: the cost model has no prediction for this configuration; the trace has measured rows only")
        }
        let phases = [("forward", forward.spans)] + (backward.map { [("backward", $0.spans)] } ?? [])
        try writeTraceFile(trace, phases: phases, model: traceModel ? model : nil, world: world)
    }
}

/// `spsim run --trace FILE`: every rank's spans of the given phases, the operations on each
/// communication span, flow arrows from each send to its receive, and (with `model`) the
/// model's predicted timeline as one more process per rank. Collective: every rank calls
/// it; rank 0 writes the file.
func writeTraceFile(_ path: String, phases: [(name: String, spans: [Span])], model: Prediction?,
                    world: Communicator) throws {
    guard let events = try gatherTrace(phases, model: model, world: world) else { return }
    var processes = [Int: String]()
    for r in 0..<world.size {
        processes[r] = "rank \(r)"
        if let model { processes[world.size + r] = "model: rank \(r) on \(model.topology) (predicted)" }
    }
    try AtomicOutput.writeFile(try chromeTraceJSON(events, processes: processes), to: path, option: "--trace")
}

/// Every rank's spans of the given phases as trace events on rank 0 (nil elsewhere), with
/// times relative to the earliest span of any rank. Each phase also gets a marker on lane 1;
/// with `model`, process P + r holds rank r's predicted phases, each starting where the
/// measured phase starts.
func gatherTrace(_ phases: [(name: String, spans: [Span])], model: Prediction? = nil,
                 world: Communicator) throws -> [TraceEvent]? {
    let all = phases.flatMap(\.spans)
    let origin = try world.allreduce([all.map(\.start).min() ?? .infinity], .min)[0]
    let phaseStarts = try world.allreduce(phases.map { $0.spans.map(\.start).min() ?? .infinity }, .min)
    func µs(_ t: Double) -> Double { (t - origin) * 1e6 }
    var events = [TraceEvent]()
    for phase in phases where !phase.spans.isEmpty {
        let start = phase.spans.map(\.start).min()!, end = phase.spans.map(\.end).max()!
        events.append(TraceEvent(name: phase.name, category: "phase", startMicroseconds: µs(start),
                                 durationMicroseconds: (end - start) * 1e6, rank: world.rank, lane: 1))
        for s in phase.spans {
            events.append(TraceEvent(name: s.name, category: s.category.rawValue, startMicroseconds: µs(s.start),
                                     durationMicroseconds: (s.end - s.start) * 1e6, rank: world.rank,
                                     args: s.category == .communication || !s.messages.isEmpty ? traceArgs(s.messages) : nil))
            for m in s.messages {
                if m.event.startsFlow {
                    events.append(TraceEvent(flow: "message", key: m.event.key, start: true, atMicroseconds: µs(s.start),
                                             rank: world.rank))
                } else if m.event.endsFlow {
                    events.append(TraceEvent(flow: "message", key: m.event.key, start: false, atMicroseconds: µs(m.time),
                                             rank: world.rank))
                }
            }
        }
    }
    if let model {
        let predicted = [("forward", model.forward), ("backward", model.backward)]
        for (i, phase) in phases.enumerated() where phaseStarts[i].isFinite {
            guard let p = predicted.first(where: { $0.0 == phase.name })?.1 else { continue }
            events += predictedPhase(phase.name, p, rank: world.rank, pid: world.size + world.rank,
                                     startMicroseconds: µs(phaseStarts[i]))
        }
    }
    let bytes = [UInt8](try JSONEncoder().encode(events))
    let counts = try world.allgather([Int64(bytes.count)]).map(Int.init)
    guard let gathered = try world.gatherv(bytes, counts: counts, root: 0) else { return nil }
    var merged = [TraceEvent](), offset = 0
    for c in counts {
        merged += try JSONDecoder().decode([TraceEvent].self, from: Data(gathered[offset ..< offset + c]))
        offset += c
    }
    return merged
}

/// A communication span's `args`: `bytes`, the payload of every operation the span posted,
/// completed or made (a message posted in one span and waited for in another counts in
/// both); `bytes_sent` (sends posted or made here: their sum over a phase is the ledger's
/// `bytes_sent`), `bytes_received` (receives delivered here), the world ranks it exchanged with (`peers`),
/// point-to-point `tags`, and one line per operation (`operations`; `#n` is the message's
/// order on its channel, the step of a ring).
func traceArgs(_ messages: [SpanMessage]) -> [String: TraceValue] {
    let sent = messages.filter { $0.event.startsFlow }.reduce(0) { $0 + $1.event.bytes }
    let received = messages.filter { $0.event.endsFlow }.reduce(0) { $0 + $1.event.bytes }
    let operations = messages.map { m -> String in
        let e = m.event
        let arrow = e.direction == .send ? "→" : "←"
        let stage = e.isNonblocking ? " (\(e.stage.rawValue))" : ""
        let order = e.key.split(separator: "#").last.map { ", #" + $0.split(separator: " ")[0] } ?? ""
        return "\(e.operation)\(stage) \(arrow) rank \(e.peer): \(e.bytes) B" + (e.tag.map { ", tag \($0)" } ?? "") + order
    }
    return [
        "bytes": .int(messages.reduce(0) { $0 + $1.event.bytes }), "bytes_sent": .int(sent), "bytes_received": .int(received),
        "peers": .list(Set(messages.map(\.event.peer)).sorted().map(String.init)),
        "tags": .list(Set(messages.compactMap(\.event.tag)).sorted().map(String.init)),
        "operations": .list(operations),
    ]
}

/// Rank `rank`'s predicted phase as spans: the model gives totals, not a schedule, so the
/// phase is drawn as its compute, then its exposed communication, then the wait for slower
/// ranks (what remains of the predicted finishing time).
func predictedPhase(_ name: String, _ p: PhasePrediction, rank r: Int, pid: Int,
                    startMicroseconds start: Double) -> [TraceEvent] {
    let compute = p.computeSeconds[r] * 1e6, exposed = p.exposedCommSeconds[r] * 1e6
    let wait = max(0, p.seconds[r] * 1e6 - compute - exposed)
    let args: [String: TraceValue] = [
        "bytes": .int(p.bytesSent[r]), "bytes_sent": .int(p.bytesSent[r]), "messages_sent": .int(p.messagesSent[r]),
        "comm_seconds": .number(p.commSeconds[r]), "exposed_comm_seconds": .number(p.exposedCommSeconds[r]),
        "compute_seconds": .number(p.computeSeconds[r]), "seconds": .number(p.seconds[r]),
    ]
    var events = [TraceEvent(name: "\(name) (predicted)", category: "model", startMicroseconds: start,
                             durationMicroseconds: p.seconds[r] * 1e6, rank: pid, lane: 1, args: args)]
    var t = start
    for (part, duration, category) in [("compute", compute, "model"), ("exposed communication", exposed, "model"),
                                       ("wait for slower ranks", wait, "model")] where duration > 0 {
        events.append(TraceEvent(name: part, category: category, startMicroseconds: t, durationMicroseconds: duration,
                                 rank: pid, args: args))
        t += duration
    }
    return events
}
