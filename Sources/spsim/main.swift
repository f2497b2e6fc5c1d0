import Foundation
import Kernels
import SPSimCLI

// Before anything else (and before MPI_Init): load OpenBLAS on the right kernel core.
BLASCore.reexecutingOnBetterCoreIfNeeded()
// glibc returns every freed block above 128 KiB–32 MiB to the kernel (mmap'd, or trimmed off
// the heap's top), so a training step's activations, allocated and freed every step, came back
// as fresh zero pages each time: page faults were 5–10% of a tiny-model step. Blocks up to
// 256 MiB now come from the heap, and up to 1 GiB of freed heap stays for reuse.
_ = mallopt(-3 /* M_MMAP_THRESHOLD */, 256 << 20)
_ = mallopt(-1 /* M_TRIM_THRESHOLD */, 1 << 30)
exit(SPSimMain.main(arguments: Array(CommandLine.arguments.dropFirst())))

/// mallopt(3) of glibc's <malloc.h>, which Swift's Glibc module does not import (the
/// parameter numbers are malloc.h's).
@_silgen_name("mallopt") func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
