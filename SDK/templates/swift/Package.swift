// swift-tools-version: 6.0
// One command: swift build -c release  →  .build/release/libMyConnector.so
//
// The Swift runtime is linked into the library (-static-stdlib, below), so it loads under any Patchbay host,
// whatever toolchain built the host. A task's sandbox lets it read the system's directories (/usr, /lib)
// and the host's own library directories only: a libswiftCore.so of another toolchain in /opt or a home
// directory is out of its reach, and a connector linked to it would not load. Measured on
// this template: 0.60 ms to load linked statically (9 MB), 0.52 ms dynamically with the host's own toolchain
// (whose runtime the runner already has in memory). Drop the linker setting only if you build with the
// host's toolchain and ship to that host alone.
import PackageDescription

let package = Package(
    name: "MyConnector",
    products: [.library(name: "MyConnector", type: .dynamic, targets: ["MyConnector"])],
    dependencies: [.package(name: "PatchbaySDK", path: "../..")],  // the SDK directory
    targets: [
        .target(name: "MyConnector", dependencies: [.product(name: "PatchbaySDK", package: "PatchbaySDK")],
                linkerSettings: [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux]))]),
    ],
    swiftLanguageModes: [.v6]
)
