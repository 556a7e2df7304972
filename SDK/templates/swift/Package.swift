// swift-tools-version: 6.0
// One command: swift build -c release  →  .build/release/libMyConnector.so
// Build with the same Swift toolchain as the Patchbay host (the connector shares its
// runtime), or add `-static-stdlib` for a self-contained library.
import PackageDescription

let package = Package(
    name: "MyConnector",
    products: [.library(name: "MyConnector", type: .dynamic, targets: ["MyConnector"])],
    dependencies: [.package(name: "PatchbaySDK", path: "../..")],  // the SDK directory
    targets: [.target(name: "MyConnector", dependencies: [.product(name: "PatchbaySDK", package: "PatchbaySDK")])],
    swiftLanguageModes: [.v6]
)
