// A vectorized exp for Float: range reduction x = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite,
// two-part ln2), a degree-6 polynomial for e^r (Cephes expf coefficients), and 2^n built
// from its bit pattern. Only SSE2-level operations (no FMA, no rounding instructions) so
// the baseline x86-64 build vectorizes it; the round-to-nearest uses the 1.5·2^23 trick.
// The buffer versions run the same operations in C (CVectorMath) on the widest vector unit
// the CPU has (AVX-512, AVX2, else SSE2), chosen at run time: the same results bit for bit,
// four times the lanes per instruction on an AVX-512 core.

import COpenBLAS
import CVectorMath

/// The vector unit the row kernels run on: `spsim_cpu_vector_level()` (2 AVX-512, 1 AVX2, 0 SSE2).
let cpuVectorLevel = spsim_cpu_vector_level()

/// Lane count of the vector exp.
@usableFromInline let fastExpWidth = 16

/// Largest argument evaluated; larger ones are clamped (e^88 ≈ 1.65e38).
@usableFromInline let fastExpUpperClamp: Float = 88.0
/// Smallest argument evaluated; anything below (including -inf) gives exactly 0.
@usableFromInline let fastExpLowerClamp: Float = -88.0

/// e^x in each lane, relative error ≤ about 2e-7 for x in [-87, 88].
///
/// Mathematical properties: `fastExp(0) == 1` exactly; `fastExp(-inf) == 0`; any x ≤ -88
/// gives 0 (values in (-88, -87.3) are subnormal or 0); x > 88 is clamped to e^88. NaN
/// lanes give an unspecified finite value or NaN (the attention kernels never pass NaN).
@inline(__always)
func fastExp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let log2e: Float = 1.442_695_040_888_963_4
    let ln2Hi: Float = 0.693_359_375
    let ln2Lo: Float = -2.121_944_400_546_905_8e-4
    let magic: Float = 12_582_912  // 1.5 · 2^23: adding it rounds to an integer in the low mantissa bits
    var v = x
    v.replace(with: fastExpLowerClamp, where: v .< fastExpLowerClamp)
    v.replace(with: fastExpUpperClamp, where: v .> fastExpUpperClamp)
    // n = round(v · log2 e), both as float and as the integer in the mantissa bits.
    let t = v * log2e + magic
    let n = t - magic
    let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000
    // r = v − n·ln2, in two parts so r carries no rounding error from n·ln2.
    let r = (v - n * ln2Hi) - n * ln2Lo
    // e^r ≈ 1 + r + r²·P(r)
    var p = SIMD16<Float>(repeating: 1.987_569_150_0e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let r2 = r * r
    let er = (p * r2 + r) + 1
    // 2^n from its exponent bits; n = -127 (v ≤ -88) gives the bit pattern of +0.
    let scaleBits = (ni &+ 127) &<< 23
    let scale = unsafeBitCast(scaleBits, to: SIMD16<Float>.self)
    return er * scale
}

/// e^x for one Float, with the same polynomial as the vector version (for tails and tests).
@inline(__always)
func fastExp(_ x: Float) -> Float {
    fastExp(SIMD16<Float>(repeating: x))[0]
}

/// Replaces each of `count` values at `values` by `e^(value − shift)` and returns their sum.
///
/// The sum is accumulated in 16 lanes, then reduced. `shift` must be finite. `level` is the
/// vector unit to run on (tests pass each one the CPU has; 0 runs anywhere).
@inline(__always)
func fastExpShifted(_ values: UnsafeMutablePointer<Float>, count: Int, shift: Float,
                    level: Int32 = cpuVectorLevel) -> Float {
    spsim_exp_shifted_sum(level, values, count, shift)
}

/// Replaces each of `count` values at `values` by `e^(value − shift)` and returns their sum,
/// evaluated as `2^((value − shift)·log₂e)` (`spsim_softmax_exp_sum`: fewer than half the
/// instructions of `fastExpShifted`, relative error ≤ 4e-7 plus the rounding of the scaled
/// exponent, exactly 1 where value = shift, 0 for −inf; not bit-identical across levels).
/// The attention kernels' exponential.
@inline(__always)
func softmaxExp(_ values: UnsafeMutablePointer<Float>, count: Int, shift: Float,
                level: Int32 = cpuVectorLevel) -> Float {
    spsim_softmax_exp_sum(level, values, count, shift)
}

/// Replaces each of `count` values at `values` by e^value (x − 0 = x, so `fastExpShifted` with shift 0).
@inline(__always)
func fastExpInPlace(_ values: UnsafeMutablePointer<Float>, count: Int) {
    _ = spsim_exp_shifted_sum(cpuVectorLevel, values, count, 0)
}

/// Computes e^x for every element of `values`, in place, with the vectorized exp
/// (relative error ≤ about 2e-7 on [-87, 88]; -inf and anything ≤ -88 give 0).
public func fastExp(_ values: inout [Float]) {
    values.withUnsafeMutableBufferPointer { fastExp($0) }
}

/// `fastExp` on the elements of a buffer, in place.
public func fastExp(_ values: UnsafeMutableBufferPointer<Float>) {
    guard let base = values.baseAddress else { return }
    fastExpInPlace(base, count: values.count)
}
