/// The one tolerance policy of spsim (docs/design.md, tolerances): the largest relative
/// error (`Tensor.maxRelativeError`) a float32 result may have against the float64 reference.
/// `spsim run --verify`, `spsim verify` and the kernel tests all use it.
public enum Tolerance {
    /// Forward outputs (`o`, `lse`): 1e-4.
    public static let output = 1e-4
    /// Gradients (`dq`, `dk`, `dv`, `dg`): 1e-3, looser because the backward sums longer chains.
    public static let gradient = 1e-3

    /// The limit for the output called `name`: `output` for `o` and `lse`, else `gradient`.
    public static func limit(for name: String) -> Double { ["o", "lse"].contains(name) ? output : gradient }

    /// The policy in words, for reports: "1e-4 outputs, 1e-3 gradients".
    public static var text: String { "\(powerOfTen(output)) outputs, \(powerOfTen(gradient)) gradients" }

    /// `x` as `1eN` when it is a power of ten (as both limits are), else its decimal form.
    static func powerOfTen(_ x: Double) -> String {
        var exponent = 0, scaled = x
        while scaled < 1 && exponent > -30 { scaled *= 10; exponent -= 1 }
        return abs(scaled - 1) < 1e-9 ? "1e\(exponent)" : "\(x)"
    }
}
