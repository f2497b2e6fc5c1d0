import CMPI

/// Heap memory at a fixed address for nonblocking sends and receives.
///
/// A Swift array may move while a nonblocking MPI call still reads or writes it, so
/// `isend` and `irecv` take a `MessageBuffer`, and the returned `Request` keeps it alive
/// until `wait`.
public final class MessageBuffer<Element: MPIScalar> {
    /// The first element; valid for the buffer's lifetime.
    public let baseAddress: UnsafeMutablePointer<Element>
    /// Number of elements.
    public let count: Int
    /// Whether the memory came from `cmpi_shared_malloc` (a phantom payload, values unspecified).
    public let isPhantom: Bool

    /// A buffer of `count` elements set to `value`.
    public init(count: Int, repeating value: Element) {
        self.count = count
        isPhantom = false
        baseAddress = .allocate(capacity: max(count, 1))
        baseAddress.initialize(repeating: value, count: count)
    }

    /// A buffer holding a copy of `elements`.
    public init(copying elements: [Element]) {
        count = elements.count
        isPhantom = false
        baseAddress = .allocate(capacity: max(count, 1))
        _ = UnsafeMutableBufferPointer(start: baseAddress, count: count).initialize(from: elements)
    }

    /// A phantom payload of `count` elements whose values are unspecified and never read:
    /// under SMPI every rank's phantom buffers map the same pages (`SMPI_SHARED_MALLOC`) and
    /// SMPI copies nothing between them, so a message costs its size on the simulated
    /// network and no host memory or time; on a real MPI it is plain, untouched `malloc`.
    /// Only element types without meaning beyond their bits (MPI scalars) are allowed here.
    public init(phantomCount count: Int) {
        self.count = count
        isPhantom = true
        let (bytes, overflow) = MemoryLayout<Element>.stride.multipliedReportingOverflow(by: max(count, 1))
        precondition(!overflow, "phantom buffer size overflows")
        guard let raw = cmpi_shared_malloc(bytes) else { fatalError("phantom buffer of \(bytes) bytes: out of memory") }
        baseAddress = raw.bindMemory(to: Element.self, capacity: max(count, 1))
    }

    deinit {
        if isPhantom { cmpi_shared_free(baseAddress) } else { baseAddress.deallocate() }
    }

    /// The elements as a buffer pointer (valid for the buffer's lifetime).
    public var buffer: UnsafeMutableBufferPointer<Element> { .init(start: baseAddress, count: count) }

    /// A copy of the elements.
    public var array: [Element] { Array(buffer) }
}
