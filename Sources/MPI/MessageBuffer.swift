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

    /// A buffer of `count` elements set to `value`.
    public init(count: Int, repeating value: Element) {
        self.count = count
        baseAddress = .allocate(capacity: max(count, 1))
        baseAddress.initialize(repeating: value, count: count)
    }

    /// A buffer holding a copy of `elements`.
    public init(copying elements: [Element]) {
        count = elements.count
        baseAddress = .allocate(capacity: max(count, 1))
        _ = UnsafeMutableBufferPointer(start: baseAddress, count: count).initialize(from: elements)
    }

    deinit { baseAddress.deallocate() }

    /// The elements as a buffer pointer (valid for the buffer's lifetime).
    public var buffer: UnsafeMutableBufferPointer<Element> { .init(start: baseAddress, count: count) }

    /// A copy of the elements.
    public var array: [Element] { Array(buffer) }
}
