// swift-tools-version:6.0
// spsim — a distributed sequence-parallel training simulator in Swift on MPI.
import PackageDescription

/// `SPSIM_SMPI=1` builds for SimGrid SMPI instead of Open MPI: `CMPI` compiles against
/// `smpi/mpi.h` and links `simgrid`, and the `SPSimSMPI` shared library (run by `smpirun`)
/// is added. Use a separate scratch path (`--scratch-path .build-smpi`). No Swift file differs.
let smpi = Context.environment["SPSIM_SMPI"].map { !$0.isEmpty && $0 != "0" } ?? false

let package = Package(
    name: "spsim",
    products: [
        .executable(name: "spsim", targets: ["spsim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries, found through pkg-config. Only CMPI sees mpi.h; only Kernels sees cblas.h.
        .systemLibrary(
            name: "COpenMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),

        // A small MPI-neutral C ABI; its .c file is the only code that includes mpi.h.
        .target(
            name: "CMPI", dependencies: [smpi ? "CSimGrid" : "COpenMPI"],
            cSettings: smpi ? [.define("CMPI_SMPI")] : []),
        .target(name: "MPI", dependencies: ["CMPI"]),
        // The row kernels of attention (exp, max) in C, for AVX-512/AVX2 chosen at run time.
        .target(name: "CVectorMath"),
        .target(name: "Kernels", dependencies: ["COpenBLAS", "CVectorMath"]),
        // The shared vocabulary without MPI: layouts, problems, head split, causal block rules, strategy descriptors.
        .target(name: "SPCore"),
        .target(name: "SequenceParallel", dependencies: ["SPCore", "MPI", "Kernels"]),
        .target(name: "CostModel", dependencies: ["SPCore"]),
        .target(name: "Reports", dependencies: ["Kernels", "SPCore"]),
        .target(name: "Training", dependencies: ["SPCore", "MPI", "Kernels", "SequenceParallel"]),
        .target(
            name: "SPSimCLI",
            dependencies: [
                "MPI", "Kernels", "SequenceParallel", "CostModel", "Reports", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "spsim", dependencies: ["SPSimCLI"]),

        .target(name: "TestSupport", dependencies: ["Kernels"], path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "TestSupport"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "SPCore", "TestSupport"]),
        .testTarget(name: "SequenceParallelTests", dependencies: ["SequenceParallel", "CostModel", "TestSupport"]),
        // The `spsim` binary as a user runs it: mpirun P = 1…8, smpirun, model and topology commands.
        .testTarget(name: "EndToEndTests", dependencies: ["spsim", "CostModel", "SPCore", "TestSupport"]),
        .testTarget(name: "CostModelTests", dependencies: ["CostModel", "SPCore", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "SPCore", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

if smpi {
    package.products.append(.library(name: "SPSimSMPI", type: .dynamic, targets: ["SPSimSMPI"]))
    package.targets += [
        .systemLibrary(name: "CSimGrid", providers: [.apt(["libsimgrid-dev"])]),
        .target(name: "SPSimSMPI", dependencies: ["SPSimCLI"]),
    ]
}
