import Foundation
import Kernels
import SPSimCLI

// Before anything else (and before MPI_Init): load OpenBLAS on the right kernel core.
BLASCore.reexecutingOnBetterCoreIfNeeded()
exit(SPSimMain.main(arguments: Array(CommandLine.arguments.dropFirst())))
