extension Topology {
    /// The uniform toy of `Topologies/toy.json`, built in so that `spsim run` has a model
    /// without any file: one level, α = 1 µs, 1 GB/s, 1 TFLOP/s, no launch cost, 1024 GPUs.
    /// With it, m bytes take 1 µs + m ns and F FLOPs take F ps: closed forms by hand.
    public static var toy: Topology {
        Topology(
            name: "toy", description: "uniform toy for exact tests: α = 1 µs, 1 GB/s, 1 TFLOP/s, no launch cost, up to 1024 ranks on one level",
            nodes: Sourced(1, source: "toy: one level only"),
            gpusPerNode: Sourced(1024, source: "toy: room for any rank count the tests use"),
            placement: .block,
            levels: [NetworkLevel(name: "uniform", scope: .node,
                                  bandwidthGBps: Sourced(1, source: "toy: 1 GB/s, so m bytes take m ns"),
                                  efficiency: Sourced(1, source: "toy: nominal bandwidth achieved"),
                                  latencyMicroseconds: Sourced(1, source: "toy: 1 µs per message"))],
            device: Device(name: "toy", peakTFLOPs: Sourced(1, source: "toy: 1 TFLOP/s"),
                           attentionEfficiency: Sourced(1, source: "toy: peak achieved"),
                           matmulEfficiency: Sourced(1, source: "toy: peak achieved"),
                           hbmGiB: Sourced(16, source: "toy: 16 GiB, a round number for hand-checked memory"),
                           hostLinkGBps: Sourced(1, source: "toy: 1 GB/s, like the network")),
            collectiveLaunchMicroseconds: Sourced(0, source: "toy: no launch cost, so collectives are pure α-β"))
    }
}
