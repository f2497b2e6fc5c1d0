// A topology as a SimGrid platform, for running the real code under SMPI (`smpirun`).
//
// Shape (SimGrid platform v4.1):
//   - hosts `nodeK-gpuI`, speed = the device's achieved attention rate (peak × attention
//     efficiency, flop/s): the FLOPs a kernel charges (`smpi_execute_flops`) take the
//     cost model's compute time;
//   - inside a node each GPU has a private split-duplex link of the node level
//     (bandwidth = bw × efficiency per direction, latency = half the level's latency), so
//     two GPUs of one node see the node level's α and β exactly (up link + down link);
//   - between nodes (multi-node topologies) each GPU reaches the network through its own
//     NIC link, as the topology says: GPU i uses NIC i mod `nics_per_node` (one NIC per GPU
//     on HGX/DGX nodes; GPUs share a NIC when the node has fewer), bandwidth = the cluster
//     level's bw × efficiency, split-duplex; the cluster level's latency sits on a fat-pipe
//     backbone between the nodes' routers. A flow between nodes thus gets one NIC's
//     bandwidth, and flows share a NIC only where the topology says they do;
//   - the root zone carries the topology itself (`spsim_topology`, its JSON), the
//     collective algorithms (`spsim_collectives`) and the collective launch latency
//     (`spsim_collective_launch_us`, which CMPI charges before every collective call), so a
//     simulated `spsim run` knows the platform it runs on from any directory;
//   - `<config>` sets SMPI's network and timing model explicitly (see `configuration`).
//   - the hostfile lists one host per rank in the topology's placement order (block:
//     node by node; round-robin: one GPU of each node in turn), so rank r lands where the
//     cost model puts it.
import Foundation

/// Writes a `Topology` as a SimGrid platform XML file and an SMPI hostfile.
public enum SimGridPlatform {
    /// The root zone property holding the topology's JSON.
    public static let topologyProperty = "spsim_topology"
    /// The root zone property naming the collective algorithms (`op=algorithm,…`).
    public static let collectivesProperty = "spsim_collectives"
    /// The root zone property holding the collective launch latency in µs, which CMPI
    /// charges before each collective call under SMPI (SMPI's algorithms add none).
    public static let collectiveLaunchProperty = "spsim_collective_launch_us"

    /// The algorithm SMPI runs for each MPI collective, chosen to be the one the cost model
    /// assumes (`Collectives.swift`): pairwise all-to-all, ring all-gather and
    /// reduce-scatter; the rest serve the harness only (ledger, timings, verification).
    public static let collectives: KeyValuePairs<String, String> = [
        "alltoall": "pair", "alltoallv": "pair", "allgather": "ring", "allgatherv": "ring",
        "reduce_scatter": "ompi_ring", "allreduce": "rdb", "bcast": "binomial_tree", "barrier": "ompi_recursivedoubling",
        "gather": "ompi_binomial", "reduce": "binomial", "scatter": "ompi_binomial",
    ]

    /// SMPI's configuration for `topology`, as `(key, value)` in the order written.
    ///
    /// - `smpi/simulate-computation: no`: the host's own CPU time is not injected; kernels
    ///   charge their FLOPs at the device's rate instead (`cmpi_execute_flops`).
    /// - `smpi/lat-factor`, `smpi/bw-factor` = 1 for every size: the topology's α and B are
    ///   already achieved values (measured latency; bandwidth × efficiency), so SMPI's
    ///   default factors (fitted to a 2009 TCP cluster: latency ×11.6 above 64 KiB) would
    ///   count the protocol overhead twice. A level with a rendezvous regime exports it as
    ///   the factors' second step at its threshold (`rendezvous / eager`), and its threshold
    ///   as `smpi/send-is-detached-thresh` (eager below: a send does not wait for its
    ///   receiver). SMPI's factors are global, so the innermost level with a regime sets them.
    ///   Without a regime the threshold is 0: a send completes when its data has arrived, as
    ///   a GPU's transfer does (SMPI's default detaches sends under 64 KiB, so a sender could
    ///   put many messages on one link at once and they would share it).
    /// - `smpi/test`, `smpi/iprobe`, `smpi/wtime` = 0: polling and reading the clock cost no
    ///   simulated time (by default each `MPI_Test` advances the clock by 100 µs, inflating
    ///   polled schedules such as ZeCO's All-Scan).
    /// - `network/crosstraffic: 0`, `network/TCP-gamma: 0`, `network/weight-S: 0`: no
    ///   reverse-direction acknowledgement flows, no TCP window bound, plain max-min sharing
    ///   — the fluid model of the Hockney α-β costs.
    /// - `smpi/shared-malloc: local`: phantom payloads (`spsim run --phantom`) are one shared
    ///   file mapped once per buffer, untouched, and SMPI copies nothing between them. (SMPI's
    ///   default `global` maps a 1 MiB file block by block with `MAP_POPULATE`: one mapping per
    ///   MiB, beyond Linux's 65 530 mappings at 1 024 ranks, each counted as resident.)
    /// - one algorithm per collective (`collectives`).
    public static func configuration(_ topology: Topology) -> [(key: String, value: String)] {
        var latencyFactor = "0:1", bandwidthFactor = "0:1", detached = 0.0
        if let level = topology.levels.first(where: { $0.rendezvous != nil }), let r = level.rendezvous {
            let t = r.thresholdBytes.value
            latencyFactor += ";\(number(t)):\(r.latencyMicroseconds.value / level.latencyMicroseconds.value)"
            bandwidthFactor += ";\(number(t)):\(r.bandwidthGBps.value / level.bandwidthGBps.value)"
            detached = t
        }
        return [
            ("smpi/simulate-computation", "no"),
            ("smpi/lat-factor", latencyFactor), ("smpi/bw-factor", bandwidthFactor),
            ("smpi/send-is-detached-thresh", number(detached)), ("smpi/async-small-thresh", "0"),
            ("smpi/test", "0"), ("smpi/iprobe", "0"), ("smpi/wtime", "0"),
            ("network/crosstraffic", "0"), ("network/TCP-gamma", "0"), ("network/weight-S", "0"),
            ("smpi/shared-malloc", "local"),
        ] + collectives.map { ("smpi/\($0.key)", $0.value) }
    }

    /// The platform XML for `topology`.
    public static func xml(_ topology: Topology) -> String {
        let node = topology.nodeLevel
        let gpus = topology.gpusPerNodeCount
        var lines = [
            "<?xml version='1.0'?>",
            "<!DOCTYPE platform SYSTEM \"https://simgrid.org/simgrid.dtd\">",
            "<!-- \(commented(topology.name)): \(commented(topology.description)) (written by spsim topology export) -->",
            "<platform version=\"4.1\">",
            "  <config>",
        ]
        lines += configuration(topology).map { "    <prop id=\"\($0.key)\" value=\"\(escaped($0.value))\"/>" }
        lines += [
            "  </config>",
            "  <zone id=\"\(escaped(topology.name))\" routing=\"Full\">",
            "    <prop id=\"\(topologyProperty)\" value=\"\(escaped(topology.encodedJSON()))\"/>",
            "    <prop id=\"\(collectiveLaunchProperty)\" value=\"\(number(topology.collectiveLaunchMicroseconds.value))\"/>",
            "    <prop id=\"\(collectivesProperty)\" value=\"\(collectives.map { "\($0.key)=\($0.value)" }.joined(separator: ","))\"/>",
        ]
        let speed = "\(number(topology.device.flopsPerSecond))f"
        let nodeBandwidth = "\(number(node.bandwidthGBps.value * 1e9 * node.efficiency.value))Bps"
        let halfLatency = "\(number(node.latencyMicroseconds.value / 2))us"
        guard topology.nodeCount > 1 else {
            lines.append(
                "    <cluster id=\"node0\" prefix=\"node0-gpu\" suffix=\"\" radical=\"0-\(gpus - 1)\" speed=\"\(speed)\""
                    + " bw=\"\(nodeBandwidth)\" lat=\"\(halfLatency)\" sharing_policy=\"SPLITDUPLEX\" router_id=\"node0-router\"/>")
            lines += ["  </zone>", "</platform>"]
            return lines.joined(separator: "\n") + "\n"
        }
        let cluster = topology.clusterLevel
        let nics = max(1, Int((cluster.nicsPerNode?.value ?? 1).rounded(.down)))
        let nicBandwidth = cluster.bandwidthGBps.value * 1e9 * cluster.efficiency.value
        for k in 0..<topology.nodeCount {
            let gpu = { (i: Int) in "node\(k)-gpu\(i)" }
            lines.append("    <zone id=\"node\(k)\" routing=\"Full\">")
            for i in 0..<gpus { lines.append("      <host id=\"\(gpu(i))\" speed=\"\(speed)\"/>") }
            lines.append("      <router id=\"node\(k)-router\"/>")
            for i in 0..<gpus {
                lines.append("      <link id=\"\(gpu(i))-link\" bandwidth=\"\(nodeBandwidth)\" latency=\"\(halfLatency)\""
                    + " sharing_policy=\"SPLITDUPLEX\"/>")
            }
            for n in 0..<min(nics, gpus) {
                lines.append("      <link id=\"node\(k)-nic\(n)\" bandwidth=\"\(number(nicBandwidth))Bps\" latency=\"0us\""
                    + " sharing_policy=\"SPLITDUPLEX\"/>")
            }
            for i in 0..<gpus {
                for j in 0..<gpus where j != i {
                    lines.append("      <route src=\"\(gpu(i))\" dst=\"\(gpu(j))\" symmetrical=\"NO\">"
                        + "<link_ctn id=\"\(gpu(i))-link\" direction=\"UP\"/><link_ctn id=\"\(gpu(j))-link\" direction=\"DOWN\"/></route>")
                }
                let nic = "node\(k)-nic\(i % nics)"
                lines.append("      <route src=\"\(gpu(i))\" dst=\"node\(k)-router\" symmetrical=\"NO\">"
                    + "<link_ctn id=\"\(nic)\" direction=\"UP\"/></route>")
                lines.append("      <route src=\"node\(k)-router\" dst=\"\(gpu(i))\" symmetrical=\"NO\">"
                    + "<link_ctn id=\"\(nic)\" direction=\"DOWN\"/></route>")
            }
            lines.append("    </zone>")
        }
        // The backbone only adds the cluster level's latency: its bandwidth is that of every NIC at once.
        let allNICs = nicBandwidth * Double(min(nics, gpus) * topology.nodeCount)
        lines.append("    <link id=\"backbone\" bandwidth=\"\(number(allNICs))Bps\""
            + " latency=\"\(number(cluster.latencyMicroseconds.value))us\" sharing_policy=\"FATPIPE\"/>")
        for i in 0..<topology.nodeCount {
            for j in 0..<topology.nodeCount where j != i {
                lines.append("    <zoneRoute src=\"node\(i)\" dst=\"node\(j)\" gw_src=\"node\(i)-router\""
                    + " gw_dst=\"node\(j)-router\" symmetrical=\"NO\"><link_ctn id=\"backbone\"/></zoneRoute>")
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

    /// `s` as XML attribute text.
    static func escaped(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "\n", with: "&#10;")
    }

    /// `s` as XML comment text.
    static func commented(_ s: String) -> String {
        escaped(s).replacingOccurrences(of: "--", with: "- -")
    }
}
