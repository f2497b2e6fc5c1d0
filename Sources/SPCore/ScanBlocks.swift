/// ZeCO All-Scan's default number of pipeline blocks K: the rule the real run uses when
/// `--scan-blocks` is not given, shared with the models that must count the same messages.
public enum ScanBlocks {
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

extension LinearAttentionProblem {
    /// The All-Scan block count on `ranks` ranks: `scanBlocks` when given, else the default rule.
    public func resolvedScanBlocks(ranks: Int) -> Int {
        scanBlocks ?? ScanBlocks.defaultBlocks(ranks: ranks, rows: stateRows, stateBytes: stateBytes)
    }
}
