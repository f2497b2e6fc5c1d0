// A topology as a SimGrid platform, for running the real code under SMPI (`smpirun`).
//
// Shape (SimGrid platform v4.1):
//   - one `<cluster>` per node, holding its GPUs as hosts `nodeK-gpuI` with speed =
//     the device's achieved attention rate (peak × attention efficiency, in flop/s);
//     each host has a private split-duplex link of the node level: bandwidth = bw × efficiency
//     (per direction), latency = half the level's latency, so two GPUs of one node see the
//     node level's α and β exactly (up link + down link);
//   - between nodes (multi-node topologies): a NIC link per node of the cluster level
//     (bandwidth = bw × efficiency × NICs per node, split-duplex, no latency) and one
//     fat-pipe backbone carrying the cluster level's latency, joined by zone routes
//     node I's router → NIC I → backbone → NIC J → node J's router.
//   - the hostfile lists one host per rank in the topology's placement order (block:
//     node by node; round-robin: one GPU of each node in turn), so rank r lands where the
//     cost model puts it.
// Not modelled: rendezvous regimes, collective launch cost (SMPI runs its own collective
// algorithms over the links).
import Foundation

/// Writes a `Topology` as a SimGrid platform XML file and an SMPI hostfile.
public enum SimGridPlatform {
    /// The platform XML for `topology`.
    public static func xml(_ topology: Topology) -> String {
        let node = topology.nodeLevel
        let gpus = topology.gpusPerNodeCount
        var lines = [
            "<?xml version='1.0'?>",
            "<!DOCTYPE platform SYSTEM \"https://simgrid.org/simgrid.dtd\">",
            "<!-- \(escaped(topology.name)): \(escaped(topology.description)) (written by spsim topology export) -->",
            "<platform version=\"4.1\">",
            "  <zone id=\"\(escaped(topology.name))\" routing=\"Full\">",
        ]
        for k in 0..<topology.nodeCount {
            lines.append(
                "    <cluster id=\"node\(k)\" prefix=\"node\(k)-gpu\" suffix=\"\" radical=\"0-\(gpus - 1)\""
                    + " speed=\"\(number(topology.device.flopsPerSecond))f\""
                    + " bw=\"\(number(node.bandwidthGBps.value * 1e9 * node.efficiency.value))Bps\""
                    + " lat=\"\(number(node.latencyMicroseconds.value / 2))us\""
                    + " sharing_policy=\"SPLITDUPLEX\" router_id=\"node\(k)-router\"/>")
        }
        if topology.nodeCount > 1 {
            let cluster = topology.clusterLevel
            let nics = cluster.nicsPerNode?.value ?? 1
            let nicBandwidth = cluster.bandwidthGBps.value * 1e9 * cluster.efficiency.value * nics
            for k in 0..<topology.nodeCount {
                lines.append(
                    "    <link id=\"node\(k)-nic\" bandwidth=\"\(number(nicBandwidth))Bps\" latency=\"0us\""
                        + " sharing_policy=\"SPLITDUPLEX\"/>")
            }
            lines.append(
                "    <link id=\"backbone\" bandwidth=\"\(number(nicBandwidth * Double(topology.nodeCount)))Bps\""
                    + " latency=\"\(number(cluster.latencyMicroseconds.value))us\" sharing_policy=\"FATPIPE\"/>")
            for i in 0..<topology.nodeCount {
                for j in 0..<topology.nodeCount where j != i {
                    lines.append(
                        "    <zoneRoute src=\"node\(i)\" dst=\"node\(j)\" gw_src=\"node\(i)-router\""
                            + " gw_dst=\"node\(j)-router\" symmetrical=\"NO\">"
                            + "<link_ctn id=\"node\(i)-nic\" direction=\"UP\"/><link_ctn id=\"backbone\"/>"
                            + "<link_ctn id=\"node\(j)-nic\" direction=\"DOWN\"/></zoneRoute>")
                }
            }
        }
        lines += ["  </zone>", "</platform>"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The hostfile: one host per line, the first `ranks` lines (default: every GPU) in
    /// the topology's placement order, so SMPI's rank r runs where the cost model puts it.
    public static func hostfile(_ topology: Topology, ranks: Int? = nil) -> String {
        let count = min(ranks ?? topology.capacity, topology.capacity)
        return (0..<count).map { host(topology, rank: $0) + "\n" }.joined()
    }

    /// The host name of rank `rank` under the topology's placement.
    public static func host(_ topology: Topology, rank: Int) -> String {
        let nodes = topology.nodeCount, gpus = topology.gpusPerNodeCount
        switch topology.placement {
        case .block: return "node\(rank / gpus)-gpu\(rank % gpus)"
        case .roundRobin: return "node\(rank % nodes)-gpu\(rank / nodes)"
        }
    }

    /// A number as SimGrid reads it (plain decimal or exponent notation, no locale).
    static func number(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : "\(x)"
    }

    static func escaped(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "--", with: "- -")
    }
}
