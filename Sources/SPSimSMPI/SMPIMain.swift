// The SMPI entry point: `smpirun … libSPSimSMPI.so ARGS` loads a private copy of this
// library per simulated rank and calls its C `main(argc, argv)`, argv[0] being the program.
import SPSimCLI

/// C `main` for `smpirun`: runs `spsim` with the arguments after argv[0].
@_cdecl("main")
public func smpiMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    let arguments = (1..<Int(max(argc, 1))).compactMap { argv[$0].map { String(cString: $0) } }
    return SPSimMain.main(arguments: arguments)
}
