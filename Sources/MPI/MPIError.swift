import CMPI

/// An MPI call that did not return `MPI_SUCCESS`, thrown in place of a return code.
public struct MPIError: Error, CustomStringConvertible, Sendable {
    /// The MPI error code.
    public var code: Int32
    /// The `CMPI` function that failed (named after the MPI function it wraps).
    public var function: String
    /// MPI's own text for the code.
    public var message: String

    public var description: String { "\(function) failed: \(message) (MPI error \(code))" }
}

/// Throws an `MPIError` unless `code` is zero.
@inline(__always)
func check(_ code: Int32, _ function: @autoclosure () -> String) throws {
    guard code != 0 else { return }
    var text = [CChar](repeating: 0, count: 512)
    cmpi_error_string(code, &text, Int32(text.count))
    let message = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    throw MPIError(code: code, function: function(), message: message)
}
