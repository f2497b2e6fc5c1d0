import CMPI

/// A Swift type that crosses MPI as one of `CMPI`'s element types.
public protocol MPIScalar: Sendable {
    /// The matching `cmpi_dtype`.
    static var mpiType: cmpi_dtype { get }
}

extension Float: MPIScalar { public static var mpiType: cmpi_dtype { CMPI_FLOAT32 } }
extension Double: MPIScalar { public static var mpiType: cmpi_dtype { CMPI_FLOAT64 } }
extension Int32: MPIScalar { public static var mpiType: cmpi_dtype { CMPI_INT32 } }
extension Int64: MPIScalar { public static var mpiType: cmpi_dtype { CMPI_INT64 } }
extension UInt8: MPIScalar { public static var mpiType: cmpi_dtype { CMPI_BYTE } }

/// A predefined reduction operator.
public enum ReductionOperator: Sendable {
    case sum, max, min

    var cmpi: cmpi_op {
        switch self {
        case .sum: CMPI_OP_SUM
        case .max: CMPI_OP_MAX
        case .min: CMPI_OP_MIN
        }
    }
}
