import SequenceParallel

/// One named weight tensor inside the model's flat parameter vector.
public struct ParameterSpec: Sendable, Equatable {
    /// The name, also the `.npy` file name of `--save` (`layers.0.attention.wq`, …).
    public var name: String
    /// The shape, row-major (`[in, out]` for a projection).
    public var shape: [Int]
    /// Where the tensor starts in the flat vector.
    public var offset: Int
    /// Whether AdamW applies weight decay (matrices and embeddings yes, norm gains no).
    public var decays: Bool

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// The range of the flat vector this tensor occupies.
    public var range: Range<Int> { offset ..< offset + count }

    /// This tensor's values, copied out of the flat vector `all`.
    @inline(__always)
    func values<T>(in all: [T]) -> [T] { Array(all[range]) }

    /// Adds `gradient` (this tensor's shape) into its place in the flat vector `all`.
    @inline(__always)
    func accumulate<T: TrainingScalar>(_ gradient: [T], into all: inout [T]) {
        precondition(gradient.count == count, "\(name): gradient has the wrong size")
        let base = offset
        all.withUnsafeMutableBufferPointer { a in
            gradient.withUnsafeBufferPointer { g in
                for i in 0..<g.count { a[base &+ i] += g[i] }
            }
        }
    }
}

/// How a model's weights sit in one flat vector: the order the all-reduce, AdamW and
/// `--save` use.
public struct ParameterTable: Sendable, Equatable {
    /// Every tensor in order.
    public private(set) var specs: [ParameterSpec] = []
    /// Total number of parameters.
    public private(set) var count = 0

    public init() {}

    /// Appends a tensor and returns its place.
    mutating func add(_ name: String, _ shape: [Int], decays: Bool = true) -> ParameterSpec {
        let spec = ParameterSpec(name: name, shape: shape, offset: count, decays: decays)
        specs.append(spec)
        count += spec.count
        return spec
    }
}

/// How a tensor's initial values are drawn.
enum Initialization: Sendable, Equatable {
    /// Uniform with standard deviation `std` (`±std·√3`).
    case uniform(std: Double)
    /// Every element `value` (RMSNorm gains start at 1).
    case constant(Double)
}

/// Initial values of one tensor: a pure function of (seed, name, index), so every rank
/// makes the same weights with no communication.
func initialValues<T: TrainingScalar>(_ spec: ParameterSpec, _ rule: Initialization, seed: UInt64) -> [T] {
    switch rule {
    case .constant(let value):
        return [T](repeating: T(value), count: spec.count)
    case .uniform(let std):
        let generator = InputGenerator(seed: seed)
        let scale = std * 3.0.squareRoot()
        return (0..<spec.count).map { T(Double(generator.value(spec.name, token: $0, head: 0, channel: 0)) * scale) }
    }
}
