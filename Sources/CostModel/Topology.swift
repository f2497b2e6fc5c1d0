// A cluster as the cost model sees it: nodes of GPUs, the links between them in levels,
// each GPU's compute, and where every number came from.
//
// File format (`Topologies/*.json`), decoded strictly by `Topology.decode(_:file:)`:
//
//   {
//     "name": "hgx-h100",                        the name `--topology` uses (= file name)
//     "description": "…",                        one line for `spsim topology list`
//     "nodes":         {"value": 1, "source": "…"},
//     "gpus_per_node": {"value": 8, "source": "…"},
//     "placement": "block",                      rank r on node r / gpus_per_node ("block")
//                                                or on node r mod nodes ("round-robin")
//     "levels": [                                innermost first
//       {"name": "NVLink4", "scope": "node",     between GPUs of one node
//        "bw_GBps":    {"value": 450,  "source": "…"},   per direction, per GPU, 1 GB = 1e9 B
//        "efficiency": {"value": 0.82, "source": "…"},   achieved fraction of bw_GBps
//        "latency_us": {"value": 3,    "source": "…"},   per message
//        "rendezvous": {…}},                     optional: a second (latency, bandwidth) pair
//                                                for messages of at least `threshold_bytes`
//       {"name": "NDR", "scope": "cluster",      between nodes; bw_GBps per NIC
//        "bw_GBps": …, "efficiency": …, "latency_us": …,
//        "nics_per_node": {"value": 8, "source": "…"}}
//     ],
//     "device": {"name": "H100 SXM5",
//                "peak_TFLOPs":          {"value": 989,  "source": "…"},   dense, per GPU
//                "attention_efficiency": {"value": 0.35, "source": "…"},   of peak, attention kernels
//                "matmul_efficiency":    {"value": 0.7,  "source": "…"},   of peak, dense matmuls (optional)
//                "hbm_GiB":              {"value": 80,   "source": "…"},   memory per GPU (optional)
//                "host_link_GBps":       {"value": 50,   "source": "…"}},  GPU ↔ host, achieved (optional)
//     "collective_launch_us": {"value": 7.5, "source": "…"}   added once per collective call
//   }
//
// Every number is an object `{"value": x, "source": "where it came from"}`; the unit is in
// the key's name. Unknown keys, missing keys, a number without a source, and zero or
// negative bandwidths are errors naming the file and the key path.
import Foundation

/// A number from a topology file and where it came from.
public struct Sourced: Sendable, Equatable, Codable {
    /// The number, in the unit its key names.
    public var value: Double
    /// Where the number came from (a datasheet, an issue, a measurement).
    public var source: String

    /// A number and its source.
    public init(_ value: Double, source: String) {
        self.value = value
        self.source = source
    }
}

/// One level of the network: how two GPUs whose outermost difference is at this level talk.
public struct NetworkLevel: Sendable, Equatable {
    /// Which boundary a level spans.
    public enum Scope: String, Sendable, CaseIterable, Codable {
        /// Between GPUs of one node (NVLink, PCIe, shared memory).
        case node
        /// Between nodes (InfiniBand, Ethernet).
        case cluster
    }

    /// A second regime for large messages (an MPI library's rendezvous protocol).
    public struct Rendezvous: Sendable, Equatable {
        /// Messages of at least this many bytes use this regime.
        public var thresholdBytes: Sourced
        /// Per-direction bandwidth in GB/s (before `efficiency`).
        public var bandwidthGBps: Sourced
        /// Per-message latency in microseconds.
        public var latencyMicroseconds: Sourced

        /// A regime for messages of at least `thresholdBytes`.
        public init(thresholdBytes: Sourced, bandwidthGBps: Sourced, latencyMicroseconds: Sourced) {
            self.thresholdBytes = thresholdBytes
            self.bandwidthGBps = bandwidthGBps
            self.latencyMicroseconds = latencyMicroseconds
        }
    }

    /// A name for people (`NVLink4`, `NDR`).
    public var name: String
    /// The boundary this level spans.
    public var scope: Scope
    /// Nominal per-direction bandwidth in GB/s: per GPU inside a node, per NIC between nodes.
    public var bandwidthGBps: Sourced
    /// Achieved fraction of the nominal bandwidth, in (0, 1].
    public var efficiency: Sourced
    /// Per-message latency in microseconds.
    public var latencyMicroseconds: Sourced
    /// NICs per node (cluster level only).
    public var nicsPerNode: Sourced?
    /// The large-message regime, when measured.
    public var rendezvous: Rendezvous?

    /// A level; `nicsPerNode` is required for the cluster level.
    public init(name: String, scope: Scope, bandwidthGBps: Sourced, efficiency: Sourced, latencyMicroseconds: Sourced,
                nicsPerNode: Sourced? = nil, rendezvous: Rendezvous? = nil) {
        self.name = name
        self.scope = scope
        self.bandwidthGBps = bandwidthGBps
        self.efficiency = efficiency
        self.latencyMicroseconds = latencyMicroseconds
        self.nicsPerNode = nicsPerNode
        self.rendezvous = rendezvous
    }

    /// Achieved bytes per second of one flow (one GPU, or one NIC), for a message of `bytes`.
    @inlinable
    public func bytesPerSecond(forMessageOf bytes: Double) -> Double {
        if let r = rendezvous, bytes >= r.thresholdBytes.value { return r.bandwidthGBps.value * 1e9 * efficiency.value }
        return bandwidthGBps.value * 1e9 * efficiency.value
    }

    /// Latency in seconds of a message of `bytes`.
    @inlinable
    public func latencySeconds(forMessageOf bytes: Double) -> Double {
        if let r = rendezvous, bytes >= r.thresholdBytes.value { return r.latencyMicroseconds.value * 1e-6 }
        return latencyMicroseconds.value * 1e-6
    }

    /// α + m·β: seconds to send one message of `bytes` over this level alone.
    @inlinable
    public func seconds(forMessageOf bytes: Double) -> Double {
        latencySeconds(forMessageOf: bytes) + bytes / bytesPerSecond(forMessageOf: bytes)
    }
}

/// The GPU model: its dense peak, how much of it attention kernels and dense matmuls
/// reach, and its memory.
public struct Device: Sendable, Equatable {
    /// A name for people (`H100 SXM5`).
    public var name: String
    /// Dense peak in TFLOP/s (1e12 FLOP/s) at the training precision.
    public var peakTFLOPs: Sourced
    /// Fraction of the peak attention kernels achieve, in (0, 1].
    public var attentionEfficiency: Sourced
    /// Fraction of the peak large dense matmuls (projections, MLP, LM head) achieve, in (0, 1];
    /// nil when the file does not say (then `spsim plan` refuses the topology).
    public var matmulEfficiency: Sourced?
    /// Device memory (HBM) per GPU in GiB (2^30 bytes); nil when the file does not say.
    public var hbmGiB: Sourced?
    /// Achieved per-direction bandwidth between one GPU and host memory in GB/s (PCIe, C2C):
    /// what CPU offload moves over; nil when the file does not say (then nothing is offloaded).
    public var hostLinkGBps: Sourced?

    /// A device.
    public init(name: String, peakTFLOPs: Sourced, attentionEfficiency: Sourced, matmulEfficiency: Sourced? = nil,
                hbmGiB: Sourced? = nil, hostLinkGBps: Sourced? = nil) {
        self.name = name
        self.peakTFLOPs = peakTFLOPs
        self.attentionEfficiency = attentionEfficiency
        self.matmulEfficiency = matmulEfficiency
        self.hbmGiB = hbmGiB
        self.hostLinkGBps = hostLinkGBps
    }

    /// Device memory per GPU in bytes, when known.
    public var memoryBytes: Double? { hbmGiB.map { $0.value * 1_073_741_824 } }

    /// Achieved FLOP/s of attention kernels: peak × efficiency.
    @inlinable
    public var flopsPerSecond: Double { peakTFLOPs.value * 1e12 * attentionEfficiency.value }
}

/// How ranks are placed on nodes.
public enum RankPlacement: String, Sendable, CaseIterable, Codable {
    /// Consecutive ranks fill a node before the next: rank r on node r / gpus_per_node.
    case block
    /// Ranks dealt over nodes in turn: rank r on node r mod nodes.
    case roundRobin = "round-robin"
}

/// A cluster: nodes of GPUs, network levels, the device, and collective launch latency.
public struct Topology: Sendable, Equatable {
    /// The name `--topology` finds it by.
    public var name: String
    /// One line for people.
    public var description: String
    /// Number of nodes.
    public var nodes: Sourced
    /// GPUs (ranks) per node.
    public var gpusPerNode: Sourced
    /// Rank placement on nodes.
    public var placement: RankPlacement
    /// Network levels, innermost first: one `node` level, then a `cluster` level when there
    /// is more than one node.
    public var levels: [NetworkLevel]
    /// The GPU.
    public var device: Device
    /// Seconds (in µs) every collective call costs on top of its α-β time (a kernel launch).
    public var collectiveLaunchMicroseconds: Sourced

    /// A topology; call `validate()` (or build it through `decode`) before use.
    public init(name: String, description: String, nodes: Sourced, gpusPerNode: Sourced, placement: RankPlacement,
                levels: [NetworkLevel], device: Device, collectiveLaunchMicroseconds: Sourced) {
        self.name = name
        self.description = description
        self.nodes = nodes
        self.gpusPerNode = gpusPerNode
        self.placement = placement
        self.levels = levels
        self.device = device
        self.collectiveLaunchMicroseconds = collectiveLaunchMicroseconds
    }

    /// Number of nodes as an integer.
    public var nodeCount: Int { Int(nodes.value) }
    /// GPUs per node as an integer.
    public var gpusPerNodeCount: Int { Int(gpusPerNode.value) }
    /// The most ranks this topology can place (one per GPU).
    public var capacity: Int { nodeCount * gpusPerNodeCount }
    /// The level between GPUs of one node.
    public var nodeLevel: NetworkLevel { levels[0] }
    /// The level between nodes (the node level on a one-node topology).
    public var clusterLevel: NetworkLevel { levels.count > 1 ? levels[1] : levels[0] }
    /// Collective launch latency in seconds.
    public var collectiveLaunchSeconds: Double { collectiveLaunchMicroseconds.value * 1e-6 }

    /// Why `ranks` ranks cannot be placed on this topology, or nil when they can.
    public func placementReason(ranks: Int) -> String? {
        if ranks < 1 { return "need at least one rank (got \(ranks))" }
        if ranks > capacity {
            return "topology \(name) has \(nodeCount) node\(nodeCount == 1 ? "" : "s") × \(gpusPerNodeCount) GPUs = \(capacity) GPUs; it cannot place \(ranks) ranks"
        }
        return nil
    }
}
