import SPCore
/// Where P ranks sit on a topology, and what a message between two of them costs.
///
/// A message is priced at the outermost level its endpoints differ at: two ranks on one
/// node talk over the node level, ranks on different nodes over the cluster level. A
/// collective whose traffic leaves the node shares the node's NICs among the node's ranks.
public struct Placement: Sendable {
    /// The topology.
    public let topology: Topology
    /// Number of ranks P.
    public let ranks: Int
    /// Ranks on the fullest node (at most `gpus_per_node`).
    public let ranksPerNode: Int
    /// Whether some pair of ranks sits on different nodes.
    public let spansNodes: Bool

    /// Places `ranks` ranks on `topology`, or fails with the reason.
    public static func make(_ topology: Topology, ranks: Int) -> Result<Placement, CostModelError> {
        if let reason = topology.placementReason(ranks: ranks) { return .failure(CostModelError(reason)) }
        return .success(Placement(topology: topology, ranks: ranks))
    }

    init(topology: Topology, ranks: Int) {
        self.topology = topology
        self.ranks = ranks
        let g = topology.gpusPerNodeCount, nodes = topology.nodeCount
        switch topology.placement {
        case .block:
            ranksPerNode = min(ranks, g)
            spansNodes = ranks > g
        case .roundRobin:
            let used = min(ranks, nodes)
            ranksPerNode = (ranks + used - 1) / used
            spansNodes = used > 1
        }
    }

    /// The node rank `r` sits on.
    @inlinable
    public func node(of r: Int) -> Int {
        switch topology.placement {
        case .block: r / topology.gpusPerNodeCount
        case .roundRobin: r % topology.nodeCount
        }
    }

    /// The level a message from `a` to `b` travels at (the outermost at which they differ).
    @inlinable
    public func level(_ a: Int, _ b: Int) -> NetworkLevel {
        node(of: a) == node(of: b) ? topology.nodeLevel : topology.clusterLevel
    }

    /// Seconds of one message of `bytes` from `a` to `b` on an otherwise idle network: α + m·β
    /// at their level (one flow gets a whole NIC).
    @inlinable
    public func messageSeconds(_ bytes: Double, from a: Int, to b: Int) -> Double {
        level(a, b).seconds(forMessageOf: bytes)
    }

    /// Bytes per second each rank gets for traffic that leaves its node when every rank of
    /// the node sends at once: its share of the node's NICs, never more than one NIC nor
    /// more than the node level.
    public func nicShareBytesPerSecond(forMessageOf bytes: Double) -> Double {
        let cluster = topology.clusterLevel
        let nics = cluster.nicsPerNode?.value ?? 1
        let perNIC = cluster.bytesPerSecond(forMessageOf: bytes)
        let share = perNIC * min(1, nics / Double(ranksPerNode))
        return min(share, topology.nodeLevel.bytesPerSecond(forMessageOf: bytes))
    }

    /// Whether consecutive ranks `r` and `r + 1` (mod P) sit on different nodes for some `r`:
    /// a ring's slowest hop then crosses nodes.
    public var ringCrossesNodes: Bool { spansNodes }

    /// The level of the slowest hop of a ring `r → r + 1 mod P`.
    public var ringLevel: NetworkLevel { ringCrossesNodes ? topology.clusterLevel : topology.nodeLevel }

    /// Seconds of the slowest hop of a ring (or chain) step carrying `bytes` per hop, all
    /// hops at once: hops inside nodes use the node level; with block placement each node
    /// has one outgoing hop, which gets a whole NIC; with round-robin every hop leaves its
    /// node and all of a node's ranks share its NICs.
    public func ringHopSeconds(_ bytes: Double) -> Double {
        guard ringCrossesNodes else { return topology.nodeLevel.seconds(forMessageOf: bytes) }
        let cluster = topology.clusterLevel
        let bandwidth = topology.placement == .block
            ? cluster.bytesPerSecond(forMessageOf: bytes) : nicShareBytesPerSecond(forMessageOf: bytes)
        return max(topology.nodeLevel.seconds(forMessageOf: bytes),
                   cluster.latencySeconds(forMessageOf: bytes) + bytes / bandwidth)
    }

    /// Seconds of a chain hop `r → r + 1` carrying `bytes` (one message in flight at a time
    /// per link): at the level the two ranks differ at.
    @inlinable
    public func chainHopSeconds(_ bytes: Double, from r: Int) -> Double {
        messageSeconds(bytes, from: r, to: r + 1)
    }
}

/// Bad model input (a topology that cannot place the ranks, an unsupported problem): one sentence.
public struct CostModelError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The sentence for the user, naming the quantities it is about (`InputError.Message`).
    public var words: InputError.Message
    /// An error in words alone.
    public init(_ message: String) { words = InputError.Message(parts: [.text(message)]) }
    /// The error of an impossible shape or layout, its quantities kept for the reader to word.
    public init(_ error: InputError) { words = error.words }
    /// The sentence with quantities by their symbols (the command line words them as flags).
    public var message: String { words.text(naming: \.symbol) }
    public var description: String { message }
}
