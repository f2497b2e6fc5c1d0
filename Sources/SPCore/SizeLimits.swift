/// The largest sizes spsim accepts, and overflow-checked arithmetic on sizes (the checks
/// that throw `InputError` are in SizeLimits+Checks.swift).
///
/// Every size a user gives — on the command line, in a `.npy` header, in a topology or
/// model file, in a `spsim model` range — is checked against these limits before anything
/// is allocated. The limits are far beyond any machine spsim runs on (whether a run fits
/// in memory is decided separately, by the memory estimate) but small enough that no
/// byte count the harness or the cost model derives from them can overflow `Int`:
/// a tensor of at most 2⁴⁴ elements is at most 2⁴⁷ bytes in float64, and the largest sum
/// of such tensors any rank holds stays below 2⁵⁶.
public enum SizeLimits {
    /// Global tokens N: at most 2⁴⁰ (about 1.1·10¹²).
    public static let maxSeqLen = 1 << 40
    /// Heads H and KV heads G: at most 2²⁰.
    public static let maxHeads = 1 << 20
    /// Channels per head D, Dk, Dv: at most 2²⁰.
    public static let maxHeadDim = 1 << 20
    /// Elements of one tensor (`N·H·D`, `N·G·D`, `N·H·Dv`): at most 2⁴⁴.
    public static let maxTensorElements = 1 << 44
    /// Elements of one GLA state `H·Dk·Dv`: at most 2³⁶.
    public static let maxStateElements = 1 << 36
    /// Ranks P (the cost model's sweeps, topology capacities): at most 2²⁰.
    public static let maxRanks = 1 << 20
    /// Bytes per element in the cost model (`--bytes-per-element`): at most 8.
    public static let maxElementBytes = 8
    /// Dimensions of a `.npy` array: at most 32 (numpy allows 64; spsim reads 3).
    public static let maxDimensions = 32

    /// `value` written for people: the number, and the power of two when it is one.
    public static func describe(_ value: Int) -> String {
        value > 1024 && value.nonzeroBitCount == 1 ? "\(value) (2^\(value.trailingZeroBitCount))" : "\(value)"
    }

    /// The product of `factors`, or nil when it overflows `Int` (or a factor is negative).
    public static func product(_ factors: [Int]) -> Int? {
        var result = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (p, overflow) = result.multipliedReportingOverflow(by: f)
            if overflow { return nil }
            result = p
        }
        return result
    }

    /// The sum of `terms`, or nil when it overflows `Int`.
    public static func sum(_ terms: [Int]) -> Int? {
        var result = 0
        for t in terms {
            let (s, overflow) = result.addingReportingOverflow(t)
            if overflow { return nil }
            result = s
        }
        return result
    }
}
