// swift-tools-version:6.0
import PackageDescription

/// memo-swift: MEMO class-incremental learning (ICLR 2023) on the CPU.
/// Heavy kernels go to oneDNN (Debian libdnnl-dev 2.6); HDF5 holds checkpoints, libpng images,
/// zlib the gzip'd datasets, libzip PyTorch's torch.save archives; Open MPI carries data-parallel
/// training (used only under mpirun); librsvg (with Cairo) renders the charts' SVG to PNG.
/// `scripts/setup.sh` installs the Debian packages.
let release: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "memo-swift",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "MEMOModel", targets: ["MEMOModel"]),
        .executable(name: "memo-train", targets: ["memo-train"]),
        .executable(name: "memo-infer", targets: ["memo-infer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng16", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CZip", pkgConfig: "libzip", providers: [.apt(["libzip-dev"])]),
        .systemLibrary(name: "CRSVG", providers: [.apt(["librsvg2-2"])]),
        .target(
            name: "MEMOModel",
            dependencies: ["CHDF5", "CPNG", "CTurboJPEG", "CDNNL", "CZlib", "CMPI", "CZip", "CRSVG"],
            swiftSettings: release + [.swiftLanguageMode(.v5)]
        ),
        .target(
            name: "MEMOCommandLine",
            dependencies: ["MEMOModel", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: release + [.swiftLanguageMode(.v5)]
        ),
        .executableTarget(
            name: "memo-train",
            dependencies: ["MEMOModel", "MEMOCommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: release + [.swiftLanguageMode(.v5)]
        ),
        .executableTarget(
            name: "memo-infer",
            dependencies: ["MEMOModel", "MEMOCommandLine", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: release + [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "MEMOModelTests",
            dependencies: ["MEMOModel", "MEMOCommandLine"],
            resources: [.copy("Fixtures")],
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
    ]
)
