// Side-by-side throughput of OpenBLAS sgemm and the attention kernels on this machine.

import Foundation

/// Throughput of `cblas_sgemm` and of the attention kernels, measured side by side.
public struct KernelBenchmarkResult: Sendable {
    /// sgemm GFLOP/s on the products of an attention block done in one piece:
    /// `[n×D]·[D×n]` then `[n×n]·[n×D]` (2·m·n·k FLOPs each), median of the repeats.
    public var sgemmGFLOPs: Double
    /// Attention forward GFLOP/s, non-causal, counting `4·n²·H·D` FLOPs (median).
    public var attentionForwardGFLOPs: Double
    /// Attention backward GFLOP/s, counting 2.5× the forward FLOPs (`10·n²·H·D`, five
    /// matrix products) (median).
    public var attentionBackwardGFLOPs: Double
    /// GLA chunk kernel forward GFLOP/s (`glaForward`, chunk 64, Dk = Dv = D), counting
    /// `glaForwardFLOPs` (median).
    public var glaForwardGFLOPs: Double
    /// attentionForwardGFLOPs / sgemmGFLOPs.
    public var ratio: Double
    /// The BLAS library and kernel core the measurement ran on.
    public var blas: BLASCore

    /// A result from its measurements; `ratio` is derived.
    public init(sgemmGFLOPs: Double, attentionForwardGFLOPs: Double, attentionBackwardGFLOPs: Double,
                glaForwardGFLOPs: Double, blas: BLASCore = .current) {
        self.sgemmGFLOPs = sgemmGFLOPs
        self.attentionForwardGFLOPs = attentionForwardGFLOPs
        self.attentionBackwardGFLOPs = attentionBackwardGFLOPs
        self.glaForwardGFLOPs = glaForwardGFLOPs
        self.ratio = sgemmGFLOPs > 0 ? attentionForwardGFLOPs / sgemmGFLOPs : 0
        self.blas = blas
    }
}

/// Measures sgemm, the attention forward/backward and the GLA chunk forward on `[tokens, heads, dim]` inputs
/// (non-causal, MHA), median of `repeats` timed runs after one warm-up each, the four
/// interleaved round by round, with a monotonic clock (`ContinuousClock`).
///
/// sgemm is timed on the two products of one head's attention done without tiling,
/// `S = Q Kᵀ` (`tokens × tokens × dim`) and `O = P V` (`tokens × dim × tokens`), FLOPs
/// `2·2·tokens²·dim`. Attention counts `4·tokens²·heads·dim` FLOPs forward and 2.5× that
/// backward. OpenBLAS uses the threads of `BLASCore.current.threads` (one, as every spsim
/// command sets it, unless `OPENBLAS_NUM_THREADS` says otherwise). Every result feeds a checksum that
/// is consumed, so no work can be elided. Memory: `tokens²` floats for the sgemm scores.
public func benchmarkKernels(tokens: Int = 2048, heads: Int = 8, dim: Int = 64, repeats: Int = 5) -> KernelBenchmarkResult {
    precondition(tokens > 0 && heads > 0 && dim > 0 && repeats > 0, "benchmark: sizes and repeats must be positive")
    var generator = BenchmarkRandom(seed: 0x5EED_A77E)
    let count = tokens * heads * dim
    func randomTensor() -> Tensor32 {
        var t = Tensor32(tokens: tokens, heads: heads, dim: dim)
        for i in 0..<count { t.storage[i] = generator.nextFloat() }
        return t
    }
    var q = randomTensor()
    let k = randomTensor(), v = randomTensor(), dO = randomTensor()
    var checksum: Float = 0

    // sgemm on one head's full-size products.
    let a = (0..<(tokens * dim)).map { _ in generator.nextFloat() }
    let b = (0..<(tokens * dim)).map { _ in generator.nextFloat() }
    var scores = [Float](repeating: 0, count: tokens * tokens)
    var product = [Float](repeating: 0, count: tokens * dim)
    let sgemmFLOPs = 4 * Double(tokens) * Double(tokens) * Double(dim)
    func sgemm(_ run: Int) {
        a.withUnsafeBufferPointer { ab in
        b.withUnsafeBufferPointer { bb in
        scores.withUnsafeMutableBufferPointer { sb in
        product.withUnsafeMutableBufferPointer { pb in
            let scale = 1 / Float(dim).squareRoot() + Float(run) * 1e-7
            gemm(.plain, .transposed, m: tokens, n: tokens, k: dim, alpha: scale,
                  a: ab.baseAddress!, lda: dim, b: bb.baseAddress!, ldb: dim,
                  c: sb.baseAddress!, ldc: tokens)
            gemm(.plain, .plain, m: tokens, n: dim, k: tokens,
                  a: sb.baseAddress!, lda: tokens, b: bb.baseAddress!, ldb: dim,
                  c: pb.baseAddress!, ldc: dim)
        }}}}
        checksum += product[run % product.count]
    }

    // Attention forward and backward on the same shape (q changes slightly per run), and GLA
    // forward on the same q, k, v with log-gates in [-0.1, 0).
    let flops = attentionForwardFLOPs(queries: tokens, keys: tokens, heads: heads, dim: dim, mask: .none)
    var last = emptyAttentionOutput(tokens: tokens, heads: heads, dim: dim)
    func forward(_ run: Int) {
        q.storage[run % count] += 1e-3
        last = attentionForward(q: q, k: k, v: v, mask: .none)
        checksum += last.o.storage[run % count] + last.lse.storage[run % last.lse.storage.count]
    }
    func backward(_ run: Int) {
        let grads = attentionBackward(q: q, k: k, v: v, o: last.o, lse: last.lse, dO: dO, mask: .none)
        checksum += grads.dq.storage[run % count] + grads.dk.storage[run % count] + grads.dv.storage[run % count]
    }
    var gates = randomTensor()
    for i in 0..<count { gates.storage[i] = -0.05 * (gates.storage[i] + 1.001) }
    func gla(_ run: Int) {
        let (o, state) = glaForward(q: q, k: k, v: v, g: gates)
        checksum += o.storage[run % count] + state.storage[run % state.storage.count]
    }
    let seconds = interleavedMedianSeconds(repeats: repeats, [sgemm, forward, backward, gla])
    consumeBenchmarkValue(checksum)
    return KernelBenchmarkResult(sgemmGFLOPs: sgemmFLOPs / seconds[0] / 1e9,
                                 attentionForwardGFLOPs: flops / seconds[1] / 1e9,
                                 attentionBackwardGFLOPs: 2.5 * flops / seconds[2] / 1e9,
                                 glaForwardGFLOPs: glaForwardFLOPs(tokens: tokens, heads: heads, keyDim: dim, valueDim: dim)
                                     / seconds[3] / 1e9)
}

/// FLOPs of the chunked GLA forward counted for its throughput (multiply-add = 2), per head
/// and token: `2·Dk·Dv` for `(q ⊙ exp Γ) S`, `2·Dk·Dv` for the state update `(k ⊙ exp(Γ_L − Γ))ᵀ V`,
/// and the causal half of the intra-chunk products, `C·Dk` for `A = (q k ⊙ decay)` and
/// `C·Dv` for `A V`: `tokens · heads · (4·Dk·Dv + C·(Dk + Dv))` with C = min(chunk, tokens).
public func glaForwardFLOPs(tokens: Int, heads: Int, keyDim: Int, valueDim: Int, chunk: Int = 64) -> Double {
    let c = Double(min(chunk, tokens)), dk = Double(keyDim), dv = Double(valueDim)
    return Double(tokens) * Double(heads) * (4 * dk * dv + c * (dk + dv))
}

/// Runs every body once to warm up, then `repeats` rounds of all of them in turn; returns each
/// body's median seconds. Interleaved, every kernel sees the same mix of a shared machine's
/// fast and slow moments, so their ratios hold even when the machine's speed drifts.
private func interleavedMedianSeconds(repeats: Int, _ bodies: [(Int) -> Void]) -> [Double] {
    let clock = ContinuousClock()
    for body in bodies { body(repeats) }  // warm-up
    var times = [[Double]](repeating: [], count: bodies.count)
    for run in 0..<repeats {
        for (i, body) in bodies.enumerated() {
            let start = clock.now
            body(run)
            let elapsed = clock.now - start
            times[i].append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        }
    }
    return times.map { sample in
        let sorted = sample.sorted()
        return repeats % 2 == 1 ? sorted[repeats / 2] : (sorted[repeats / 2 - 1] + sorted[repeats / 2]) / 2
    }
}

/// Keeps `value` alive so the optimizer cannot drop the work that produced it.
@inline(never)
private func consumeBenchmarkValue(_ value: Float) {
    if value.bitPattern == 0x7FC0_1234 { print("benchmark checksum", value) }
}

/// SplitMix64 floats in [-1, 1) for benchmark inputs.
private struct BenchmarkRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func nextFloat() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }
}
