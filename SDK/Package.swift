// swift-tools-version: 6.0
// The Patchbay SDK: the C ABI header as a Swift module, and the Swift face over
// it for connector authors. It depends on no package at all, on purpose.
import PackageDescription

let package = Package(
    name: "PatchbaySDK",
    products: [
        .library(name: "PatchbayABI", targets: ["PatchbayABI"]),
        .library(name: "PatchbaySDK", targets: ["PatchbaySDK"]),
    ],
    targets: [
        // Header-only: include/module.modulemap maps include/patchbay/connector.h.
        .systemLibrary(name: "PatchbayABI", path: "include"),
        .target(name: "PatchbaySDK", dependencies: ["PatchbayABI"], path: "Sources/PatchbaySDK"),
    ],
    swiftLanguageModes: [.v6]
)
